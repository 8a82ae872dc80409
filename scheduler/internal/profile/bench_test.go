package profile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	pluginsv1alpha1 "skiff.dev/api/plugins/v1alpha1"
	"skiff.dev/plugins/host"
	"skiff.dev/plugins/scheduling"

	"skiff.dev/scheduler/internal/cache"
	"skiff.dev/scheduler/internal/config"
	"skiff.dev/scheduler/internal/fixture"
	"skiff.dev/scheduler/internal/framework"
	"skiff.dev/scheduler/internal/wasm"
)

type stubHandle struct{ fwk **framework.Framework }

func (stubHandle) ClientSet() kubernetes.Interface   { return nil }
func (stubHandle) NamespaceLabels(string) labels.Set { return nil }
func (h stubHandle) Framework() *framework.Framework { return *h.fwk }

// benchCluster returns the default profile and a cache with n nodes.
func benchCluster(b *testing.B, n int) (*framework.Framework, *cache.Cache) {
	var fwk *framework.Framework
	fwks, err := Build(config.Default(), func(string) framework.Handle { return stubHandle{&fwk} })
	if err != nil {
		b.Fatal(err)
	}
	fwk = fwks[config.DefaultSchedulerName]
	c := cache.New(cache.Options{})
	for i := 0; i < n; i++ {
		c.AddNode(fixture.Node(fmt.Sprintf("hollow-%05d", i)).Capacity("32", "128Gi", "110").
			Label("topology.kubernetes.io/zone", fmt.Sprintf("zone-%d", i%10)).Obj())
	}
	return fwk, c
}

// scheduleLoop runs b.N scheduling cycles, assuming each pod onto its node
// as the scheduler does, and reports pods/s.
func scheduleLoop(b *testing.B, fwk *framework.Framework, c *cache.Cache) {
	snap := cache.NewSnapshot()
	ctx := context.Background()
	pod := fixture.Pod("p").Req("100m", "128Mi").Obj()
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := pod.DeepCopy()
		p.Name = fmt.Sprintf("p%d", i)
		p.UID = types.UID(p.Name)
		c.UpdateSnapshot(snap)
		res, err := fwk.Schedule(ctx, framework.NewCycleState(), framework.NewPodInfo(p), snap)
		if err != nil {
			b.Fatal(err)
		}
		p.Spec.NodeName = res.SuggestedHost
		if err := c.AssumePod(p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pods/s")
	// CPU per pod is steadier than wall time on a shared machine.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/pod")
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkScheduleNative is one scheduling cycle of the default profile
// over 1,000 nodes, without the apiserver.
func BenchmarkScheduleNative(b *testing.B) {
	fwk, c := benchCluster(b, 1000)
	scheduleLoop(b, fwk, c)
}

// BenchmarkScheduleWasmScore adds the binpack Go-guest score plugin
// ($SCHEDULER_BENCH_WASM_DIR/binpack.wasm).
func BenchmarkScheduleWasmScore(b *testing.B) { benchWasm(b, "binpack.wasm", false) }

// BenchmarkScheduleWasmFilter adds the gpufilter Go-guest filter plugin.
func BenchmarkScheduleWasmFilter(b *testing.B) { benchWasm(b, "gpufilter.wasm", true) }

func benchWasm(b *testing.B, file string, filter bool) {
	dir := os.Getenv("SCHEDULER_BENCH_WASM_DIR")
	if dir == "" {
		b.Skip("SCHEDULER_BENCH_WASM_DIR not set")
	}
	wasmBytes, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	rt, err := host.New(ctx, host.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(ctx)
	settings := []byte(nil)
	if filter {
		settings = []byte(`{"reserveForGPUPods":true}`)
	}
	mod, err := scheduling.Load(ctx, rt, scheduling.Config{Name: file, Wasm: wasmBytes, Settings: settings, Timeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	sp := &pluginsv1alpha1.SchedulerPlugin{Spec: pluginsv1alpha1.SchedulerPluginSpec{Filter: filter, Score: !filter, Weight: 1}}
	sp.Name = file
	p := wasm.NewPlugin(sp, mod)
	fwk, c := benchCluster(b, 1000)
	d := &framework.Dynamic{}
	if filter {
		d.Filter = []framework.BatchFilterPlugin{p}
	} else {
		d.Score = []framework.WeightedScorePlugin{{Plugin: p, Weight: 1}}
	}
	fwk.SetDynamic(d)
	scheduleLoop(b, fwk, c)
}

var _ = v1.ResourceCPU

// BenchmarkWasmScoreCall is one batched call of the binpack guest over
// 420 nodes (the adaptive sample at 1,000 nodes): the plugin's own cost.
func BenchmarkWasmScoreCall(b *testing.B) {
	dir := os.Getenv("SCHEDULER_BENCH_WASM_DIR")
	if dir == "" {
		b.Skip("SCHEDULER_BENCH_WASM_DIR not set")
	}
	wasmBytes, err := os.ReadFile(filepath.Join(dir, "binpack.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	rt, err := host.New(ctx, host.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(ctx)
	mod, err := scheduling.Load(ctx, rt, scheduling.Config{Name: "binpack", Wasm: wasmBytes, Timeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 420} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			_, c := benchCluster(b, n)
			snap := cache.NewSnapshot()
			c.UpdateSnapshot(snap)
			pod := fixture.Pod("p").Req("100m", "128Mi").Obj()
			in := wasm.Inputs(snap.NodeInfoList, mod.Fields())
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := mod.Score(ctx, pod, in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/call")
		})
	}
}
