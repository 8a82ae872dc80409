package defaultpreemption

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"

	"skiff.dev/scheduler/internal/fixture"
	"skiff.dev/scheduler/internal/framework"
	"skiff.dev/scheduler/internal/plugins/noderesources"
)

func TestFindCandidate(t *testing.T) {
	fit, _ := noderesources.NewFit(nil)
	fwk := framework.New(framework.Options{}, framework.Plugins{Filter: []framework.FilterPlugin{fit}})
	pod := func(name, cpu string, prio int32) *v1.Pod { return fixture.Pod(name).Req(cpu, "").Priority(prio).Obj() }
	snap := framework.NewSnapshot(
		// n1: one low-priority 2-cpu pod: evicting it frees enough.
		fixture.NodeInfo(fixture.Node("n1").Capacity("2", "8Gi", "110").Obj(), pod("low", "2", 1)),
		// n2: two pods of priority 5: needs a higher-priority victim.
		fixture.NodeInfo(fixture.Node("n2").Capacity("2", "8Gi", "110").Obj(), pod("mid1", "1", 5), pod("mid2", "1", 5)),
		// n3: higher-priority pod than the preemptor: cannot be preempted.
		fixture.NodeInfo(fixture.Node("n3").Capacity("2", "8Gi", "110").Obj(), pod("high", "2", 100)),
	)
	statuses := map[string]*framework.Status{}
	for _, n := range []string{"n1", "n2", "n3"} {
		statuses[n] = framework.NewStatus(framework.Unschedulable, "Insufficient cpu")
	}
	tests := []struct {
		name        string
		pod         *v1.Pod
		wantNode    string
		wantVictims []string
	}{
		{"cheapest victims", pod("p", "2", 10), "n1", []string{"low"}},
		{"reprieve what fits", pod("p", "1", 10), "n1", []string{"low"}},
		{"nothing lower", pod("p", "2", 0), "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := FindCandidate(context.Background(), fwk, framework.NewCycleState(), framework.NewPodInfo(tc.pod), snap, statuses)
			if tc.wantNode == "" {
				if c != nil {
					t.Fatalf("candidate %+v, want none", c.Node)
				}
				return
			}
			if c == nil || c.Node != tc.wantNode {
				t.Fatalf("candidate = %+v, want node %s", c, tc.wantNode)
			}
			var got []string
			for _, v := range c.Victims {
				got = append(got, v.Pod.Name)
			}
			if len(got) != len(tc.wantVictims) || got[0] != tc.wantVictims[0] {
				t.Fatalf("victims %v, want %v", got, tc.wantVictims)
			}
		})
	}
}

func TestUnresolvableNodesNotCandidates(t *testing.T) {
	fit, _ := noderesources.NewFit(nil)
	fwk := framework.New(framework.Options{}, framework.Plugins{Filter: []framework.FilterPlugin{fit}})
	snap := framework.NewSnapshot(fixture.NodeInfo(fixture.Node("n1").Capacity("1", "8Gi", "110").Obj(),
		fixture.Pod("low").Req("1", "").Priority(0).Obj()))
	statuses := map[string]*framework.Status{"n1": framework.NewStatus(framework.UnschedulableAndUnresolvable, "taint")}
	if c := FindCandidate(context.Background(), fwk, framework.NewCycleState(), framework.NewPodInfo(fixture.Pod("p").Req("1", "").Priority(10).Obj()), snap, statuses); c != nil {
		t.Fatalf("candidate on an unresolvable node: %s", c.Node)
	}
}
