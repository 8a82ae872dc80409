package gopool

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLongRunning(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method, url string
		want        bool
	}{
		{"POST", "/api/v1/namespaces/a/configmaps", false},
		{"GET", "/api/v1/namespaces/a/configmaps/x", false},
		{"GET", "/api/v1/pods?watch=true&resourceVersion=5", true},
		{"GET", "/api/v1/watch/pods", true},
		{"GET", "/api/v1/namespaces/a/pods/p/log?follow=true", true},
		{"GET", "/api/v1/namespaces/a/pods/p/log", true},
		{"GET", "/api/v1/namespaces/a/configmaps/logger", false},
		{"GET", "/api/v1/namespaces/logs/configmaps/x", false},
		{"GET", "/api/v1/namespaces/logs/pods/p/log", true},
		{"GET", "/api/v1/namespaces/a/services/proxyish/proxy/", true},
		{"POST", "/api/v1/namespaces/a/pods/p/exec?command=sh", true},
		{"GET", "/api/v1/nodes/n/proxy/stats/summary", true},
		{"POST", "/api/v1/namespaces/a/pods/p/portforward", true},
		{"POST", "/api/v1/namespaces/a/pods/p/binding", false},
		{"PATCH", "/apis/apps/v1/namespaces/a/deployments/d/scale", false},
	} {
		r := httptest.NewRequest(tc.method, tc.url, nil)
		if got := longRunning(r); got != tc.want {
			t.Errorf("longRunning(%s %s) = %v, want %v", tc.method, tc.url, got, tc.want)
		}
	}
}

// newH2 serves h over TLS with HTTP/2 and returns a client for it.
func newH2(t *testing.T, h http.Handler) (*httptest.Server, *http.Client) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := srv.Client()
	return srv, c
}

func TestWrapServesOnWorkers(t *testing.T) {
	t.Parallel()
	p := New(Options{MaxWorkers: 4, IdleTimeout: time.Minute})
	var mu sync.Mutex
	protos := map[int]int{}
	srv, c := newH2(t, p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		protos[r.ProtoMajor]++
		mu.Unlock()
		io.WriteString(w, "ok")
	})))
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(srv.URL + "/api/v1/namespaces/a/configmaps/x")
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if string(b) != "ok" {
				t.Errorf("body %q", b)
			}
		}()
	}
	wg.Wait()
	if protos[2] != 40 {
		t.Fatalf("requests by HTTP major version: %v, want 40 over HTTP/2", protos)
	}
	if n := p.Workers(); n < 1 || n > 4 {
		t.Fatalf("workers = %d, want 1..4", n)
	}
}

func TestWrapHTTP1Direct(t *testing.T) {
	t.Parallel()
	p := New(Options{})
	srv := httptest.NewServer(p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if p.Workers() != 0 {
		t.Fatalf("HTTP/1.1 request used a worker: %d", p.Workers())
	}
}

func TestWrapPanicReachesNetHTTP(t *testing.T) {
	t.Parallel()
	p := New(Options{})
	srv, c := newH2(t, p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/abort") {
			panic(http.ErrAbortHandler)
		}
		io.WriteString(w, "ok")
	})))
	srv.Config.ErrorLog = nil
	if resp, err := c.Get(srv.URL + "/abort"); err == nil {
		resp.Body.Close()
		t.Fatalf("aborted request answered %s", resp.Status)
	}
	// The server and the pool survive and keep serving.
	resp, err := c.Get(srv.URL + "/fine")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %s", resp.Status)
	}
}

func TestIdleWorkersExit(t *testing.T) {
	t.Parallel()
	p := New(Options{IdleTimeout: 20 * time.Millisecond})
	srv, c := newH2(t, p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })))
	resp, err := c.Get(srv.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for p.Workers() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers still running after their idle timeout", p.Workers())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func BenchmarkWrapH2(b *testing.B) {
	for _, pooled := range []bool{false, true} {
		name := "direct"
		if pooled {
			name = "pooled"
		}
		b.Run(name, func(b *testing.B) {
			var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
			if pooled {
				h = New(Options{}).Wrap(h)
			}
			srv := httptest.NewUnstartedServer(h)
			srv.EnableHTTP2 = true
			srv.StartTLS()
			defer srv.Close()
			c := srv.Client()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := c.Get(srv.URL + "/x")
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}
