// Package dashboard serves skiff's live web UI: a single-page app embedded
// in the binary, a websocket that multiplexes many list+watch streams per
// browser tab, and a proxy to the apiserver that acts with the user's own
// bearer token. Only a loopback dashboard without --require-token serves
// requests that carry no token, and those act with the dashboard's own
// credentials (in `skiff up`, the client certificate of
// system:skiff:dashboard). Every upstream request goes through one
// transport built from the client config (TLS trust, and credentials only
// where no user token is present).
//
// Start it with Run(ctx, opts); everything else lives under internal/.
package dashboard

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff.dev/dashboard/internal/server"
)

// DefaultListen is the address the dashboard listens on when Options.Listen is empty.
const DefaultListen = "127.0.0.1:8001"

// Options configures the dashboard server.
type Options struct {
	// APIServer is the apiserver's base URL (e.g. http://127.0.0.1:6443 for
	// an --insecure-http apiserver). With Kubeconfig it overrides the
	// kubeconfig's server; alone it gives no TLS trust and no credentials.
	APIServer string
	// Kubeconfig is the path of a kubeconfig: the apiserver address, TLS
	// trust and the dashboard's own credentials (used only for requests
	// without a user token, see package doc). Preferred over APIServer.
	Kubeconfig string
	// RESTConfig, when set, wins over APIServer and Kubeconfig.
	RESTConfig *rest.Config
	// Listen is the address to serve on (default 127.0.0.1:8001).
	Listen string
	// RequireToken makes every request carry a bearer token. It is forced on
	// when Listen is not a loopback address.
	RequireToken bool
	// QueueSize bounds the messages queued per browser socket before the
	// socket is dropped as too slow (default 1024).
	QueueSize int
	// Logger receives the server's logs (default slog.Default()).
	Logger *slog.Logger
	// Ready, when set, is called with the bound address once serving.
	Ready func(addr string)
}

// AddFlags registers the options as command-line flags.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.APIServer, "apiserver", o.APIServer, "apiserver URL; overrides the --kubeconfig server (alone: plain http:// for --insecure-http clusters)")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig giving the apiserver address, TLS trust and the dashboard's credentials (used only for requests without a user token on loopback)")
	fs.StringVar(&o.Listen, "listen", o.Listen, "address to serve the dashboard on (default "+DefaultListen+")")
	fs.BoolVar(&o.RequireToken, "require-token", o.RequireToken, "require a bearer token even on loopback")
	fs.IntVar(&o.QueueSize, "socket-queue", o.QueueSize, "messages buffered per browser socket before it is dropped as slow (default 1024)")
}

// Validate reports the first problem with the options.
func (o *Options) Validate() error {
	if o.RESTConfig == nil && o.APIServer == "" && o.Kubeconfig == "" {
		return errors.New("one of --apiserver or --kubeconfig is required")
	}
	listen := o.Listen
	if listen == "" {
		listen = DefaultListen
	}
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return fmt.Errorf("--listen %q: %w", o.Listen, err)
	}
	if o.QueueSize < 0 {
		return errors.New("--socket-queue must not be negative")
	}
	return nil
}

func (o *Options) restConfig() (*rest.Config, error) {
	switch {
	case o.RESTConfig != nil:
		return rest.CopyConfig(o.RESTConfig), nil
	case o.Kubeconfig != "":
		cfg, err := clientcmd.BuildConfigFromFlags(o.APIServer, o.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("load kubeconfig %s: %w", o.Kubeconfig, err)
		}
		return cfg, nil
	default:
		return &rest.Config{Host: o.APIServer}, nil
	}
}

// Run serves the dashboard until ctx is cancelled.
func Run(ctx context.Context, opts Options) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg, err := opts.restConfig()
	if err != nil {
		return err
	}
	listen := opts.Listen
	if listen == "" {
		listen = DefaultListen
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", listen, err)
	}
	loopback := isLoopback(ln.Addr())
	srv, err := server.New(server.Options{
		RESTConfig:   cfg,
		RequireToken: opts.RequireToken || !loopback,
		QueueSize:    opts.QueueSize,
		Logger:       log,
	})
	if err != nil {
		ln.Close()
		return err
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("dashboard serving", slog.String("url", "http://"+ln.Addr().String()+"/"), slog.String("apiserver", cfg.Host),
		slog.Bool("requireToken", opts.RequireToken || !loopback))
	if opts.Ready != nil {
		opts.Ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Close()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		hs.Close()
	}
	return nil
}

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
