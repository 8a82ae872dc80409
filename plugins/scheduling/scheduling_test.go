package scheduling_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/plugins/host"
	"skiff.dev/plugins/internal/wasmtest"
	"skiff.dev/plugins/scheduling"
)

func runtimeFor(t testing.TB) *host.Runtime {
	t.Helper()
	return wasmtest.Runtime(t, host.Options{})
}

func load(t testing.TB, rt *host.Runtime, example, settings string) *scheduling.Plugin {
	t.Helper()
	p, err := scheduling.Load(context.Background(), rt, scheduling.Config{
		Name: example, Wasm: wasmtest.Go(t, "examples/"+example), Settings: []byte(settings), Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

func pod(cpu, mem string, gpus int64) *corev1.Pod {
	req := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(cpu),
		corev1.ResourceMemory: resource.MustParse(mem),
	}
	if gpus > 0 {
		req["nvidia.com/gpu"] = *resource.NewQuantity(gpus, resource.DecimalSI)
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "u1", ResourceVersion: "1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "busybox", Resources: corev1.ResourceRequirements{Requests: req},
		}}},
	}
}

func TestBinpackScore(t *testing.T) {
	p := load(t, runtimeFor(t), "binpack", "")
	if p.Fields() != scheduling.FieldResources || !p.HasScore() || p.HasFilter() {
		t.Fatalf("fields=%b score=%v filter=%v", p.Fields(), p.HasScore(), p.HasFilter())
	}
	nodes := []scheduling.NodeInput{
		{Name: "empty", Allocatable: scheduling.Resources{MilliCPU: 4000, Memory: 8 << 30, Pods: 110}},
		{Name: "half", Allocatable: scheduling.Resources{MilliCPU: 4000, Memory: 8 << 30, Pods: 110},
			Requested: scheduling.Resources{MilliCPU: 2000, Memory: 4 << 30, Pods: 5}},
		{Name: "zero"},
	}
	scores, err := p.Score(context.Background(), pod("1", "2Gi", 0), nodes)
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{25, 75, 0}
	if fmt.Sprint(scores) != fmt.Sprint(want) {
		t.Fatalf("scores = %v, want %v", scores, want)
	}
	// Empty batches work too.
	if s, err := p.Score(context.Background(), pod("1", "1Gi", 0), nil); err != nil || len(s) != 0 {
		t.Fatalf("empty batch: %v %v", s, err)
	}
	if _, err := p.Filter(context.Background(), pod("1", "1Gi", 0), nodes); err == nil {
		t.Fatal("Filter on a score-only plugin succeeded")
	}
}

func TestPreferLabelScore(t *testing.T) {
	rt := runtimeFor(t)
	p := load(t, rt, "preferlabel", `{"key":"disktype","value":"ssd"}`)
	nodes := []scheduling.NodeInput{
		{Name: "a", Labels: map[string]string{"disktype": "ssd", "zone": "z1"}},
		{Name: "b", Labels: map[string]string{"disktype": "hdd"}},
		{Name: "c"},
	}
	scores, err := p.Score(context.Background(), pod("1", "1Gi", 0), nodes)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(scores) != "[100 0 0]" {
		t.Fatalf("scores = %v", scores)
	}
	for _, bad := range []string{`{}`, `{"key":"x","bogus":1}`, `not json`} {
		_, err := scheduling.Load(context.Background(), rt, scheduling.Config{
			Name: "bad", Wasm: wasmtest.Go(t, "examples/preferlabel"), Settings: []byte(bad)})
		if err == nil {
			t.Fatalf("settings %s accepted", bad)
		}
		if bad != "not json" && !errors.Is(err, host.ErrInvalidSettings) {
			t.Fatalf("settings %s: %v, want ErrInvalidSettings", bad, err)
		}
	}
}

// TestNodeRecordCache checks that a node with a Generation is encoded once
// per generation: the cached record is sent while the generation stays,
// and a new generation re-encodes it.
func TestNodeRecordCache(t *testing.T) {
	p := load(t, runtimeFor(t), "preferlabel", `{"key":"disktype","value":"ssd"}`)
	ctx := context.Background()
	tests := []struct {
		name     string
		disktype string
		gen      int64
		want     string
	}{
		{"first sight", "ssd", 1, "[100 0]"},
		{"same generation: the cached record", "hdd", 1, "[100 0]"},
		{"new generation", "hdd", 2, "[0 0]"},
		{"generation 0 is never cached", "ssd", 0, "[100 0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nodes := []scheduling.NodeInput{
				{Name: "a", Generation: tc.gen, Labels: map[string]string{"disktype": tc.disktype}},
				{Name: "b", Generation: 7},
			}
			scores, err := p.Score(ctx, pod("1", "1Gi", 0), nodes)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(scores) != tc.want {
				t.Fatalf("scores = %v, want %s", scores, tc.want)
			}
		})
	}
}

func TestIntoLengthMismatch(t *testing.T) {
	p := load(t, runtimeFor(t), "binpack", "")
	nodes := []scheduling.NodeInput{{Name: "a"}, {Name: "b"}}
	if err := p.ScoreInto(context.Background(), pod("1", "1Gi", 0), nodes, make([]int64, 1)); err == nil {
		t.Fatal("ScoreInto with too few slots succeeded")
	}
	scores := []int64{-1, -1}
	if err := p.ScoreInto(context.Background(), pod("1", "1Gi", 0), nodes, scores); err != nil || fmt.Sprint(scores) != "[0 0]" {
		t.Fatalf("ScoreInto: %v %v", scores, err)
	}
}

func TestGPUFilter(t *testing.T) {
	p := load(t, runtimeFor(t), "gpufilter", `{"reserveForGPUPods":true}`)
	nodes := []scheduling.NodeInput{
		{Name: "gpu4", Extended: []scheduling.ExtendedResource{{Name: "nvidia.com/gpu", Allocatable: 4, Requested: 1}}},
		{Name: "gpu1", Extended: []scheduling.ExtendedResource{{Name: "nvidia.com/gpu", Allocatable: 1}}},
		{Name: "cpu"},
	}
	tests := []struct {
		name  string
		gpus  int64
		codes []uint32
	}{
		{"two gpus", 2, []uint32{scheduling.Success, scheduling.Unschedulable, scheduling.UnschedulableAndUnresolvable}},
		{"no gpus", 0, []uint32{scheduling.UnschedulableAndUnresolvable, scheduling.UnschedulableAndUnresolvable, scheduling.Success}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := p.Filter(context.Background(), pod("1", "1Gi", tc.gpus), nodes)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range rs {
				if r.Code != tc.codes[i] {
					t.Errorf("node %s: %+v, want code %d", nodes[i].Name, r, tc.codes[i])
				}
				if r.Code != scheduling.Success && r.Reason == "" {
					t.Errorf("node %s rejected without a reason", nodes[i].Name)
				}
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	rt := runtimeFor(t)
	_, err := scheduling.Load(context.Background(), rt, scheduling.Config{Name: "x", Wasm: wasmtest.Go(t, "examples/requiredlabels"), Settings: []byte(`{"labels":["a"]}`)})
	if err == nil || !strings.Contains(err.Error(), "neither filter nor score") {
		t.Fatalf("admission module as scheduler plugin: %v", err)
	}
	_, err = scheduling.Load(context.Background(), rt, scheduling.Config{Name: "x", Wasm: []byte("junk")})
	if err == nil {
		t.Fatal("junk module loaded")
	}
}

func TestPodRequests(t *testing.T) {
	p := pod("500m", "1Gi", 2)
	p.Spec.InitContainers = []corev1.Container{{Name: "init", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("2"),
	}}}}
	p.Spec.Overhead = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("100Mi")}
	r, ext := scheduling.PodRequests(p)
	if r.MilliCPU != 2000 || r.Memory != (1<<30)+(100<<20) || r.Pods != 1 {
		t.Fatalf("requests = %+v", r)
	}
	if len(ext) != 1 || ext[0].Name != "nvidia.com/gpu" || ext[0].Value != 2 {
		t.Fatalf("extended = %+v", ext)
	}
}
