package storage

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCompactorRun runs two compactors (two apiservers sharing etcd) on a
// short interval and waits until an old revision is compacted away. It
// compacts the shared etcd, so it is not parallel.
func TestCompactorRun(t *testing.T) {
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	resp, err := shared.client.Put(ctx, "/compactor-test/k", "v1")
	if err != nil {
		t.Fatal(err)
	}
	old := resp.Header.Revision
	if _, err := shared.client.Put(ctx, "/compactor-test/k", "v2"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var notified atomic.Int64 // the highest revision OnCompact reported
	onCompact := func(rev int64) {
		for cur := notified.Load(); rev > cur && !notified.CompareAndSwap(cur, rev); cur = notified.Load() {
		}
	}
	for i := 0; i < 2; i++ {
		c := NewCompactor(shared.client, CompactorOptions{Interval: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler), OnCompact: onCompact})
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Run(ctx)
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := shared.client.Get(ctx, "/compactor-test/k", clientv3WithRev(old))
		if isCompacted(err) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("revision never compacted")
		}
		// Writes move the revision on so each round has something to do.
		if _, err := shared.client.Put(ctx, "/compactor-test/tick", "x"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The compaction that removed old is reported once Compact returns.
	for n := notified.Load(); n <= old; n = notified.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("OnCompact reported up to %d, want past %d", n, old)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The latest value is still readable.
	got, err := shared.client.Get(ctx, "/compactor-test/k")
	if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "v2" {
		t.Fatalf("latest value: %v %v", got, err)
	}
}
