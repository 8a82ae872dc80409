// Package eventttl deletes Events older than a TTL (the last time they were
// seen), so the event history stays bounded.
package eventttl

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Options configures the controller.
type Options struct {
	Client kubernetes.Interface
	// TTL is how long an Event is kept after it was last seen.
	TTL time.Duration
	// Period is how often Events are checked (1 minute by default).
	Period time.Duration
	Log    *slog.Logger
	Now    func() time.Time
}

// Controller deletes expired Events.
type Controller struct{ o Options }

// New returns the controller.
func New(o Options) *Controller {
	if o.Period == 0 {
		o.Period = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Controller{o: o}
}

// Run sweeps every Period until ctx is done.
func (c *Controller) Run(ctx context.Context, _ int) {
	t := time.NewTicker(c.o.Period)
	defer t.Stop()
	for {
		if n, err := c.Sweep(ctx); err != nil && ctx.Err() == nil {
			c.o.Log.Warn("event ttl", slog.Any("err", err))
		} else if n > 0 {
			c.o.Log.Debug("expired events deleted", slog.Int("count", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// LastSeen is when an Event last happened.
func LastSeen(e *corev1.Event) time.Time {
	t := e.CreationTimestamp.Time
	for _, x := range []time.Time{e.LastTimestamp.Time, e.EventTime.Time, e.FirstTimestamp.Time} {
		if x.After(t) {
			t = x
		}
	}
	if e.Series != nil && e.Series.LastObservedTime.After(t) {
		t = e.Series.LastObservedTime.Time
	}
	return t
}

// Sweep deletes expired Events (paging through the list) and returns how many.
func (c *Controller) Sweep(ctx context.Context) (int, error) {
	cutoff := c.o.Now().Add(-c.o.TTL)
	deleted := 0
	opts := metav1.ListOptions{Limit: 500}
	for {
		list, err := c.o.Client.CoreV1().Events("").List(ctx, opts)
		if err != nil {
			return deleted, fmt.Errorf("list events: %w", err)
		}
		for i := range list.Items {
			e := &list.Items[i]
			if LastSeen(e).After(cutoff) {
				continue
			}
			err := c.o.Client.CoreV1().Events(e.Namespace).Delete(ctx, e.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &e.UID}})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return deleted, fmt.Errorf("delete event %s/%s: %w", e.Namespace, e.Name, err)
			}
			deleted++
		}
		if list.Continue == "" {
			return deleted, nil
		}
		opts.Continue = list.Continue
	}
}
