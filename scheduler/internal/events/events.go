// Package events writes the scheduler's high-volume Events (one Scheduled
// Event per bound pod, as upstream) to the apiserver without holding up
// binding: Event queues the object and returns at once, and a few writer
// goroutines POST core/v1 Events from a bounded queue, several at a time.
//
// client-go's record broadcaster writes through one serial goroutine behind
// a 1,000-event queue that drops when full, and drops whatever is queued
// when it shuts down; at hundreds of binds per second that lost most
// Scheduled Events. Scheduled Events never repeat for a pod, so they need
// none of its correlation (aggregation, series patches); rarer, repeating
// events such as FailedScheduling still go through it.
package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Options configures a Writer.
type Options struct {
	// Client writes the Events (required).
	Client kubernetes.Interface
	// Workers is the number of concurrent writers (default 16): enough to
	// keep up with binding (up to 256 binds in flight) when the apiserver
	// is busy and each request waits, so the queue does not grow.
	Workers int
	// QueueSize bounds the events waiting to be written (default 10,000);
	// beyond it new events are dropped and counted.
	QueueSize int
	// Retries is how often an event is retried after a transport error
	// (default 3); an error status from the apiserver is final.
	Retries int
	// Logger receives warnings (default: discarded).
	Logger *slog.Logger
	// Now overrides the clock (tests).
	Now func() time.Time
}

// Writer queues and writes Events. Start it before use and Close it after
// the last Event call.
type Writer struct {
	opts    Options
	rc      *rest.RESTClient // nil: use the typed client (fakes)
	queue   chan *v1.Event
	mu      sync.RWMutex // guards closed against a send on the closed queue
	closed  bool
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	written atomic.Int64
	dropped atomic.Int64
	failed  atomic.Int64
}

// New returns a Writer; Start starts its goroutines.
func New(opts Options) (*Writer, error) {
	if opts.Client == nil {
		return nil, errors.New("events: no client")
	}
	if opts.Workers <= 0 {
		opts.Workers = 16
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 10000
	}
	if opts.Retries < 0 {
		opts.Retries = 0
	} else if opts.Retries == 0 {
		opts.Retries = 3
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	w := &Writer{opts: opts, queue: make(chan *v1.Event, opts.QueueSize)}
	if rc, ok := opts.Client.CoreV1().RESTClient().(*rest.RESTClient); ok && rc != nil {
		w.rc = rc
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	return w, nil
}

// Start starts the writer goroutines.
func (w *Writer) Start() {
	w.wg.Add(w.opts.Workers)
	for i := 0; i < w.opts.Workers; i++ {
		go func() {
			defer w.wg.Done()
			for ev := range w.queue {
				w.write(ev)
			}
		}()
	}
}

// Close stops accepting events and waits up to grace for the queued ones
// to be written; what is left after grace is abandoned.
func (w *Writer) Close(grace time.Duration) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	close(w.queue)
	w.mu.Unlock()
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		w.cancel()
		<-done
	}
	w.cancel()
	if n := w.dropped.Load() + w.failed.Load(); n > 0 {
		w.opts.Logger.Warn("events not written", slog.Int64("dropped", w.dropped.Load()), slog.Int64("failed", w.failed.Load()), slog.Int64("written", w.written.Load()))
	}
}

// Stats reports how many events were written, dropped (queue full or
// closed) and failed.
func (w *Writer) Stats() (written, dropped, failed int64) {
	return w.written.Load(), w.dropped.Load(), w.failed.Load()
}

// Event queues an Event about pod from component; it never blocks.
func (w *Writer) Event(pod *v1.Pod, component, eventType, reason, message string) {
	now := metav1.NewTime(w.opts.Now())
	ev := &v1.Event{
		ObjectMeta: metav1.ObjectMeta{
			// As client-go's recorder names them: unique per object and time.
			Name:      fmt.Sprintf("%s.%x", pod.Name, now.UnixNano()),
			Namespace: pod.Namespace,
		},
		InvolvedObject: v1.ObjectReference{
			Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name,
			UID: pod.UID, ResourceVersion: pod.ResourceVersion,
		},
		Reason:              reason,
		Message:             message,
		Type:                eventType,
		Source:              v1.EventSource{Component: component},
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
		ReportingController: component,
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.dropped.Add(1)
		return
	}
	select {
	case w.queue <- ev:
	default:
		if w.dropped.Add(1) == 1 {
			w.opts.Logger.Warn("event queue full; dropping events", slog.Int("queue", w.opts.QueueSize))
		}
	}
}

// write creates one Event, retrying transport errors with a short backoff.
func (w *Writer) write(ev *v1.Event) {
	backoff := 100 * time.Millisecond
	for try := 0; ; try++ {
		err := w.create(ev)
		if err == nil {
			w.written.Add(1)
			return
		}
		var st apierrors.APIStatus
		if errors.As(err, &st) || try >= w.opts.Retries || w.ctx.Err() != nil {
			if !apierrors.IsAlreadyExists(err) {
				level := slog.LevelDebug
				if w.failed.Add(1) == 1 {
					level = slog.LevelWarn // the first one says why
				}
				w.opts.Logger.Log(w.ctx, level, "write event", slog.String("event", ev.Namespace+"/"+ev.Name), slog.String("err", err.Error()))
			}
			return
		}
		select {
		case <-w.ctx.Done():
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

func (w *Writer) create(ev *v1.Event) error {
	if w.rc != nil {
		// The response is not decoded: nothing in it is needed.
		return w.rc.Post().Namespace(ev.Namespace).Resource("events").Body(ev).Do(w.ctx).Error()
	}
	_, err := w.opts.Client.CoreV1().Events(ev.Namespace).Create(w.ctx, ev, metav1.CreateOptions{})
	return err
}
