// Package ingress runs the ingress controller: an HTTP and HTTPS reverse
// proxy that routes requests by host and path according to the
// networking.k8s.io/v1 Ingresses of its IngressClass, balances over the
// ready endpoints of the backend Services, terminates TLS with certificates
// from Secrets chosen by SNI, and publishes its address in each Ingress's
// status.loadBalancer. Routing changes are swapped in atomically, so
// requests in flight are never dropped.
package ingress

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff.dev/addons/ingress/internal/controller"
)

// Options configures the ingress controller.
type Options struct {
	// Kubeconfig is the path of a kubeconfig file.
	Kubeconfig string
	// RESTConfig, when set, overrides Kubeconfig (used by `skiff up`).
	RESTConfig *rest.Config
	// HTTPAddr is the plain HTTP listen address (default :80; "" in a
	// struct literal means the default, "-" disables it).
	HTTPAddr string
	// HTTPSAddr is the TLS listen address (default :443, "-" disables it).
	HTTPSAddr string
	// ClassName is the IngressClass served (default "skiff"); it is
	// created if it does not exist.
	ClassName string
	// ControllerName is the IngressClass spec.controller value served
	// (default "skiff.dev/ingress-controller").
	ControllerName string
	// PublishAddress is written to status.loadBalancer; by default the
	// host's first non-loopback IPv4 address.
	PublishAddress string
	// ShutdownTimeout bounds draining in-flight requests on exit (default 10s).
	ShutdownTimeout time.Duration
	// Logger receives the component's logs (default slog.Default()).
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.HTTPAddr == "" {
		o.HTTPAddr = ":80"
	}
	if o.HTTPSAddr == "" {
		o.HTTPSAddr = ":443"
	}
	if o.ClassName == "" {
		o.ClassName = "skiff"
	}
	if o.ControllerName == "" {
		o.ControllerName = "skiff.dev/ingress-controller"
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
}

// AddFlags registers the options on fs with their defaults.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	o.defaults()
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "path of the kubeconfig file")
	fs.StringVar(&o.HTTPAddr, "http-addr", o.HTTPAddr, `HTTP listen address ("-" disables)`)
	fs.StringVar(&o.HTTPSAddr, "https-addr", o.HTTPSAddr, `HTTPS listen address ("-" disables)`)
	fs.StringVar(&o.ClassName, "ingress-class", o.ClassName, "IngressClass name served (created if missing)")
	fs.StringVar(&o.ControllerName, "controller-name", o.ControllerName, "IngressClass spec.controller value served")
	fs.StringVar(&o.PublishAddress, "publish-address", o.PublishAddress, "address written to Ingress status (default: first non-loopback IPv4)")
	fs.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", o.ShutdownTimeout, "time allowed to drain in-flight requests on exit")
}

// Validate reports the first invalid option.
func (o *Options) Validate() error {
	o.defaults()
	if o.RESTConfig == nil && o.Kubeconfig == "" {
		return errors.New("--kubeconfig is required")
	}
	if o.HTTPAddr == "-" && o.HTTPSAddr == "-" {
		return errors.New("both --http-addr and --https-addr are disabled")
	}
	for flagName, a := range map[string]string{"--http-addr": o.HTTPAddr, "--https-addr": o.HTTPSAddr} {
		if a == "-" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("%s %q: %w", flagName, a, err)
		}
	}
	if o.ShutdownTimeout < 0 {
		return errors.New("--shutdown-timeout must not be negative")
	}
	return nil
}

// Run serves until ctx ends, then drains in-flight requests.
func Run(ctx context.Context, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	cfg := o.RESTConfig
	if cfg == nil {
		var err error
		if cfg, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig); err != nil {
			return fmt.Errorf("load kubeconfig: %w", err)
		}
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "skiff-ingress"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if o.PublishAddress == "" {
		o.PublishAddress = hostIPv4()
	}
	return serve(ctx, o, client, nil)
}

// serve runs the controller with client; ready, when set, receives the
// bound HTTP and HTTPS addresses ("" when disabled).
func serve(ctx context.Context, o Options, client kubernetes.Interface, ready func(httpAddr, httpsAddr string)) error {
	o.defaults()
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With(slog.String("component", "ingress"))
	c, err := controller.New(client, controller.Options{
		ClassName: o.ClassName, ControllerName: o.ControllerName,
		PublishAddress: o.PublishAddress, Logger: log,
	})
	if err != nil {
		return err
	}
	defer c.Shutdown()
	if err := c.Start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	go c.Run(ctx)

	var servers []*http.Server
	var addrs [2]string
	errc := make(chan error, 2)
	for i, a := range []string{o.HTTPAddr, o.HTTPSAddr} {
		if a == "-" {
			continue
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, s := range servers {
				_ = s.Close()
			}
			return fmt.Errorf("listen %s: %w", a, err)
		}
		addrs[i] = ln.Addr().String()
		srv := &http.Server{
			Handler:           c,
			ReadHeaderTimeout: 30 * time.Second,
			IdleTimeout:       120 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		}
		servers = append(servers, srv)
		if i == 1 {
			srv.TLSConfig = c.TLSConfig()
			go func() { errc <- srv.ServeTLS(ln, "", "") }()
		} else {
			go func() { errc <- srv.Serve(ln) }()
		}
	}
	log.Info("ingress controller serving", slog.String("http", addrs[0]), slog.String("https", addrs[1]),
		slog.String("class", o.ClassName))
	if ready != nil {
		ready(addrs[0], addrs[1])
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		} else {
			err = fmt.Errorf("serve: %w", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(sctx)
	}
	return err
}

// hostIPv4 returns the first non-loopback IPv4 address of the host, or
// 127.0.0.1.
func hostIPv4() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
				return n.IP.String()
			}
		}
	}
	return "127.0.0.1"
}
