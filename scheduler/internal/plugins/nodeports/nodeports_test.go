package nodeports

import (
	"context"
	"testing"

	"skiff.dev/scheduler/internal/fixture"
	"skiff.dev/scheduler/internal/framework"
)

func TestFilter(t *testing.T) {
	node := fixture.Node("n").Obj()
	tests := []struct {
		name     string
		pod      *fixture.PodBuilder
		existing *fixture.PodBuilder
		ok       bool
	}{
		{"no ports", fixture.Pod("p"), fixture.Pod("e").HostPort(80), true},
		{"free port", fixture.Pod("p").HostPort(8080), fixture.Pod("e").HostPort(80), true},
		{"taken port", fixture.Pod("p").HostPort(80), fixture.Pod("e").HostPort(80), false},
	}
	p := New()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := framework.NewCycleState()
			pi := framework.NewPodInfo(tc.pod.Obj())
			if st := p.PreFilter(context.Background(), cs, pi, nil); st.IsSkip() {
				if !tc.ok {
					t.Fatal("skipped")
				}
				return
			}
			st := p.Filter(context.Background(), cs, pi, fixture.NodeInfo(node, tc.existing.Obj()))
			if st.IsSuccess() != tc.ok {
				t.Fatalf("success = %v, want %v", st.IsSuccess(), tc.ok)
			}
			if !tc.ok && st.Message() != ErrReason {
				t.Fatalf("reason %q", st.Message())
			}
		})
	}
}
