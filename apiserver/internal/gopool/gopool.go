// Package gopool runs short HTTP/2 requests on reused goroutines.
//
// net/http starts a fresh goroutine for every HTTP/2 stream. A fresh
// goroutine starts with a small stack, and an apiserver request (filters,
// routing, decoding, validation, storage encoding) is deep enough that the
// runtime grows and copies that stack several times per request: about 8 %
// of the apiserver's CPU in a create benchmark. HTTP/1.1 does not pay this,
// because one goroutine serves every request of a connection and keeps its
// grown stack. The pool gives HTTP/2 requests the same property by handing
// them to long-lived workers, the way grpc-go's NumStreamWorkers does for
// gRPC streams.
package gopool

import (
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Options configure a Pool.
type Options struct {
	// MaxWorkers bounds the pooled goroutines; requests beyond it run on
	// their own goroutine as before. Default 128.
	MaxWorkers int
	// IdleTimeout ends a worker that got no request for this long.
	// Default 30 s.
	IdleTimeout time.Duration
}

// Pool hands requests to reusable worker goroutines.
type Pool struct {
	jobs    chan *job
	workers atomic.Int64
	max     int64
	idle    time.Duration
}

type job struct {
	h     http.Handler
	w     http.ResponseWriter
	r     *http.Request
	done  chan struct{}
	panic any
}

// New returns a Pool with opts applied.
func New(opts Options) *Pool {
	if opts.MaxWorkers <= 0 {
		opts.MaxWorkers = 128
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 30 * time.Second
	}
	return &Pool{jobs: make(chan *job), max: int64(opts.MaxWorkers), idle: opts.IdleTimeout}
}

// Wrap returns a handler that serves short HTTP/2 requests of next on a
// pooled goroutine and everything else (HTTP/1.x, watches, streams)
// directly. The calling goroutine waits for the worker, so the
// ResponseWriter is never used after ServeHTTP returns, and a panic in
// next is re-raised on the calling goroutine, where net/http handles it.
func (p *Pool) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 || longRunning(r) {
			next.ServeHTTP(w, r)
			return
		}
		j := &job{h: next, w: w, r: r, done: make(chan struct{})}
		if !p.dispatch(j) {
			next.ServeHTTP(w, r)
			return
		}
		<-j.done
		if j.panic != nil {
			panic(j.panic)
		}
	})
}

// Workers reports the number of pooled goroutines.
func (p *Pool) Workers() int { return int(p.workers.Load()) }

// dispatch gives j to an idle worker or a new one; false when the pool is
// full and every worker is busy.
func (p *Pool) dispatch(j *job) bool {
	select {
	case p.jobs <- j:
		return true
	default:
	}
	if p.workers.Add(1) > p.max {
		p.workers.Add(-1)
		return false
	}
	go p.work(j)
	return true
}

func (p *Pool) work(j *job) {
	defer p.workers.Add(-1)
	run(j)
	t := time.NewTimer(p.idle)
	defer t.Stop()
	for {
		select {
		case j := <-p.jobs:
			run(j)
			t.Reset(p.idle)
		case <-t.C:
			return
		}
	}
}

func run(j *job) {
	defer close(j.done)
	defer func() { j.panic = recover() }()
	j.h.ServeHTTP(j.w, j.r)
}

// longRunning reports requests that may stay open for long: watches,
// streaming subresources and proxies. They would pin a worker (harmless,
// but it holds a grown stack) and gain nothing from one.
func longRunning(r *http.Request) bool {
	if r.Method == http.MethodGet {
		q := r.URL.RawQuery
		if strings.Contains(q, "watch=") || strings.Contains(q, "follow=") || strings.Contains(r.URL.Path, "/watch/") {
			return true
		}
	}
	p := r.URL.Path
	for _, s := range [...]string{"/exec", "/attach", "/portforward", "/log", "/proxy"} {
		if hasSegment(p, s) {
			return true
		}
	}
	return false
}

// hasSegment reports whether s (a "/" and a name) occurs in path followed
// by "/" or at its end.
func hasSegment(path, s string) bool {
	for {
		i := strings.Index(path, s)
		if i < 0 {
			return false
		}
		path = path[i+len(s):]
		if path == "" || path[0] == '/' {
			return true
		}
	}
}
