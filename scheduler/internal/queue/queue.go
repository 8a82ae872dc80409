// Package queue is the scheduling queue: an active heap ordered by pod
// priority (then arrival), a backoff heap of pods waiting out an
// exponential delay after a failed attempt, and a set of unschedulable pods
// that only move back when a cluster event that could make them fit
// arrives (a node added or changed, a pod deleted, ...), never by polling.
package queue

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"

	"skiff.dev/scheduler/internal/framework"
)

// ErrClosed is returned by Pop after Close.
var ErrClosed = errors.New("scheduling queue closed")

// Event is a cluster change that may make unschedulable pods schedulable.
type Event struct {
	// Name is for logs ("NodeAdd", "AssignedPodDelete", ...).
	Name string
	// Plugins limits the move to pods rejected by one of these plugins;
	// empty moves every unschedulable pod.
	Plugins sets.Set[string]
}

// QueuedPod is a pod in the queue with its scheduling history.
type QueuedPod struct {
	*framework.PodInfo
	// Timestamp is when the pod last entered the queue.
	Timestamp time.Time
	// InitialAttempt is when the pod first entered the queue (for latency).
	InitialAttempt time.Time
	// Attempts counts scheduling attempts.
	Attempts int
	// UnschedulablePlugins rejected the pod in its last attempt.
	UnschedulablePlugins sets.Set[string]

	backoffUntil time.Time
	where        int // which sub-queue holds it
	index        int // heap index
}

const (
	nowhere = iota
	inActive
	inBackoff
	inUnschedulable
	inFlight
)

// Options configures a Queue.
type Options struct {
	// InitialBackoff is the delay after the first failure (default 1s).
	InitialBackoff time.Duration
	// MaxBackoff caps the exponential delay (default 10s).
	MaxBackoff time.Duration
	// MaxUnschedulable is how long a pod may wait for an event before it
	// is retried anyway (default 5m).
	MaxUnschedulable time.Duration
	// Now overrides the clock (tests).
	Now func() time.Time
}

// Queue is safe for concurrent use.
type Queue struct {
	opts Options
	mu   sync.Mutex
	cond *sync.Cond

	active  podHeap
	backoff podHeap
	pods    map[types.UID]*QueuedPod
	unsched map[types.UID]*QueuedPod

	schedulingCycle  int64
	moveRequestCycle int64
	closed           bool
}

// New returns an empty queue.
func New(opts Options) *Queue {
	if opts.InitialBackoff <= 0 {
		opts.InitialBackoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 10 * time.Second
	}
	if opts.MaxBackoff < opts.InitialBackoff {
		opts.MaxBackoff = opts.InitialBackoff
	}
	if opts.MaxUnschedulable <= 0 {
		opts.MaxUnschedulable = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	q := &Queue{
		opts:    opts,
		active:  podHeap{less: activeLess},
		backoff: podHeap{less: backoffLess},
		pods:    map[types.UID]*QueuedPod{},
		unsched: map[types.UID]*QueuedPod{},
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func activeLess(a, b *QueuedPod) bool {
	pa, pb := framework.PodPriority(a.Pod), framework.PodPriority(b.Pod)
	if pa != pb {
		return pa > pb
	}
	return a.Timestamp.Before(b.Timestamp)
}

func backoffLess(a, b *QueuedPod) bool { return a.backoffUntil.Before(b.backoffUntil) }

// Add enqueues a new pending pod, or updates it if already known.
func (q *Queue) Add(pod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if qp, ok := q.pods[pod.UID]; ok {
		q.updateLocked(qp, pod)
		return
	}
	now := q.opts.Now()
	qp := &QueuedPod{PodInfo: framework.NewPodInfo(pod), Timestamp: now, InitialAttempt: now}
	q.pods[pod.UID] = qp
	q.pushActive(qp)
}

// Update replaces a pending pod's object. An unschedulable pod whose
// spec, labels or annotations changed gets another chance; status-only
// updates (including the scheduler's own condition writes) do not.
func (q *Queue) Update(old, pod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qp, ok := q.pods[pod.UID]
	if ok && old != nil && !schedulingPropertiesChanged(old, pod) {
		qp.PodInfo = framework.NewPodInfo(pod)
		if qp.where == inActive {
			heap.Fix(&q.active, qp.index)
		}
		return
	}
	if !ok {
		now := q.opts.Now()
		qp = &QueuedPod{PodInfo: framework.NewPodInfo(pod), Timestamp: now, InitialAttempt: now}
		q.pods[pod.UID] = qp
		q.pushActive(qp)
		return
	}
	q.updateLocked(qp, pod)
}

func (q *Queue) updateLocked(qp *QueuedPod, pod *v1.Pod) {
	qp.PodInfo = framework.NewPodInfo(pod)
	switch qp.where {
	case inActive:
		heap.Fix(&q.active, qp.index)
	case inBackoff:
		heap.Fix(&q.backoff, qp.index)
	case inUnschedulable:
		q.requeueLocked(qp)
	case inFlight:
		// The attempt in progress saw the old object: make its failure,
		// if any, go through backoff instead of waiting for an event.
		q.moveRequestCycle = q.schedulingCycle
	}
}

// Delete forgets a pod (deleted, or scheduled by someone else).
func (q *Queue) Delete(pod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qp, ok := q.pods[pod.UID]
	if !ok {
		return
	}
	q.removeLocked(qp)
	delete(q.pods, pod.UID)
}

func (q *Queue) removeLocked(qp *QueuedPod) {
	switch qp.where {
	case inActive:
		heap.Remove(&q.active, qp.index)
	case inBackoff:
		heap.Remove(&q.backoff, qp.index)
	case inUnschedulable:
		delete(q.unsched, qp.Pod.UID)
	}
	qp.where = nowhere
}

func (q *Queue) pushActive(qp *QueuedPod) {
	qp.where = inActive
	heap.Push(&q.active, qp)
	q.cond.Signal()
}

func (q *Queue) backoffDuration(qp *QueuedPod) time.Duration {
	d := q.opts.InitialBackoff
	for i := 1; i < qp.Attempts; i++ {
		d *= 2
		if d >= q.opts.MaxBackoff {
			return q.opts.MaxBackoff
		}
	}
	return d
}

// requeueLocked moves a pod to backoff if it is still backing off, else to active.
func (q *Queue) requeueLocked(qp *QueuedPod) {
	q.removeLocked(qp)
	if q.opts.Now().Before(qp.backoffUntil) {
		qp.where = inBackoff
		heap.Push(&q.backoff, qp)
		return
	}
	q.pushActive(qp)
}

// Pop blocks until a pod is active, the context ends, or the queue closes.
// The pod stays "in flight" until Done or Requeue.
func (q *Queue) Pop(ctx context.Context) (*QueuedPod, error) {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.cond.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 {
		if q.closed {
			return nil, ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		q.cond.Wait()
	}
	qp := heap.Pop(&q.active).(*QueuedPod)
	qp.where = inFlight
	qp.Attempts++
	q.schedulingCycle++
	// The caller gets its own copy: informer updates keep changing the
	// queue's entry while the attempt reads this one.
	cp := *qp
	return &cp, nil
}

// SchedulingCycle returns the number of Pops so far.
func (q *Queue) SchedulingCycle() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.schedulingCycle
}

// Done marks a popped pod as finished: it leaves the queue (bound).
func (q *Queue) Done(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if qp, ok := q.pods[uid]; ok && qp.where == inFlight {
		delete(q.pods, uid)
	}
}

// Requeue puts back a pod whose attempt in cycle failed. Pods that hit an
// error, or for which a move request arrived during the attempt, go to
// backoff; unschedulable pods wait for a relevant event.
func (q *Queue) Requeue(qp *QueuedPod, cycle int64, unschedulable bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	cur, ok := q.pods[qp.Pod.UID]
	if !ok || cur.where != inFlight {
		// Deleted (or re-added) while in flight.
		return
	}
	cur.UnschedulablePlugins = qp.UnschedulablePlugins
	now := q.opts.Now()
	cur.Timestamp = now
	cur.backoffUntil = now.Add(q.backoffDuration(cur))
	if !unschedulable || q.moveRequestCycle >= cycle {
		cur.where = inBackoff
		heap.Push(&q.backoff, cur)
		return
	}
	cur.where = inUnschedulable
	q.unsched[cur.Pod.UID] = cur
}

// Move sends unschedulable pods the event concerns back to be retried
// (to backoff if their delay has not passed).
func (q *Queue) Move(ev Event) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveRequestCycle = q.schedulingCycle
	n := 0
	for _, qp := range q.unsched {
		if len(ev.Plugins) > 0 && len(qp.UnschedulablePlugins) > 0 && !ev.Plugins.HasAny(qp.UnschedulablePlugins.UnsortedList()...) {
			continue
		}
		q.requeueLocked(qp)
		n++
	}
	return n
}

// flush moves expired backoff pods to active and long-waiting
// unschedulable pods back, returning the next backoff expiry.
func (q *Queue) flush() time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.opts.Now()
	for q.backoff.Len() > 0 {
		qp := q.backoff.items[0]
		if qp.backoffUntil.After(now) {
			return qp.backoffUntil
		}
		heap.Pop(&q.backoff)
		q.pushActive(qp)
	}
	return time.Time{}
}

func (q *Queue) flushUnschedulable() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.opts.Now()
	for _, qp := range q.unsched {
		if now.Sub(qp.Timestamp) > q.opts.MaxUnschedulable {
			q.requeueLocked(qp)
		}
	}
}

// Run flushes backoff (at each pod's expiry, at least every second) and
// stale unschedulable pods (every 30s) until ctx ends, then closes the queue.
func (q *Queue) Run(ctx context.Context) {
	defer q.Close()
	unsched := time.NewTicker(30 * time.Second)
	defer unsched.Stop()
	timer := time.NewTimer(time.Second)
	defer timer.Stop()
	for {
		next := q.flush()
		wait := time.Second
		if !next.IsZero() {
			wait = min(wait, max(time.Until(next), 10*time.Millisecond))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-unsched.C:
			q.flushUnschedulable()
		case <-timer.C:
		}
	}
}

// Close wakes Pop callers with ErrClosed.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// Lengths returns the sizes of the active, backoff and unschedulable sets.
func (q *Queue) Lengths() (active, backoff, unschedulable int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.active.Len(), q.backoff.Len(), len(q.unsched)
}

func schedulingPropertiesChanged(old, pod *v1.Pod) bool {
	return !equality.Semantic.DeepEqual(old.Spec, pod.Spec) ||
		!equality.Semantic.DeepEqual(old.Labels, pod.Labels) ||
		!equality.Semantic.DeepEqual(old.Annotations, pod.Annotations)
}

type podHeap struct {
	items []*QueuedPod
	less  func(a, b *QueuedPod) bool
}

func (h *podHeap) Len() int           { return len(h.items) }
func (h *podHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *podHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index = i
	h.items[j].index = j
}
func (h *podHeap) Push(x any) {
	qp := x.(*QueuedPod)
	qp.index = len(h.items)
	h.items = append(h.items, qp)
}
func (h *podHeap) Pop() any {
	n := len(h.items)
	qp := h.items[n-1]
	h.items[n-1] = nil
	h.items = h.items[:n-1]
	qp.index = -1
	return qp
}
