package kubelet_test

import (
	"context"
	"log"
	"path/filepath"

	"k8s.io/client-go/rest"

	"skiff.dev/kubelet"
	"skiff.dev/kubelet/containerd"
	"skiff.dev/kubelet/images"
)

// Example shows how `skiff up` composes a one-node cluster's node part:
// a private containerd, skiff's local images, and the kubelet.
func Example() {
	ctx := context.Background()
	dataDir := "/var/lib/skiff"
	cfg := &rest.Config{Host: "http://127.0.0.1:6443"}

	rt, err := containerd.Start(ctx, containerd.Options{StateDir: filepath.Join(dataDir, "containerd")})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Stop()
	if err := images.BuildAndImport(ctx, rt.Socket, filepath.Join(dataDir, "images")); err != nil {
		log.Fatal(err)
	}
	o := kubelet.NewOptions()
	o.RESTConfig = cfg
	o.ContainerRuntimeEndpoint = rt.Endpoint
	o.CNIConfDir = rt.CNIConfDir
	o.RootDir = filepath.Join(dataDir, "kubelet")
	if err := kubelet.Run(ctx, o); err != nil {
		log.Fatal(err)
	}
}
