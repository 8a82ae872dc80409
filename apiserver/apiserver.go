// Package apiserver is skiff's Kubernetes-compatible API server: REST and
// watch over etcd, discovery, OpenAPI for kubectl, validation and
// defaulting, an admission chain that Wasm policies plug into, and the
// status, scale, binding, eviction and WasmModule content subresources.
//
//	srv, err := apiserver.New(opts) // listens
//	go srv.Run(ctx)                 // starts etcd, serves until ctx ends
//	<-srv.Ready()                   // /readyz answers 200 from here on
package apiserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	"skiff.dev/apiserver/internal/allocator"
	"skiff.dev/apiserver/internal/audit"
	"skiff.dev/apiserver/internal/authn"
	"skiff.dev/apiserver/internal/content"
	"skiff.dev/apiserver/internal/defaults"
	"skiff.dev/apiserver/internal/discovery"
	"skiff.dev/apiserver/internal/etcd"
	"skiff.dev/apiserver/internal/events"
	"skiff.dev/apiserver/internal/gopool"
	"skiff.dev/apiserver/internal/metricsapi"
	"skiff.dev/apiserver/internal/openapi"
	"skiff.dev/apiserver/internal/proxy"
	"skiff.dev/apiserver/internal/registry"
	"skiff.dev/apiserver/internal/rest"
	"skiff.dev/apiserver/internal/storage"
	"skiff.dev/apiserver/internal/validation"
	"skiff.dev/plugins/admission"
)

// Server is an API server. Create it with New and start it with Run.
type Server struct {
	opts     Options
	log      *slog.Logger
	ln       net.Listener
	url      string
	ready    chan struct{}
	serving  atomic.Bool
	etcdURLs []string
	wasm     *wasmAdmission // nil when Wasm admission is disabled or replaced
	sec      *security      // TLS and credentials prepared by New
	filters  *filters       // authentication, authorization, audit (set by Run)
}

// New validates opts and opens the listening socket, so URL is known
// before Run.
func New(opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("apiserver options: %w", err)
	}
	if opts.GCPercent > 0 && os.Getenv("GOGC") == "" {
		debug.SetGCPercent(opts.GCPercent)
	}
	sec, err := setupSecurity(&opts)
	if err != nil {
		return nil, fmt.Errorf("apiserver security: %w", err)
	}
	if opts.InsecureHTTP {
		opts.Logger.Warn("serving plain HTTP with NO authentication or authorization: every request acts as system:masters (--insecure-http); never do this outside debugging")
	}
	addr := net.JoinHostPort(opts.BindAddress, strconv.Itoa(opts.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	host := opts.BindAddress
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme := "https://"
	if sec.tls == nil {
		scheme = "http://"
	}
	return &Server{
		opts:  opts,
		log:   opts.Logger,
		ln:    ln,
		url:   scheme + net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)),
		ready: make(chan struct{}),
		sec:   sec,
	}, nil
}

// URL is the server's base URL, e.g. https://127.0.0.1:6443 (http:// with
// InsecureHTTP).
func (s *Server) URL() string { return s.url }

// Ready is closed once the server serves requests. It stays open when Run
// fails before that, so wait on both.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// KubeconfigPath is where the admin kubeconfig is written ("" if disabled).
func (s *Server) KubeconfigPath() string {
	if s.opts.KubeconfigPath == "-" {
		return ""
	}
	return s.opts.KubeconfigPath
}

// CAFile is the generated cluster CA certificate that signed the serving
// certificate and the generated client certificates ("" when the PKI is
// not generated).
func (s *Server) CAFile() string { return s.sec.caFile }

// PKIDir is the directory of the generated PKI (see Options.PKIDir).
func (s *Server) PKIDir() string { return s.opts.PKIDir }

// EtcdEndpoints returns the etcd client URLs in use (known once Ready).
func (s *Server) EtcdEndpoints() []string { return append([]string(nil), s.etcdURLs...) }

// Run starts etcd (embedded unless EtcdServers is set), the stores and the
// HTTP server, and serves until ctx ends; it then shuts down cleanly and
// returns nil, or the error that stopped it early.
func (s *Server) Run(ctx context.Context) error {
	defer s.ln.Close()
	started := time.Now()
	var client *clientv3.Client
	// Direct KV calls and watches into embedded etcd.
	var etcdKV etcdserverpb.KVClient
	var etcdWatchable mvcc.WatchableKV
	var etcdErr <-chan error
	if len(s.opts.EtcdServers) > 0 {
		c, err := etcd.Dial(ctx, s.opts.EtcdServers)
		if err != nil {
			return err
		}
		defer c.Close()
		client = c
		s.etcdURLs = s.opts.EtcdServers
	} else {
		emb, err := etcd.Start(ctx, etcd.Options{DataDir: filepath.Join(s.opts.DataDir, "etcd"), Logger: s.log})
		if err != nil {
			return err
		}
		defer emb.Close()
		client = emb.Client()
		etcdKV, etcdWatchable = emb.KV(), emb.Watchable()
		etcdErr = emb.Err()
		s.etcdURLs = emb.Endpoints()
	}

	scheme, err := registry.NewScheme()
	if err != nil {
		return err
	}
	reg, err := registry.New(registry.Complete(registry.Default()))
	if err != nil {
		return err
	}
	stores := map[schema.GroupVersionResource]storage.Interface{}
	var all []*storage.Store
	defer func() {
		for _, st := range all {
			st.Stop()
		}
	}()
	for _, res := range reg.All() {
		if res.GVR == eventsv1.SchemeGroupVersion.WithResource("events") {
			continue // served from the core/v1 Event store, below
		}
		if res.Virtual {
			continue // create-only reviews, served by rest.Options.Creates
		}
		st, err := storage.New(client, storage.Config{
			GroupResource:     res.GroupResource(),
			Prefix:            res.Prefix(),
			NewFunc:           res.New,
			NewListFunc:       res.NewList,
			AttrFunc:          res.Attrs,
			WatchCacheSize:    s.opts.WatchCacheSize,
			WatchCacheHistory: s.opts.WatchCacheHistory,
			KV:                etcdKV,
			Watchable:         etcdWatchable,
			Logger:            s.log,
		})
		if err != nil {
			return fmt.Errorf("store %s: %w", res.GVR, err)
		}
		all = append(all, st)
		stores[res.GVR] = st
	}
	stores[eventsv1.SchemeGroupVersion.WithResource("events")] = events.New(stores[corev1.SchemeGroupVersion.WithResource("events")])
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	for _, st := range all {
		if err := st.WaitReady(wctx); err != nil {
			cancel()
			return fmt.Errorf("watch caches not ready: %w", err)
		}
	}
	cancel()

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	if s.opts.CompactionInterval > 0 {
		c := storage.NewCompactor(client, storage.CompactorOptions{Interval: s.opts.CompactionInterval, Logger: s.log,
			OnCompact: func(rev int64) {
				for _, st := range all {
					st.Compacted(rev)
				}
			}})
		go c.Run(runCtx)
	}
	if s.opts.EventTTL > 0 {
		coreEvents, _ := reg.Lookup(corev1.SchemeGroupVersion.WithResource("events"))
		exp := &events.Expirer{Store: stores[coreEvents.GVR], Prefix: coreEvents.Prefix(), TTL: s.opts.EventTTL,
			Interval: min(s.opts.EventTTL/4, 5*time.Minute), Logger: s.log}
		go exp.Run(runCtx)
	}
	ips, err := allocator.NewIPs(client, s.opts.ServiceClusterIPRange)
	if err != nil {
		return err
	}
	ports, err := allocator.NewPorts(client, s.opts.ServiceNodePortRange)
	if err != nil {
		return err
	}
	contentStore := content.New(client, "")
	adm := s.opts.Admission
	if adm == nil && !s.opts.DisableWasmAdmission {
		w, err := newWasmAdmission(contentStore, s.loopbackConfig(), s.log)
		if err != nil {
			return fmt.Errorf("wasm admission: %w", err)
		}
		defer func() { _ = w.chain.Close(context.Background()) }()
		s.wasm, adm = w, admission.Adapter{Chain: w.chain}
	}
	var h *rest.Handler
	writeError := func(w http.ResponseWriter, r *http.Request, err error) { h.WriteError(w, r, err) }
	authenticator, serviceAccounts, err := s.newAuthenticator(reg, stores)
	if err != nil {
		return fmt.Errorf("authentication: %w", err)
	}
	creates := authn.Creates(authenticator, serviceAccounts)
	s.filters = &filters{authn: authenticator, info: newRequestInfoFactory(), writeError: writeError, log: s.log,
		codecs: serializer.NewCodecFactory(scheme).WithoutConversion()}
	authorization, err := newAuthorizer(runCtx, reg, stores, s.log)
	if err != nil {
		return fmt.Errorf("authorization: %w", err)
	}
	for k, v := range authorization.creates {
		creates[k] = v
	}
	if !s.opts.InsecureHTTP && !alwaysAllow(s.opts.AuthorizationModes) {
		s.filters.authz = authorization.authorizer
	}
	if s.opts.AuditLogPath != "" {
		if s.filters.audit, err = audit.Open(s.opts.AuditLogPath); err != nil {
			return err
		}
		defer s.filters.audit.Close()
	}
	kubelets := kubeletProxy(reg, stores, s.sec.kubeletRT, writeError)
	h, err = rest.New(rest.Options{
		Proxy:                kubelets,
		Registry:             reg,
		Scheme:               scheme,
		Stores:               stores,
		Default:              defaults.Default,
		ValidateCreate:       validation.ValidateCreate,
		ValidateUpdate:       validation.ValidateUpdate,
		ValidateStatusUpdate: validation.ValidateStatusUpdate,
		Admission:            adm,
		Content:              contentStore,
		ServiceIPs:           ips,
		NodePorts:            ports,
		Creates:              creates,
		ServiceAccounts:      !s.opts.DisableServiceAccountAdmission,
		Logger:               s.log,
	})
	if err != nil {
		return err
	}
	disc, err := discovery.New(reg, s.ln.Addr().String(), discovery.Extra{GV: metricsapi.GroupVersion, Resources: metricsapi.Resources()})
	if err != nil {
		return err
	}
	oapi, err := openapi.New(reg, discovery.Version().GitVersion)
	if err != nil {
		return err
	}
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		if err := h.EnsureNamespace(ctx, ns); err != nil {
			return fmt.Errorf("bootstrap namespace %s: %w", ns, err)
		}
	}
	if err := h.EnsureKubernetesService(ctx, ips.First(), s.ln.Addr().(*net.TCPAddr).Port); err != nil {
		s.log.Warn("bootstrap the kubernetes Service", "err", err)
	}

	srv := &http.Server{
		Handler:           s.routes(client, h, disc, oapi, resourceMetrics(reg, stores, s.sec.kubeletRT, h.WriteError)),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return runCtx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	if s.sec.tls != nil {
		srv.TLSConfig = s.sec.tls
		go func() { serveErr <- srv.ServeTLS(s.ln, "", "") }()
	} else {
		go func() { serveErr <- srv.Serve(s.ln) }()
	}
	if p := s.KubeconfigPath(); p != "" {
		if err := s.writeKubeconfig(p); err != nil {
			s.log.Warn("write admin kubeconfig", "path", p, "err", err)
		} else {
			s.log.Info("admin kubeconfig written; to use it: export KUBECONFIG=" + p)
		}
	}
	s.serving.Store(true)
	close(s.ready)
	if s.wasm != nil {
		go s.wasm.run(runCtx, s.loopbackConfig())
	}
	s.log.Info("apiserver serving", "url", s.url, "etcd", s.etcdURLs, "took", time.Since(started).Round(time.Millisecond))

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("serve: %w", err)
	case err := <-etcdErr:
		runErr = fmt.Errorf("embedded etcd stopped: %w", err)
	}
	s.serving.Store(false)
	stop() // ends watches and other long requests
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelShutdown()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Warn("http shutdown", "err", err)
	}
	s.log.Info("apiserver stopped")
	return runErr
}

// kubeletProxy forwards pods/log, exec, attach and nodes/proxy to kubelets.
func kubeletProxy(reg *registry.Registry, stores map[schema.GroupVersionResource]storage.Interface, transport http.RoundTripper, writeError func(http.ResponseWriter, *http.Request, error)) *proxy.Handler {
	podsGVR, nodesGVR := corev1.SchemeGroupVersion.WithResource("pods"), corev1.SchemeGroupVersion.WithResource("nodes")
	podRes, _ := reg.Lookup(podsGVR)
	nodeRes, _ := reg.Lookup(nodesGVR)
	return proxy.New(proxy.Options{
		GetPod: func(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
			var pod corev1.Pod
			if err := stores[podsGVR].Get(ctx, podRes.Key(namespace, name), "", &pod); err != nil {
				return nil, err
			}
			return &pod, nil
		},
		GetNode: func(ctx context.Context, name string) (*corev1.Node, error) {
			var node corev1.Node
			if err := stores[nodesGVR].Get(ctx, nodeRes.Key("", name), "", &node); err != nil {
				return nil, err
			}
			return &node, nil
		},
		Transport:   transport,
		ErrorWriter: writeError,
	})
}

// resourceMetrics serves metrics.k8s.io from the kubelets' summaries.
func resourceMetrics(reg *registry.Registry, stores map[schema.GroupVersionResource]storage.Interface, transport http.RoundTripper, writeError func(http.ResponseWriter, *http.Request, error)) *metricsapi.Handler {
	podsGVR, nodesGVR := corev1.SchemeGroupVersion.WithResource("pods"), corev1.SchemeGroupVersion.WithResource("nodes")
	podRes, _ := reg.Lookup(podsGVR)
	nodeRes, _ := reg.Lookup(nodesGVR)
	return metricsapi.New(metricsapi.Options{
		ListNodes: func(ctx context.Context) ([]corev1.Node, error) {
			var l corev1.NodeList
			err := stores[nodesGVR].List(ctx, nodeRes.CollectionKey(""), storage.ListOptions{ResourceVersion: "0", Recursive: true}, &l)
			return l.Items, err
		},
		ListPods: func(ctx context.Context, namespace string) ([]corev1.Pod, error) {
			var l corev1.PodList
			err := stores[podsGVR].List(ctx, podRes.CollectionKey(namespace), storage.ListOptions{ResourceVersion: "0", Recursive: true}, &l)
			return l.Items, err
		},
		Transport:   transport,
		ErrorWriter: writeError,
	})
}

func (s *Server) routes(client *clientv3.Client, h *rest.Handler, disc *discovery.Handler, oapi *openapi.Handler, metrics http.Handler) http.Handler {
	r := mux.NewRouter()
	ok := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	}
	// etcdOK checks that etcd answers a linearizable read.
	etcdOK := func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
		defer cancel()
		_, err := client.Get(ctx, "/skiff/health")
		return err
	}
	r.HandleFunc("/livez", ok)
	r.HandleFunc("/healthz", func(w http.ResponseWriter, req *http.Request) {
		if err := etcdOK(req); err != nil {
			http.Error(w, "etcd: "+err.Error(), http.StatusInternalServerError)
			return
		}
		ok(w, req)
	})
	r.HandleFunc("/readyz", func(w http.ResponseWriter, req *http.Request) {
		if !s.serving.Load() {
			http.Error(w, "not ready: shutting down or still starting", http.StatusServiceUnavailable)
			return
		}
		if err := etcdOK(req); err != nil {
			http.Error(w, "not ready: etcd: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		ok(w, req)
	})
	r.Handle("/version", disc)
	r.Handle("/api", disc)
	r.Handle("/api/", disc)
	r.Handle("/apis", disc)
	r.Handle("/apis/", disc)
	r.PathPrefix("/openapi/v3").Handler(oapi)
	if s.opts.Profiling {
		r.HandleFunc("/debug/pprof/profile", pprof.Profile)
		r.HandleFunc("/debug/pprof/trace", pprof.Trace)
		r.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		r.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		r.PathPrefix("/debug/pprof/").HandlerFunc(pprof.Index)
	}
	if s.wasm != nil {
		r.HandleFunc("/metrics", s.wasm.serveMetrics).Methods(http.MethodGet)
		r.HandleFunc("/plugins/admission/stats", s.wasm.serveStats).Methods(http.MethodGet)
	}
	r.PathPrefix("/apis/metrics.k8s.io/").MatcherFunc(func(req *http.Request, _ *mux.RouteMatch) bool { return !disc.Has(req.URL.Path) }).Handler(metrics)
	r.PathPrefix("/api/").MatcherFunc(func(req *http.Request, _ *mux.RouteMatch) bool { return !disc.Has(req.URL.Path) }).Handler(h)
	r.PathPrefix("/apis/").MatcherFunc(func(req *http.Request, _ *mux.RouteMatch) bool { return !disc.Has(req.URL.Path) }).Handler(h)
	r.PathPrefix("/").Handler(disc) // a 404 Status for everything else
	r.SkipClean(true)
	secured := s.filters.wrap(resourceFastPath(r, h, disc))
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		secured = s.logRequests(secured)
	}
	return gopool.New(gopool.Options{}).Wrap(secured)
}

// resourceFastPath sends resource requests, the bulk of the traffic,
// straight to the REST handler h: the router would send them there too,
// after matching every route's regexp in turn and copying the request
// twice to store its route and variables (which h does not use).
// Everything else goes through the router.
func resourceFastPath(router, h http.Handler, disc *discovery.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if isResourcePath(req.URL.Path) && !disc.Has(req.URL.Path) {
			h.ServeHTTP(w, req)
			return
		}
		router.ServeHTTP(w, req)
	})
}

// isResourcePath reports whether the router's /api/ or /apis/ prefix
// route (rather than an exact discovery route or the metrics.k8s.io
// prefix, both registered first) would take path, discovery documents
// aside.
func isResourcePath(path string) bool {
	switch {
	case len(path) > len("/api/") && strings.HasPrefix(path, "/api/"):
		return true
	case len(path) > len("/apis/") && strings.HasPrefix(path, "/apis/"):
		return !strings.HasPrefix(path, "/apis/metrics.k8s.io/")
	}
	return false
}

// statusRecorder remembers the status code of a response.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (w *statusRecorder) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Flush keeps watch streaming working through the recorder.
func (w *statusRecorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (hijacking for
// exec and attach).
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests logs every request at debug level.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		s.log.Debug("request", "method", r.Method, "uri", r.URL.RequestURI(), "code", rec.code,
			"took", time.Since(start).Round(time.Microsecond), "agent", r.UserAgent())
	})
}

// WriteKubeconfig writes a kubeconfig without credentials for a plain HTTP
// server (--insecure-http) to path.
func WriteKubeconfig(path, server string) error {
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: skiff
  cluster:
    server: %s
users:
- name: admin
  user: {}
contexts:
- name: skiff
  context:
    cluster: skiff
    user: admin
    namespace: default
current-context: skiff
`, server)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(cfg), 0o600)
}
