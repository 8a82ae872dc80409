// Package failover spreads one client-go *rest.Config over several
// apiserver endpoints of the same cluster. Requests go to one endpoint at a
// time (sticky, so a client's watches and writes share one server); when a
// connection to it fails the endpoint is put on a cooldown and the next one
// takes over. The endpoints must share the serving CA, the names in their
// serving certificates and the credentials the config carries, as the
// apiservers of one skiff cluster do.
//
// What is retried on the next endpoint within a single call:
//   - any request whose connection could not be opened (the request was
//     never sent), provided its body can be replayed (http.Request.GetBody);
//   - GET, HEAD and OPTIONS requests whose connection broke before a
//     response arrived.
//
// Other requests that lose their connection mid-flight fail with the
// original error, because the server may have applied them; the caller
// decides (a create that is retried sees 409 AlreadyExists if it had
// landed). Watches are long GETs: when their server dies the stream ends,
// and the client's next watch (an informer's or a RetryWatcher's, from its
// last resourceVersion) goes to the next endpoint.
package failover

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
)

// Options configures a set of endpoints.
type Options struct {
	// Endpoints are the apiserver base URLs, e.g. https://127.0.0.1:6443,
	// in order of preference. At least one; all with the same scheme.
	Endpoints []string
	// Cooldown is how long an endpoint that failed is passed over while
	// another is untried or past its own cooldown (default 5s).
	Cooldown time.Duration
	// Logger receives a message whenever the active endpoint changes
	// (default: discard).
	Logger *slog.Logger
}

// Validate checks the options and fills defaults.
func (o *Options) Validate() error {
	if len(o.Endpoints) == 0 {
		return errors.New("failover: no endpoints")
	}
	var scheme string
	for _, e := range o.Endpoints {
		u, err := url.Parse(e)
		if err != nil {
			return fmt.Errorf("failover: endpoint %q: %w", e, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("failover: endpoint %q: want http(s)://host:port", e)
		}
		if scheme != "" && u.Scheme != scheme {
			return fmt.Errorf("failover: endpoint %q: every endpoint must use %s", e, scheme)
		}
		scheme = u.Scheme
	}
	if o.Cooldown <= 0 {
		o.Cooldown = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Endpoints is a set of apiserver endpoints with one active at a time. It
// is safe for concurrent use; one Endpoints may back many configs.
type Endpoints struct {
	opts  Options
	hosts []string // host:port of each endpoint, same order as opts.Endpoints

	mu       sync.Mutex
	active   int
	failedAt []time.Time
	switches int
}

// New validates opts and returns the endpoint set, the first endpoint active.
func New(opts Options) (*Endpoints, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	e := &Endpoints{opts: opts, failedAt: make([]time.Time, len(opts.Endpoints))}
	for _, s := range opts.Endpoints {
		u, _ := url.Parse(s) // checked by Validate
		e.hosts = append(e.hosts, u.Host)
	}
	return e, nil
}

// Config returns a copy of base for all endpoints: base.Host is replaced by
// the first endpoint and every request is routed to the active one.
// base's own WrapTransport, if any, still applies (inside ours).
func Config(base *rest.Config, endpoints ...string) (*rest.Config, *Endpoints, error) {
	e, err := New(Options{Endpoints: endpoints})
	if err != nil {
		return nil, nil, err
	}
	return e.Config(base), e, nil
}

// Config returns a copy of base routed over these endpoints.
func (e *Endpoints) Config(base *rest.Config) *rest.Config {
	c := rest.CopyConfig(base)
	c.Host = e.opts.Endpoints[0]
	c.WrapTransport = transport.Wrappers(base.WrapTransport, e.Wrap)
	return c
}

// Wrap returns a RoundTripper that sends through rt to the active endpoint.
// It fits rest.Config.WrapTransport.
func (e *Endpoints) Wrap(rt http.RoundTripper) http.RoundTripper {
	return &roundTripper{e: e, next: rt}
}

// Active returns the URL of the endpoint requests currently go to.
func (e *Endpoints) Active() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.opts.Endpoints[e.active]
}

// Switches returns how many times the active endpoint has changed.
func (e *Endpoints) Switches() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.switches
}

// current returns the index of the active endpoint.
func (e *Endpoints) current() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.active
}

// fail records that endpoint i failed with err and, if it is still the
// active one, moves to the next endpoint that is not cooling down (or, if
// every endpoint is, to the one that failed longest ago).
func (e *Endpoints) fail(i int, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	e.failedAt[i] = now
	if e.active != i {
		return // someone else already moved on
	}
	n := len(e.hosts)
	next, oldest := -1, -1
	for k := 1; k <= n; k++ {
		j := (i + k) % n
		if j == i && n > 1 {
			continue
		}
		if now.Sub(e.failedAt[j]) >= e.opts.Cooldown {
			next = j
			break
		}
		if oldest < 0 || e.failedAt[j].Before(e.failedAt[oldest]) {
			oldest = j
		}
	}
	if next < 0 {
		next = oldest
	}
	if next == i {
		return
	}
	e.active = next
	e.switches++
	e.opts.Logger.Warn("apiserver endpoint failed, switching",
		slog.String("from", e.opts.Endpoints[i]), slog.String("to", e.opts.Endpoints[next]),
		slog.String("error", err.Error()))
}

// owns reports whether host is one of the endpoints (requests to other
// hosts pass through untouched).
func (e *Endpoints) owns(host string) bool {
	for _, h := range e.hosts {
		if h == host {
			return true
		}
	}
	return false
}

type roundTripper struct {
	e    *Endpoints
	next http.RoundTripper
}

// WrappedRoundTripper lets client-go's debugging helpers see through us.
func (r *roundTripper) WrappedRoundTripper() http.RoundTripper { return r.next }

func (r *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if !r.e.owns(req.URL.Host) {
		return r.next.RoundTrip(req)
	}
	var lastErr error
	for attempt := range len(r.e.hosts) {
		i := r.e.current()
		out, err := r.prepare(req, i, attempt)
		if err != nil {
			if lastErr != nil {
				return nil, lastErr
			}
			return nil, err
		}
		resp, err := r.next.RoundTrip(out)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if req.Context().Err() != nil {
			return nil, err
		}
		switch {
		case notSent(err):
			r.e.fail(i, err)
		case connectionLost(err):
			r.e.fail(i, err)
			if !idempotent(req.Method) {
				return nil, err
			}
		default:
			return nil, err
		}
	}
	return nil, lastErr
}

// prepare returns req aimed at endpoint i. The first attempt reuses req's
// body; later ones need GetBody to replay it.
func (r *roundTripper) prepare(req *http.Request, i, attempt int) (*http.Request, error) {
	out := req.Clone(req.Context())
	u := *req.URL
	u.Host = r.e.hosts[i]
	out.URL = &u
	out.Host = ""
	if attempt == 0 || req.Body == nil || req.Body == http.NoBody {
		return out, nil
	}
	if req.GetBody == nil {
		return nil, errors.New("failover: request body cannot be replayed")
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, fmt.Errorf("failover: replay request body: %w", err)
	}
	out.Body = body
	return out, nil
}

// notSent reports errors raised before the request left the client:
// the connection could not be opened.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || utilnet.IsConnectionRefused(err)
}

// connectionLost reports errors of a connection that broke after the
// request may have been sent.
func connectionLost(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return true
	}
	if utilnet.IsProbableEOF(err) {
		return true
	}
	return strings.Contains(err.Error(), "http2: client connection lost")
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	return false
}

// compile-time check that the wrapper fits rest.Config.WrapTransport.
var _ transport.WrapperFunc = (*Endpoints)(nil).Wrap
