package nodeaffinity

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"

	"skiff.dev/scheduler/internal/fixture"
	"skiff.dev/scheduler/internal/framework"
)

func TestFilter(t *testing.T) {
	ssd := fixture.Node("ssd").Label("disk", "ssd").Label("zone", "a").Obj()
	hdd := fixture.Node("hdd").Label("disk", "hdd").Label("zone", "b").Obj()
	tests := []struct {
		name  string
		pod   *v1.Pod
		wantS bool
		wantH bool
	}{
		{"no constraints", fixture.Pod("p").Obj(), true, true},
		{"nodeSelector", fixture.Pod("p").NodeSelector("disk", "ssd").Obj(), true, false},
		{"required affinity In", fixture.Pod("p").RequiredNodeAffinityIn("zone", "b", "c").Obj(), false, true},
		{"selector and affinity both apply", fixture.Pod("p").NodeSelector("disk", "ssd").RequiredNodeAffinityIn("zone", "b").Obj(), false, false},
	}
	p := New()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := framework.NewCycleState()
			pi := framework.NewPodInfo(tc.pod)
			if st := p.PreFilter(context.Background(), cs, pi, nil); st.IsSkip() {
				if !tc.wantS || !tc.wantH {
					t.Fatal("PreFilter skipped a constrained pod")
				}
				return
			}
			for _, c := range []struct {
				n    *v1.Node
				want bool
			}{{ssd, tc.wantS}, {hdd, tc.wantH}} {
				st := p.Filter(context.Background(), cs, pi, fixture.NodeInfo(c.n))
				if st.IsSuccess() != c.want {
					t.Errorf("node %s: success = %v, want %v", c.n.Name, st.IsSuccess(), c.want)
				}
				if !c.want && st.Message() != ErrReason {
					t.Errorf("reason %q", st.Message())
				}
			}
		})
	}
}

func TestScorePreferred(t *testing.T) {
	p := New()
	pod := framework.NewPodInfo(fixture.Pod("p").PreferredNodeAffinity("zone", "a", 10).PreferredNodeAffinity("disk", "ssd", 30).Obj())
	cs := framework.NewCycleState()
	if st := p.PreScore(context.Background(), cs, pod, nil); !st.IsSuccess() {
		t.Fatal(st.Message())
	}
	nodes := []*v1.Node{
		fixture.Node("both").Label("zone", "a").Label("disk", "ssd").Obj(),
		fixture.Node("zone").Label("zone", "a").Obj(),
		fixture.Node("none").Obj(),
	}
	scores := make([]framework.NodeScore, len(nodes))
	for i, n := range nodes {
		scores[i].Name = n.Name
		scores[i].Score, _ = p.Score(context.Background(), cs, pod, fixture.NodeInfo(n))
	}
	p.NormalizeScore(context.Background(), cs, pod, scores)
	want := []int64{100, 25, 0}
	for i := range want {
		if scores[i].Score != want[i] {
			t.Fatalf("scores %+v, want %v", scores, want)
		}
	}
}
