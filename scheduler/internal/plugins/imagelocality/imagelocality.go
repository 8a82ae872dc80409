// Package imagelocality is the ImageLocality score: nodes that already
// hold the pod's images (node.status.images) score higher, in proportion
// to the bytes that would not need pulling.
package imagelocality

import (
	"context"
	"strings"

	"skiff.dev/scheduler/internal/framework"
	"skiff.dev/scheduler/internal/plugins/names"
)

const (
	mb             int64 = 1024 * 1024
	minThreshold         = 23 * mb
	maxContainerMB       = 1000 * mb
)

// Plugin implements Score.
type Plugin struct{}

// New returns the plugin.
func New() *Plugin { return &Plugin{} }

// Name returns "ImageLocality".
func (*Plugin) Name() string { return names.ImageLocality }

// normalizedImageName adds the ":latest" tag when an image has none.
func normalizedImageName(name string) string {
	if strings.LastIndex(name, ":") <= strings.LastIndex(name, "/") && !strings.Contains(name, "@") {
		name += ":latest"
	}
	return name
}

// Score sums the sizes of the pod's images present on the node, scaled by spread.
func (*Plugin) Score(_ context.Context, _ *framework.CycleState, pi *framework.PodInfo, ni *framework.NodeInfo) (int64, *framework.Status) {
	images := ni.Node().Status.Images
	if len(images) == 0 {
		return 0, nil
	}
	var sum int64
	n := len(pi.Pod.Spec.Containers) + len(pi.Pod.Spec.InitContainers)
	for _, want := range containerImages(pi) {
		want = normalizedImageName(want)
	images:
		for _, img := range images {
			for _, have := range img.Names {
				if normalizedImageName(have) == want {
					sum += img.SizeBytes
					break images
				}
			}
		}
	}
	maxT := maxContainerMB * int64(n)
	if sum < minThreshold {
		return 0, nil
	}
	if sum > maxT {
		sum = maxT
	}
	return framework.MaxNodeScore * (sum - minThreshold) / (maxT - minThreshold), nil
}

func containerImages(pi *framework.PodInfo) []string {
	var out []string
	for _, c := range pi.Pod.Spec.InitContainers {
		out = append(out, c.Image)
	}
	for _, c := range pi.Pod.Spec.Containers {
		out = append(out, c.Image)
	}
	return out
}
