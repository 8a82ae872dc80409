package storage

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"skiff.dev/apiserver/internal/etcd"
)

// testEtcd is the embedded etcd shared by the package's tests; each test
// uses its own key prefix.
type testEtcd struct {
	client    *clientv3.Client
	kv        etcdserverpb.KVClient // direct KV calls, as the apiserver makes
	watchable mvcc.WatchableKV      // direct watches, likewise
	endpoints []string
	seq       atomic.Int64
}

var shared *testEtcd // set once in TestMain, read-only afterwards

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "storage-etcd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := etcd.Start(ctx, etcd.Options{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer e.Close()
	shared = &testEtcd{client: e.Client(), kv: e.KV(), watchable: e.Watchable(), endpoints: e.Endpoints()}
	return m.Run()
}

type storeOpt func(*Config)

func newTestStore(t testing.TB, opts ...storeOpt) (*Store, string) {
	t.Helper()
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	prefix := fmt.Sprintf("/registry/t%d-%s/configmaps/", shared.seq.Add(1), name)
	cfg := Config{
		GroupResource:     schema.GroupResource{Resource: "configmaps"},
		Prefix:            prefix,
		NewFunc:           func() runtime.Object { return &corev1.ConfigMap{} },
		NewListFunc:       func() runtime.Object { return &corev1.ConfigMapList{} },
		AttrFunc:          configMapAttrs,
		KV:                shared.kv,
		Watchable:         shared.watchable,
		BookmarkInterval:  200 * time.Millisecond,
		Logger:            slog.New(slog.DiscardHandler),
		WatcherBufferSize: 100,
		// Generous: a loaded CI machine may delay the cache; tests of the
		// timeout itself use impatient() stores.
		FreshnessTimeout: 10 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := New(shared.client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return s, prefix
}

func configMapAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return nil, nil, fmt.Errorf("not a ConfigMap: %T", obj)
	}
	return labels.Set(cm.Labels), fields.Set{"metadata.name": cm.Name, "metadata.namespace": cm.Namespace}, nil
}

func cm(ns, name string, lbls map[string]string, data ...string) *corev1.ConfigMap {
	c := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls, UID: types.UID("uid-" + ns + "-" + name)},
		Data:       map[string]string{},
	}
	for i := 0; i+1 < len(data); i += 2 {
		c.Data[data[i]] = data[i+1]
	}
	return c
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func mustCreate(t testing.TB, s *Store, key string, obj *corev1.ConfigMap) *corev1.ConfigMap {
	t.Helper()
	out := &corev1.ConfigMap{}
	if err := s.Create(testCtx(t), key, obj, out); err != nil {
		t.Fatalf("create %s: %v", key, err)
	}
	return out
}

// nextEvent waits for one event with a deadline.
func nextEvent(t testing.TB, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch closed")
		}
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("timed out waiting for watch event")
	}
	return watch.Event{}
}

// nextNonBookmark skips bookmarks.
func nextNonBookmark(t testing.TB, w watch.Interface) watch.Event {
	t.Helper()
	for {
		if ev := nextEvent(t, w); ev.Type != watch.Bookmark {
			return ev
		}
	}
}

func evName(ev watch.Event) string {
	if c, ok := ev.Object.(*corev1.ConfigMap); ok {
		return c.Name
	}
	return ""
}

func evRV(ev watch.Event) string {
	if c, ok := ev.Object.(*corev1.ConfigMap); ok {
		return c.ResourceVersion
	}
	return ""
}

// impatient returns a second store over s's prefix whose freshness timeout
// is short, for tests that expect "too large resource version".
func impatient(t testing.TB, s *Store) *Store {
	t.Helper()
	cfg := s.cfg
	cfg.FreshnessTimeout = 300 * time.Millisecond
	s2, err := New(shared.client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s2.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s2.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return s2
}

func clientv3WithRev(rev int64) clientv3.OpOption { return clientv3.WithRev(rev) }
