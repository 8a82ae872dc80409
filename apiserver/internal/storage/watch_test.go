package storage

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"skiff.dev/apiserver/internal/etcd"
)

func boolPtr(b bool) *bool { return &b }

type wantEv struct {
	typ  watch.EventType
	name string
	rv   string // "" = don't check
}

func expectEvents(t *testing.T, w watch.Interface, want []wantEv) {
	t.Helper()
	for i, we := range want {
		ev := nextNonBookmark(t, w)
		if ev.Type != we.typ || evName(ev) != we.name || (we.rv != "" && evRV(ev) != we.rv) {
			t.Fatalf("event %d = %s %s rv %s, want %s %s rv %q", i, ev.Type, evName(ev), evRV(ev), we.typ, we.name, we.rv)
		}
	}
}

func expectQuiet(t *testing.T, w watch.Interface, d time.Duration) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch closed")
			}
			if ev.Type != watch.Bookmark {
				t.Fatalf("unexpected event %s %s", ev.Type, evName(ev))
			}
		case <-timer.C:
			return
		}
	}
}

func TestWatchFromResourceVersion(t *testing.T) {
	t.Parallel()
	s, p := newTestStore(t)
	ctx := testCtx(t)
	a := mustCreate(t, s, p+"ns/a", cm("ns", "a", nil))
	b := mustCreate(t, s, p+"ns/b", cm("ns", "b", nil))
	updB := &corev1.ConfigMap{}
	if err := s.GuaranteedUpdate(ctx, p+"ns/b", updB, false, nil, func(cur runtime.Object) (runtime.Object, error) {
		cur.(*corev1.ConfigMap).Data = map[string]string{"x": "y"}
		return cur, nil
	}); err != nil {
		t.Fatal(err)
	}
	delA := &corev1.ConfigMap{}
	if err := s.Delete(ctx, p+"ns/a", delA, nil, nil); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		key  string
		opts ListOptions
		want []wantEv
	}{
		{name: "replay from first create", key: p, opts: ListOptions{Recursive: true, ResourceVersion: a.ResourceVersion},
			want: []wantEv{{watch.Added, "b", b.ResourceVersion}, {watch.Modified, "b", updB.ResourceVersion}, {watch.Deleted, "a", delA.ResourceVersion}}},
		{name: "replay single key", key: p + "ns/a", opts: ListOptions{ResourceVersion: a.ResourceVersion},
			want: []wantEv{{watch.Deleted, "a", delA.ResourceVersion}}},
		{name: "rv 0 gives current state", key: p, opts: ListOptions{Recursive: true, ResourceVersion: "0"},
			want: []wantEv{{watch.Added, "b", updB.ResourceVersion}}},
		{name: "rv empty gives current state", key: p, opts: ListOptions{Recursive: true},
			want: []wantEv{{watch.Added, "b", updB.ResourceVersion}}},
	}
	// Replays run first: live objects of later cases would show up in them.
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A consistent list brings the cache up to date, so that even
			// the rv=0 ("any") watch starts from the latest state.
			if err := s.List(ctx, p, ListOptions{Recursive: true}, &corev1.ConfigMapList{}); err != nil {
				t.Fatal(err)
			}
			w, err := s.Watch(ctx, tc.key, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			expectEvents(t, w, tc.want)
			// Live events follow.
			live := "live-" + strconv.Itoa(i)
			c := mustCreate(t, s, p+"ns/"+live, cm("ns", live, nil))
			if tc.opts.Recursive {
				expectEvents(t, w, []wantEv{{watch.Added, c.Name, c.ResourceVersion}})
			}
			if err := s.Delete(ctx, p+"ns/"+c.Name, &corev1.ConfigMap{}, nil, nil); err != nil {
				t.Fatal(err)
			}
			if tc.opts.Recursive {
				expectEvents(t, w, []wantEv{{watch.Deleted, c.Name, ""}})
			}
		})
	}
}

func TestWatchTooOld(t *testing.T) {
	t.Parallel()
	// A cache that never grows past 3 events.
	s, p := newTestStore(t, func(c *Config) { c.WatchCacheSize = 3; c.WatchCacheHistory = -1 })
	ctx := testCtx(t)
	first := mustCreate(t, s, p+"ns/c0", cm("ns", "c0", nil))
	var last *corev1.ConfigMap
	for i := 1; i < 6; i++ {
		last = mustCreate(t, s, fmt.Sprintf("%sns/c%d", p, i), cm("ns", fmt.Sprintf("c%d", i), nil))
	}
	// Wait until the cache has seen every write.
	if err := s.List(ctx, p, ListOptions{Recursive: true, ResourceVersion: last.ResourceVersion, ResourceVersionMatch: "NotOlderThan"}, &corev1.ConfigMapList{}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Watch(ctx, p, ListOptions{Recursive: true, ResourceVersion: first.ResourceVersion})
	if !apierrors.IsResourceExpired(err) || !apierrors.IsGone(err) && apierrors.ReasonForError(err) != metav1.StatusReasonExpired {
		t.Fatalf("watch from evicted rv: %v", err)
	}
	lastRV, _ := strconv.ParseInt(last.ResourceVersion, 10, 64)
	_, err = impatient(t, s).Watch(ctx, p, ListOptions{Recursive: true, ResourceVersion: strconv.FormatInt(lastRV+1000000, 10)})
	if !isTooLarge(err) {
		t.Fatalf("watch from future rv: %v", err)
	}
	// Within the window it works.
	w, err := s.Watch(ctx, p, ListOptions{Recursive: true, ResourceVersion: strconv.FormatInt(lastRV-1, 10)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	expectEvents(t, w, []wantEv{{watch.Added, "c5", last.ResourceVersion}})
}

// TestWatchCacheHistory: the cache grows past WatchCacheSize to keep
// WatchCacheHistory of events, up to WatchCacheMaxSize, so a watch resumes
// from a resourceVersion that a fixed-size cache would have evicted; once
// its events are older than that, new events shrink it back and the same
// watch is 410 Gone.
func TestWatchCacheHistory(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, p := newTestStore(t, func(c *Config) {
		c.WatchCacheSize, c.WatchCacheHistory, c.WatchCacheMaxSize, c.Now = 2, time.Minute, 16, clock
	})
	ctx := testCtx(t)
	create := func(from, to int) (first, last *corev1.ConfigMap, want []wantEv) {
		for i := from; i < to; i++ {
			name := fmt.Sprintf("c%d", i)
			last = mustCreate(t, s, p+"ns/"+name, cm("ns", name, nil))
			if first == nil {
				first = last
			} else {
				want = append(want, wantEv{watch.Added, name, last.ResourceVersion})
			}
		}
		// Wait until the cache has seen every write.
		if err := s.List(ctx, p, ListOptions{Recursive: true, ResourceVersion: last.ResourceVersion, ResourceVersionMatch: "NotOlderThan"}, &corev1.ConfigMapList{}); err != nil {
			t.Fatal(err)
		}
		return first, last, want
	}
	ringLen := func() int {
		s.cache.mu.RLock()
		defer s.cache.mu.RUnlock()
		return len(s.cache.ring)
	}

	first, _, want := create(0, 10)
	if n := ringLen(); n != 16 {
		t.Fatalf("ring holds %d events after 10 within the history, want 16", n)
	}
	w, err := s.Watch(ctx, p, ListOptions{Recursive: true, ResourceVersion: first.ResourceVersion})
	if err != nil {
		t.Fatalf("watch from the first of 10 events with WatchCacheSize 2: %v", err)
	}
	expectEvents(t, w, want)
	w.Stop()

	// Past WatchCacheMaxSize the oldest go even within the history.
	mid, _, _ := create(10, 20)
	if n := ringLen(); n != 16 {
		t.Fatalf("ring holds %d events, want the maximum 16", n)
	}
	if _, err := s.Watch(ctx, p, ListOptions{Recursive: true, ResourceVersion: first.ResourceVersion}); !apierrors.IsResourceExpired(err) {
		t.Fatalf("watch from an event beyond the maximum: %v", err)
	}

	// Two minutes on, one new event shrinks the cache back to its minimum:
	// every older event is past the history.
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	_, last, _ := create(20, 21)
	if n := ringLen(); n != 2 {
		t.Fatalf("ring holds %d events after the history passed, want 2", n)
	}
	if _, err := s.Watch(ctx, p, ListOptions{Recursive: true, ResourceVersion: mid.ResourceVersion}); !apierrors.IsResourceExpired(err) {
		t.Fatalf("watch from an event past the history: %v", err)
	}
	lastRV, _ := strconv.ParseInt(last.ResourceVersion, 10, 64)
	w, err = s.Watch(ctx, p, ListOptions{Recursive: true, ResourceVersion: strconv.FormatInt(lastRV-1, 10)})
	if err != nil {
		t.Fatalf("watch from the event before the last: %v", err)
	}
	defer w.Stop()
	expectEvents(t, w, []wantEv{{watch.Added, "c20", last.ResourceVersion}})
}

// TestWatchCompacted: once etcd's history is compacted (Compacted, which
// the Compactor's OnCompact calls), a watch from a compacted revision is
// 410 Gone even though the watch cache could still hold its events; from
// the compaction revision on it works.
func TestWatchCompacted(t *testing.T) {
	t.Parallel()
	s, p := newTestStore(t)
	ctx := testCtx(t)
	a := mustCreate(t, s, p+"ns/a", cm("ns", "a", nil))
	b := mustCreate(t, s, p+"ns/b", cm("ns", "b", nil))
	c := mustCreate(t, s, p+"ns/c", cm("ns", "c", nil))
	if err := s.List(ctx, p, ListOptions{Recursive: true, ResourceVersion: c.ResourceVersion, ResourceVersionMatch: "NotOlderThan"}, &corev1.ConfigMapList{}); err != nil {
		t.Fatal(err)
	}
	w, err := s.Watch(ctx, p, ListOptions{Recursive: true, ResourceVersion: a.ResourceVersion})
	if err != nil {
		t.Fatalf("watch before compaction: %v", err)
	}
	w.Stop()
	bRV, _ := strconv.ParseInt(b.ResourceVersion, 10, 64)
	s.Compacted(bRV)
	s.Compacted(bRV - 1) // older news changes nothing
	if _, err := s.Watch(ctx, p, ListOptions{Recursive: true, ResourceVersion: a.ResourceVersion}); !apierrors.IsResourceExpired(err) {
		t.Fatalf("watch from a compacted revision: %v", err)
	}
	w, err = s.Watch(ctx, p, ListOptions{Recursive: true, ResourceVersion: b.ResourceVersion})
	if err != nil {
		t.Fatalf("watch from the compaction revision: %v", err)
	}
	defer w.Stop()
	expectEvents(t, w, []wantEv{{watch.Added, "c", c.ResourceVersion}})
}

// TestWatchAfterCompaction restarts the store (as an apiserver restart
// would) after compacting: resuming from a compacted revision is 410.
func TestWatchAfterCompaction(t *testing.T) {
	s, p := newTestStore(t)
	ctx := testCtx(t)
	first := mustCreate(t, s, p+"ns/a", cm("ns", "a", nil))
	last := mustCreate(t, s, p+"ns/b", cm("ns", "b", nil))
	c := NewCompactor(shared.client, CompactorOptions{Interval: time.Hour})
	if _, err := c.Tick(ctx); err != nil { // records the current revision
		t.Fatal(err)
	}
	mustCreate(t, s, p+"ns/c", cm("ns", "c", nil))
	rev, err := c.Tick(ctx) // compacts to the recorded revision
	if err != nil || rev == 0 {
		t.Fatalf("compaction: rev %d, %v", rev, err)
	}
	lastRV, _ := strconv.ParseInt(last.ResourceVersion, 10, 64)
	if rev < lastRV {
		t.Fatalf("compacted to %d, before %d", rev, lastRV)
	}
	s.Stop()
	s2, err := New(shared.client, s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Stop()
	if _, err := s2.Watch(ctx, p, ListOptions{Recursive: true, ResourceVersion: first.ResourceVersion}); !apierrors.IsResourceExpired(err) {
		t.Fatalf("watch from compacted rv: %v", err)
	}
	if err := s2.List(ctx, p, ListOptions{Recursive: true, ResourceVersion: first.ResourceVersion, ResourceVersionMatch: "Exact"}, &corev1.ConfigMapList{}); !apierrors.IsResourceExpired(err) {
		t.Fatalf("exact list at compacted rv: %v", err)
	}
}

func TestWatchSelectorTransitions(t *testing.T) {
	t.Parallel()
	s, p := newTestStore(t)
	ctx := testCtx(t)
	w, err := s.Watch(ctx, p, ListOptions{Recursive: true, ResourceVersion: "0", Predicate: Predicate{Label: labels.SelectorFromSet(labels.Set{"app": "web"})}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	setLabel := func(name, v string) *corev1.ConfigMap {
		out := &corev1.ConfigMap{}
		if err := s.GuaranteedUpdate(ctx, p+"ns/"+name, out, false, nil, func(cur runtime.Object) (runtime.Object, error) {
			cur.(*corev1.ConfigMap).Labels = map[string]string{"app": v}
			return cur, nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	a := mustCreate(t, s, p+"ns/a", cm("ns", "a", map[string]string{"app": "web"}))
	mustCreate(t, s, p+"ns/other", cm("ns", "other", map[string]string{"app": "db"}))
	leave := setLabel("a", "db")
	setLabel("other", "cache") // never matches: no event
	enter := setLabel("a", "web")
	del := &corev1.ConfigMap{}
	if err := s.Delete(ctx, p+"ns/a", del, nil, nil); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, w, []wantEv{
		{watch.Added, "a", a.ResourceVersion},
		{watch.Deleted, "a", leave.ResourceVersion},
		{watch.Added, "a", enter.ResourceVersion},
		{watch.Deleted, "a", del.ResourceVersion},
	})
	expectQuiet(t, w, 300*time.Millisecond)
}

func TestWatchBookmarksAndInitialEvents(t *testing.T) {
	t.Parallel()
	s, p := newTestStore(t)
	ctx := testCtx(t)
	a := mustCreate(t, s, p+"ns/a", cm("ns", "a", nil))
	w, err := s.Watch(ctx, p, ListOptions{Recursive: true, SendInitialEvents: boolPtr(true), AllowWatchBookmarks: true, ResourceVersionMatch: "NotOlderThan"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ev := nextEvent(t, w)
	if ev.Type != watch.Added || evName(ev) != "a" || evRV(ev) != a.ResourceVersion {
		t.Fatalf("first event %s %s", ev.Type, evName(ev))
	}
	ev = nextEvent(t, w)
	m := ev.Object.(*corev1.ConfigMap)
	if ev.Type != watch.Bookmark || m.Annotations[metav1.InitialEventsAnnotationKey] != "true" || m.ResourceVersion < a.ResourceVersion {
		t.Fatalf("want initial-events-end bookmark, got %s %+v", ev.Type, m.ObjectMeta)
	}
	b := mustCreate(t, s, p+"ns/b", cm("ns", "b", nil))
	expectEvents(t, w, []wantEv{{watch.Added, "b", b.ResourceVersion}})
	// Periodic bookmarks follow, never behind what was delivered.
	bRV, _ := strconv.ParseInt(b.ResourceVersion, 10, 64)
	for i := 0; i < 2; i++ {
		ev := nextEvent(t, w)
		if ev.Type != watch.Bookmark {
			t.Fatalf("want bookmark, got %s", ev.Type)
		}
		rv, _ := strconv.ParseInt(evRV(ev), 10, 64)
		if rv < bRV {
			t.Fatalf("bookmark rv %d < last event %d", rv, bRV)
		}
	}
	// Without AllowWatchBookmarks there are none.
	w2, err := s.Watch(ctx, p, ListOptions{Recursive: true, SendInitialEvents: boolPtr(false)})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	expectQuiet(t, w2, 600*time.Millisecond)
}

// countingWatcher counts the etcd watches a client opens.
type countingWatcher struct {
	clientv3.Watcher
	n atomic.Int64
}

func (c *countingWatcher) Watch(ctx context.Context, key string, opts ...clientv3.OpOption) clientv3.WatchChan {
	c.n.Add(1)
	return c.Watcher.Watch(ctx, key, opts...)
}

func TestManyWatchersOneEtcdWatch(t *testing.T) {
	t.Parallel()
	client, err := etcd.Dial(testCtx(t), shared.endpoints)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	cw := &countingWatcher{Watcher: client.Watcher}
	client.Watcher = cw
	s, p := newTestStore(t)
	cfg := s.cfg
	cfg.Watchable = nil // the watch through the counting client
	s2, err := New(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Stop()
	ctx := testCtx(t)
	const n = 50
	ws := make([]watch.Interface, n)
	for i := range ws {
		if ws[i], err = s2.Watch(ctx, p, ListOptions{Recursive: true, ResourceVersion: "0"}); err != nil {
			t.Fatal(err)
		}
		defer ws[i].Stop()
	}
	c := mustCreate(t, s, p+"ns/a", cm("ns", "a", nil))
	for _, w := range ws {
		expectEvents(t, w, []wantEv{{watch.Added, "a", c.ResourceVersion}})
	}
	if got := cw.n.Load(); got != 1 {
		t.Fatalf("%d etcd watches for %d watchers", got, n)
	}
}

func TestSlowWatcherDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	s, p := newTestStore(t, func(c *Config) { c.WatcherBufferSize = 5 })
	ctx := testCtx(t)
	slow, err := s.Watch(ctx, p, ListOptions{Recursive: true, ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Stop()
	fast, err := s.Watch(ctx, p, ListOptions{Recursive: true, ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Stop()
	// Lock-step: the fast watcher receives each event before the next
	// write, so only the slow one falls behind, however loaded the machine.
	const n = 60
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("c%03d", i)
		mustCreate(t, s, p+"ns/"+name, cm("ns", name, nil))
		if ev := nextNonBookmark(t, fast); evName(ev) != name {
			t.Fatalf("fast watcher event %d = %s, want %s", i, evName(ev), name)
		}
	}
	// The slow watcher was cut off: it drains what it buffered, then closes.
	got := 0
	deadline := time.After(20 * time.Second)
	for {
		select {
		case _, ok := <-slow.ResultChan():
			if !ok {
				if got >= n {
					t.Fatalf("slow watcher got all %d events", got)
				}
				return
			}
			got++
		case <-deadline:
			t.Fatal("slow watcher not terminated")
		}
	}
}

// breakableWatcher lets a test cut the store's etcd watch.
type breakableWatcher struct {
	clientv3.Watcher
	mu      sync.Mutex
	cancels []context.CancelFunc
	n       atomic.Int64
}

func (b *breakableWatcher) Watch(ctx context.Context, key string, opts ...clientv3.OpOption) clientv3.WatchChan {
	ctx, cancel := context.WithCancel(ctx)
	b.mu.Lock()
	b.cancels = append(b.cancels, cancel)
	b.mu.Unlock()
	b.n.Add(1)
	return b.Watcher.Watch(ctx, key, opts...)
}

func (b *breakableWatcher) breakAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.cancels {
		c()
	}
	b.cancels = nil
}

// TestCacheResync cuts the etcd watch: the cache relists, closes its
// watchers (which could have missed events) and serves fresh state; with
// the watch through the client and directly on the embedded store.
func TestCacheResync(t *testing.T) {
	t.Parallel()
	t.Run("client", func(t *testing.T) {
		t.Parallel()
		client, err := etcd.Dial(testCtx(t), shared.endpoints)
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		bw := &breakableWatcher{Watcher: client.Watcher}
		client.Watcher = bw
		testCacheResync(t, client, func(c *Config) { c.KV, c.Watchable = nil, nil }, bw.breakAll, bw.n.Load)
	})
	t.Run("direct", func(t *testing.T) {
		t.Parallel()
		bw := &breakableWatchable{WatchableKV: shared.watchable}
		testCacheResync(t, shared.client, func(c *Config) { c.Watchable = bw }, bw.breakAll, bw.n.Load)
	})
}

func testCacheResync(t *testing.T, client *clientv3.Client, opt storeOpt, breakAll func(), watches func() int64) {
	base, p := newTestStore(t)
	cfg := base.cfg
	opt(&cfg)
	s, err := New(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	ctx := testCtx(t)
	if err := s.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	a := mustCreate(t, s, p+"ns/a", cm("ns", "a", nil))
	w, err := s.Watch(ctx, p, ListOptions{Recursive: true, ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	expectEvents(t, w, []wantEv{{watch.Added, "a", a.ResourceVersion}})

	breakAll()
	// While the cache is cut off, write through the other store.
	b := mustCreate(t, base, p+"ns/b", cm("ns", "b", nil))
	// The old watcher is closed...
	deadline := time.After(20 * time.Second)
	for closed := false; !closed; {
		select {
		case _, ok := <-w.ResultChan():
			closed = !ok
		case <-deadline:
			t.Fatal("watcher not closed after resync")
		}
	}
	// ...and the relisted cache has b; a new watch resumes fine.
	l := &corev1.ConfigMapList{}
	if err := s.List(ctx, p, ListOptions{Recursive: true, ResourceVersion: b.ResourceVersion, ResourceVersionMatch: "NotOlderThan"}, l); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(names(l)) != "[ns/a ns/b]" {
		t.Fatalf("after resync: %v", names(l))
	}
	w2, err := s.Watch(ctx, p, ListOptions{Recursive: true, ResourceVersion: l.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	c := mustCreate(t, base, p+"ns/c", cm("ns", "c", nil))
	expectEvents(t, w2, []wantEv{{watch.Added, "c", c.ResourceVersion}})
	if watches() < 2 {
		t.Fatalf("etcd watch not re-established (%d watches)", watches())
	}
}

// breakableWatchable hands out watch streams of the embedded store that
// breakAll closes (as a failing stream would end).
type breakableWatchable struct {
	mvcc.WatchableKV
	mu      sync.Mutex
	streams []*onceClosedStream
	n       atomic.Int64
}

type onceClosedStream struct {
	mvcc.WatchStream
	once sync.Once
}

func (s *onceClosedStream) Close() { s.once.Do(s.WatchStream.Close) }

func (b *breakableWatchable) NewWatchStream() mvcc.WatchStream {
	s := &onceClosedStream{WatchStream: b.WatchableKV.NewWatchStream()}
	b.mu.Lock()
	b.streams = append(b.streams, s)
	b.mu.Unlock()
	b.n.Add(1)
	return s
}

func (b *breakableWatchable) breakAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.streams {
		s.Close()
	}
	b.streams = nil
}

// TestTTLExpiry: objects of a store with a TTL are deleted by etcd after
// it, and watchers see the delete.
func TestTTLExpiry(t *testing.T) {
	t.Parallel()
	s, p := newTestStore(t, func(c *Config) { c.TTL = 2 * time.Second })
	ctx := testCtx(t)
	w, err := s.Watch(ctx, p, ListOptions{Recursive: true, ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	start := time.Now()
	a := mustCreate(t, s, p+"ns/a", cm("ns", "a", nil))
	b := mustCreate(t, s, p+"ns/b", cm("ns", "b", nil))
	expectEvents(t, w, []wantEv{{watch.Added, "a", a.ResourceVersion}, {watch.Added, "b", b.ResourceVersion}})
	ev := nextNonBookmark(t, w)
	if ev.Type != watch.Deleted {
		t.Fatalf("want DELETED, got %s %s", ev.Type, evName(ev))
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Fatalf("expired after %s, TTL 2s", d)
	}
	expectEvents(t, w, []wantEv{{watch.Deleted, map[string]string{"a": "b", "b": "a"}[evName(ev)], ""}})
	if err := s.Get(ctx, p+"ns/a", "", &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get after expiry: %v", err)
	}
}

// TestCacheProgress: a cache whose prefix sees no writes still learns the
// current revision (progress notifications), through the client and on the
// embedded store.
func TestCacheProgress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opt  storeOpt
	}{
		{"client", func(c *Config) { c.Watchable = nil; c.FreshnessTimeout = 5 * time.Second }},
		{"direct", func(c *Config) { c.FreshnessTimeout = 5 * time.Second }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, p := newTestStore(t, tc.opt)
			ctx := testCtx(t)
			// A write elsewhere moves etcd's revision past the cache's.
			resp, err := shared.client.Put(ctx, p[:len(p)-1]+"-elsewhere/x", "v")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.cache.waitFresh(ctx, resp.Header.Revision); err != nil {
				t.Fatalf("cache did not reach revision %d: %v", resp.Header.Revision, err)
			}
		})
	}
}
