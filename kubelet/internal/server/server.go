// Package server is the kubelet's HTTP API, the one the API server proxies
// pods/log, pods/exec, pods/attach and nodes/proxy to:
//
//	GET  /healthz
//	GET  /pods                                           PodList of the node's pods
//	GET  /containerLogs/{ns}/{pod}/{container}           ?follow&tailLines&previous&timestamps&sinceSeconds&limitBytes
//	GET  /exec/{ns}/{pod}/{container}?command=…&stdin&stdout&stderr&tty   (websocket, v5/v4.channel.k8s.io)
//	GET  /attach/{ns}/{pod}/{container}?stdin&stdout&stderr&tty           (websocket)
//	POST /portForward/{ns}/{pod}                         (SPDY portforward.k8s.io, or tunnelled in a websocket)
//	GET  /stats/summary                                  node and pod CPU/memory (stats/v1alpha1 shape)
//	GET  /metrics/resource                               the same in Prometheus text (metrics-server's input)
//
// Errors are metav1.Status JSON with the HTTP code. With Options.TLS the
// server speaks HTTPS only; Options.Filter (authentication and
// authorization, see package auth) guards every path.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"skiff.dev/kubelet/internal/cri"
)

// Pods is what the server needs from the pod manager.
type Pods interface {
	Pods() []*corev1.Pod
	Pod(namespace, name string) (*corev1.Pod, bool)
	Containers(ctx context.Context, pod *corev1.Pod, container string) ([]*runtimeapi.ContainerStatus, error)
}

// Options configure a Server.
type Options struct {
	// Addr to listen on, e.g. ":10250".
	Addr     string
	NodeName string
	Pods     Pods
	Runtime  cri.Runtime
	// TLS, when set, serves HTTPS with this configuration (certificates
	// and client-certificate policy); nil serves plain HTTP (tests).
	TLS *tls.Config
	// Filter wraps the whole handler, e.g. with authentication and
	// authorization; nil leaves every path open (tests).
	Filter func(http.Handler) http.Handler
	Log    *slog.Logger
}

// Server is the kubelet HTTP server.
type Server struct {
	opts  Options
	log   *slog.Logger
	stats *nodeStats
	// runtimeTransport dials the runtime's streaming server (SPDY).
	runtimeTransport *http.Transport
}

// New returns a Server.
func New(opts Options) *Server {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &Server{opts: opts, log: opts.Log, stats: &nodeStats{}, runtimeTransport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		// The CRI streaming server may use a self-signed certificate
		// (enable_tls_streaming); it is local and its URL carries a
		// single-use token.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
	}}
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler {
	r := mux.NewRouter()
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	r.HandleFunc("/pods", s.pods).Methods(http.MethodGet)
	r.HandleFunc("/containerLogs/{ns}/{pod}/{container}", s.logs).Methods(http.MethodGet)
	r.HandleFunc("/exec/{ns}/{pod}/{container}", s.exec).Methods(http.MethodGet, http.MethodPost)
	r.HandleFunc("/attach/{ns}/{pod}/{container}", s.attach).Methods(http.MethodGet, http.MethodPost)
	r.HandleFunc("/portForward/{ns}/{pod}", s.portForward).Methods(http.MethodGet, http.MethodPost)
	r.HandleFunc("/stats/summary", s.summary).Methods(http.MethodGet)
	r.HandleFunc("/metrics/resource", s.metricsResource).Methods(http.MethodGet)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, apierrors.NewNotFound(corev1.Resource("path"), r.URL.Path))
	})
	return r
}

// Serve listens and serves until ctx ends.
func (s *Server) Serve(ctx context.Context) error {
	l, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("kubelet server listen %s: %w", s.opts.Addr, err)
	}
	return s.ServeListener(ctx, l)
}

// ServeListener serves on l until ctx ends.
func (s *Server) ServeListener(ctx context.Context, l net.Listener) error {
	h := s.Handler()
	if s.opts.Filter != nil {
		h = s.opts.Filter(h)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	if s.opts.TLS != nil {
		srv.TLSConfig = s.opts.TLS.Clone()
		l = tls.NewListener(l, srv.TLSConfig)
	}
	// Sample node CPU in the background so that the first /stats/summary
	// (and `kubectl top nodes`) already reports a rate.
	go func() {
		s.stats.sample()
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				s.stats.sample()
			}
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = srv.Close()
	}()
	s.log.Info("kubelet server listening", slog.String("addr", l.Addr().String()), slog.Bool("tls", s.opts.TLS != nil))
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("kubelet server: %w", err)
	}
	return nil
}

func writeError(w http.ResponseWriter, err error) {
	var se apierrors.APIStatus
	var st metav1.Status
	if errors.As(err, &se) {
		st = se.Status()
	} else {
		st = apierrors.NewInternalError(err).Status()
	}
	st.Kind, st.APIVersion = "Status", "v1"
	w.Header().Set("Content-Type", "application/json")
	code := int(st.Code)
	if code == 0 {
		code = http.StatusInternalServerError
	}
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(st)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) pods(w http.ResponseWriter, _ *http.Request) {
	list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}}
	for _, p := range s.opts.Pods.Pods() {
		list.Items = append(list.Items, *p)
	}
	writeJSON(w, list)
}

// lookup resolves {ns}/{pod}/{container} of a request.
func (s *Server) lookup(r *http.Request) (*corev1.Pod, *corev1.Container, error) {
	v := mux.Vars(r)
	pod, ok := s.opts.Pods.Pod(v["ns"], v["pod"])
	if !ok {
		return nil, nil, apierrors.NewNotFound(corev1.Resource("pods"), v["pod"])
	}
	name := v["container"]
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return pod, &list[i], nil
			}
		}
	}
	return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
}

func boolParam(r *http.Request, name string) bool {
	v := r.URL.Query().Get(name)
	b, err := strconv.ParseBool(v)
	return err == nil && b
}
