// Package feed keeps an in-memory view of one resource up to date from the
// apiserver's own store: a list served from the watch cache, then a watch
// from its resourceVersion, restarted (with a fresh list) whenever it ends.
// The authorizers build their indexes with it so that authorizing a
// request never touches etcd.
package feed

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"skiff.dev/apiserver/internal/storage"
)

// Sink receives a resource's objects.
type Sink interface {
	// Replace sets the full current state (after a list).
	Replace(items []runtime.Object)
	// Set adds or updates one object.
	Set(obj runtime.Object)
	// Delete removes one object.
	Delete(obj runtime.Object)
}

// Options describe one feed.
type Options struct {
	Name    string            // for logs, e.g. "clusterroles"
	Store   storage.Interface // the resource's store
	Key     string            // the collection key (the resource's prefix)
	NewList func() runtime.Object
	Sink    Sink
	Logger  *slog.Logger
}

// Feed runs one resource's list+watch loop.
type Feed struct {
	o      Options
	synced chan struct{}
	once   sync.Once
}

// New returns a feed; call Run to start it.
func New(o Options) *Feed {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Feed{o: o, synced: make(chan struct{})}
}

// Synced is closed after the first full list reached the sink.
func (f *Feed) Synced() <-chan struct{} { return f.synced }

// Run lists and watches until ctx ends.
func (f *Feed) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		started := time.Now()
		err := f.runOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > time.Minute {
			backoff = 100 * time.Millisecond // it ran fine for a while
		}
		f.o.Logger.Warn("authorization feed restarts", "resource", f.o.Name, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (f *Feed) runOnce(ctx context.Context) error {
	list := f.o.NewList()
	if err := f.o.Store.List(ctx, f.o.Key, storage.ListOptions{ResourceVersion: "0", Recursive: true}, list); err != nil {
		return fmt.Errorf("list: %w", err)
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return fmt.Errorf("extract list: %w", err)
	}
	lm, err := meta.ListAccessor(list)
	if err != nil {
		return err
	}
	f.o.Sink.Replace(items)
	f.once.Do(func() { close(f.synced) })
	w, err := f.o.Store.Watch(ctx, f.o.Key, storage.ListOptions{ResourceVersion: lm.GetResourceVersion(), Recursive: true})
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return fmt.Errorf("watch closed")
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				f.o.Sink.Set(ev.Object)
			case watch.Deleted:
				f.o.Sink.Delete(ev.Object)
			case watch.Error:
				return fmt.Errorf("watch error: %v", ev.Object)
			}
		}
	}
}
