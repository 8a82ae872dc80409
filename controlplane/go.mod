module skiff.dev/controlplane

go 1.26.0

require (
	k8s.io/api v0.37.2
	k8s.io/apimachinery v0.37.2
	k8s.io/client-go v0.37.2
	skiff.dev/api v0.0.0
)

replace skiff.dev/api => ../api
