// Package controller is the ingress controller's core: it watches Ingresses,
// IngressClasses, Services, EndpointSlices and Secrets, rebuilds a routing
// table (package router) whenever one changes and swaps it in atomically,
// proxies HTTP(S) requests to ready endpoints, and writes
// status.loadBalancer on the Ingresses it owns.
package controller

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"reflect"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/addons/ingress/internal/router"
)

// Annotations and label keys from the Kubernetes ingress API.
const (
	annotationClass        = "kubernetes.io/ingress.class"
	annotationDefaultClass = "ingressclass.kubernetes.io/is-default-class"
	indexService           = "service"
)

// Options configures a Controller.
type Options struct {
	// ClassName is the IngressClass this controller serves; it is created
	// if missing.
	ClassName string
	// ControllerName is the spec.controller value of IngressClasses this
	// controller serves.
	ControllerName string
	// PublishAddress is written to status.loadBalancer (an IP or hostname).
	PublishAddress string
	// Debounce is how long to wait for more changes before a rebuild.
	Debounce time.Duration
	Logger   *slog.Logger
}

// Controller routes HTTP requests according to the cluster's Ingresses.
type Controller struct {
	client   kubernetes.Interface
	factory  informers.SharedInformerFactory
	opts     Options
	log      *slog.Logger
	ings     cache.Indexer
	classes  cache.Indexer
	services cache.Indexer
	slices   cache.Indexer
	secrets  cache.Indexer
	table    atomic.Pointer[router.Table]
	trigger  chan struct{}
	proxy    *httputil.ReverseProxy
	fallback *tls.Certificate
}

type ctxKey struct{}

// New wires informers on client; call Start, then Run.
func New(client kubernetes.Interface, opts Options) (*Controller, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Debounce <= 0 {
		opts.Debounce = 50 * time.Millisecond
	}
	f := informers.NewSharedInformerFactory(client, 0)
	c := &Controller{client: client, factory: f, opts: opts, log: opts.Logger, trigger: make(chan struct{}, 1)}
	sliceInf := f.Discovery().V1().EndpointSlices().Informer()
	if err := sliceInf.AddIndexers(cache.Indexers{indexService: func(obj any) ([]string, error) {
		s, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok || s.Labels[discoveryv1.LabelServiceName] == "" {
			return nil, nil
		}
		return []string{s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName]}, nil
	}}); err != nil {
		return nil, fmt.Errorf("endpointslice indexer: %w", err)
	}
	infs := []cache.SharedIndexInformer{
		f.Networking().V1().Ingresses().Informer(),
		f.Networking().V1().IngressClasses().Informer(),
		f.Core().V1().Services().Informer(),
		sliceInf,
		f.Core().V1().Secrets().Informer(),
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.Trigger() },
		UpdateFunc: func(any, any) { c.Trigger() },
		DeleteFunc: func(any) { c.Trigger() },
	}
	for _, inf := range infs {
		if _, err := inf.AddEventHandler(h); err != nil {
			return nil, fmt.Errorf("event handler: %w", err)
		}
	}
	c.ings, c.classes, c.services, c.slices, c.secrets =
		infs[0].GetIndexer(), infs[1].GetIndexer(), infs[2].GetIndexer(), infs[3].GetIndexer(), infs[4].GetIndexer()
	c.table.Store(router.Build(nil, c))

	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1000,
		MaxIdleConnsPerHost:   100,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
	c.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = pr.In.Context().Value(ctxKey{}).(target).endpoint
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport: retryTransport{base: transport},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			c.log.Warn("proxy error", slog.String("host", r.Host), slog.String("path", r.URL.Path), slog.Any("err", err))
			http.Error(w, "502 bad gateway: upstream unreachable", http.StatusBadGateway)
		},
	}
	cert, err := selfSigned()
	if err != nil {
		return nil, err
	}
	c.fallback = cert
	return c, nil
}

// Start starts the informers and waits for their caches.
func (c *Controller) Start(ctx context.Context) error {
	c.factory.Start(ctx.Done())
	for typ, ok := range c.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("sync informer cache for %v", typ)
		}
	}
	c.ensureClass(ctx)
	c.rebuild(ctx)
	return nil
}

// Shutdown stops the informers.
func (c *Controller) Shutdown() { c.factory.Shutdown() }

// Trigger asks for a rebuild soon; it never blocks.
func (c *Controller) Trigger() {
	select {
	case c.trigger <- struct{}{}:
	default:
	}
}

// Run rebuilds the table on every change until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.trigger:
		}
		t := time.NewTimer(c.opts.Debounce)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		c.rebuild(ctx)
	}
}

func (c *Controller) ensureClass(ctx context.Context) {
	if c.opts.ClassName == "" {
		return
	}
	if _, ok, _ := c.classes.GetByKey(c.opts.ClassName); ok {
		return
	}
	_, err := c.client.NetworkingV1().IngressClasses().Create(ctx, &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: c.opts.ClassName},
		Spec:       networkingv1.IngressClassSpec{Controller: c.opts.ControllerName},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		c.log.Warn("create IngressClass", slog.String("class", c.opts.ClassName), slog.Any("err", err))
	}
}

// owned picks the Ingresses this controller serves.
func (c *Controller) owned() []*networkingv1.Ingress {
	ours := map[string]bool{}
	if c.opts.ClassName != "" {
		ours[c.opts.ClassName] = false
	}
	for _, o := range c.classes.List() {
		ic, ok := o.(*networkingv1.IngressClass)
		if !ok || ic.Spec.Controller != c.opts.ControllerName {
			continue
		}
		ours[ic.Name] = ic.Annotations[annotationDefaultClass] == "true"
	}
	anyDefault := false
	for _, d := range ours {
		anyDefault = anyDefault || d
	}
	var out []*networkingv1.Ingress
	for _, o := range c.ings.List() {
		ing, ok := o.(*networkingv1.Ingress)
		if !ok {
			continue
		}
		class := ""
		if ing.Spec.IngressClassName != nil {
			class = *ing.Spec.IngressClassName
		} else if a, ok := ing.Annotations[annotationClass]; ok {
			class = a
		}
		if _, ok := ours[class]; ok || (class == "" && anyDefault) {
			out = append(out, ing)
		}
	}
	return out
}

func (c *Controller) rebuild(ctx context.Context) {
	ings := c.owned()
	t := router.Build(ings, c)
	c.table.Store(t)
	for _, w := range t.Warnings {
		c.log.Warn("ingress", slog.String("problem", w))
	}
	c.log.Debug("routing table rebuilt", slog.Int("ingresses", len(ings)))
	c.updateStatus(ctx, ings)
}

func (c *Controller) updateStatus(ctx context.Context, ings []*networkingv1.Ingress) {
	if c.opts.PublishAddress == "" {
		return
	}
	want := []networkingv1.IngressLoadBalancerIngress{{}}
	if net.ParseIP(c.opts.PublishAddress) != nil {
		want[0].IP = c.opts.PublishAddress
	} else {
		want[0].Hostname = c.opts.PublishAddress
	}
	for _, ing := range ings {
		if reflect.DeepEqual(ing.Status.LoadBalancer.Ingress, want) {
			continue
		}
		cp := ing.DeepCopy()
		cp.Status.LoadBalancer.Ingress = want
		if _, err := c.client.NetworkingV1().Ingresses(ing.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{}); err != nil {
			c.log.Warn("update ingress status", slog.String("ingress", ing.Namespace+"/"+ing.Name), slog.Any("err", err))
			c.Trigger() // retry on the next rebuild
		}
	}
}

// Service implements router.Lookup.
func (c *Controller) Service(ns, name string) (*v1.Service, bool) {
	o, ok, err := c.services.GetByKey(ns + "/" + name)
	if err != nil || !ok {
		return nil, false
	}
	s, ok := o.(*v1.Service)
	return s, ok
}

// Slices implements router.Lookup.
func (c *Controller) Slices(ns, service string) []*discoveryv1.EndpointSlice {
	objs, _ := c.slices.ByIndex(indexService, ns+"/"+service)
	out := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		if s, ok := o.(*discoveryv1.EndpointSlice); ok {
			out = append(out, s)
		}
	}
	return out
}

// Secret implements router.Lookup.
func (c *Controller) Secret(ns, name string) (*v1.Secret, bool) {
	o, ok, err := c.secrets.GetByKey(ns + "/" + name)
	if err != nil || !ok {
		return nil, false
	}
	s, ok := o.(*v1.Secret)
	return s, ok
}

// ServeHTTP routes one request.
func (c *Controller) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	b := c.table.Load().Match(host, r.URL.Path)
	if b == nil {
		http.Error(w, "404 page not found (no ingress rule matches)", http.StatusNotFound)
		return
	}
	ep := b.Pick()
	if ep == "" {
		http.Error(w, "503 service unavailable: no ready endpoints for "+b.Name, http.StatusServiceUnavailable)
		return
	}
	c.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, target{backend: b, endpoint: ep})))
}

// TLSConfig returns a server TLS config that picks certificates by SNI.
func (c *Controller) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if cert := c.table.Load().Certificate(hello.ServerName); cert != nil {
				return cert, nil
			}
			return c.fallback, nil
		},
	}
}
