package nodename

import (
	"context"
	"testing"

	"skiff.dev/scheduler/internal/fixture"
	"skiff.dev/scheduler/internal/framework"
)

func TestFilter(t *testing.T) {
	ni := fixture.NodeInfo(fixture.Node("n1").Obj())
	tests := []struct {
		name, nodeName string
		ok             bool
	}{
		{"no node name", "", true},
		{"matching", "n1", true},
		{"other node", "n2", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := New().Filter(context.Background(), nil, framework.NewPodInfo(fixture.Pod("p").Node(tc.nodeName).Obj()), ni)
			if st.IsSuccess() != tc.ok {
				t.Fatalf("success = %v, want %v (%s)", st.IsSuccess(), tc.ok, st.Message())
			}
			if !tc.ok && (st.Message() != ErrReason || st.Code() != framework.UnschedulableAndUnresolvable) {
				t.Fatalf("status = %v %q", st.Code(), st.Message())
			}
		})
	}
}
