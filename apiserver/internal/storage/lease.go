package storage

import (
	"context"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// leases hands out etcd leases for objects with a TTL. One lease serves
// every write in a reuse window, so a busy resource (Events) costs a lease
// per window instead of one per write.
type leases struct {
	client *clientv3.Client
	ttl    time.Duration
	window time.Duration

	mu      sync.Mutex
	id      clientv3.LeaseID
	expires time.Time // when the current lease runs out
}

func newLeases(client *clientv3.Client, ttl time.Duration) *leases {
	window := min(ttl/10, time.Minute)
	return &leases{client: client, ttl: ttl, window: window.Truncate(time.Second)}
}

// get returns a lease that outlives now+ttl by at most the reuse window.
func (l *leases) get(ctx context.Context) (clientv3.LeaseID, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.id != 0 && l.expires.Sub(now) >= l.ttl {
		return l.id, nil
	}
	secs := int64((l.ttl + l.window + time.Second - 1) / time.Second)
	resp, err := l.client.Grant(ctx, secs)
	if err != nil {
		return 0, fmt.Errorf("grant lease: %w", err)
	}
	l.id, l.expires = resp.ID, now.Add(time.Duration(secs)*time.Second)
	return l.id, nil
}

// leaseID returns the lease to write an object of this store with (0:
// none).
func (s *Store) leaseID(ctx context.Context) (clientv3.LeaseID, error) {
	if s.leases == nil {
		return 0, nil
	}
	return s.leases.get(ctx)
}
