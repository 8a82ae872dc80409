package tainttoleration

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"

	"skiff.dev/scheduler/internal/fixture"
	"skiff.dev/scheduler/internal/framework"
)

func TestFilter(t *testing.T) {
	tests := []struct {
		name   string
		node   *v1.Node
		pod    *v1.Pod
		reason string
	}{
		{"no taints", fixture.Node("n").Obj(), fixture.Pod("p").Obj(), ""},
		{"untolerated NoSchedule", fixture.Node("n").Taint("dedicated", "gpu", v1.TaintEffectNoSchedule).Obj(), fixture.Pod("p").Obj(),
			"node(s) had untolerated taint {dedicated: gpu}"},
		{"tolerated by value", fixture.Node("n").Taint("dedicated", "gpu", v1.TaintEffectNoSchedule).Obj(),
			fixture.Pod("p").Toleration("dedicated", "gpu", v1.TaintEffectNoSchedule).Obj(), ""},
		{"wrong value", fixture.Node("n").Taint("dedicated", "gpu", v1.TaintEffectNoSchedule).Obj(),
			fixture.Pod("p").Toleration("dedicated", "db", v1.TaintEffectNoSchedule).Obj(), "node(s) had untolerated taint {dedicated: gpu}"},
		{"exists operator", fixture.Node("n").Taint("dedicated", "gpu", v1.TaintEffectNoExecute).Obj(),
			fixture.Pod("p").Toleration("dedicated", "", "").Obj(), ""},
		{"PreferNoSchedule does not filter", fixture.Node("n").Taint("soft", "x", v1.TaintEffectPreferNoSchedule).Obj(), fixture.Pod("p").Obj(), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := New().Filter(context.Background(), nil, framework.NewPodInfo(tc.pod), fixture.NodeInfo(tc.node))
			if st.Message() != tc.reason {
				t.Fatalf("reason = %q, want %q", st.Message(), tc.reason)
			}
			if tc.reason != "" && st.Code() != framework.UnschedulableAndUnresolvable {
				t.Fatalf("code %v", st.Code())
			}
		})
	}
}

func TestScore(t *testing.T) {
	p := New()
	pod := framework.NewPodInfo(fixture.Pod("p").Obj())
	clean := fixture.NodeInfo(fixture.Node("clean").Obj())
	soft := fixture.NodeInfo(fixture.Node("soft").Taint("a", "1", v1.TaintEffectPreferNoSchedule).Taint("b", "1", v1.TaintEffectPreferNoSchedule).Obj())
	scores := []framework.NodeScore{{Name: "clean"}, {Name: "soft"}}
	scores[0].Score, _ = p.Score(context.Background(), nil, pod, clean)
	scores[1].Score, _ = p.Score(context.Background(), nil, pod, soft)
	p.NormalizeScore(context.Background(), nil, pod, scores)
	if scores[0].Score != 100 || scores[1].Score != 0 {
		t.Fatalf("scores = %+v, want clean 100, soft 0", scores)
	}
}
