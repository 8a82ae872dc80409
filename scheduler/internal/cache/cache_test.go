package cache

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"skiff.dev/scheduler/internal/fixture"
	"skiff.dev/scheduler/internal/framework"
)

func TestAssumeConfirmForget(t *testing.T) {
	c := New(Options{})
	c.AddNode(fixture.Node("n1").Obj())
	c.AddNode(fixture.Node("n2").Obj())
	snap := NewSnapshot()
	c.UpdateSnapshot(snap)
	if len(snap.NodeInfoList) != 2 {
		t.Fatalf("snapshot has %d nodes", len(snap.NodeInfoList))
	}
	before := snap.Get("n1")

	p := fixture.Pod("p").Req("1", "1Gi").Node("n1").Obj()
	if err := c.AssumePod(p); err != nil {
		t.Fatal(err)
	}
	if err := c.AssumePod(p); err == nil {
		t.Fatal("assumed twice")
	}
	c.UpdateSnapshot(snap)
	if got := snap.Get("n1").Requested.MilliCPU; got != 1000 {
		t.Fatalf("assumed pod not visible: requested %d", got)
	}
	if before.Requested.MilliCPU != 0 {
		t.Fatal("old snapshot NodeInfo was mutated (copy-on-write broken)")
	}
	// Another scheduler won: the informer reports the pod on n2.
	bound := p.DeepCopy()
	bound.Spec.NodeName = "n2"
	c.AddPod(bound)
	c.UpdateSnapshot(snap)
	if snap.Get("n1").Requested.MilliCPU != 0 || snap.Get("n2").Requested.MilliCPU != 1000 {
		t.Fatal("cache not corrected to the actual binding")
	}
	if c.IsAssumed(p.UID) {
		t.Fatal("confirmed pod still assumed")
	}
	c.ForgetPod(bound) // no-op for confirmed pods
	if !c.Has(p.UID) {
		t.Fatal("ForgetPod removed a confirmed pod")
	}
	c.RemovePod(bound)
	c.UpdateSnapshot(snap)
	if snap.Get("n2").Requested.MilliCPU != 0 || c.Has(p.UID) {
		t.Fatal("pod not removed")
	}
}

func TestAssumedPodExpires(t *testing.T) {
	now := time.Unix(0, 0)
	c := New(Options{AssumedTTL: time.Second, Now: func() time.Time { return now }})
	c.AddNode(fixture.Node("n1").Obj())
	p := fixture.Pod("p").Node("n1").Obj()
	if err := c.AssumePod(p); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	c.Cleanup()
	if !c.Has(p.UID) {
		t.Fatal("expired before binding finished")
	}
	c.FinishBinding(p)
	now = now.Add(2 * time.Second)
	c.Cleanup()
	if c.Has(p.UID) {
		t.Fatal("assumed pod did not expire")
	}
}

func TestSnapshotTracksNodeChanges(t *testing.T) {
	c := New(Options{})
	snap := NewSnapshot()
	c.AddNode(fixture.Node("a").Obj())
	c.UpdateSnapshot(snap)
	// A pod arrives before its node.
	c.AddPod(fixture.Pod("early").Node("late").Obj())
	c.UpdateSnapshot(snap)
	if len(snap.NodeInfoList) != 1 {
		t.Fatalf("node without a Node object listed: %d", len(snap.NodeInfoList))
	}
	c.AddNode(fixture.Node("late").Obj())
	c.UpdateSnapshot(snap)
	if ni := snap.Get("late"); ni == nil || len(ni.Pods) != 1 || len(snap.NodeInfoList) != 2 {
		t.Fatal("late node missing its pod")
	}
	c.AddPod(fixture.Pod("anti").Node("a").PodAntiAffinity("app", "x", "kubernetes.io/hostname").Obj())
	c.UpdateSnapshot(snap)
	if len(snap.HavePodsWithRequiredAntiAffinityList) != 1 {
		t.Fatal("anti-affinity list not updated")
	}
	c.RemoveNode(fixture.Node("a").Obj())
	c.UpdateSnapshot(snap)
	if len(snap.NodeInfoList) != 1 || len(snap.HavePodsWithRequiredAntiAffinityList) != 0 {
		t.Fatal("removed node still listed")
	}
	// A fresh snapshot sees everything.
	fresh := NewSnapshot()
	c.UpdateSnapshot(fresh)
	if len(fresh.NodeInfoList) != 1 {
		t.Fatalf("fresh snapshot has %d nodes", len(fresh.NodeInfoList))
	}
	var _ *framework.Snapshot = fresh
}

func TestConfirmAssumedPod(t *testing.T) {
	tests := []struct {
		name    string
		bound   func(p *v1.Pod) *v1.Pod
		wantCPU int64
	}{
		{"same pod comes back", func(p *v1.Pod) *v1.Pod { return p.DeepCopy() }, 1000},
		{"requests changed meanwhile", func(p *v1.Pod) *v1.Pod {
			b := p.DeepCopy()
			b.Spec.Containers[0].Resources.Requests[v1.ResourceCPU] = resource.MustParse("2")
			return b
		}, 2000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Options{})
			c.AddNode(fixture.Node("n1").Obj())
			p := fixture.Pod("p").Req("1", "1Gi").Node("n1").Obj()
			if err := c.AssumePodInfo(framework.NewPodInfo(p)); err != nil {
				t.Fatal(err)
			}
			c.AddPod(tc.bound(p))
			if c.IsAssumed(p.UID) {
				t.Fatal("still assumed after the informer confirmed it")
			}
			snap := NewSnapshot()
			c.UpdateSnapshot(snap)
			ni := snap.Get("n1")
			if len(ni.Pods) != 1 || ni.Requested.MilliCPU != tc.wantCPU {
				t.Fatalf("%d pods, %dm cpu requested; want 1 pod, %dm", len(ni.Pods), ni.Requested.MilliCPU, tc.wantCPU)
			}
		})
	}
}
