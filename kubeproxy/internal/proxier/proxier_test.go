package proxier

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"

	"skiff.dev/kubeproxy/internal/iptables"
	"skiff.dev/kubeproxy/internal/rules"
)

// fakeRunner records restores; it is for fast unit tests only (the netns
// tests in package kubeproxy run the real iptables).
type fakeRunner struct {
	mu       sync.Mutex
	restores []string
}

func (f *fakeRunner) ChainExists(string, string) (bool, error)           { return true, nil }
func (f *fakeRunner) RuleExists(string, string, ...string) (bool, error) { return true, nil }
func (f *fakeRunner) DeleteRule(string, string, ...string) error         { return nil }
func (f *fakeRunner) Dump(context.Context, string) (iptables.Dump, error) {
	return iptables.Dump{}, nil
}
func (f *fakeRunner) Restore(_ context.Context, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restores = append(f.restores, string(data))
	return nil
}

func (f *fakeRunner) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.restores)
}

func (f *fakeRunner) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.restores[len(f.restores)-1]
}

func newTestProxier(nSvc, nEp int, min time.Duration) (*Proxier, *fakeRunner, func(i, gen int)) {
	return newTestProxierWith(rules.Config{MasqueradeBit: 14}, nSvc, nEp, min)
}

func newTestProxierWith(cfg rules.Config, nSvc, nEp int, min time.Duration) (*Proxier, *fakeRunner, func(i, gen int)) {
	svcs, slices := cluster(nSvc, nEp)
	r := &fakeRunner{}
	p := New(r, corelisters.NewServiceLister(svcs), discoverylisters.NewEndpointSliceLister(slices), Options{
		Rules: cfg, MinSyncPeriod: min, SyncPeriod: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	update := func(i, gen int) { _ = slices.Update(benchSlice(svcName(i), i, nEp, gen)) }
	return p, r, update
}

func svcName(i int) string { return "svc-" + strconv.Itoa(i) }

func TestSyncWritesOnlyChanges(t *testing.T) {
	ctx := context.Background()
	p, r, update := newTestProxier(20, 3, time.Millisecond)
	if err := p.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if r.count() != 1 || !p.Stats().LastFull {
		t.Fatalf("first sync: %d restores, stats %+v", r.count(), p.Stats())
	}
	first := r.last()
	for _, j := range []string{"-I PREROUTING 1", "-I OUTPUT 1", "-I POSTROUTING 1", "-N KUBE-SERVICES"} {
		if !strings.Contains(first, j) {
			t.Errorf("first sync lacks %q", j)
		}
	}

	if err := p.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if r.count() != 1 {
		t.Fatalf("unchanged sync ran iptables-restore:\n%s", r.last())
	}

	update(7, 1) // one endpoint of svc-7 replaced
	if err := p.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if r.count() != 2 {
		t.Fatalf("changed endpoint: %d restores", r.count())
	}
	inc := r.last()
	if strings.Contains(inc, "KUBE-SERVICES") || strings.Contains(inc, "PREROUTING") {
		t.Errorf("incremental sync rewrote shared chains:\n%s", inc)
	}
	if n := strings.Count(inc, ":KUBE-SVC-"); n != 1 || strings.Contains(inc, "-X ") || strings.Contains(inc, "-N ") {
		t.Errorf("want exactly one Service chain rewritten and none created or deleted, got:\n%s", inc)
	}
	if !strings.Contains(inc, "10.99.0.2:8080") {
		t.Errorf("new endpoint missing:\n%s", inc)
	}
}

// TestSyncWritesOnlyChangesEndpointChains checks the partial sync of the
// endpoint-chains layout: a replaced endpoint writes its Service's KUBE-SVC
// chain, creates the new endpoint's KUBE-SEP chain and deletes the old one,
// and leaves every other chain alone.
func TestSyncWritesOnlyChangesEndpointChains(t *testing.T) {
	ctx := context.Background()
	p, r, update := newTestProxierWith(rules.Config{MasqueradeBit: 14, EndpointChains: true}, 20, 3, time.Millisecond)
	if err := p.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(r.last(), "-N KUBE-SEP-"); n != 60 {
		t.Fatalf("first sync created %d KUBE-SEP chains, want 60", n)
	}
	if n := strings.Count(r.last(), "-N KUBE-EXT-"); n != 20 {
		t.Fatalf("first sync created %d KUBE-EXT chains, want 20", n)
	}
	update(7, 1) // one endpoint of svc-7 replaced
	if err := p.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if r.count() != 2 {
		t.Fatalf("changed endpoint: %d restores", r.count())
	}
	inc := r.last()
	for _, tc := range []struct {
		what string
		n    int
	}{
		{":KUBE-SVC-", 1}, {"-N KUBE-SEP-", 1}, {":KUBE-SEP-", 1}, {"-X KUBE-SEP-", 1},
		{"KUBE-SERVICES", 0}, {"KUBE-NODEPORTS", 0}, {"KUBE-EXT-", 0}, {"-N KUBE-SVC-", 0},
	} {
		if got := strings.Count(inc, tc.what); got != tc.n {
			t.Errorf("%q appears %d times, want %d:\n%s", tc.what, got, tc.n, inc)
		}
	}
	if !strings.Contains(inc, "-j DNAT --to-destination 10.99.0.2:8080") {
		t.Errorf("new endpoint missing:\n%s", inc)
	}
}

func TestRunRateLimits(t *testing.T) {
	p, r, update := newTestProxier(5, 2, 300*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	deadline := time.Now().Add(10 * time.Second)
	for r.count() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no initial sync")
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	for gen := 1; gen <= 20; gen++ { // 20 changes in ~200ms
		update(gen%5, gen)
		p.Trigger()
		time.Sleep(10 * time.Millisecond)
	}
	for p.Stats().Syncs < 2 {
		if time.Now().After(deadline) {
			t.Fatal("changes never synced")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(700 * time.Millisecond)
	syncs := p.Stats().Syncs - 1
	// At most one sync per 300ms over the window, plus one trailing.
	if max := int(time.Since(start)/(300*time.Millisecond)) + 2; syncs > max {
		t.Errorf("%d syncs in %s, want at most %d", syncs, time.Since(start), max)
	}
	if !strings.Contains(r.last(), "10.99.0.21:8080") {
		t.Errorf("last change not applied:\n%s", r.last())
	}
}
