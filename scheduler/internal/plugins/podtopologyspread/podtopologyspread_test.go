package podtopologyspread

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"

	"skiff.dev/scheduler/internal/fixture"
	"skiff.dev/scheduler/internal/framework"
)

const zone = "topology.kubernetes.io/zone"

func TestFilter(t *testing.T) {
	web := func(n string) *v1.Pod { return fixture.Pod(n).Label("app", "web").Obj() }
	snap := framework.NewSnapshot(
		fixture.NodeInfo(fixture.Node("a1").Label(zone, "a").Obj(), web("w1"), web("w2")),
		fixture.NodeInfo(fixture.Node("b1").Label(zone, "b").Obj(), web("w3")),
		fixture.NodeInfo(fixture.Node("c1").Label(zone, "c").Obj()),
		fixture.NodeInfo(fixture.Node("nozone").Obj()),
	)
	tests := []struct {
		name string
		pod  *v1.Pod
		want map[string]string
	}{
		{"maxSkew 1", fixture.Pod("p").Label("app", "web").SpreadConstraint(1, zone, v1.DoNotSchedule, "app", "web").Obj(),
			map[string]string{"a1": ErrReasonConstraintsNotMatch, "b1": ErrReasonConstraintsNotMatch, "c1": "", "nozone": ErrReasonNodeLabelNotMatch}},
		{"maxSkew 2", fixture.Pod("p").Label("app", "web").SpreadConstraint(2, zone, v1.DoNotSchedule, "app", "web").Obj(),
			map[string]string{"a1": ErrReasonConstraintsNotMatch, "b1": "", "c1": ""}},
		{"pod not matching its own selector", fixture.Pod("p").SpreadConstraint(1, zone, v1.DoNotSchedule, "app", "web").Obj(),
			map[string]string{"a1": ErrReasonConstraintsNotMatch, "b1": "", "c1": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := New()
			cs := framework.NewCycleState()
			pi := framework.NewPodInfo(tc.pod)
			if st := p.PreFilter(context.Background(), cs, pi, snap); !st.IsSuccess() {
				t.Fatalf("PreFilter: %v", st.Message())
			}
			for node, want := range tc.want {
				if got := p.Filter(context.Background(), cs, pi, snap.Get(node)).Message(); got != want {
					t.Errorf("node %s: %q, want %q", node, got, want)
				}
			}
		})
	}
}

func TestScoreSoft(t *testing.T) {
	web := func(n string) *v1.Pod { return fixture.Pod(n).Label("app", "web").Obj() }
	snap := framework.NewSnapshot(
		fixture.NodeInfo(fixture.Node("a1").Label(zone, "a").Obj(), web("w1"), web("w2")),
		fixture.NodeInfo(fixture.Node("b1").Label(zone, "b").Obj()),
	)
	p := New()
	pi := framework.NewPodInfo(fixture.Pod("p").Label("app", "web").SpreadConstraint(1, zone, v1.ScheduleAnyway, "app", "web").Obj())
	cs := framework.NewCycleState()
	cs.Write(framework.SnapshotStateKey, snap)
	if st := p.PreScore(context.Background(), cs, pi, snap.NodeInfoList); !st.IsSuccess() {
		t.Fatal(st.Message())
	}
	var scores []framework.NodeScore
	for _, n := range []string{"a1", "b1"} {
		s, _ := p.Score(context.Background(), cs, pi, snap.Get(n))
		scores = append(scores, framework.NodeScore{Name: n, Score: s})
	}
	p.NormalizeScore(context.Background(), cs, pi, scores)
	if scores[0].Score != 0 || scores[1].Score != 100 {
		t.Fatalf("scores %+v: want empty zone b preferred", scores)
	}
}
