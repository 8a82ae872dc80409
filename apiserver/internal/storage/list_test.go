package storage

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

func names(l *corev1.ConfigMapList) []string {
	out := make([]string, len(l.Items))
	for i, it := range l.Items {
		out[i] = it.Namespace + "/" + it.Name
	}
	return out
}

func TestListSelectorsAndRV(t *testing.T) {
	t.Parallel()
	s, p := newTestStore(t)
	ctx := testCtx(t)
	var last *corev1.ConfigMap
	for i := 0; i < 6; i++ {
		ns := []string{"a", "b"}[i%2]
		tier := []string{"web", "db", "cache"}[i%3]
		last = mustCreate(t, s, fmt.Sprintf("%s%s/c%d", p, ns, i), cm(ns, fmt.Sprintf("c%d", i), map[string]string{"tier": tier}))
	}
	lastRV, _ := strconv.ParseInt(last.ResourceVersion, 10, 64)
	sel := func(s string) labels.Selector {
		l, err := labels.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	tests := []struct {
		name    string
		key     string
		opts    ListOptions
		want    []string
		wantErr func(error) bool
		store   *Store
	}{
		{name: "all consistent", key: p, opts: ListOptions{Recursive: true}, want: []string{"a/c0", "a/c2", "a/c4", "b/c1", "b/c3", "b/c5"}},
		{name: "namespace", key: p + "b", opts: ListOptions{Recursive: true}, want: []string{"b/c1", "b/c3", "b/c5"}},
		{name: "single key", key: p + "a/c2", want: []string{"a/c2"}},
		{name: "label", key: p, opts: ListOptions{Recursive: true, Predicate: Predicate{Label: sel("tier=web")}}, want: []string{"a/c0", "b/c3"}},
		{name: "label set-based", key: p, opts: ListOptions{Recursive: true, Predicate: Predicate{Label: sel("tier in (db,cache),tier!=db")}}, want: []string{"a/c2", "b/c5"}},
		{name: "field", key: p, opts: ListOptions{Recursive: true, Predicate: Predicate{Field: fields.OneTermEqualSelector("metadata.name", "c4")}}, want: []string{"a/c4"}},
		{name: "rv=0 from cache", key: p + "a/", opts: ListOptions{Recursive: true, ResourceVersion: "0"}, want: []string{"a/c0", "a/c2", "a/c4"}},
		{name: "not older than", key: p + "a/", opts: ListOptions{Recursive: true, ResourceVersion: last.ResourceVersion, ResourceVersionMatch: "NotOlderThan"}, want: []string{"a/c0", "a/c2", "a/c4"}},
		{name: "exact past", key: p, opts: ListOptions{Recursive: true, ResourceVersion: strconv.FormatInt(lastRV-1, 10), ResourceVersionMatch: "Exact"}, want: []string{"a/c0", "a/c2", "a/c4", "b/c1", "b/c3"}},
		{name: "too new", key: p, opts: ListOptions{Recursive: true, ResourceVersion: strconv.FormatInt(lastRV+1000000, 10)}, wantErr: isTooLarge, store: impatient(t, s)},
		{name: "bad match", key: p, opts: ListOptions{Recursive: true, ResourceVersion: "1", ResourceVersionMatch: "Sometimes"}, wantErr: apierrors.IsBadRequest},
		{name: "bad rv", key: p, opts: ListOptions{Recursive: true, ResourceVersion: "x"}, wantErr: apierrors.IsBadRequest},
		{name: "bad continue", key: p, opts: ListOptions{Recursive: true, Predicate: Predicate{Continue: "!!"}}, wantErr: apierrors.IsBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := s
			if tc.store != nil {
				st = tc.store
			}
			l := &corev1.ConfigMapList{}
			err := st.List(ctx, tc.key, tc.opts, l)
			if tc.wantErr != nil {
				if !tc.wantErr(err) {
					t.Fatalf("got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(names(l)) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v", names(l), tc.want)
			}
			rv, _ := strconv.ParseInt(l.ResourceVersion, 10, 64)
			if tc.opts.ResourceVersionMatch != "Exact" && rv < lastRV {
				t.Errorf("list rv %d older than last write %d", rv, lastRV)
			}
			for _, it := range l.Items {
				if it.ResourceVersion == "" {
					t.Errorf("item %s without resourceVersion", it.Name)
				}
			}
		})
	}
}

func isTooLarge(err error) bool {
	var se *apierrors.StatusError
	return errors.As(err, &se) && se.ErrStatus.Code == http.StatusGatewayTimeout &&
		len(se.ErrStatus.Details.Causes) == 1 && se.ErrStatus.Details.Causes[0].Type == "ResourceVersionTooLarge"
}

// TestListPagingConsistent pages through a list while writers change it:
// every page must be from the first page's revision.
func TestListPagingConsistent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		rv   string
		sel  string
	}{
		{name: "consistent", rv: ""},
		{name: "from cache", rv: "0"},
		{name: "with selector", rv: "", sel: "even=true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, p := newTestStore(t)
			ctx := testCtx(t)
			const n = 50
			for i := 0; i < n; i++ {
				mustCreate(t, s, fmt.Sprintf("%sns/c%03d", p, i), cm("ns", fmt.Sprintf("c%03d", i), map[string]string{"even": strconv.FormatBool(i%2 == 0)}))
			}
			// Writers churn the prefix while we page.
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					_ = s.Create(ctx, fmt.Sprintf("%sns/new%04d", p, i), cm("ns", fmt.Sprintf("new%04d", i), map[string]string{"even": "true"}), &corev1.ConfigMap{})
					_ = s.Delete(ctx, fmt.Sprintf("%sns/c%03d", p, i%n), &corev1.ConfigMap{}, nil, nil)
					time.Sleep(time.Millisecond)
				}
			}()
			defer func() { close(stop); wg.Wait() }()

			var pred Predicate
			want := n
			if tc.sel != "" {
				pred.Label = labels.SelectorFromSet(labels.Set{"even": "true"})
				want = n / 2
			}
			pred.Limit = 7
			opts := ListOptions{Recursive: true, ResourceVersion: tc.rv, Predicate: pred}
			var all []string
			var rv string
			for page := 0; ; page++ {
				l := &corev1.ConfigMapList{}
				if err := s.List(ctx, p, opts, l); err != nil {
					t.Fatalf("page %d: %v", page, err)
				}
				if page == 0 {
					rv = l.ResourceVersion
				} else if l.ResourceVersion != rv {
					t.Fatalf("page %d at rv %s, first page at %s", page, l.ResourceVersion, rv)
				}
				if len(l.Items) > 7 {
					t.Fatalf("page has %d items", len(l.Items))
				}
				all = append(all, names(l)...)
				if l.Continue == "" {
					break
				}
				if tc.sel == "" && (l.RemainingItemCount == nil || *l.RemainingItemCount <= 0) {
					t.Errorf("page %d: remainingItemCount %v", page, l.RemainingItemCount)
				}
				opts.ResourceVersion = ""
				opts.Predicate.Continue = l.Continue
			}
			// The union of pages must equal a list at that exact revision.
			exact := &corev1.ConfigMapList{}
			if err := s.List(ctx, p, ListOptions{Recursive: true, ResourceVersion: rv, ResourceVersionMatch: "Exact", Predicate: Predicate{Label: pred.Label}}, exact); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(all) != fmt.Sprint(names(exact)) {
				t.Fatalf("pages %v\nexact %v", all, names(exact))
			}
			if tc.rv == "" && len(all) < want {
				t.Fatalf("only %d items", len(all))
			}
		})
	}
}

// TestListAfterCompaction compacts the shared etcd, so it does not run in
// parallel with tests that read old revisions.
func TestListAfterCompaction(t *testing.T) {
	s, p := newTestStore(t)
	ctx := testCtx(t)
	for i := 0; i < 5; i++ {
		mustCreate(t, s, fmt.Sprintf("%sns/c%d", p, i), cm("ns", fmt.Sprintf("c%d", i), nil))
	}
	l := &corev1.ConfigMapList{}
	if err := s.List(ctx, p, ListOptions{Recursive: true, Predicate: Predicate{Limit: 2}}, l); err != nil {
		t.Fatal(err)
	}
	first, _ := strconv.ParseInt(l.ResourceVersion, 10, 64)
	// Move past the page's revision, then compact to it.
	last := mustCreate(t, s, p+"ns/later", cm("ns", "later", nil))
	lastRV, _ := strconv.ParseInt(last.ResourceVersion, 10, 64)
	if _, err := shared.client.Compact(ctx, lastRV); err != nil {
		t.Fatal(err)
	}
	err := s.List(ctx, p, ListOptions{Recursive: true, Predicate: Predicate{Limit: 2, Continue: l.Continue}}, &corev1.ConfigMapList{})
	var se *apierrors.StatusError
	if !errors.As(err, &se) || !apierrors.IsResourceExpired(err) || se.ErrStatus.ListMeta.Continue == "" {
		t.Fatalf("continue after compaction: %v", err)
	}
	// The inconsistent-continue token resumes after the page at the latest revision.
	l2 := &corev1.ConfigMapList{}
	if err := s.List(ctx, p, ListOptions{Recursive: true, Predicate: Predicate{Continue: se.ErrStatus.ListMeta.Continue}}, l2); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(names(l2)); got != "[ns/c2 ns/c3 ns/c4 ns/later]" {
		t.Fatalf("inconsistent continue = %s", got)
	}
	err = s.List(ctx, p, ListOptions{Recursive: true, ResourceVersion: strconv.FormatInt(first, 10), ResourceVersionMatch: "Exact"}, &corev1.ConfigMapList{})
	if !apierrors.IsResourceExpired(err) {
		t.Fatalf("exact list at compacted rv: %v", err)
	}
}

// TestConsistentReadFromCache writes straight to etcd (as another
// apiserver would) and expects an immediate consistent list to see it,
// even though it is served from the watch cache.
func TestConsistentReadFromCache(t *testing.T) {
	t.Parallel()
	s, p := newTestStore(t)
	ctx := testCtx(t)
	for i := 0; i < 20; i++ {
		data, err := encode(cm("ns", fmt.Sprintf("c%02d", i), nil))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := shared.client.Put(ctx, fmt.Sprintf("%sns/c%02d", p, i), string(data))
		if err != nil {
			t.Fatal(err)
		}
		l := &corev1.ConfigMapList{}
		if err := s.List(ctx, p, ListOptions{Recursive: true}, l); err != nil {
			t.Fatal(err)
		}
		if len(l.Items) != i+1 {
			t.Fatalf("after write %d: list has %d items", i, len(l.Items))
		}
		if rv, _ := strconv.ParseInt(l.ResourceVersion, 10, 64); rv < resp.Header.Revision {
			t.Fatalf("list rv %d < write rv %d", rv, resp.Header.Revision)
		}
	}
	// Writes elsewhere advance etcd's revision; a consistent list still
	// reports a revision at least as new (the cache learns it via progress
	// notifications, not events).
	resp, err := shared.client.Put(ctx, "/elsewhere/"+p, "x")
	if err != nil {
		t.Fatal(err)
	}
	l := &corev1.ConfigMapList{}
	if err := s.List(ctx, p, ListOptions{Recursive: true}, l); err != nil {
		t.Fatal(err)
	}
	if rv, _ := strconv.ParseInt(l.ResourceVersion, 10, 64); rv < resp.Header.Revision {
		t.Fatalf("list rv %d < etcd revision %d", rv, resp.Header.Revision)
	}
}
