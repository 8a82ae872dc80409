package storage

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// maxBlockBudget is how long, in total, dispatch may block on full watcher
// buffers before terminating the slow watchers; it refills over time.
const maxBlockBudget = 100 * time.Millisecond

func (p Predicate) empty() bool {
	return (p.Label == nil || p.Label.Empty()) && (p.Field == nil || p.Field.Empty())
}

func (p Predicate) matches(ent *entry) bool {
	if p.Label != nil && !p.Label.Empty() && !p.Label.Matches(ent.labels) {
		return false
	}
	if p.Field != nil && !p.Field.Empty() && !p.Field.Matches(ent.fields) {
		return false
	}
	return true
}

// wevent is an event already filtered for one watcher. obj is shared and
// copied by the watcher before it is handed out.
type wevent struct {
	typ         watch.EventType
	obj         runtime.Object
	rev         int64
	initialsEnd bool // bookmark marking the end of initial events
}

// cacheWatcher is one client watch served from the cache.
type cacheWatcher struct {
	c         *cache
	id        uint64
	key       string
	recursive bool
	pred      Predicate
	bookmarks bool
	startRev  int64 // events with rev <= startRev are not sent

	in      chan wevent // filled by dispatch; closed when terminated
	result  chan watch.Event
	done    chan struct{}
	stopped sync.Once
	initial []wevent
}

func (w *cacheWatcher) ResultChan() <-chan watch.Event { return w.result }

func (w *cacheWatcher) Stop() {
	w.stopped.Do(func() { close(w.done) })
	w.c.removeWatcher(w.id)
}

func (w *cacheWatcher) keyMatches(key string) bool {
	if w.recursive {
		return strings.HasPrefix(key, w.key)
	}
	return key == w.key
}

// filter turns a cache event into what this watcher should see: objects
// entering the selection become ADDED and objects leaving it DELETED.
func (w *cacheWatcher) filter(e *event) (wevent, bool) {
	if !w.keyMatches(e.key) {
		return wevent{}, false
	}
	cur := w.pred.matches(e.cur)
	prev := e.prev != nil && w.pred.matches(e.prev)
	switch e.typ {
	case watch.Added:
		if cur {
			return wevent{typ: watch.Added, obj: e.cur.obj, rev: e.rev}, true
		}
	case watch.Modified:
		switch {
		case cur && prev:
			return wevent{typ: watch.Modified, obj: e.cur.obj, rev: e.rev}, true
		case cur:
			return wevent{typ: watch.Added, obj: e.cur.obj, rev: e.rev}, true
		case prev:
			return wevent{typ: watch.Deleted, obj: e.cur.obj, rev: e.rev}, true
		}
	case watch.Deleted:
		if cur {
			return wevent{typ: watch.Deleted, obj: e.cur.obj, rev: e.rev}, true
		}
	}
	return wevent{}, false
}

// run sends initial events, then live events, to the result channel until
// the watcher is stopped, terminated or ctx ends.
func (w *cacheWatcher) run(ctx context.Context) {
	defer close(w.result)
	defer w.Stop()
	for _, ev := range w.initial {
		if !w.send(ctx, ev) {
			return
		}
	}
	w.initial = nil
	for {
		select {
		case ev, ok := <-w.in:
			if !ok {
				return
			}
			if !w.send(ctx, ev) {
				return
			}
		case <-w.done:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (w *cacheWatcher) send(ctx context.Context, ev wevent) bool {
	var obj runtime.Object
	if ev.typ == watch.Bookmark {
		obj = w.c.s.cfg.NewFunc()
		_ = setRV(obj, ev.rev)
		if ev.initialsEnd {
			if m, err := meta.Accessor(obj); err == nil {
				m.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
			}
		}
	} else {
		obj = shallowCopy(ev.obj) // see Interface.Watch
	}
	select {
	case w.result <- watch.Event{Type: ev.typ, Object: obj}:
		return true
	case <-w.done:
		return false
	case <-ctx.Done():
		return false
	}
}

// watch registers a watcher per opts (see Interface.Watch).
func (c *cache) watch(ctx context.Context, key string, opts ListOptions) (watch.Interface, error) {
	var rv int64
	if opts.ResourceVersion != "" {
		var err error
		if rv, err = parseRV(opts.ResourceVersion); err != nil {
			return nil, err
		}
	}
	if err := c.waitReady(ctx); err != nil {
		return nil, err
	}
	sendInitial := opts.SendInitialEvents != nil && *opts.SendInitialEvents
	legacyInitial := opts.SendInitialEvents == nil && rv == 0
	// Wait until the state the watch starts from is fresh enough.
	switch {
	case rv > 0:
		if err := c.waitFresh(ctx, rv); err != nil {
			return nil, err
		}
	case opts.ResourceVersion == "" && (sendInitial || legacyInitial):
		cur, err := c.currentRev(ctx)
		if err != nil {
			return nil, err
		}
		if err := c.waitFresh(ctx, cur); err != nil {
			return nil, err
		}
	}

	w := &cacheWatcher{
		c:         c,
		key:       key,
		recursive: opts.Recursive,
		pred:      opts.Predicate,
		bookmarks: opts.AllowWatchBookmarks,
		in:        make(chan wevent, c.s.cfg.WatcherBufferSize),
		result:    make(chan watch.Event),
		done:      make(chan struct{}),
	}

	c.mu.RLock()
	w.startRev = c.rev
	switch {
	case sendInitial || legacyInitial:
		ents := c.snapshotLocked(key, opts.Recursive, opts.Predicate)
		w.initial = make([]wevent, 0, len(ents)+1)
		for _, ent := range ents {
			w.initial = append(w.initial, wevent{typ: watch.Added, obj: ent.obj, rev: ent.rev})
		}
		if sendInitial && opts.AllowWatchBookmarks {
			w.initial = append(w.initial, wevent{typ: watch.Bookmark, rev: c.rev, initialsEnd: true})
		}
	case rv > 0:
		if rv < c.windowStart {
			oldest := c.windowStart + 1
			c.mu.RUnlock()
			return nil, errTooOld(rv, oldest)
		}
		for _, e := range c.eventsAfter(rv) {
			if ev, ok := w.filter(e); ok {
				w.initial = append(w.initial, ev)
			}
		}
	}
	c.wmu.Lock()
	if c.closed {
		c.wmu.Unlock()
		c.mu.RUnlock()
		return nil, apierrors.NewServiceUnavailable("storage is shutting down")
	}
	c.nextID++
	w.id = c.nextID
	c.watchers[w.id] = w
	c.wmu.Unlock()
	c.mu.RUnlock()

	go w.run(ctx)
	return w, nil
}

func (c *cache) waitReady(ctx context.Context) error {
	timer := time.NewTimer(c.s.cfg.FreshnessTimeout)
	defer timer.Stop()
	select {
	case <-c.readyCh:
		return nil
	case <-timer.C:
		return errInitializing()
	case <-ctx.Done():
		return c.s.interpret("watch", ctx.Err())
	}
}

// snapshotLocked is snapshot without limits for a caller holding mu.
func (c *cache) snapshotLocked(key string, recursive bool, pred Predicate) []*entry {
	if !recursive {
		if ent := c.items[key]; ent != nil && pred.matches(ent) {
			return []*entry{ent}
		}
		return nil
	}
	var ents []*entry
	i := sort.SearchStrings(c.keys, key)
	for ; i < len(c.keys) && strings.HasPrefix(c.keys[i], key); i++ {
		if ent := c.items[c.keys[i]]; pred.matches(ent) {
			ents = append(ents, ent)
		}
	}
	return ents
}

func (c *cache) removeWatcher(id uint64) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if w, ok := c.watchers[id]; ok {
		delete(c.watchers, id)
		close(w.in)
	}
}

// terminateAll closes every watcher (on resync or shutdown).
func (c *cache) terminateAll() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for id, w := range c.watchers {
		delete(c.watchers, id)
		close(w.in)
	}
}

func (c *cache) refillBudget() {
	c.wmu.Lock()
	c.budget = min(c.budget+maxBlockBudget/10, maxBlockBudget)
	c.wmu.Unlock()
}

// dispatch hands events to watchers. A watcher whose buffer is full gets
// a share of a small blocking budget; if it is still full it is terminated
// (its client re-watches from the last resourceVersion it saw), so one slow
// client never stalls the others for long.
func (c *cache) dispatch(evs []*event) {
	if len(evs) == 0 {
		return
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for _, e := range evs {
		for id, w := range c.watchers {
			if e.rev <= w.startRev {
				continue // already in the watcher's initial state
			}
			ev, ok := w.filter(e)
			if !ok {
				continue
			}
			c.deliver(id, w, ev)
		}
	}
}

// deliver sends ev to w, blocking within the budget. Caller holds wmu.
func (c *cache) deliver(id uint64, w *cacheWatcher, ev wevent) {
	select {
	case w.in <- ev:
		return
	default:
	}
	if c.budget > 0 {
		start := time.Now()
		timer := time.NewTimer(c.budget)
		defer timer.Stop()
		select {
		case w.in <- ev:
			c.budget -= time.Since(start)
			return
		case <-w.done:
		case <-timer.C:
		}
		c.budget -= time.Since(start)
		if c.budget < 0 {
			c.budget = 0
		}
	}
	select {
	case <-w.done:
	default:
		c.s.log.Warn("terminating slow watcher", slog.String("key", w.key), slog.Int("buffer", cap(w.in)))
	}
	delete(c.watchers, id)
	close(w.in)
}

// dispatchBookmarks sends a BOOKMARK at the cache revision to watchers that
// asked for them; it reports whether any did.
func (c *cache) dispatchBookmarks() bool {
	c.mu.RLock()
	rev := c.rev
	c.mu.RUnlock()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	any := false
	for _, w := range c.watchers {
		if !w.bookmarks || rev < w.startRev {
			continue
		}
		any = true
		select {
		case w.in <- wevent{typ: watch.Bookmark, rev: rev}:
		default: // a full watcher skips a bookmark; it is behind anyway
		}
	}
	return any
}
