// Package controller holds what every skiff controller shares: a worker loop
// over a typed rate-limited workqueue, expectations that guard against acting
// twice on a controller's own in-flight writes, and pod/owner helpers.
package controller

import (
	"context"
	"log/slog"
	"sync"
	"time"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// SyncFunc reconciles one key. It must be idempotent and level-based.
type SyncFunc func(ctx context.Context, key string) error

// Queue is a named rate-limited workqueue of string keys plus the workers
// that drain it through a SyncFunc.
type Queue struct {
	name string
	q    workqueue.TypedRateLimitingInterface[string]
	sync SyncFunc
	log  *slog.Logger
}

// NewQueue returns a queue whose workers call sync for each key.
func NewQueue(name string, sync SyncFunc, log *slog.Logger) *Queue {
	rl := workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 60*time.Second),
		&workqueue.TypedBucketRateLimiter[string]{Limiter: newBucket()},
	)
	return &Queue{
		name: name,
		q:    workqueue.NewTypedRateLimitingQueueWithConfig(rl, workqueue.TypedRateLimitingQueueConfig[string]{Name: name}),
		sync: sync,
		log:  log.With(slog.String("controller", name)),
	}
}

// Add enqueues key now.
func (q *Queue) Add(key string) { q.q.Add(key) }

// AddAfter enqueues key after d.
func (q *Queue) AddAfter(key string, d time.Duration) { q.q.AddAfter(key, d) }

// AddObj enqueues the namespace/name key of obj (tombstones included).
func (q *Queue) AddObj(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		q.log.Warn("cannot key object", slog.Any("err", err))
		return
	}
	q.q.Add(key)
}

// Len is the number of queued keys.
func (q *Queue) Len() int { return q.q.Len() }

// Run starts workers and blocks until ctx is done, then shuts the queue down
// and waits for the workers to return.
func (q *Queue) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrash()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for q.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	q.q.ShutDown()
	wg.Wait()
}

func (q *Queue) processNext(ctx context.Context) bool {
	key, quit := q.q.Get()
	if quit {
		return false
	}
	defer q.q.Done(key)
	err := q.sync(ctx, key)
	if err == nil {
		q.q.Forget(key)
		return true
	}
	if ctx.Err() != nil {
		return true
	}
	if q.q.NumRequeues(key) < 15 {
		q.log.Debug("sync failed, requeueing", slog.String("key", key), slog.Any("err", err))
	} else {
		q.log.Warn("sync keeps failing", slog.String("key", key), slog.Any("err", err))
	}
	q.q.AddRateLimited(key)
	return true
}

// Handler returns informer event handlers that enqueue the object's key on
// add, update and delete.
func (q *Queue) Handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    q.AddObj,
		UpdateFunc: func(_, n any) { q.AddObj(n) },
		DeleteFunc: q.AddObj,
	}
}
