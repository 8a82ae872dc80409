package storage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

func TestCreateGet(t *testing.T) {
	t.Parallel()
	s, p := newTestStore(t)
	ctx := testCtx(t)
	out := mustCreate(t, s, p+"ns/a", cm("ns", "a", nil, "k", "v"))
	if out.ResourceVersion == "" || out.Data["k"] != "v" {
		t.Fatalf("create out = %+v", out)
	}
	err := s.Create(ctx, p+"ns/a", cm("ns", "a", nil), &corev1.ConfigMap{})
	if !apierrors.IsAlreadyExists(err) {
		t.Fatalf("second create: got %v, want AlreadyExists", err)
	}
	if got := err.(*apierrors.StatusError).ErrStatus.Details.Name; got != "a" {
		t.Errorf("AlreadyExists names %q, want a", got)
	}

	for _, rv := range []string{"", "0", out.ResourceVersion} {
		t.Run("rv="+rv, func(t *testing.T) {
			got := &corev1.ConfigMap{}
			if err := s.Get(ctx, p+"ns/a", rv, got); err != nil {
				t.Fatal(err)
			}
			if got.ResourceVersion != out.ResourceVersion || got.Data["k"] != "v" {
				t.Fatalf("get = %+v, want rv %s", got, out.ResourceVersion)
			}
		})
	}
	err = s.Get(ctx, p+"ns/missing", "", &corev1.ConfigMap{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("get missing: %v", err)
	}
	err = s.Get(ctx, p+"ns/a", "abc", &corev1.ConfigMap{})
	if !apierrors.IsBadRequest(err) {
		t.Fatalf("get bad rv: %v", err)
	}
}

func TestGuaranteedUpdate(t *testing.T) {
	t.Parallel()
	s, p := newTestStore(t)
	ctx := testCtx(t)
	key := p + "ns/a"
	orig := mustCreate(t, s, key, cm("ns", "a", nil, "k", "v1"))
	wrongUID := types.UID("nope")
	staleRV := "1"

	tests := []struct {
		name     string
		key      string
		ignoreNF bool
		pre      *Preconditions
		update   func(cur *corev1.ConfigMap) (*corev1.ConfigMap, error)
		wantErr  func(error) bool
		wantData string
		sameRV   bool
	}{
		{name: "plain", key: key, update: func(c *corev1.ConfigMap) (*corev1.ConfigMap, error) {
			c.Data["k"] = "v2"
			return c, nil
		}, wantData: "v2"},
		{name: "no-op keeps resourceVersion", key: key, update: func(c *corev1.ConfigMap) (*corev1.ConfigMap, error) {
			return c, nil
		}, wantData: "v2", sameRV: true},
		{name: "stale resourceVersion conflicts", key: key, update: func(c *corev1.ConfigMap) (*corev1.ConfigMap, error) {
			c.ResourceVersion = orig.ResourceVersion
			c.Data["k"] = "v3"
			return c, nil
		}, wantErr: apierrors.IsConflict},
		{name: "uid precondition", key: key, pre: &Preconditions{UID: &wrongUID}, update: func(c *corev1.ConfigMap) (*corev1.ConfigMap, error) {
			return c, nil
		}, wantErr: apierrors.IsConflict},
		{name: "rv precondition", key: key, pre: &Preconditions{ResourceVersion: &staleRV}, update: func(c *corev1.ConfigMap) (*corev1.ConfigMap, error) {
			return c, nil
		}, wantErr: apierrors.IsConflict},
		{name: "update func error", key: key, update: func(c *corev1.ConfigMap) (*corev1.ConfigMap, error) {
			return nil, apierrors.NewBadRequest("nope")
		}, wantErr: apierrors.IsBadRequest},
		{name: "missing", key: p + "ns/missing", update: func(c *corev1.ConfigMap) (*corev1.ConfigMap, error) {
			return c, nil
		}, wantErr: apierrors.IsNotFound},
		{name: "create on update", key: p + "ns/new", ignoreNF: true, update: func(c *corev1.ConfigMap) (*corev1.ConfigMap, error) {
			if c.Name != "" {
				return nil, errors.New("expected empty object")
			}
			n := cm("ns", "new", nil, "k", "created")
			return n, nil
		}, wantData: "created"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := &corev1.ConfigMap{}
			_ = s.Get(ctx, tc.key, "", before)
			out := &corev1.ConfigMap{}
			err := s.GuaranteedUpdate(ctx, tc.key, out, tc.ignoreNF, tc.pre, func(cur runtime.Object) (runtime.Object, error) {
				u, err := tc.update(cur.(*corev1.ConfigMap))
				if u == nil {
					return nil, err
				}
				return u, err
			})
			if tc.wantErr != nil {
				if !tc.wantErr(err) {
					t.Fatalf("got err %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.Data["k"] != tc.wantData {
				t.Errorf("data = %v, want %s", out.Data, tc.wantData)
			}
			if tc.sameRV != (out.ResourceVersion == before.ResourceVersion) {
				t.Errorf("rv before %s after %s, same wanted=%v", before.ResourceVersion, out.ResourceVersion, tc.sameRV)
			}
			got := &corev1.ConfigMap{}
			if err := s.Get(ctx, tc.key, "", got); err != nil || got.ResourceVersion != out.ResourceVersion {
				t.Errorf("get after update: %v rv %s want %s", err, got.ResourceVersion, out.ResourceVersion)
			}
		})
	}
}

// TestGuaranteedUpdateRaces runs concurrent increments: none may be lost.
func TestGuaranteedUpdateRaces(t *testing.T) {
	t.Parallel()
	s, p := newTestStore(t)
	ctx := testCtx(t)
	key := p + "ns/counter"
	mustCreate(t, s, key, cm("ns", "counter", nil, "n", "0"))
	const workers, each = 4, 10
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func() {
			for i := 0; i < each; i++ {
				err := s.GuaranteedUpdate(ctx, key, &corev1.ConfigMap{}, false, nil, func(cur runtime.Object) (runtime.Object, error) {
					c := cur.(*corev1.ConfigMap)
					n, _ := strconv.Atoi(c.Data["n"])
					c.Data["n"] = strconv.Itoa(n + 1)
					return c, nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got := &corev1.ConfigMap{}
	if err := s.Get(ctx, key, "", got); err != nil {
		t.Fatal(err)
	}
	if got.Data["n"] != strconv.Itoa(workers*each) {
		t.Fatalf("n = %s, want %d", got.Data["n"], workers*each)
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	s, p := newTestStore(t)
	ctx := testCtx(t)
	wrongUID := types.UID("nope")
	tests := []struct {
		name     string
		pre      func(cur *corev1.ConfigMap) *Preconditions
		validate ValidateDeletionFunc
		missing  bool
		wantErr  func(error) bool
	}{
		{name: "plain"},
		{name: "matching preconditions", pre: func(c *corev1.ConfigMap) *Preconditions {
			return &Preconditions{UID: &c.UID, ResourceVersion: &c.ResourceVersion}
		}},
		{name: "wrong uid", pre: func(*corev1.ConfigMap) *Preconditions { return &Preconditions{UID: &wrongUID} }, wantErr: apierrors.IsConflict},
		{name: "stale rv", pre: func(*corev1.ConfigMap) *Preconditions { rv := "1"; return &Preconditions{ResourceVersion: &rv} }, wantErr: apierrors.IsConflict},
		{name: "vetoed", validate: func(context.Context, runtime.Object) error {
			return apierrors.NewForbidden(s.cfg.GroupResource, "x", errors.New("no"))
		}, wantErr: apierrors.IsForbidden},
		{name: "missing", missing: true, wantErr: apierrors.IsNotFound},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("d%d", i)
			key := p + "ns/" + name
			var created *corev1.ConfigMap
			if !tc.missing {
				created = mustCreate(t, s, key, cm("ns", name, nil))
			}
			var pre *Preconditions
			if tc.pre != nil {
				pre = tc.pre(created)
			}
			out := &corev1.ConfigMap{}
			err := s.Delete(ctx, key, out, pre, tc.validate)
			if tc.wantErr != nil {
				if !tc.wantErr(err) {
					t.Fatalf("got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.Name != name || out.ResourceVersion == created.ResourceVersion {
				t.Errorf("deleted object %s rv %s (created rv %s)", out.Name, out.ResourceVersion, created.ResourceVersion)
			}
			if err := s.Get(ctx, key, "", &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
				t.Errorf("get after delete: %v", err)
			}
		})
	}
}

func TestErrorsAreStatus(t *testing.T) {
	t.Parallel()
	s, p := newTestStore(t)
	ctx := testCtx(t)
	mustCreate(t, s, p+"ns/a", cm("ns", "a", nil))
	stale := "1"
	tests := []struct {
		name string
		err  error
		code int32
		msg  string
	}{
		{"not found", s.Get(ctx, p+"ns/x", "", &corev1.ConfigMap{}), http.StatusNotFound, `configmaps "x" not found`},
		{"exists", s.Create(ctx, p+"ns/a", cm("ns", "a", nil), &corev1.ConfigMap{}), http.StatusConflict, `configmaps "a" already exists`},
		{"conflict", s.Delete(ctx, p+"ns/a", &corev1.ConfigMap{}, &Preconditions{ResourceVersion: &stale}, nil), http.StatusConflict,
			`Operation cannot be fulfilled on configmaps "a": Precondition failed: ResourceVersion in precondition: 1, ResourceVersion in object meta: `},
		{"outside prefix", s.Get(ctx, "/elsewhere/x", "", &corev1.ConfigMap{}), http.StatusInternalServerError, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var se *apierrors.StatusError
			if !errors.As(tc.err, &se) {
				t.Fatalf("%T %v is not a StatusError", tc.err, tc.err)
			}
			if se.ErrStatus.Code != tc.code {
				t.Errorf("code %d, want %d", se.ErrStatus.Code, tc.code)
			}
			if tc.msg != "" && len(se.ErrStatus.Message) < len(tc.msg) || se.ErrStatus.Message[:len(tc.msg)] != tc.msg {
				t.Errorf("message %q, want prefix %q", se.ErrStatus.Message, tc.msg)
			}
		})
	}
}

func TestCount(t *testing.T) {
	t.Parallel()
	s, p := newTestStore(t)
	for i := 0; i < 5; i++ {
		ns := "a"
		if i%2 == 1 {
			ns = "b"
		}
		mustCreate(t, s, fmt.Sprintf("%s%s/c%d", p, ns, i), cm(ns, fmt.Sprintf("c%d", i), nil))
	}
	for key, want := range map[string]int64{p: 5, p + "a": 3, p + "b/": 2, p + "c": 0} {
		n, err := s.Count(testCtx(t), key)
		if err != nil || n != want {
			t.Errorf("count %s = %d, %v; want %d", key, n, err, want)
		}
	}
}

func TestTooLargeObject(t *testing.T) {
	t.Parallel()
	s, p := newTestStore(t)
	big := cm("ns", "big", nil, "k", strings.Repeat("x", 5<<20))
	err := s.Create(testCtx(t), p+"ns/big", big, &corev1.ConfigMap{})
	var se *apierrors.StatusError
	if !errors.As(err, &se) || se.ErrStatus.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("create 5 MiB object: %v", err)
	}
}

func TestStopClosesWatchers(t *testing.T) {
	t.Parallel()
	s, p := newTestStore(t)
	w, err := s.Watch(testCtx(t), p, ListOptions{Recursive: true, ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	s.Stop()
	select {
	case _, ok := <-w.ResultChan():
		if ok {
			t.Fatal("event after Stop")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watcher not closed by Stop")
	}
	if _, err := s.Watch(testCtx(t), p, ListOptions{Recursive: true, ResourceVersion: "0"}); !apierrors.IsServiceUnavailable(err) {
		t.Fatalf("watch after Stop: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	s, p := newTestStore(t)
	ctx := testCtx(t)
	l := &corev1.ConfigMapList{}
	if err := s.List(ctx, p, ListOptions{Recursive: true, Predicate: Predicate{Limit: 1}}, l); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  error
	}{
		{"watch bad rv", func() error {
			_, err := s.Watch(ctx, p, ListOptions{Recursive: true, ResourceVersion: "-3"})
			return err
		}()},
		{"continue with rv", s.List(ctx, p, ListOptions{Recursive: true, ResourceVersion: "5", Predicate: Predicate{Continue: "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6NSwic3RhcnQiOiJhIn0"}}, l)},
		{"continue escaping prefix", s.List(ctx, p, ListOptions{Recursive: true, Predicate: Predicate{Continue: mustToken(t, "../../secrets/x")}}, l)},
		{"exact without rv", s.List(ctx, p, ListOptions{Recursive: true, ResourceVersionMatch: "Exact"}, l)},
		{"negative limit", s.List(ctx, p, ListOptions{Recursive: true, Predicate: Predicate{Limit: -1}}, l)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !apierrors.IsBadRequest(tc.err) {
				t.Fatalf("got %v, want 400", tc.err)
			}
		})
	}
}

func mustToken(t *testing.T, start string) string {
	t.Helper()
	b, err := json.Marshal(continueToken{APIVersion: continueVersion, ResourceVersion: 5, StartKey: start})
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestLeaseReuse(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	l := newLeases(shared.client, 100*time.Second)
	id1, err := l.get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := l.get(ctx)
	if err != nil || id2 != id1 {
		t.Fatalf("second write got lease %x (%v), want reuse of %x", id2, err, id1)
	}
	ttl, err := shared.client.TimeToLive(ctx, id1)
	if err != nil || ttl.GrantedTTL != 110 {
		t.Fatalf("lease granted for %d s (%v), want 110", ttl.GrantedTTL, err)
	}
	l.expires = time.Now().Add(99 * time.Second) // the window has passed
	if id3, err := l.get(ctx); err != nil || id3 == id1 {
		t.Fatalf("after the window got %x (%v), want a new lease", id3, err)
	}
}

// TestUndecodableObject: garbage written under the prefix by something
// else is skipped by the cache and reported as a 500 on direct reads.
func TestUndecodableObject(t *testing.T) {
	t.Parallel()
	s, p := newTestStore(t)
	ctx := testCtx(t)
	mustCreate(t, s, p+"ns/good", cm("ns", "good", nil))
	if _, err := shared.client.Put(ctx, p+"ns/bad", "{not json"); err != nil {
		t.Fatal(err)
	}
	l := &corev1.ConfigMapList{}
	if err := s.List(ctx, p, ListOptions{Recursive: true}, l); err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 1 || l.Items[0].Name != "good" {
		t.Fatalf("cache list = %v", names(l))
	}
	err := s.Get(ctx, p+"ns/bad", "", &corev1.ConfigMap{})
	if !apierrors.IsInternalError(err) {
		t.Fatalf("get undecodable: %v", err)
	}
	// The object can still be deleted... via etcd directly; the store's
	// Delete reads it first and reports the same error.
	if err := s.Delete(ctx, p+"ns/bad", &corev1.ConfigMap{}, nil, nil); !apierrors.IsInternalError(err) {
		t.Fatalf("delete undecodable: %v", err)
	}
}

// TestWritePaths runs creates and updates through both ways of sending
// them to etcd: direct KV requests (Config.KV, as the apiserver does with
// its embedded etcd) and the etcd client (external etcd).
func TestWritePaths(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opt  storeOpt
	}{
		{"direct KV", func(c *Config) { c.TTL = time.Hour }},
		{"client", func(c *Config) { c.TTL, c.KV = time.Hour, nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, p := newTestStore(t, tc.opt)
			ctx := testCtx(t)
			key := p + "ns/a"
			out := mustCreate(t, s, key, cm("ns", "a", nil, "k", "v1"))
			if err := s.Create(ctx, key, cm("ns", "a", nil), &corev1.ConfigMap{}); !apierrors.IsAlreadyExists(err) {
				t.Fatalf("second create: got %v, want AlreadyExists", err)
			}
			resp, err := shared.client.Get(ctx, key)
			if err != nil || len(resp.Kvs) != 1 {
				t.Fatalf("etcd get: %v %v", resp, err)
			}
			if kv := resp.Kvs[0]; strconv.FormatInt(kv.ModRevision, 10) != out.ResourceVersion || kv.Lease == 0 {
				t.Fatalf("stored at revision %d with lease %x; want revision %s and a lease", kv.ModRevision, kv.Lease, out.ResourceVersion)
			}

			// A write behind the store's back: the update's compare
			// fails, and it retries on the state etcd returns.
			if _, err := shared.client.Put(ctx, key, string(resp.Kvs[0].Value)); err != nil {
				t.Fatal(err)
			}
			calls := 0
			upd := &corev1.ConfigMap{}
			err = s.GuaranteedUpdate(ctx, key, upd, false, nil, func(cur runtime.Object) (runtime.Object, error) {
				calls++
				c := cur.(*corev1.ConfigMap)
				c.Data["k"] = "v2"
				return c, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			got := &corev1.ConfigMap{}
			if err := s.Get(ctx, key, "", got); err != nil || got.ResourceVersion != upd.ResourceVersion || got.Data["k"] != "v2" {
				t.Fatalf("get after update = %v (%v), want rv %s and k=v2", got, err, upd.ResourceVersion)
			}
			if calls < 1 {
				t.Fatal("update function not called")
			}

			big := cm("ns", "big", nil, "k", strings.Repeat("x", 5<<20))
			err = s.Create(ctx, p+"ns/big", big, &corev1.ConfigMap{})
			var se *apierrors.StatusError
			if !errors.As(err, &se) || se.ErrStatus.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("create 5 MiB object: %v", err)
			}
		})
	}
}

// TestCreateInPlace: out may be the object created.
func TestCreateInPlace(t *testing.T) {
	t.Parallel()
	s, p := newTestStore(t)
	obj := cm("ns", "a", nil, "k", "v")
	if err := s.Create(testCtx(t), p+"ns/a", obj, obj); err != nil {
		t.Fatal(err)
	}
	got := &corev1.ConfigMap{}
	if err := s.Get(testCtx(t), p+"ns/a", "", got); err != nil || obj.ResourceVersion == "" || got.ResourceVersion != obj.ResourceVersion {
		t.Fatalf("created rv %q, stored %q (%v)", obj.ResourceVersion, got.ResourceVersion, err)
	}
}

// TestPeek: Peek answers as Get with resourceVersion "0", from the watch
// cache without a copy, or from etcd for an object the cache has not seen.
func TestPeek(t *testing.T) {
	t.Parallel()
	s, p := newTestStore(t)
	ctx := testCtx(t)
	out := mustCreate(t, s, p+"ns/a", cm("ns", "a", nil, "k", "v"))
	if _, err := s.Peek(ctx, p+"ns/missing"); !apierrors.IsNotFound(err) {
		t.Fatalf("peek missing: %v, want NotFound", err)
	}
	if _, err := s.Peek(ctx, "/elsewhere/a"); err == nil {
		t.Fatal("peek outside the prefix: no error")
	}
	obj, err := s.Peek(ctx, p+"ns/a")
	if err != nil {
		t.Fatal(err)
	}
	if c := obj.(*corev1.ConfigMap); c.ResourceVersion != out.ResourceVersion || c.Data["k"] != "v" {
		t.Fatalf("peek = %+v, want rv %s", c, out.ResourceVersion)
	}
	if err := s.cache.waitFresh(ctx, mustRV(t, out.ResourceVersion)); err != nil {
		t.Fatal(err)
	}
	again, err := s.Peek(ctx, p+"ns/a")
	if err != nil {
		t.Fatal(err)
	}
	if again != s.cache.get(p+"ns/a").obj {
		t.Error("peek of a cached object made a copy")
	}
}

func mustRV(t testing.TB, rv string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
