module skiff.dev/kubelet

go 1.26.0
