package integration

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/api/testenv"
)

func rv(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q: %v", s, err)
	}
	return n
}

func createNamespace(t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	if _, err := c.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// TestInformerSeesEveryWrite: an informer sees each of 1,000 concurrent
// creates exactly once, in revision order.
func TestInformerSeesEveryWrite(t *testing.T) {
	t.Parallel()
	env := testenv.StartAPIServer(t, testenv.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const ns, total, workers = "informer", 1000, 8
	createNamespace(t, env.Client, ns)

	var mu sync.Mutex
	var seen []int64
	factory := informers.NewSharedInformerFactoryWithOptions(env.Client, 0, informers.WithNamespace(ns))
	inf := factory.Core().V1().ConfigMaps().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, rv(t, obj.(*corev1.ConfigMap).ResourceVersion))
		},
	}); err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	defer func() { cancel(); factory.Shutdown() }()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync")
	}

	written := make(chan int64, total)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < total; i += workers {
				cm, err := env.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%04d", i)},
					Data:       map[string]string{"i": strconv.Itoa(i)},
				}, metav1.CreateOptions{})
				if err != nil {
					errs <- err
					return
				}
				n, _ := strconv.ParseInt(cm.ResourceVersion, 10, 64)
				written <- n
			}
		}(w)
	}
	wg.Wait()
	close(written)
	close(errs)
	for err := range errs {
		t.Fatalf("create: %v", err)
	}
	var want []int64
	for n := range written {
		want = append(want, n)
	}
	sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })

	if err := testenv.Poll(60*time.Second, func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) >= total, nil
	}); err != nil {
		mu.Lock()
		t.Fatalf("informer saw %d of %d creates: %v", len(seen), total, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != total {
		t.Fatalf("informer saw %d events, want %d", len(seen), total)
	}
	for i := range seen {
		if i > 0 && seen[i] <= seen[i-1] {
			t.Fatalf("event %d at revision %d after revision %d: not in revision order", i, seen[i], seen[i-1])
		}
		if seen[i] != want[i] {
			t.Fatalf("event %d has revision %d, the writes returned %d", i, seen[i], want[i])
		}
	}
}

// TestWatchResume: a watch resumed from the last resourceVersion seen gets
// exactly the events it missed, in order.
func TestWatchResume(t *testing.T) {
	t.Parallel()
	env := testenv.StartAPIServer(t, testenv.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const ns = "resume"
	createNamespace(t, env.Client, ns)
	c := env.Client.CoreV1().ConfigMaps(ns)
	list, err := c.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The revision of a delete is not returned to the client: for DELETED
	// events only the order and the name are checked (rv 0 in want).
	type ev struct {
		typ  watch.EventType
		name string
		rv   int64
	}
	var want []ev
	write := func(i int) {
		name := fmt.Sprintf("cm-%d", i%5)
		cm, err := c.Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			cm, err = c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
			if err == nil {
				want = append(want, ev{watch.Added, name, rv(t, cm.ResourceVersion)})
			}
		case err == nil && i%7 == 6:
			if err = c.Delete(ctx, name, metav1.DeleteOptions{}); err == nil {
				want = append(want, ev{watch.Deleted, name, 0})
			}
		case err == nil:
			cm.Data = map[string]string{"i": strconv.Itoa(i)}
			cm, err = c.Update(ctx, cm, metav1.UpdateOptions{})
			if err == nil {
				want = append(want, ev{watch.Modified, name, rv(t, cm.ResourceVersion)})
			}
		}
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	next := func(w watch.Interface) ev {
		t.Helper()
		select {
		case e, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch closed early")
			}
			if e.Type == watch.Error {
				t.Fatalf("watch error: %v", apierrors.FromObject(e.Object))
			}
			cm := e.Object.(*corev1.ConfigMap)
			return ev{e.Type, cm.Name, rv(t, cm.ResourceVersion)}
		case <-ctx.Done():
			t.Fatal("timed out waiting for a watch event")
		}
		return ev{}
	}
	w, err := c.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		write(i)
	}
	var got []ev
	for len(got) < 10 {
		got = append(got, next(w))
	}
	w.Stop()
	for i := 20; i < 60; i++ { // missed while disconnected
		write(i)
	}
	w, err = c.Watch(ctx, metav1.ListOptions{ResourceVersion: strconv.FormatInt(got[len(got)-1].rv, 10)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for len(got) < len(want) {
		got = append(got, next(w))
	}
	for i := range want {
		g, w := got[i], want[i]
		if w.rv == 0 {
			g.rv = 0
		}
		if g != w || (i > 0 && got[i].rv <= got[i-1].rv) {
			t.Fatalf("event %d: got %v, want %v\ngot  %v\nwant %v", i, got[i], want[i], got, want)
		}
	}
	select {
	case e := <-w.ResultChan():
		t.Fatalf("unexpected extra event %v", e.Type)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestCompactionGoneAndRelist: once history is compacted, a watch or a
// paged list from an old revision gets 410 Gone (Expired), and a fresh
// list+watch (what a reflector does) recovers.
func TestCompactionGoneAndRelist(t *testing.T) {
	t.Parallel()
	env := testenv.StartAPIServer(t, testenv.Options{ExtraArgs: []string{"--etcd-compaction-interval=1s", "--watch-cache-size=50"}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const ns = "compact"
	createNamespace(t, env.Client, ns)
	c := env.Client.CoreV1().ConfigMaps(ns)
	for i := 0; i < 5; i++ {
		if _, err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("old-%d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := c.List(ctx, metav1.ListOptions{Limit: 2})
	if err != nil || page.Continue == "" {
		t.Fatalf("first page: %v %v", page, err)
	}
	oldRV := page.ResourceVersion
	// Write past the watch cache window and wait for compaction to pass oldRV.
	i := 0
	err = testenv.Poll(60*time.Second, func() (bool, error) {
		for j := 0; j < 60; j++ {
			i++
			if _, err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("new-%d", i)}}, metav1.CreateOptions{}); err != nil {
				return false, err
			}
		}
		w, err := c.Watch(ctx, metav1.ListOptions{ResourceVersion: oldRV})
		if err != nil {
			return apierrors.IsResourceExpired(err) || apierrors.IsGone(err), nil
		}
		defer w.Stop()
		select {
		case e := <-w.ResultChan():
			if e.Type == watch.Error {
				st := apierrors.FromObject(e.Object)
				if apierrors.IsResourceExpired(st) || apierrors.IsGone(st) {
					return true, nil
				}
				return false, fmt.Errorf("unexpected watch error: %v", st)
			}
			return false, nil
		case <-time.After(2 * time.Second):
			return false, nil
		}
	})
	if err != nil {
		t.Fatalf("a watch from a compacted revision never got 410: %v", err)
	}
	// The watch cache window may have passed oldRV before etcd compacted it;
	// wait for the compactor too.
	var listErr error
	if err := testenv.Poll(30*time.Second, func() (bool, error) {
		_, listErr = c.List(ctx, metav1.ListOptions{Limit: 2, Continue: page.Continue})
		return apierrors.IsResourceExpired(listErr) || apierrors.IsGone(listErr), nil
	}); err != nil {
		t.Fatalf("continue token from a compacted revision: want 410, got %v", listErr)
	}
	// Relist and watch from the fresh revision: no error, new events arrive.
	list, err := c.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after-relist"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-w.ResultChan():
		if e.Type != watch.Added || e.Object.(*corev1.ConfigMap).Name != "after-relist" {
			t.Fatalf("after relist: got %v %v", e.Type, e.Object)
		}
	case <-ctx.Done():
		t.Fatal("no event after relist")
	}
	// An informer started now syncs and keeps working too.
	factory := informers.NewSharedInformerFactoryWithOptions(env.Client, 0, informers.WithNamespace(ns))
	inf := factory.Core().V1().ConfigMaps().Informer()
	factory.Start(ctx.Done())
	defer func() { cancel(); factory.Shutdown() }()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync after compaction")
	}
	if n := len(inf.GetStore().List()); n != len(list.Items)+1 {
		t.Fatalf("informer has %d objects, want %d", n, len(list.Items)+1)
	}
}

// TestWatchBookmarks: a watch that allows bookmarks receives BOOKMARK
// events carrying a current resourceVersion.
func TestWatchBookmarks(t *testing.T) {
	t.Parallel()
	env := testenv.StartAPIServer(t, testenv.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := env.Client.CoreV1().ConfigMaps("default")
	list, err := c.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion, AllowWatchBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	cm, err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "marked"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case e, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch closed before a bookmark")
			}
			if e.Type != watch.Bookmark {
				continue
			}
			got := e.Object.(*corev1.ConfigMap).ResourceVersion
			if rv(t, got) < rv(t, cm.ResourceVersion) {
				t.Fatalf("bookmark at %s, before the create at %s", got, cm.ResourceVersion)
			}
			return
		case <-ctx.Done():
			t.Fatal("no bookmark within 90s")
		}
	}
}
