package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

type mvccKV = mvccpb.KeyValue

// entry is one object version held by the cache. Entries are immutable:
// readers copy obj before handing it out.
type entry struct {
	key    string
	obj    runtime.Object // resourceVersion set
	rev    int64
	labels labels.Set
	fields fields.Set
}

// event is one change, as kept in the ring buffer.
type event struct {
	typ  watch.EventType // Added, Modified or Deleted
	key  string
	cur  *entry // for Deleted: the last state stamped with the delete revision
	prev *entry // state before the change (nil for Added)
	rev  int64
	at   time.Time // when the cache recorded it
}

// cache mirrors one resource's etcd prefix in memory: the current objects
// sorted by key, a ring of recent events, and the watchers fed from it. A
// single goroutine (run) applies etcd watch events and dispatches them, so
// every watcher sees events in revision order.
type cache struct {
	s *Store

	mu          sync.RWMutex
	ready       bool
	rev         int64         // the cache reflects etcd through rev
	revCh       chan struct{} // closed (and replaced) when rev advances
	items       map[string]*entry
	keys        []string // sorted keys of items
	ring        []*event // len(ring) is the capacity: WatchCacheSize up to WatchCacheMaxSize
	head, count int
	windowStart int64 // every event with rev > windowStart is in ring

	readyCh   chan struct{} // closed once the first list is loaded
	readyOnce sync.Once

	wmu      sync.Mutex // guards watchers; held while dispatching
	watchers map[uint64]*cacheWatcher
	nextID   uint64
	budget   time.Duration // blocking budget for slow watchers
	closed   bool          // the store stopped: no new watchers

	progressCh chan struct{} // asks the watch session for a progress notify
}

func newCache(s *Store) *cache {
	return &cache{
		s:          s,
		revCh:      make(chan struct{}),
		items:      map[string]*entry{},
		ring:       make([]*event, s.cfg.WatchCacheSize),
		readyCh:    make(chan struct{}),
		watchers:   map[uint64]*cacheWatcher{},
		budget:     maxBlockBudget,
		progressCh: make(chan struct{}, 1),
	}
}

func (c *cache) isReady() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.ready
}

// run keeps the cache in sync until ctx ends: list, then watch from the
// list revision; on any watch failure, relist and start over.
func (c *cache) run(ctx context.Context) {
	defer func() {
		c.wmu.Lock()
		c.closed = true
		c.wmu.Unlock()
		c.terminateAll()
	}()
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		rev, err := c.relist(ctx)
		if err == nil {
			err = c.watchEtcd(ctx, rev)
			backoff = 50 * time.Millisecond
		}
		if ctx.Err() != nil {
			return
		}
		c.s.log.Warn("watch cache resyncing", slog.Any("err", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// relist loads the current state and resets the event window. Existing
// watchers are closed: they could have missed events; clients re-watch.
func (c *cache) relist(ctx context.Context) (int64, error) {
	resp, err := c.s.client.Get(ctx, c.s.cfg.Prefix, clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", c.s.cfg.Prefix, err)
	}
	items := make(map[string]*entry, len(resp.Kvs))
	keys := make([]string, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		ent, err := c.newEntry(string(kv.Key), kv.Value, kv.ModRevision)
		if err != nil {
			c.s.log.Error("skipping undecodable object", slog.String("key", string(kv.Key)), slog.Any("err", err))
			continue
		}
		items[ent.key] = ent
		keys = append(keys, ent.key)
	}
	sort.Strings(keys) // etcd returns keys sorted; keep the invariant explicit
	rev := resp.Header.Revision

	c.mu.Lock()
	// Under mu, so no watcher registers against the old state after this.
	c.terminateAll()
	c.items, c.keys = items, keys
	c.ring = make([]*event, c.s.cfg.WatchCacheSize)
	c.head, c.count = 0, 0
	c.windowStart = rev
	c.rev = rev
	c.ready = true
	close(c.revCh)
	c.revCh = make(chan struct{})
	c.mu.Unlock()
	c.readyOnce.Do(func() { close(c.readyCh) })
	return rev, nil
}

func (c *cache) newEntry(key string, data []byte, rev int64) (*entry, error) {
	obj, err := c.s.decode(data, rev)
	if err != nil {
		return nil, err
	}
	ent := &entry{key: key, obj: obj, rev: rev}
	if c.s.cfg.AttrFunc != nil {
		l, f, err := c.s.cfg.AttrFunc(obj)
		if err != nil {
			return nil, fmt.Errorf("attributes of %s: %w", key, err)
		}
		ent.labels, ent.fields = l, f
	}
	return ent, nil
}

// watchEtcd consumes one etcd watch from rev+1 until it fails.
func (c *cache) watchEtcd(ctx context.Context, rev int64) error {
	if c.s.cfg.Watchable != nil {
		return c.watchStore(ctx, rev)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := c.s.client.Watch(wctx, c.s.cfg.Prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithProgressNotify())

	// Progress requests go through their own goroutine so that a slow
	// request never stalls event processing.
	go func() {
		for {
			select {
			case <-wctx.Done():
				return
			case <-c.progressCh:
				if err := c.s.client.RequestProgress(wctx); err != nil && wctx.Err() == nil {
					c.s.log.Debug("request progress", slog.Any("err", err))
				}
				// Each request notifies every watcher on the shared etcd
				// stream: coalesce bursts of waiting readers.
				t := time.NewTimer(5 * time.Millisecond)
				select {
				case <-wctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
		}
	}()

	ticker := time.NewTicker(c.s.cfg.BookmarkInterval)
	defer ticker.Stop()
	budgetTicker := time.NewTicker(100 * time.Millisecond)
	defer budgetTicker.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case resp, ok := <-wch:
			if !ok {
				return errors.New("etcd watch channel closed")
			}
			if err := resp.Err(); err != nil {
				return fmt.Errorf("etcd watch: %w", err)
			}
			if resp.IsProgressNotify() {
				c.advance(resp.Header.Revision)
				continue
			}
			if len(resp.Events) > 0 {
				c.apply(resp.Events)
			}
		case <-ticker.C:
			if c.dispatchBookmarks() {
				c.requestProgress()
			}
		case <-budgetTicker.C:
			c.refillBudget()
		}
	}
}

// watchStore is watchEtcd on the embedded etcd's own store: the same
// events and progress reports as through the client, without the stream
// machinery (and its goroutines and copies) in between.
func (c *cache) watchStore(ctx context.Context, rev int64) error {
	ws := c.s.cfg.Watchable.NewWatchStream()
	defer ws.Close()
	prefix := c.s.cfg.Prefix
	id, err := ws.Watch(ctx, clientv3.AutoWatchID, []byte(prefix), []byte(clientv3.GetPrefixRangeEnd(prefix)), rev+1)
	if err != nil {
		return fmt.Errorf("etcd watch: %w", err)
	}
	ticker := time.NewTicker(c.s.cfg.BookmarkInterval)
	defer ticker.Stop()
	budgetTicker := time.NewTicker(100 * time.Millisecond)
	defer budgetTicker.Stop()
	var evs []*clientv3.Event
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case resp, ok := <-ws.Chan():
			if !ok {
				return errors.New("etcd watch channel closed")
			}
			if resp.CompactRevision != 0 {
				return fmt.Errorf("etcd watch: %w (compacted at %d)", rpctypes.ErrCompacted, resp.CompactRevision)
			}
			if len(resp.Events) == 0 {
				// The answer to RequestProgress: nothing before
				// resp.Revision is left to send.
				c.advance(resp.Revision)
				continue
			}
			evs = evs[:0]
			for _, ev := range resp.Events {
				evs = append(evs, (*clientv3.Event)(ev))
			}
			c.apply(evs)
		case <-c.progressCh:
			// Answered on ws.Chan(), after the events before it, and
			// only when the watch is caught up (as through the client).
			ws.RequestProgress(id)
		case <-ticker.C:
			if c.dispatchBookmarks() {
				c.requestProgress()
			}
		case <-budgetTicker.C:
			c.refillBudget()
		}
	}
}

func (c *cache) requestProgress() {
	select {
	case c.progressCh <- struct{}{}:
	default:
	}
}

// advance moves the cache revision forward after a progress notification.
func (c *cache) advance(rev int64) {
	c.mu.Lock()
	if rev <= c.rev {
		c.mu.Unlock()
		return
	}
	c.rev = rev
	close(c.revCh)
	c.revCh = make(chan struct{})
	c.mu.Unlock()
}

// apply decodes a batch of etcd events, updates the index and the ring,
// and dispatches the events to watchers.
func (c *cache) apply(evs []*clientv3.Event) {
	type decoded struct {
		ev  *clientv3.Event
		ent *entry
	}
	// Decode outside the lock: readers keep going meanwhile.
	ds := make([]decoded, 0, len(evs))
	for _, ev := range evs {
		d := decoded{ev: ev}
		if ev.Type == mvccpb.PUT {
			ent, err := c.newEntry(string(ev.Kv.Key), ev.Kv.Value, ev.Kv.ModRevision)
			if err != nil {
				c.s.log.Error("skipping undecodable object", slog.String("key", string(ev.Kv.Key)), slog.Any("err", err))
			}
			d.ent = ent
		}
		ds = append(ds, d)
	}

	out := make([]*event, 0, len(ds))
	now := c.s.cfg.Now()
	c.mu.Lock()
	for _, d := range ds {
		key, rev := string(d.ev.Kv.Key), d.ev.Kv.ModRevision
		if rev > c.rev {
			c.rev = rev
		}
		prev := c.items[key]
		var e *event
		switch {
		case d.ev.Type == mvccpb.PUT && d.ent != nil:
			e = &event{typ: watch.Added, key: key, cur: d.ent, prev: prev, rev: rev, at: now}
			if prev != nil {
				e.typ = watch.Modified
			} else {
				c.insertKey(key)
			}
			c.items[key] = d.ent
		case prev != nil: // DELETE, or a PUT we could not decode
			last := prev.obj.DeepCopyObject()
			_ = setRV(last, rev)
			cur := &entry{key: key, obj: last, rev: rev, labels: prev.labels, fields: prev.fields}
			e = &event{typ: watch.Deleted, key: key, cur: cur, prev: prev, rev: rev, at: now}
			delete(c.items, key)
			c.removeKey(key)
		default:
			continue
		}
		c.push(e)
		out = append(out, e)
	}
	close(c.revCh)
	c.revCh = make(chan struct{})
	c.mu.Unlock()

	c.dispatch(out)
}

func (c *cache) insertKey(key string) {
	i := sort.SearchStrings(c.keys, key)
	c.keys = append(c.keys, "")
	copy(c.keys[i+1:], c.keys[i:])
	c.keys[i] = key
}

func (c *cache) removeKey(key string) {
	i := sort.SearchStrings(c.keys, key)
	if i < len(c.keys) && c.keys[i] == key {
		c.keys = append(c.keys[:i], c.keys[i+1:]...)
	}
}

// push appends e to the ring. When the ring is full it grows instead of
// evicting an event younger than WatchCacheHistory (up to
// WatchCacheMaxSize), and gives back its older half once even the newer
// half reaches further back than that; otherwise the oldest event goes.
// Caller holds mu.
func (c *cache) push(e *event) {
	cfg := c.s.cfg
	for c.count == len(c.ring) {
		n := len(c.ring)
		oldest := c.ring[c.head]
		switch {
		case n < cfg.WatchCacheMaxSize && cfg.WatchCacheHistory > 0 && e.at.Sub(oldest.at) < cfg.WatchCacheHistory:
			c.resize(min(2*n, cfg.WatchCacheMaxSize), 0)
		case n >= 2*cfg.WatchCacheSize && e.at.Sub(c.ring[(c.head+n/2)%n].at) > cfg.WatchCacheHistory:
			c.resize(n/2, n/2) // still full: the next turn evicts or shrinks again
		default:
			c.windowStart = max(c.windowStart, oldest.rev) // compacted may have moved it further
			c.ring[c.head] = e
			c.head = (c.head + 1) % n
			return
		}
	}
	c.ring[(c.head+c.count)%len(c.ring)] = e
	c.count++
}

// compacted drops the events at or below rev, which etcd no longer has:
// a watch from there gets 410 Gone as it would from etcd, however long
// the ring could keep them.
func (c *cache) compacted(rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rev <= c.windowStart {
		return
	}
	n := len(c.ring)
	for c.count > 0 && c.ring[c.head].rev <= rev {
		c.ring[c.head] = nil
		c.head = (c.head + 1) % n
		c.count--
	}
	c.windowStart = rev
}

// resize moves the ring's events, except the oldest drop, into a ring of
// the given capacity (which must hold the rest). Caller holds mu.
func (c *cache) resize(capacity, drop int) {
	ring := make([]*event, capacity)
	n := len(c.ring)
	if drop > 0 {
		c.windowStart = max(c.windowStart, c.ring[(c.head+drop-1)%n].rev)
	}
	for i := drop; i < c.count; i++ {
		ring[i-drop] = c.ring[(c.head+i)%n]
	}
	c.ring, c.head, c.count = ring, 0, c.count-drop
}

// eventsAfter returns buffered events with rev > after. Caller holds mu.
func (c *cache) eventsAfter(after int64) []*event {
	n := len(c.ring)
	// Binary search for the first event with rev > after.
	i := sort.Search(c.count, func(i int) bool { return c.ring[(c.head+i)%n].rev > after })
	out := make([]*event, 0, c.count-i)
	for ; i < c.count; i++ {
		out = append(out, c.ring[(c.head+i)%n])
	}
	return out
}

func (c *cache) get(key string) *entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.items[key]
}

// currentRev asks etcd for its current revision with a linearizable read
// of a single (absent) key.
func (c *cache) currentRev(ctx context.Context) (int64, error) {
	resp, err := c.s.client.Get(ctx, c.s.cfg.Prefix, clientv3.WithCountOnly())
	if err != nil {
		return 0, c.s.interpret("read revision", err)
	}
	return resp.Header.Revision, nil
}

// waitFresh waits until the cache has seen revision rev. It returns a 504
// "Too large resource version" error after FreshnessTimeout.
func (c *cache) waitFresh(ctx context.Context, rev int64) error {
	c.mu.RLock()
	fresh := c.ready && c.rev >= rev
	c.mu.RUnlock()
	if fresh { // the common case, without timers
		return nil
	}
	timer := time.NewTimer(c.s.cfg.FreshnessTimeout)
	defer timer.Stop()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		c.mu.RLock()
		cur, ch, ready := c.rev, c.revCh, c.ready
		c.mu.RUnlock()
		if ready && cur >= rev {
			return nil
		}
		if ready {
			c.requestProgress()
		}
		select {
		case <-ch:
		case <-poll.C:
		case <-timer.C:
			return errTooLarge(rev, cur)
		case <-ctx.Done():
			return c.s.interpret("wait for cache", ctx.Err())
		}
	}
}

// waitConsistent waits until the cache reflects everything committed in
// etcd before the call. It reports false when the cache cannot catch up in
// time (the caller then reads etcd).
func (c *cache) waitConsistent(ctx context.Context) (bool, error) {
	if !c.isReady() {
		return false, nil
	}
	rev, err := c.currentRev(ctx)
	if err != nil {
		return false, err
	}
	if err := c.waitFresh(ctx, rev); err != nil {
		if ctx.Err() != nil {
			return false, err
		}
		return false, nil
	}
	return true, nil
}

// snapshot returns the entries under key (a prefix when recursive) that
// match pred, in key order, starting at startKey, at most limit of them
// (0 = all), plus the key to continue from and the count of unread keys.
func (c *cache) snapshot(key string, recursive bool, pred Predicate, startKey string, limit int64) (ents []*entry, rev int64, next string, remaining int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	rev = c.rev
	if !recursive {
		if ent := c.items[key]; ent != nil && pred.matches(ent) {
			ents = append(ents, ent)
		}
		return ents, rev, "", 0
	}
	from := key
	if startKey > from {
		from = startKey
	}
	i := sort.SearchStrings(c.keys, from)
	end := i + sort.Search(len(c.keys)-i, func(j int) bool { return !strings.HasPrefix(c.keys[i+j], key) })
	empty := pred.empty()
	for ; i < end; i++ {
		ent := c.items[c.keys[i]]
		if !empty && !pred.matches(ent) {
			continue
		}
		ents = append(ents, ent)
		if limit > 0 && int64(len(ents)) == limit {
			i++
			break
		}
	}
	if limit > 0 && i < end {
		next = ents[len(ents)-1].key + "\x00"
		if empty {
			remaining = int64(end - i)
		}
	}
	return ents, rev, next, remaining
}

// errInitializing is returned while the cache has never loaded.
func errInitializing() error {
	return apierrors.NewTooManyRequests("storage is (re)initializing", 1)
}
