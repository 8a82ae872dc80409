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
