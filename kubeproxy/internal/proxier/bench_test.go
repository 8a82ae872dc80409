package proxier

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/kubeproxy/internal/iptables"
	"skiff.dev/kubeproxy/internal/netnstest"
	"skiff.dev/kubeproxy/internal/rules"
)

func ptr[T any](v T) *T { return &v }

// cpuNow is the CPU time (user+sys) used so far by this process and its
// waited-for children (iptables-restore, iptables-save). Reported per op as
// cpu-ms/op, it doesn't grow when other work shares the machine's cores,
// unlike wall time.
func cpuNow() time.Duration {
	var self, kids syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}

// timedSync runs p.Sync and adds its CPU time to *cpu.
func timedSync(b *testing.B, p *Proxier, cpu *time.Duration) {
	c0 := cpuNow()
	if err := p.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	*cpu += cpuNow() - c0
}

func reportCPU(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(b.N), "cpu-ms/op")
}

// cluster builds nSvc Services with nEp ready endpoints each; endpoint j of
// every Service runs on node-j, and the benchmarked proxier is node-0 (so
// 1,000 of the 10,000 endpoints are local: far more than one node can run).
func cluster(nSvc, nEp int) (cache.Indexer, cache.Indexer) {
	svcs := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	slices := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for i := 0; i < nSvc; i++ {
		name := fmt.Sprintf("svc-%d", i)
		_ = svcs.Add(&v1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: name, ResourceVersion: "1"},
			Spec: v1.ServiceSpec{Type: v1.ServiceTypeNodePort, ClusterIP: fmt.Sprintf("10.96.%d.%d", i/250, i%250+1),
				Ports: []v1.ServicePort{{Name: "http", Protocol: v1.ProtocolTCP, Port: 80, NodePort: int32(30000 + i)}}},
		})
		_ = slices.Add(benchSlice(name, i, nEp, 0))
	}
	return svcs, slices
}

func benchSlice(svc string, i, nEp, gen int) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "bench", Name: svc + "-x", ResourceVersion: fmt.Sprint(gen + 1), Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Protocol: ptr(v1.ProtocolTCP), Port: ptr(int32(8080))}},
	}
	for j := 0; j < nEp; j++ {
		ip := fmt.Sprintf("10.%d.%d.%d", 100+i/250, i%250, j+1)
		if j == 0 && gen > 0 {
			ip = fmt.Sprintf("10.99.%d.%d", gen/250%250, gen%250+1)
		}
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, NodeName: ptr(fmt.Sprintf("node-%d", j)),
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}})
	}
	return s
}

// benchProxier is a proxier on node-0 over a fresh netns, in the flat
// layout or (endpointChains) upstream's layout.
func benchProxier(b *testing.B, svcs, slices cache.Indexer, endpointChains bool) *Proxier {
	return benchProxierOn(b, svcs, slices, "node-0", endpointChains)
}

// benchProxierOn is benchProxier on the named node ("": every endpoint
// counts as local and gets a hairpin rule).
func benchProxierOn(b *testing.B, svcs, slices cache.Indexer, node string, endpointChains bool) *Proxier {
	netnstest.Skip(b)
	ns := netnstest.New(b, "bench")
	r, err := iptables.New(ns.IPTablesDir(b))
	if err != nil {
		b.Fatal(err)
	}
	return New(r, corelisters.NewServiceLister(svcs), discoverylisters.NewEndpointSliceLister(slices), Options{
		Rules: rules.Config{ClusterCIDR: "10.244.0.0/16", MasqueradeBit: 14, RandomFully: r.HasRandomFully(),
			EndpointChains: endpointChains},
		NodeName:      node,
		SyncPeriod:    time.Hour,
		MinSyncPeriod: time.Millisecond,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

// BenchmarkSyncFirst measures the first sync of a node (fresh netns) with
// 1,000 services × 10 endpoints: render, chain lookup, base chains and one
// iptables-restore that creates ~15,000 rules in ~1,000 chains.
func BenchmarkSyncFirst(b *testing.B) { benchSyncFirst(b, "node-0", false) }

// BenchmarkSyncFirstEndpointChains is BenchmarkSyncFirst in upstream's
// layout: ~34,000 rules in ~12,000 chains (every endpoint gets a hairpin
// rule in its KUBE-SEP chain, as upstream, so there is no AllLocal variant).
func BenchmarkSyncFirstEndpointChains(b *testing.B) { benchSyncFirst(b, "node-0", true) }

// BenchmarkSyncFirstAllLocal is BenchmarkSyncFirst with every endpoint
// treated as local (10,000 hairpin rules): the worst case.
func BenchmarkSyncFirstAllLocal(b *testing.B) { benchSyncFirst(b, "", false) }

func benchSyncFirst(b *testing.B, node string, endpointChains bool) {
	svcs, slices := cluster(1000, 10)
	var p *Proxier
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p = benchProxierOn(b, svcs, slices, node, endpointChains)
		b.StartTimer()
		timedSync(b, p, &cpu)
	}
	reportCPU(b, cpu)
	b.ReportMetric(float64(p.Stats().Bytes), "restore-bytes")
}

// BenchmarkSyncFull measures a forced full resync (every chain flushed and
// rewritten, stale chains looked up) of 1,000 services × 10 endpoints over
// the same rules already in the kernel.
func BenchmarkSyncFull(b *testing.B) { benchSyncFull(b, false) }

// BenchmarkSyncFullEndpointChains is BenchmarkSyncFull in upstream's layout.
func BenchmarkSyncFullEndpointChains(b *testing.B) { benchSyncFull(b, true) }

func benchSyncFull(b *testing.B, endpointChains bool) {
	svcs, slices := cluster(1000, 10)
	p := benchProxier(b, svcs, slices, endpointChains)
	var cpu time.Duration
	timedSync(b, p, &cpu)
	cpu = 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.needFull = true
		timedSync(b, p, &cpu)
	}
	reportCPU(b, cpu)
	b.ReportMetric(float64(p.Stats().Bytes), "restore-bytes")
}

// BenchmarkSyncOneEndpoint measures the sync after one endpoint of one
// service changed, with 1,000 services × 10 endpoints programmed.
func BenchmarkSyncOneEndpoint(b *testing.B) { benchSyncOneEndpoint(b, false) }

// BenchmarkSyncOneEndpointEndpointChains is BenchmarkSyncOneEndpoint in
// upstream's layout: the restore rewrites the KUBE-SVC chain, creates one
// KUBE-SEP chain and deletes another.
func BenchmarkSyncOneEndpointEndpointChains(b *testing.B) { benchSyncOneEndpoint(b, true) }

func benchSyncOneEndpoint(b *testing.B, endpointChains bool) {
	svcs, slices := cluster(1000, 10)
	p := benchProxier(b, svcs, slices, endpointChains)
	var cpu time.Duration
	timedSync(b, p, &cpu)
	cpu = 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = slices.Update(benchSlice("svc-500", 500, 10, i+1))
		timedSync(b, p, &cpu)
		if p.Stats().LastFull {
			b.Fatal("unexpected full sync")
		}
	}
	reportCPU(b, cpu)
	b.ReportMetric(float64(p.Stats().Bytes), "restore-bytes")
}

// BenchmarkRender measures rendering every rule from scratch (no iptables,
// no cache), the cost a sync avoids for unchanged Services.
func BenchmarkRender(b *testing.B) {
	svcs, slices := cluster(1000, 10)
	sl := discoverylisters.NewEndpointSliceLister(slices)
	svl := corelisters.NewServiceLister(svcs)
	for i := 0; i < b.N; i++ {
		s, _ := svl.List(everything())
		e, _ := sl.List(everything())
		rules.Render(rules.Config{}, Snapshot(s, e, "node-0"))
	}
}

func everything() labels.Selector { return labels.Everything() }
