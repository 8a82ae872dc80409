package noderesources

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"skiff.dev/scheduler/internal/fixture"
	"skiff.dev/scheduler/internal/framework"
)

func TestFitFilter(t *testing.T) {
	node := fixture.Node("n1").Capacity("2", "4Gi", "3").Extended("example.com/gpu", "1").Obj()
	tests := []struct {
		name     string
		pod      *fixture.PodBuilder
		existing []*fixture.PodBuilder
		want     []string
	}{
		{name: "fits", pod: fixture.Pod("p").Req("1", "1Gi")},
		{name: "best effort fits", pod: fixture.Pod("p")},
		{name: "insufficient cpu", pod: fixture.Pod("p").Req("1500m", "1Gi"), existing: []*fixture.PodBuilder{fixture.Pod("e").Req("1", "")},
			want: []string{"Insufficient cpu"}},
		{name: "insufficient cpu and memory", pod: fixture.Pod("p").Req("3", "5Gi"), want: []string{"Insufficient cpu", "Insufficient memory"}},
		{name: "init container max counts", pod: fixture.Pod("p").Req("1", "1Gi").InitReq("2500m", "1Gi"), want: []string{"Insufficient cpu"}},
		{name: "overhead counts", pod: fixture.Pod("p").Req("1900m", "1Gi").Overhead("200m", "0"), want: []string{"Insufficient cpu"}},
		{name: "too many pods", pod: fixture.Pod("p"), existing: []*fixture.PodBuilder{fixture.Pod("a"), fixture.Pod("b"), fixture.Pod("c")},
			want: []string{"Too many pods"}},
		{name: "extended resource", pod: fixture.Pod("p").ReqExtended("example.com/gpu", "2"), want: []string{"Insufficient example.com/gpu"}},
	}
	f, err := NewFit(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var pods []*fixture.PodBuilder
			pods = append(pods, tc.existing...)
			ni := fixture.NodeInfo(node, objs(pods)...)
			st := f.Filter(context.Background(), framework.NewCycleState(), framework.NewPodInfo(tc.pod.Obj()), ni)
			got := st.Reasons()
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("reasons = %q, want %q", got, tc.want)
			}
			if len(tc.want) > 0 && st.Code() != framework.Unschedulable {
				t.Fatalf("code = %v, want Unschedulable", st.Code())
			}
		})
	}
}

func TestFitMemoryPressureBestEffort(t *testing.T) {
	node := fixture.Node("n").Condition("MemoryPressure", "True").Obj()
	f, _ := NewFit(nil)
	ni := fixture.NodeInfo(node)
	if st := f.Filter(context.Background(), nil, framework.NewPodInfo(fixture.Pod("be").Obj()), ni); st.IsSuccess() {
		t.Fatal("best-effort pod admitted on a node under memory pressure")
	}
	if st := f.Filter(context.Background(), nil, framework.NewPodInfo(fixture.Pod("bu").Req("100m", "").Obj()), ni); !st.IsSuccess() {
		t.Fatalf("burstable pod rejected: %v", st.Message())
	}
}

func objs(bs []*fixture.PodBuilder) []*v1Pod {
	out := make([]*v1Pod, len(bs))
	for i, b := range bs {
		out[i] = b.Obj()
	}
	return out
}

func TestFitScore(t *testing.T) {
	empty := fixture.NodeInfo(fixture.Node("empty").Capacity("4", "8Gi", "110").Obj())
	half := fixture.NodeInfo(fixture.Node("half").Capacity("4", "8Gi", "110").Obj(), fixture.Pod("e").Req("2", "4Gi").Obj())
	pod := framework.NewPodInfo(fixture.Pod("p").Req("1", "2Gi").Obj())
	tests := []struct {
		name      string
		args      string
		wantEmpty int64
		wantHalf  int64
	}{
		{name: "least allocated", args: ``, wantEmpty: 75, wantHalf: 25},
		{name: "most allocated", args: `{"scoringStrategy":{"type":"MostAllocated"}}`, wantEmpty: 25, wantHalf: 75},
		{name: "cpu only", args: `{"scoringStrategy":{"type":"LeastAllocated","resources":[{"name":"cpu","weight":1}]}}`, wantEmpty: 75, wantHalf: 25},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := NewFit(json.RawMessage(tc.args))
			if err != nil {
				t.Fatal(err)
			}
			se, _ := f.Score(context.Background(), nil, pod, empty)
			sh, _ := f.Score(context.Background(), nil, pod, half)
			if se != tc.wantEmpty || sh != tc.wantHalf {
				t.Fatalf("scores empty=%d half=%d, want %d %d", se, sh, tc.wantEmpty, tc.wantHalf)
			}
		})
	}
}

func TestFitArgsErrors(t *testing.T) {
	for _, args := range []string{
		`{"scoringStrategy":{"type":"Random"}}`,
		`{"scoringStrategy":{"resources":[{"name":"cpu","weight":0}]}}`,
		`{"unknown":1}`,
	} {
		if _, err := NewFit(json.RawMessage(args)); err == nil {
			t.Errorf("NewFit(%s) succeeded", args)
		}
	}
}

func TestBalancedAllocation(t *testing.T) {
	b := NewBalancedAllocation()
	pod := framework.NewPodInfo(fixture.Pod("p").Req("1", "2Gi").Obj())
	balanced := fixture.NodeInfo(fixture.Node("b").Capacity("4", "8Gi", "110").Obj())
	skewed := fixture.NodeInfo(fixture.Node("s").Capacity("4", "8Gi", "110").Obj(), fixture.Pod("e").Req("3", "").Obj())
	sb, _ := b.Score(context.Background(), nil, pod, balanced)
	ss, _ := b.Score(context.Background(), nil, pod, skewed)
	if sb != 100 || ss >= sb {
		t.Fatalf("balanced=%d skewed=%d: want 100 and less", sb, ss)
	}
}
