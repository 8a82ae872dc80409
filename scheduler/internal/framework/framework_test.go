package framework_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"skiff.dev/scheduler/internal/fixture"
	"skiff.dev/scheduler/internal/framework"
)

func TestNumFeasibleNodesToFind(t *testing.T) {
	tests := []struct {
		pct       int32
		nodes     int
		wantFound int
	}{
		{0, 50, 50},
		{0, 100, 100},
		{0, 1000, 420},
		{0, 5000, 500},
		{0, 10000, 500},
		{0, 200, 100},
		{50, 1000, 500},
		{100, 5000, 5000},
		{10, 500, 100},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d%%-of-%d", tc.pct, tc.nodes), func(t *testing.T) {
			f := framework.New(framework.Options{PercentageOfNodesToScore: tc.pct}, framework.Plugins{})
			if got := f.NumFeasibleNodesToFind(tc.nodes); got != tc.wantFound {
				t.Fatalf("got %d, want %d", got, tc.wantFound)
			}
		})
	}
}

func TestFitErrorMessage(t *testing.T) {
	st := func(r ...string) *framework.Status { return framework.NewStatus(framework.Unschedulable, r...) }
	tests := []struct {
		name     string
		statuses map[string]*framework.Status
		all      int
		want     string
	}{
		{"one reason", map[string]*framework.Status{"a": st("Insufficient cpu"), "b": st("Insufficient cpu"), "c": st("Insufficient cpu")}, 3,
			"0/3 nodes are available: 3 Insufficient cpu."},
		{"sorted, several per node", map[string]*framework.Status{"a": st("Insufficient cpu", "Insufficient memory"), "b": st("node(s) had untolerated taint {k: v}")}, 2,
			"0/2 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 node(s) had untolerated taint {k: v}."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fe := &framework.FitError{NumAllNodes: tc.all, NodeToStatus: tc.statuses}
			if got := fe.Error(); got != tc.want {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// Test plugins.
type rejectNode struct{ name string }

func (rejectNode) Name() string { return "RejectNode" }
func (r rejectNode) Filter(_ context.Context, _ *framework.CycleState, _ *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	if ni.Name() == r.name {
		return framework.NewStatus(framework.Unschedulable, "rejected by test")
	}
	return nil
}

type batchFilter struct {
	calls  int
	reject string
	err    *framework.Status
}

func (*batchFilter) Name() string { return "wasm/batch-filter" }
func (b *batchFilter) FilterNodes(_ context.Context, _ *framework.CycleState, _ *framework.PodInfo, nodes []*framework.NodeInfo) ([]*framework.Status, *framework.Status) {
	b.calls++
	if b.err != nil {
		return nil, b.err
	}
	out := make([]*framework.Status, len(nodes))
	for i, n := range nodes {
		if n.Name() == b.reject {
			out[i] = framework.NewStatus(framework.UnschedulableAndUnresolvable, "batch says no")
		}
	}
	return out, nil
}

type batchScore struct {
	calls int
	best  string
	err   *framework.Status
	sizes []int
}

func (*batchScore) Name() string { return "wasm/batch-score" }
func (b *batchScore) ScoreNodes(_ context.Context, _ *framework.CycleState, _ *framework.PodInfo, nodes []*framework.NodeInfo, scores []int64) *framework.Status {
	b.calls++
	b.sizes = append(b.sizes, len(nodes))
	if b.err != nil {
		return b.err
	}
	for i, n := range nodes {
		if n.Name() == b.best {
			scores[i] = 100
		}
	}
	return nil
}

func snapshot(n int) *framework.Snapshot {
	var infos []*framework.NodeInfo
	for i := 0; i < n; i++ {
		infos = append(infos, fixture.NodeInfo(fixture.Node(fmt.Sprintf("n%03d", i)).Obj()))
	}
	return framework.NewSnapshot(infos...)
}

func TestScheduleWithBatchPlugins(t *testing.T) {
	pod := framework.NewPodInfo(fixture.Pod("p").Obj())
	tests := []struct {
		name     string
		nodes    int
		filter   *batchFilter
		score    *batchScore
		wantHost string
		wantErr  string
	}{
		{name: "score picks node", nodes: 5, score: &batchScore{best: "n003"}, wantHost: "n003"},
		{name: "filter overrides score", nodes: 5, filter: &batchFilter{reject: "n003"}, score: &batchScore{best: "n003"}},
		{name: "ignored score failure", nodes: 5, score: &batchScore{best: "n003", err: framework.NewStatus(framework.Skip, "trap")}},
		{name: "failing score fails the cycle", nodes: 5, score: &batchScore{err: framework.AsStatus(errors.New("trap"))}, wantErr: "trap"},
		{name: "failing filter fails the cycle", nodes: 5, filter: &batchFilter{err: framework.AsStatus(errors.New("oom"))}, wantErr: "oom"},
		{name: "ignored filter failure", nodes: 5, filter: &batchFilter{err: framework.NewStatus(framework.Skip, "oom")}, score: &batchScore{best: "n001"}, wantHost: "n001"},
		{name: "one call per cycle at 1000 nodes", nodes: 1000, filter: &batchFilter{}, score: &batchScore{best: "n999"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := framework.New(framework.Options{}, framework.Plugins{Filter: []framework.FilterPlugin{rejectNode{"n000"}}})
			d := &framework.Dynamic{}
			if tc.filter != nil {
				d.Filter = append(d.Filter, tc.filter)
			}
			if tc.score != nil {
				d.Score = append(d.Score, framework.WeightedScorePlugin{Plugin: tc.score, Weight: 1})
			}
			f.SetDynamic(d)
			res, err := f.Schedule(context.Background(), framework.NewCycleState(), pod, snapshot(tc.nodes))
			if tc.wantErr != "" {
				if err == nil || !contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.SuggestedHost == "n000" {
				t.Fatal("picked a node the native filter rejected")
			}
			if tc.filter != nil && tc.filter.reject != "" && res.SuggestedHost == tc.filter.reject {
				t.Fatal("picked a node the batch filter rejected")
			}
			if tc.wantHost != "" && res.SuggestedHost != tc.wantHost {
				t.Fatalf("host %s, want %s", res.SuggestedHost, tc.wantHost)
			}
			if tc.filter != nil && tc.filter.calls != 1 {
				t.Fatalf("batch filter called %d times, want once per cycle", tc.filter.calls)
			}
			if tc.score != nil && tc.score.calls != 1 {
				t.Fatalf("batch score called %d times, want once per cycle", tc.score.calls)
			}
			if tc.nodes == 1000 && tc.score.sizes[0] != 420 {
				t.Fatalf("scored %d nodes at 1000, want the adaptive sample 420", tc.score.sizes[0])
			}
		})
	}
}

func TestScheduleSpreadsStartNode(t *testing.T) {
	f := framework.New(framework.Options{PercentageOfNodesToScore: 10}, framework.Plugins{Filter: []framework.FilterPlugin{rejectNode{}}})
	snap := snapshot(1000)
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		res, err := f.Schedule(context.Background(), framework.NewCycleState(), framework.NewPodInfo(fixture.Pod("p").Obj()), snap)
		if err != nil {
			t.Fatal(err)
		}
		if res.EvaluatedNodes < 100 || res.EvaluatedNodes > 200 {
			t.Fatalf("evaluated %d nodes, want about 100", res.EvaluatedNodes)
		}
		seen[res.SuggestedHost] = true
	}
	if len(seen) < 5 {
		t.Fatalf("only %d distinct hosts over 20 cycles: sampling always starts at the same node", len(seen))
	}
}

func TestScheduleNoNodes(t *testing.T) {
	f := framework.New(framework.Options{}, framework.Plugins{})
	_, err := f.Schedule(context.Background(), framework.NewCycleState(), framework.NewPodInfo(fixture.Pod("p").Obj()), framework.NewSnapshot())
	var fe *framework.FitError
	if !errors.As(err, &fe) || fe.Error() != framework.ErrNoNodesAvailable {
		t.Fatalf("err = %v", err)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// skipScorer skips in PreScore; its Score must then not be called.
type skipScorer struct{ scored atomic.Int32 }

func (*skipScorer) Name() string { return "SkipScorer" }
func (*skipScorer) PreScore(context.Context, *framework.CycleState, *framework.PodInfo, []*framework.NodeInfo) *framework.Status {
	return framework.NewStatus(framework.Skip)
}
func (s *skipScorer) Score(context.Context, *framework.CycleState, *framework.PodInfo, *framework.NodeInfo) (int64, *framework.Status) {
	s.scored.Add(1)
	return 100, nil
}

// nameScorer prefers one node.
type nameScorer struct{ best string }

func (nameScorer) Name() string { return "NameScorer" }
func (n nameScorer) Score(_ context.Context, _ *framework.CycleState, _ *framework.PodInfo, ni *framework.NodeInfo) (int64, *framework.Status) {
	if ni.Name() == n.best {
		return 100, nil
	}
	return 0, nil
}

func TestScheduleSkipsPreScoreSkippedPlugins(t *testing.T) {
	skip := &skipScorer{}
	f := framework.New(framework.Options{PercentageOfNodesToScore: 100}, framework.Plugins{
		PreScore: []framework.PreScorePlugin{skip},
		Score:    []framework.WeightedScorePlugin{{Plugin: skip, Weight: 5}, {Plugin: nameScorer{best: "n007"}, Weight: 1}},
	})
	snap := snapshot(50)
	// Several cycles over the same framework: its reused buffers must not
	// carry one cycle's scores into the next.
	for i := 0; i < 5; i++ {
		res, err := f.Schedule(context.Background(), framework.NewCycleState(), framework.NewPodInfo(fixture.Pod("p").Obj()), snap)
		if err != nil {
			t.Fatal(err)
		}
		if res.SuggestedHost != "n007" || res.FeasibleNodes != 50 {
			t.Fatalf("cycle %d: host %s feasible %d", i, res.SuggestedHost, res.FeasibleNodes)
		}
	}
	if n := skip.scored.Load(); n != 0 {
		t.Fatalf("Score of a plugin whose PreScore skipped was called %d times", n)
	}
}

func TestSameRequests(t *testing.T) {
	always := v1.ContainerRestartPolicyAlways
	base := fixture.Pod("p").Req("100m", "128Mi").Obj()
	tests := []struct {
		name   string
		mutate func(p *v1.Pod)
		want   bool
	}{
		{"identical", func(*v1.Pod) {}, true},
		{"node name and status differ", func(p *v1.Pod) { p.Spec.NodeName = "n1"; p.Status.Phase = v1.PodRunning }, true},
		{"same quantity, other spelling", func(p *v1.Pod) {
			p.Spec.Containers[0].Resources.Requests[v1.ResourceCPU] = resource.MustParse("0.1")
		}, true},
		{"cpu changed", func(p *v1.Pod) {
			p.Spec.Containers[0].Resources.Requests[v1.ResourceCPU] = resource.MustParse("200m")
		}, false},
		{"request added", func(p *v1.Pod) {
			p.Spec.Containers[0].Resources.Requests[v1.ResourceEphemeralStorage] = resource.MustParse("1Gi")
		}, false},
		{"container added", func(p *v1.Pod) { p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: "b"}) }, false},
		{"overhead", func(p *v1.Pod) { p.Spec.Overhead = v1.ResourceList{v1.ResourceCPU: resource.MustParse("10m")} }, false},
		{"pod-level resources", func(p *v1.Pod) { p.Spec.Resources = &v1.ResourceRequirements{} }, false},
		{"init container becomes sidecar", func(p *v1.Pod) {
			p.Spec.InitContainers = []v1.Container{{Name: "i", RestartPolicy: &always}}
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := base.DeepCopy()
			tc.mutate(b)
			if got := framework.SameRequests(base, b); got != tc.want {
				t.Fatalf("SameRequests = %v, want %v", got, tc.want)
			}
			if tc.want {
				pi := framework.NewPodInfo(base).WithPod(b)
				if pi.Pod != b || pi.Requests.MilliCPU != framework.NewPodInfo(b).Requests.MilliCPU {
					t.Fatal("WithPod did not carry the requests over to the new pod")
				}
			}
		})
	}
}
