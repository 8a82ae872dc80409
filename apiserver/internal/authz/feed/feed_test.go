package feed

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"skiff.dev/apiserver/internal/storage"
)

// fakeStore lists a fixed set of ConfigMaps and hands out watchers the
// test drives.
type fakeStore struct {
	storage.Interface
	mu       sync.Mutex
	items    []corev1.ConfigMap
	watchers chan *watch.FakeWatcher
	watchRVs []string
}

func (f *fakeStore) List(_ context.Context, _ string, _ storage.ListOptions, out runtime.Object) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := out.(*corev1.ConfigMapList)
	l.Items = append([]corev1.ConfigMap(nil), f.items...)
	l.ResourceVersion = "10"
	return nil
}

func (f *fakeStore) Watch(_ context.Context, _ string, opts storage.ListOptions) (watch.Interface, error) {
	f.mu.Lock()
	f.watchRVs = append(f.watchRVs, opts.ResourceVersion)
	f.mu.Unlock()
	w := watch.NewFake()
	f.watchers <- w
	return w, nil
}

// sink records the names it holds.
type sink struct {
	mu       sync.Mutex
	names    map[string]bool
	replaces int
}

func (s *sink) Replace(items []runtime.Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replaces++
	s.names = map[string]bool{}
	for _, it := range items {
		s.names[it.(*corev1.ConfigMap).Name] = true
	}
}
func (s *sink) Set(o runtime.Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names[o.(*corev1.ConfigMap).Name] = true
}
func (s *sink) Delete(o runtime.Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.names, o.(*corev1.ConfigMap).Name)
}
func (s *sink) has(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.names[name]
}

func cm(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestFeed(t *testing.T) {
	st := &fakeStore{items: []corev1.ConfigMap{*cm("a")}, watchers: make(chan *watch.FakeWatcher, 1)}
	sk := &sink{}
	f := New(Options{Name: "configmaps", Store: st, Key: "/registry/configmaps/",
		NewList: func() runtime.Object { return &corev1.ConfigMapList{} }, Sink: sk})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx)
	<-f.Synced()
	if !sk.has("a") {
		t.Fatal("initial list not applied")
	}
	w := <-st.watchers
	w.Add(cm("b"))
	w.Delete(cm("a"))
	waitFor(t, "events", func() bool { return sk.has("b") && !sk.has("a") })

	// The watch ends: the feed lists again (state replaced) and re-watches.
	st.mu.Lock()
	st.items = []corev1.ConfigMap{*cm("c")}
	st.mu.Unlock()
	w.Stop()
	w = <-st.watchers
	waitFor(t, "relist", func() bool { return sk.has("c") && !sk.has("b") })
	st.mu.Lock()
	rvs := append([]string(nil), st.watchRVs...)
	st.mu.Unlock()
	if len(rvs) != 2 || rvs[0] != "10" || rvs[1] != "10" {
		t.Errorf("watches started at %v, want the list's resourceVersion", rvs)
	}
	w.Modify(cm("d"))
	waitFor(t, "event after restart", func() bool { return sk.has("d") })
}
