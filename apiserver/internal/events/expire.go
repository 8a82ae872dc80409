package events

import (
	"context"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"skiff.dev/apiserver/internal/storage"
)

// Expirer deletes Events older than a TTL, as upstream's one-hour etcd
// lease on events does, so they do not pile up in etcd and the watch cache.
type Expirer struct {
	// Store is the core/v1 Event store and Prefix its key prefix.
	Store  storage.Interface
	Prefix string
	// TTL is how long an event lives after it was last seen.
	TTL time.Duration
	// Interval is how often to look for expired events.
	Interval time.Duration
	Logger   *slog.Logger
}

// Run expires events every Interval until ctx ends.
func (e *Expirer) Run(ctx context.Context) {
	t := time.NewTicker(e.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := e.Once(ctx, time.Now()); err != nil && ctx.Err() == nil {
			e.Logger.Warn("expire events", "err", err)
		} else if n > 0 {
			e.Logger.Debug("expired events", "count", n)
		}
	}
}

// lastSeen is when an event last happened.
func lastSeen(ev *corev1.Event) time.Time {
	t := ev.CreationTimestamp.Time
	for _, c := range []time.Time{ev.LastTimestamp.Time, ev.EventTime.Time} {
		if c.After(t) {
			t = c
		}
	}
	if ev.Series != nil && ev.Series.LastObservedTime.After(t) {
		t = ev.Series.LastObservedTime.Time
	}
	return t
}

// Once deletes the events last seen more than TTL before now and returns
// how many it deleted.
func (e *Expirer) Once(ctx context.Context, now time.Time) (int, error) {
	var list corev1.EventList
	if err := e.Store.List(ctx, e.Prefix, storage.ListOptions{ResourceVersion: "0", Recursive: true}, &list); err != nil {
		return 0, err
	}
	n := 0
	for i := range list.Items {
		ev := &list.Items[i]
		if now.Sub(lastSeen(ev)) < e.TTL {
			continue
		}
		uid := ev.UID
		var gone corev1.Event
		err := e.Store.Delete(ctx, e.Prefix+ev.Namespace+"/"+ev.Name, &gone, &storage.Preconditions{UID: &uid}, nil)
		switch {
		case err == nil:
			n++
		case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		default:
			return n, err
		}
	}
	return n, nil
}
