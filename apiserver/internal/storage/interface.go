// Package storage keeps API objects in etcd: one Store per resource, with
// resourceVersion = etcd revision, optimistic concurrency, consistent paged
// lists, and a watch cache fed by a single etcd watch per resource so that N
// watchers cost one etcd watch. Errors are *apierrors.StatusError values
// built for the store's GroupResource, ready to send to clients.
package storage

import (
	"context"
	"log/slog"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// AttrFunc returns the label and field sets an object is filtered on.
// Field sets always include metadata.name and (for namespaced resources)
// metadata.namespace.
type AttrFunc func(obj runtime.Object) (labels.Set, fields.Set, error)

// Config describes one resource's store.
type Config struct {
	// GroupResource names the resource in errors (e.g. {"apps","deployments"}).
	GroupResource schema.GroupResource
	// Prefix is the etcd key prefix of every object of the resource, ending
	// in "/", e.g. "/registry/apps/deployments/". Keys below it are
	// "<namespace>/<name>" for namespaced resources and "<name>" otherwise.
	Prefix string
	// NewFunc returns an empty object (e.g. &appsv1.Deployment{}).
	NewFunc func() runtime.Object
	// NewListFunc returns an empty list (e.g. &appsv1.DeploymentList{}).
	NewListFunc func() runtime.Object
	// AttrFunc extracts labels and selectable fields.
	AttrFunc AttrFunc
	// WatchCacheSize is how many events the watch cache keeps at least
	// (default 10000). While events arrive faster, the cache grows to keep
	// WatchCacheHistory of them, up to WatchCacheMaxSize, and shrinks back
	// when they slow down.
	WatchCacheSize int

	// The fields below are optional tuning knobs; zero values pick defaults.

	// WatchCacheHistory is how far back the watch cache tries to keep
	// events so that watches can resume from them (default 75s, as
	// kube-apiserver's watch cache); negative: never grow past
	// WatchCacheSize.
	WatchCacheHistory time.Duration
	// WatchCacheMaxSize bounds the events kept per resource (default
	// 102400, or WatchCacheSize when that is larger).
	WatchCacheMaxSize int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// BookmarkInterval is how often watchers that allow bookmarks receive a
	// BOOKMARK event (default 10s).
	BookmarkInterval time.Duration
	// WatcherBufferSize bounds the events queued for one watcher; a watcher
	// that falls further behind is terminated (default 1024).
	WatcherBufferSize int
	// FreshnessTimeout bounds how long a read waits for the watch cache to
	// reach a requested resourceVersion (default 3s). Consistent reads fall
	// back to etcd after it; reads of a too-new resourceVersion fail with
	// 504 Timeout.
	FreshnessTimeout time.Duration
	// Logger receives diagnostics (default slog.Default()).
	Logger *slog.Logger
	// KV, when set, is the KV API of the same etcd as the client's, called
	// directly for writes (etcd.Embedded.KV gives the in-process one).
	KV etcdserverpb.KVClient
	// Watchable, when set, is the multi-version store of the same etcd
	// (etcd.Embedded.Watchable): the watch cache then watches it directly
	// instead of through the client's watch stream.
	Watchable mvcc.WatchableKV
	// TTL, when set, makes objects expire that long after their last write
	// (like kube-apiserver's --event-ttl for Events); expiry is an ordinary
	// delete that watchers see. Leases are shared between writes, so an
	// object may live up to min(TTL/10, 1m) longer. Zero = never expire.
	TTL time.Duration
}

// Predicate selects objects in lists and watches.
type Predicate struct {
	Label labels.Selector // nil means everything
	Field fields.Selector // nil means everything
	// Limit caps list results (0 = no limit); the list's continue token
	// resumes at the same revision.
	Limit int64
	// Continue is the token from a previous limited list.
	Continue string
}

// ListOptions controls List and Watch.
type ListOptions struct {
	// ResourceVersion and ResourceVersionMatch have the Kubernetes meaning:
	// "" = most recent (consistent read); "0" = any (served from the watch
	// cache); "N" with NotOlderThan/Exact as in metav1.ListOptions. For
	// Watch, events after ResourceVersion are sent; "" or "0" start with
	// synthetic ADDED events for the current state.
	ResourceVersion      string
	ResourceVersionMatch string
	Predicate            Predicate
	// Recursive makes key a prefix (list/watch a whole namespace or resource).
	Recursive bool
	// AllowWatchBookmarks asks for periodic BOOKMARK events carrying the
	// latest resourceVersion.
	AllowWatchBookmarks bool
	// SendInitialEvents, for watch: send the current state as ADDED events
	// first, then a BOOKMARK annotated "k8s.io/initial-events-end".
	SendInitialEvents *bool
}

// Preconditions must hold for an update or delete to proceed.
type Preconditions struct {
	UID             *types.UID
	ResourceVersion *string
}

// UpdateFunc computes the new object from the current one. Returning an
// error aborts the update with that error. The store retries on conflicts
// with a fresh current object unless the caller's precondition on
// resourceVersion fails.
type UpdateFunc func(current runtime.Object) (updated runtime.Object, err error)

// ValidateDeletionFunc may veto a delete after the current object is read.
type ValidateDeletionFunc func(ctx context.Context, current runtime.Object) error

// Interface is the per-resource store used by the REST layer. Keys are full
// etcd keys (Config.Prefix + "<ns>/<name>" or Prefix + "<name>").
type Interface interface {
	// Create stores obj under key. It fails with AlreadyExists when the key
	// exists. out receives the stored object with resourceVersion set; out
	// may be obj itself, which then gets the resourceVersion in place (no
	// copy is made).
	Create(ctx context.Context, key string, obj, out runtime.Object) error
	// Get reads key into out; NotFound when missing. resourceVersion "0"
	// may be served from the watch cache.
	Get(ctx context.Context, key string, resourceVersion string, out runtime.Object) error
	// List reads objects under key (a prefix when opts.Recursive) into
	// listObj, setting its resourceVersion and continue token. Items are
	// struct copies of the watch cache's objects: their nested maps,
	// slices and pointers are shared with the cache and must be treated as
	// read-only (copy an item before changing it).
	List(ctx context.Context, key string, opts ListOptions, listObj runtime.Object) error
	// GuaranteedUpdate reads key, applies tryUpdate and writes the result
	// with a compare-and-swap on the revision, retrying on races.
	// ignoreNotFound lets tryUpdate see an empty object when key is missing
	// (used for create-on-update). A resourceVersion set on the object
	// returned by tryUpdate that differs from the current one yields 409
	// Conflict (optimistic concurrency).
	GuaranteedUpdate(ctx context.Context, key string, out runtime.Object, ignoreNotFound bool, preconditions *Preconditions, tryUpdate UpdateFunc) error
	// Delete removes key after checking preconditions and validate; out
	// receives the last state.
	Delete(ctx context.Context, key string, out runtime.Object, preconditions *Preconditions, validate ValidateDeletionFunc) error
	// Watch streams events under key (a prefix when opts.Recursive). A
	// resourceVersion older than the cache window or compacted gives a 410
	// Gone (reason Expired) error. Event objects are new objects per
	// watcher, so top-level fields (e.g. TypeMeta) may be set, but like
	// List items they share nested data with the cache: read-only.
	// Get, Create, GuaranteedUpdate and Delete return private deep copies.
	Watch(ctx context.Context, key string, opts ListOptions) (watch.Interface, error)
	// Count returns the number of objects under key.
	Count(ctx context.Context, key string) (int64, error)
}

// Peeker is implemented by stores that can show an object without copying
// it (Store does).
type Peeker interface {
	// Peek answers like Get with resourceVersion "0" but returns the
	// object itself, which may be the watch cache's: the caller must not
	// modify it or anything it points to.
	Peek(ctx context.Context, key string) (runtime.Object, error)
}
