package wasm

import (
	"errors"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	pluginsv1alpha1 "skiff.dev/api/plugins/v1alpha1"
	"skiff.dev/plugins/scheduling"

	"skiff.dev/scheduler/internal/fixture"
	"skiff.dev/scheduler/internal/framework"
)

func TestFailurePolicy(t *testing.T) {
	fail, ignore := admissionregistrationv1.Fail, admissionregistrationv1.Ignore
	tests := []struct {
		name   string
		policy *admissionregistrationv1.FailurePolicyType
		want   framework.Code
	}{
		{"default is Ignore", nil, framework.Skip},
		{"Ignore", &ignore, framework.Skip},
		{"Fail", &fail, framework.Error},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp := &pluginsv1alpha1.SchedulerPlugin{Spec: pluginsv1alpha1.SchedulerPluginSpec{Score: true, FailurePolicy: tc.policy}}
			sp.Name = "p"
			p := NewPlugin(sp, nil)
			if got := p.failed(errors.New("module closed with context deadline exceeded")).Code(); got != tc.want {
				t.Fatalf("code %v, want %v", got, tc.want)
			}
			if p.Name() != "wasm/p" || p.weight != 1 {
				t.Fatalf("name %s weight %d", p.Name(), p.weight)
			}
		})
	}
}

func TestInputsOnlyRequestedFields(t *testing.T) {
	ni := fixture.NodeInfo(fixture.Node("n").Capacity("4", "8Gi", "110").Extended("nvidia.com/gpu", "2").
		Label("pref", "yes").Obj(), fixture.Pod("p").Req("1", "1Gi").Obj())
	in := Inputs([]*framework.NodeInfo{ni}, scheduling.FieldResources)
	if in[0].Name != "n" || in[0].Allocatable.MilliCPU != 4000 || in[0].Requested.MilliCPU != 1000 || in[0].Requested.Pods != 1 {
		t.Fatalf("resources %+v", in[0])
	}
	if in[0].Labels != nil || in[0].Extended != nil {
		t.Fatal("unrequested fields filled")
	}
	in = Inputs([]*framework.NodeInfo{ni}, scheduling.FieldLabels|scheduling.FieldExtended)
	if in[0].Labels["pref"] != "yes" || len(in[0].Extended) != 1 || in[0].Extended[0].Allocatable != 2 {
		t.Fatalf("labels/extended %+v", in[0])
	}
}

// TestAppendInputsReuse checks that reused inputs carry nothing over from
// the previous cycle's nodes.
func TestAppendInputsReuse(t *testing.T) {
	gpu := fixture.NodeInfo(fixture.Node("gpu").Capacity("4", "8Gi", "110").Extended("nvidia.com/gpu", "2").Obj())
	cpu := fixture.NodeInfo(fixture.Node("cpu").Capacity("2", "4Gi", "110").Obj())
	fields := scheduling.FieldResources | scheduling.FieldExtended
	in := appendInputs(nil, []*framework.NodeInfo{gpu, cpu}, fields)
	if len(in[0].Extended) != 1 || in[0].Generation != gpu.Generation {
		t.Fatalf("first cycle %+v", in[0])
	}
	in = appendInputs(in[:0], []*framework.NodeInfo{cpu}, fields)
	if len(in) != 1 || in[0].Name != "cpu" || len(in[0].Extended) != 0 || in[0].Allocatable.MilliCPU != 2000 {
		t.Fatalf("second cycle %+v", in)
	}
}

func TestPublishPerProfile(t *testing.T) {
	a := framework.New(framework.Options{ProfileName: "a"}, framework.Plugins{})
	b := framework.New(framework.Options{ProfileName: "b"}, framework.Plugins{})
	changes := 0
	m := New(Options{Profiles: map[string]*framework.Framework{"a": a, "b": b}, OnChange: func() { changes++ }})
	mk := func(name string, filter, score bool, weight int32, profiles ...string) *Plugin {
		sp := &pluginsv1alpha1.SchedulerPlugin{Spec: pluginsv1alpha1.SchedulerPluginSpec{Filter: filter, Score: score, Weight: weight, Profiles: profiles}}
		sp.Name = name
		return NewPlugin(sp, nil)
	}
	m.loaded["everywhere"] = mk("everywhere", false, true, 3)
	m.loaded["only-b"] = mk("only-b", true, false, 0, "b")
	m.publish()
	if changes != 1 {
		t.Fatalf("OnChange called %d times", changes)
	}
	da, db := a.Dynamic(), b.Dynamic()
	if len(da.Score) != 1 || da.Score[0].Weight != 3 || len(da.Filter) != 0 {
		t.Fatalf("profile a: %+v", da)
	}
	if len(db.Score) != 1 || len(db.Filter) != 1 || db.Filter[0].Name() != "wasm/only-b" {
		t.Fatalf("profile b: %+v", db)
	}
	delete(m.loaded, "everywhere")
	m.publish()
	if len(a.Dynamic().Score) != 0 {
		t.Fatal("removed plugin still active")
	}
}
