module skiff.dev/controlplane

go 1.26.0
