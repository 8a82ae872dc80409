package interpodaffinity

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"

	"skiff.dev/scheduler/internal/fixture"
	"skiff.dev/scheduler/internal/framework"
)

const zone = "topology.kubernetes.io/zone"

// cluster: zone a = {a1 (runs web), a2}, zone b = {b1 (runs db with anti-affinity to app=web per node... zone)}.
func cluster() *framework.Snapshot {
	return framework.NewSnapshot(
		fixture.NodeInfo(fixture.Node("a1").Label(zone, "a").Obj(), fixture.Pod("web").Label("app", "web").Obj()),
		fixture.NodeInfo(fixture.Node("a2").Label(zone, "a").Obj()),
		fixture.NodeInfo(fixture.Node("b1").Label(zone, "b").Obj(),
			fixture.Pod("db").Label("app", "db").PodAntiAffinity("app", "batch", zone).Obj()),
		fixture.NodeInfo(fixture.Node("nozone").Obj()),
	)
}

func TestFilter(t *testing.T) {
	tests := []struct {
		name   string
		pod    *v1.Pod
		want   map[string]string // node -> reason ("" fits)
		skipPF bool
	}{
		{name: "no affinity", pod: fixture.Pod("p").Obj(), skipPF: true},
		{name: "affinity to web zone", pod: fixture.Pod("p").PodAffinity("app", "web", zone).Obj(),
			want: map[string]string{"a1": "", "a2": "", "b1": ErrReasonAffinity, "nozone": ErrReasonAffinity}},
		{name: "anti-affinity to web per host", pod: fixture.Pod("p").PodAntiAffinity("app", "web", v1.LabelHostname).Obj(),
			want: map[string]string{"a1": ErrReasonAntiAffinity, "a2": "", "b1": "", "nozone": ""}},
		{name: "anti-affinity to web per zone", pod: fixture.Pod("p").PodAntiAffinity("app", "web", zone).Obj(),
			want: map[string]string{"a1": ErrReasonAntiAffinity, "a2": ErrReasonAntiAffinity, "b1": "", "nozone": ""}},
		{name: "existing pod's anti-affinity", pod: fixture.Pod("p").Label("app", "batch").Obj(),
			want: map[string]string{"a1": "", "a2": "", "b1": ErrReasonExistingAntiAffinity, "nozone": ""}},
		{name: "first pod of a self-affine group", pod: fixture.Pod("p").Label("app", "new").PodAffinity("app", "new", zone).Obj(),
			want: map[string]string{"a1": "", "a2": "", "b1": "", "nozone": ErrReasonAffinity}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			snap := cluster()
			p := New(nil)
			cs := framework.NewCycleState()
			pi := framework.NewPodInfo(tc.pod)
			st := p.PreFilter(context.Background(), cs, pi, snap)
			if st.IsSkip() != tc.skipPF {
				t.Fatalf("PreFilter skip = %v, want %v", st.IsSkip(), tc.skipPF)
			}
			if tc.skipPF {
				return
			}
			for node, want := range tc.want {
				got := p.Filter(context.Background(), cs, pi, snap.Get(node)).Message()
				if got != want {
					t.Errorf("node %s: %q, want %q", node, got, want)
				}
			}
		})
	}
}

func TestScorePreferred(t *testing.T) {
	snap := cluster()
	p := New(nil)
	pod := framework.NewPodInfo(fixture.Pod("p").PreferredPodAffinity("app", "web", zone, 50, false).Obj())
	cs := framework.NewCycleState()
	cs.Write(framework.SnapshotStateKey, snap)
	if st := p.PreScore(context.Background(), cs, pod, snap.NodeInfoList); !st.IsSuccess() {
		t.Fatal(st.Message())
	}
	scores := make([]framework.NodeScore, 0, 3)
	for _, n := range []string{"a2", "b1"} {
		s, _ := p.Score(context.Background(), cs, pod, snap.Get(n))
		scores = append(scores, framework.NodeScore{Name: n, Score: s})
	}
	p.NormalizeScore(context.Background(), cs, pod, scores)
	if scores[0].Score != 100 || scores[1].Score != 0 {
		t.Fatalf("scores %+v: want a2 (web's zone) 100, b1 0", scores)
	}
}
