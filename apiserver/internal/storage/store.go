package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// Default tuning values used when Config leaves them zero.
const (
	DefaultWatchCacheSize    = 10000
	DefaultWatchCacheHistory = 75 * time.Second
	DefaultWatchCacheMaxSize = 100 * 1024
	DefaultBookmarkInterval  = 10 * time.Second
	DefaultWatcherBufferSize = 1024
	DefaultFreshnessTimeout  = 3 * time.Second
)

// Store is the etcd-backed Interface implementation for one resource.
type Store struct {
	client *clientv3.Client
	cfg    Config
	log    *slog.Logger
	cache  *cache
	leases *leases // nil unless cfg.TTL is set
	cancel context.CancelFunc
	done   chan struct{}
}

var _ Interface = (*Store)(nil)

// Validate checks cfg and fills defaults.
func (cfg *Config) Validate() error {
	switch {
	case cfg.GroupResource.Resource == "":
		return errors.New("storage: GroupResource.Resource is required")
	case cfg.Prefix == "" || !strings.HasSuffix(cfg.Prefix, "/"):
		return fmt.Errorf("storage: Prefix %q must be non-empty and end in /", cfg.Prefix)
	case cfg.NewFunc == nil || cfg.NewListFunc == nil:
		return errors.New("storage: NewFunc and NewListFunc are required")
	case cfg.WatchCacheSize < 0 || cfg.WatchCacheMaxSize < 0 || cfg.WatcherBufferSize < 0 || cfg.BookmarkInterval < 0 || cfg.FreshnessTimeout < 0 || cfg.TTL < 0:
		return errors.New("storage: sizes and intervals must not be negative")
	}
	if _, err := meta.Accessor(cfg.NewFunc()); err != nil {
		return fmt.Errorf("storage: NewFunc: %w", err)
	}
	if _, err := meta.GetItemsPtr(cfg.NewListFunc()); err != nil {
		return fmt.Errorf("storage: NewListFunc: %w", err)
	}
	if cfg.WatchCacheSize == 0 {
		cfg.WatchCacheSize = DefaultWatchCacheSize
	}
	if cfg.WatchCacheHistory == 0 {
		cfg.WatchCacheHistory = DefaultWatchCacheHistory
	}
	if cfg.WatchCacheMaxSize == 0 {
		cfg.WatchCacheMaxSize = DefaultWatchCacheMaxSize
	}
	cfg.WatchCacheMaxSize = max(cfg.WatchCacheMaxSize, cfg.WatchCacheSize)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BookmarkInterval == 0 {
		cfg.BookmarkInterval = DefaultBookmarkInterval
	}
	if cfg.WatcherBufferSize == 0 {
		cfg.WatcherBufferSize = DefaultWatcherBufferSize
	}
	if cfg.FreshnessTimeout == 0 {
		cfg.FreshnessTimeout = DefaultFreshnessTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return nil
}

// New returns a Store for cfg and starts its watch cache (one etcd watch
// over cfg.Prefix). Call Stop to release it.
func New(client *clientv3.Client, cfg Config) (*Store, error) {
	if client == nil {
		return nil, errors.New("storage: nil etcd client")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{
		client: client,
		cfg:    cfg,
		log:    cfg.Logger.With(slog.String("resource", cfg.GroupResource.String())),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	s.cache = newCache(s)
	if cfg.TTL > 0 {
		s.leases = newLeases(client, cfg.TTL)
	}
	go func() {
		defer close(s.done)
		s.cache.run(ctx)
	}()
	return s, nil
}

// Stop ends the watch cache and closes every watcher.
func (s *Store) Stop() {
	s.cancel()
	<-s.done
}

// WaitReady blocks until the watch cache has loaded the resource's
// current state or ctx ends.
func (s *Store) WaitReady(ctx context.Context) error {
	select {
	case <-s.cache.readyCh:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// nameOf returns the object name in key (its last path segment).
func (s *Store) nameOf(key string) string {
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		return key[i+1:]
	}
	return key
}

func (s *Store) checkKey(key string) error {
	if !strings.HasPrefix(key, s.cfg.Prefix) || len(key) == len(s.cfg.Prefix) {
		return fmt.Errorf("storage: key %q is outside prefix %q", key, s.cfg.Prefix)
	}
	return nil
}

// Create implements Interface.
func (s *Store) Create(ctx context.Context, key string, obj, out runtime.Object) error {
	if err := s.checkKey(key); err != nil {
		return s.interpret("create", err)
	}
	if err := setRV(obj, 0); err != nil {
		return s.interpret("create", err)
	}
	data, err := encode(obj)
	if err != nil {
		return s.interpret("create", err)
	}
	lease, err := s.leaseID(ctx)
	if err != nil {
		return s.interpret("create", err)
	}
	resp, err := s.putIfRev(ctx, key, 0, data, lease, false)
	if err != nil {
		return s.interpret("create", err)
	}
	if !resp.Succeeded {
		return s.errAlreadyExists(key)
	}
	if err := setRV(obj, resp.Header.Revision); err != nil {
		return s.interpret("create", err)
	}
	return s.interpret("create", assign(out, obj, true))
}

// putIfRev writes data under key if the key's mod revision is rev (0: the
// key is absent), with the given lease (0: none); on a failed compare the
// response holds the current key when elseGet is set. With Config.KV the
// request goes to the KV API as is, saving the client's copies of the
// value and of the compare.
func (s *Store) putIfRev(ctx context.Context, key string, rev int64, data []byte, lease clientv3.LeaseID, elseGet bool) (*clientv3.TxnResponse, error) {
	if s.cfg.KV == nil {
		var opts []clientv3.OpOption
		if lease != 0 {
			opts = append(opts, clientv3.WithLease(lease))
		}
		txn := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpPut(key, string(data), opts...))
		if elseGet {
			txn = txn.Else(clientv3.OpGet(key))
		}
		return txn.Commit()
	}
	k := []byte(key)
	req := &etcdserverpb.TxnRequest{
		Compare: []*etcdserverpb.Compare{{
			Result: etcdserverpb.Compare_EQUAL, Target: etcdserverpb.Compare_MOD, Key: k,
			TargetUnion: &etcdserverpb.Compare_ModRevision{ModRevision: rev},
		}},
		Success: []*etcdserverpb.RequestOp{{Request: &etcdserverpb.RequestOp_RequestPut{
			RequestPut: &etcdserverpb.PutRequest{Key: k, Value: data, Lease: int64(lease)},
		}}},
	}
	if elseGet {
		req.Failure = []*etcdserverpb.RequestOp{{Request: &etcdserverpb.RequestOp_RequestRange{
			RequestRange: &etcdserverpb.RangeRequest{Key: k},
		}}}
	}
	resp, err := s.cfg.KV.Txn(ctx, req)
	if err != nil {
		return nil, clientv3.ContextError(ctx, err)
	}
	return (*clientv3.TxnResponse)(resp), nil
}

// Compacted tells the store that etcd's history up to rev is compacted
// (Compactor's OnCompact): its watch cache stops serving watches from
// there.
func (s *Store) Compacted(rev int64) { s.cache.compacted(rev) }

// Get implements Interface.
func (s *Store) Get(ctx context.Context, key string, resourceVersion string, out runtime.Object) error {
	obj, fromCache, err := s.read(ctx, key, resourceVersion)
	if err != nil {
		return err
	}
	return s.interpret("get", assign(out, obj, fromCache))
}

var _ Peeker = (*Store)(nil)

// Peek implements Peeker.
func (s *Store) Peek(ctx context.Context, key string) (runtime.Object, error) {
	obj, _, err := s.read(ctx, key, "0")
	return obj, err
}

// read is Get without the copy into out: the object may be the watch
// cache's (fromCache), which the caller must not modify.
func (s *Store) read(ctx context.Context, key string, resourceVersion string) (obj runtime.Object, fromCache bool, err error) {
	if err := s.checkKey(key); err != nil {
		return nil, false, s.interpret("get", err)
	}
	if resourceVersion != "" && s.cache.isReady() {
		minRev, err := parseRV(resourceVersion)
		if err != nil {
			return nil, false, err
		}
		if err := s.cache.waitFresh(ctx, minRev); err != nil {
			return nil, false, err
		}
		if ent := s.cache.get(key); ent != nil {
			return ent.obj, true, nil
		}
		// A miss may be an object the cache has not seen yet: confirm
		// with etcd rather than answer NotFound for something that exists.
	}
	if resourceVersion != "" && !s.cache.isReady() {
		if _, err := parseRV(resourceVersion); err != nil {
			return nil, false, err
		}
	}
	st, err := s.getState(ctx, key)
	if err != nil {
		return nil, false, err
	}
	if !st.exists {
		return nil, false, s.errNotFound(key)
	}
	return st.obj, false, nil
}

// objState is an object as read from etcd or the watch cache.
type objState struct {
	obj       runtime.Object // owned by the cache when fromCache
	data      []byte         // stored bytes; nil when fromCache (see storedBytes)
	rev       int64
	exists    bool
	fromCache bool
}

func (s *Store) getState(ctx context.Context, key string) (*objState, error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return nil, s.interpret("get", err)
	}
	return s.stateFromKVs(resp.Kvs)
}

func (s *Store) stateFromKVs(kvs []*mvccKV) (*objState, error) {
	if len(kvs) == 0 {
		return &objState{}, nil
	}
	kv := kvs[0]
	obj, err := s.decode(kv.Value, kv.ModRevision)
	if err != nil {
		return nil, s.interpret("get", err)
	}
	return &objState{obj: obj, data: kv.Value, rev: kv.ModRevision, exists: true}, nil
}

// cachedState returns the watch cache's copy of key as a first guess for
// a read-modify-write, or nil when the cache cannot say.
func (s *Store) cachedState(key string) *objState {
	if !s.cache.isReady() {
		return nil
	}
	ent := s.cache.get(key)
	if ent == nil {
		return nil
	}
	return &objState{obj: ent.obj, rev: ent.rev, exists: true, fromCache: true}
}

// storedBytes returns the stored form of the state's object. The cache
// keeps only decoded objects (half the memory), so for cached state it is
// re-encoded from a copy: the same encoder as for the update it is
// compared with.
func (st *objState) storedBytes() ([]byte, error) {
	if st.data == nil {
		data, err := encode(shallowCopy(st.obj))
		if err != nil {
			return nil, err
		}
		st.data = data
	}
	return st.data, nil
}

func (s *Store) checkPreconditions(key string, p *Preconditions, obj runtime.Object) error {
	if p == nil {
		return nil
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return s.interpret("precondition", err)
	}
	if p.UID != nil && *p.UID != m.GetUID() {
		return s.errConflict(key, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, m.GetUID()))
	}
	if p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion() {
		return s.errConflict(key, fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, m.GetResourceVersion()))
	}
	return nil
}

// GuaranteedUpdate implements Interface.
func (s *Store) GuaranteedUpdate(ctx context.Context, key string, out runtime.Object, ignoreNotFound bool, preconditions *Preconditions, tryUpdate UpdateFunc) error {
	if err := s.checkKey(key); err != nil {
		return s.interpret("update", err)
	}
	st := s.cachedState(key)
	if st == nil {
		var err error
		if st, err = s.getState(ctx, key); err != nil {
			return err
		}
	}
	refresh := func() error {
		var err error
		st, err = s.getState(ctx, key)
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return s.interpret("update", err)
		}
		if !st.exists && !ignoreNotFound {
			return s.errNotFound(key)
		}
		var cur runtime.Object
		if st.exists {
			if err := s.checkPreconditions(key, preconditions, st.obj); err != nil {
				if st.fromCache {
					if rerr := refresh(); rerr != nil {
						return rerr
					}
					continue
				}
				return err
			}
			cur = st.obj.DeepCopyObject()
		} else {
			cur = s.cfg.NewFunc()
		}
		updated, err := tryUpdate(cur)
		if err != nil {
			if st.fromCache {
				if rerr := refresh(); rerr != nil {
					return rerr
				}
				continue
			}
			return err
		}
		if updated == nil {
			return s.interpret("update", errors.New("update function returned no object"))
		}
		newRV, err := getRV(updated)
		if err != nil {
			return s.interpret("update", err)
		}
		if newRV != "" && (!st.exists || newRV != strconv.FormatInt(st.rev, 10)) {
			if st.fromCache {
				if rerr := refresh(); rerr != nil {
					return rerr
				}
				continue
			}
			return s.errOptimisticLock(key)
		}
		data, err := encode(updated)
		if err != nil {
			return s.interpret("update", err)
		}
		var same bool
		if st.exists {
			cur, err := st.storedBytes()
			if err != nil {
				return s.interpret("update", err)
			}
			same = bytes.Equal(data, cur)
		}
		if same {
			if st.fromCache {
				// Make sure the no-op is judged against the latest state.
				if rerr := refresh(); rerr != nil {
					return rerr
				}
				continue
			}
			return s.interpret("update", assign(out, st.obj, st.fromCache))
		}
		lease, err := s.leaseID(ctx)
		if err != nil {
			return s.interpret("update", err)
		}
		resp, err := s.putIfRev(ctx, key, st.rev, data, lease, true)
		if err != nil {
			return s.interpret("update", err)
		}
		if !resp.Succeeded {
			if st, err = s.stateFromKVs(resp.Responses[0].GetResponseRange().Kvs); err != nil {
				return err
			}
			continue
		}
		if err := setRV(updated, resp.Header.Revision); err != nil {
			return s.interpret("update", err)
		}
		return s.interpret("update", assign(out, updated, false))
	}
}

// Delete implements Interface.
func (s *Store) Delete(ctx context.Context, key string, out runtime.Object, preconditions *Preconditions, validate ValidateDeletionFunc) error {
	if err := s.checkKey(key); err != nil {
		return s.interpret("delete", err)
	}
	st := s.cachedState(key)
	if st == nil {
		var err error
		if st, err = s.getState(ctx, key); err != nil {
			return err
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return s.interpret("delete", err)
		}
		if !st.exists {
			return s.errNotFound(key)
		}
		err := s.checkPreconditions(key, preconditions, st.obj)
		if err == nil && validate != nil {
			err = validate(ctx, st.obj.DeepCopyObject())
		}
		if err != nil {
			if st.fromCache {
				if st, err = s.getState(ctx, key); err != nil {
					return err
				}
				continue
			}
			return err
		}
		resp, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", st.rev)).
			Then(clientv3.OpDelete(key)).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			return s.interpret("delete", err)
		}
		if !resp.Succeeded {
			if st, err = s.stateFromKVs(resp.Responses[0].GetResponseRange().Kvs); err != nil {
				return err
			}
			continue
		}
		last := st.obj.DeepCopyObject()
		if err := setRV(last, resp.Header.Revision); err != nil {
			return s.interpret("delete", err)
		}
		return s.interpret("delete", assign(out, last, false))
	}
}

// Count implements Interface.
func (s *Store) Count(ctx context.Context, key string) (int64, error) {
	if !strings.HasPrefix(key, s.cfg.Prefix) {
		return 0, s.interpret("count", fmt.Errorf("storage: key %q is outside prefix %q", key, s.cfg.Prefix))
	}
	if !strings.HasSuffix(key, "/") {
		key += "/"
	}
	resp, err := s.client.Get(ctx, key, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, s.interpret("count", err)
	}
	return resp.Count, nil
}

// Watch implements Interface.
func (s *Store) Watch(ctx context.Context, key string, opts ListOptions) (watch.Interface, error) {
	if !strings.HasPrefix(key, s.cfg.Prefix) {
		return nil, s.interpret("watch", fmt.Errorf("storage: key %q is outside prefix %q", key, s.cfg.Prefix))
	}
	if opts.Recursive && !strings.HasSuffix(key, "/") {
		key += "/"
	}
	return s.cache.watch(ctx, key, opts)
}
