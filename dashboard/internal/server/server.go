// Package server is the dashboard's HTTP handler: the embedded UI, a proxy
// to the apiserver carrying the user's token (or, on loopback without one,
// the dashboard's own credentials), a YAML gateway for viewing
// and editing objects, a Wasm module upload helper, and the websocket that
// multiplexes live list+watch streams.
package server

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"k8s.io/client-go/rest"

	"skiff.dev/dashboard/internal/ui"
	"skiff.dev/dashboard/internal/watchmux"
)

// Options configures a Server.
type Options struct {
	// RESTConfig locates the apiserver and carries the dashboard's own
	// credentials. Requests with a user token never present them (neither
	// the client certificate nor a token); requests without one act with
	// them, which only happens when RequireToken is off (loopback).
	RESTConfig *rest.Config
	// RequireToken rejects requests without a bearer token.
	RequireToken bool
	// QueueSize bounds queued websocket messages per socket.
	QueueSize int
	// Logger receives logs.
	Logger *slog.Logger
}

// Server serves the dashboard.
type Server struct {
	opts   Options
	log    *slog.Logger
	base   *url.URL
	client *http.Client
	proxy  *httputil.ReverseProxy
	mux    *watchmux.Mux
	assets http.Handler
}

// New builds a Server.
func New(opts Options) (*Server, error) {
	if opts.RESTConfig == nil {
		return nil, fmt.Errorf("server: RESTConfig is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	base, err := baseURL(opts.RESTConfig)
	if err != nil {
		return nil, err
	}
	rt, err := newTransport(opts.RESTConfig, opts.RequireToken)
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(ui.Assets, "assets")
	if err != nil {
		return nil, fmt.Errorf("server: assets: %w", err)
	}
	s := &Server{
		opts:   opts,
		log:    opts.Logger,
		base:   base,
		client: &http.Client{Transport: rt},
		assets: http.FileServerFS(static),
	}
	s.mux = watchmux.New(watchmux.Options{
		Base:      base,
		Client:    s.client,
		QueueSize: opts.QueueSize,
		Logger:    opts.Logger,
	})
	s.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(base)
			pr.Out.Host = base.Host
			token := tokenFrom(pr.In)
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del("Cookie")
			pr.Out.Header.Del(csrfHeader)
			// The apiserver checks the origin of exec sockets itself only
			// if it wants to; the dashboard already did.
			pr.Out.Header.Del("Origin")
			if token != "" {
				pr.Out.Header.Set("Authorization", "Bearer "+token)
			}
		},
		Transport:     rt,
		FlushInterval: -1, // stream logs and watches as they come
		ErrorLog:      slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			writeStatus(w, http.StatusBadGateway, "ServiceUnavailable", "apiserver unreachable: "+err.Error())
		},
	}
	return s, nil
}

// baseURL is the apiserver address of cfg (https when it names no scheme).
func baseURL(cfg *rest.Config) (*url.URL, error) {
	if cfg.Host == "" {
		return nil, fmt.Errorf("server: the client config names no apiserver")
	}
	raw := cfg.Host
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	base, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("server: apiserver address %q: %w", cfg.Host, err)
	}
	return base, nil
}

// newTransport builds the one RoundTripper every upstream request (proxy,
// watches, YAML, uploads, exec/attach websockets) goes through: TLS trust
// from cfg for all, and cfg's credentials only for requests that carry no
// user token. With requireToken there is no such request and the
// dashboard's credentials are not loaded at all.
func newTransport(cfg *rest.Config, requireToken bool) (http.RoundTripper, error) {
	user, err := rest.TransportFor(rest.AnonymousClientConfig(cfg))
	if err != nil {
		return nil, fmt.Errorf("server: transport: %w", err)
	}
	if requireToken {
		return user, nil
	}
	own, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("server: transport with the dashboard's credentials: %w", err)
	}
	return &byCaller{user: user, own: own}, nil
}

// byCaller sends requests that carry an Authorization header (the user's
// token) through user, which presents no credentials of its own, and the
// others through own, which authenticates as the dashboard.
type byCaller struct{ user, own http.RoundTripper }

func (b *byCaller) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") != "" {
		return b.user.RoundTrip(r)
	}
	return b.own.RoundTrip(r)
}

// Close drops every open websocket.
func (s *Server) Close() { s.mux.Close() }

// Sockets returns the number of open websockets.
func (s *Server) Sockets() int { return s.mux.Sockets() }

// Handler returns the dashboard's HTTP handler.
func (s *Server) Handler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /dashboard/config", s.config)
	m.Handle("GET /ws", s.guard(http.HandlerFunc(s.serveWS)))
	m.Handle("/dashboard/yaml", s.guard(http.HandlerFunc(s.yaml)))
	m.Handle("POST /dashboard/wasm", s.guard(http.HandlerFunc(s.uploadWasm)))
	for _, p := range []string{"/api/", "/apis/", "/version", "/readyz", "/livez", "/healthz", "/metrics", "/plugins/"} {
		m.Handle(p, s.guard(s.proxy))
	}
	m.Handle("/", s.static())
	return securityHeaders(m)
}

func (s *Server) static() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeStatus(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "the UI is read-only")
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		s.assets.ServeHTTP(w, r)
	})
}

func (s *Server) config(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"requireToken":  s.opts.RequireToken,
		"authenticated": tokenFrom(r) != "",
	})
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	s.mux.Serve(w, r, tokenFrom(r))
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'")
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeStatus writes a Kubernetes metav1.Status.
func writeStatus(w http.ResponseWriter, code int, reason, message string) {
	writeJSON(w, code, map[string]any{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": message, "reason": reason, "code": code,
	})
}

// timeout bounds non-streaming upstream calls made by the helpers.
const timeout = 30 * time.Second

func trimBearer(h string) string {
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}
