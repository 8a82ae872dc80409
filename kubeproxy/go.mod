module skiff.dev/kubeproxy

go 1.26.0
