package nodeunschedulable

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"

	"skiff.dev/scheduler/internal/fixture"
	"skiff.dev/scheduler/internal/framework"
)

func TestFilter(t *testing.T) {
	tests := []struct {
		name string
		node *v1.Node
		pod  *v1.Pod
		ok   bool
	}{
		{"schedulable", fixture.Node("n").Obj(), fixture.Pod("p").Obj(), true},
		{"cordoned", fixture.Node("n").Unschedulable().Obj(), fixture.Pod("p").Obj(), false},
		{"cordoned but tolerated", fixture.Node("n").Unschedulable().Obj(),
			fixture.Pod("p").Toleration(v1.TaintNodeUnschedulable, "", v1.TaintEffectNoSchedule).Obj(), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := New().Filter(context.Background(), nil, framework.NewPodInfo(tc.pod), fixture.NodeInfo(tc.node))
			if st.IsSuccess() != tc.ok {
				t.Fatalf("success = %v, want %v", st.IsSuccess(), tc.ok)
			}
			if !tc.ok && st.Message() != ErrReason {
				t.Fatalf("reason %q", st.Message())
			}
		})
	}
}
