package imagelocality

import (
	"context"
	"testing"

	"skiff.dev/scheduler/internal/fixture"
	"skiff.dev/scheduler/internal/framework"
)

func TestScore(t *testing.T) {
	pod := framework.NewPodInfo(fixture.Pod("p").Image("registry.local/app:v1").Obj())
	tests := []struct {
		name string
		node *fixture.NodeBuilder
		want int64
	}{
		{"no images", fixture.Node("n"), 0},
		{"other image", fixture.Node("n").Image("registry.local/other:v1", 500*mb), 0},
		{"small image ignored", fixture.Node("n").Image("registry.local/app:v1", 10*mb), 0},
		{"large image", fixture.Node("n").Image("registry.local/app:v1", 500*mb), 100 * (500*mb - minThreshold) / (maxContainerMB - minThreshold)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := New().Score(context.Background(), nil, pod, fixture.NodeInfo(tc.node.Obj()))
			if s != tc.want {
				t.Fatalf("score = %d, want %d", s, tc.want)
			}
		})
	}
}

func TestNormalizedImageName(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                 "busybox:latest",
		"busybox:1.36":            "busybox:1.36",
		"localhost:5000/app":      "localhost:5000/app:latest",
		"app@sha256:0123456789ab": "app@sha256:0123456789ab",
	} {
		if got := normalizedImageName(in); got != want {
			t.Errorf("%s -> %s, want %s", in, got, want)
		}
	}
}
