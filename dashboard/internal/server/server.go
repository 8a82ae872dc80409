// Package server is the dashboard's HTTP handler: the embedded UI, a proxy
// to the apiserver carrying the user's token, a YAML gateway for viewing
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
	// RESTConfig locates the apiserver; its credentials are dropped.
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
	opts      Options
	log       *slog.Logger
	base      *url.URL
	transport http.RoundTripper
	client    *http.Client
	proxy     *httputil.ReverseProxy
	mux       *watchmux.Mux
	assets    http.Handler
}

// New builds a Server.
func New(opts Options) (*Server, error) {
	if opts.RESTConfig == nil {
		return nil, fmt.Errorf("server: RESTConfig is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	// Never act with the dashboard's own credentials: keep only the address
	// and TLS trust, and add the user's token per request.
	anon := rest.AnonymousClientConfig(opts.RESTConfig)
	base, err := url.Parse(anon.Host)
	if err != nil || anon.Host == "" {
		return nil, fmt.Errorf("server: apiserver address %q: %v", anon.Host, err)
	}
	if base.Scheme == "" {
		base, err = url.Parse("https://" + anon.Host)
		if err != nil {
			return nil, fmt.Errorf("server: apiserver address %q: %w", anon.Host, err)
		}
	}
	rt, err := rest.TransportFor(anon)
	if err != nil {
		return nil, fmt.Errorf("server: transport: %w", err)
	}
	static, err := fs.Sub(ui.Assets, "assets")
	if err != nil {
		return nil, fmt.Errorf("server: assets: %w", err)
	}
	s := &Server{
		opts:      opts,
		log:       opts.Logger,
		base:      base,
		transport: rt,
		client:    &http.Client{Transport: rt},
		assets:    http.FileServerFS(static),
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
