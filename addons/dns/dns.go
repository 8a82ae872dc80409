// Package dns runs cluster DNS: it serves <service>.<namespace>.svc.<domain>
// A and SRV records (ClusterIP, or ready endpoint IPs for headless
// Services), PTR records for Service IPs, NXDOMAIN for names that do not
// exist in the cluster domain, and forwards every other name to the host's
// upstream resolvers. It listens on UDP and TCP.
package dns

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff.dev/addons/dns/internal/resolver"
)

// Options configures cluster DNS.
type Options struct {
	// Kubeconfig is the path of a kubeconfig file.
	Kubeconfig string
	// RESTConfig, when set, overrides Kubeconfig (used by `skiff up`).
	RESTConfig *rest.Config
	// Listen is the UDP and TCP address to serve on (default 0.0.0.0:53).
	Listen string
	// Domain is the cluster domain (default cluster.local).
	Domain string
	// Upstreams are "host[:port]" resolvers for names outside the cluster;
	// when empty they are read from ResolvConf.
	Upstreams []string
	// ResolvConf is the resolv.conf the upstreams come from (default /etc/resolv.conf).
	ResolvConf string
	// TTL of cluster records in seconds (default 5).
	TTL int
	// ServiceIP, when set, registers kube-system/kube-dns with this fixed
	// ClusterIP and an EndpointSlice pointing at AdvertiseAddress, so pods
	// reach this process through kube-proxy (DNS run as a process, not a pod).
	ServiceIP string
	// AdvertiseAddress is the IPv4 address of this process for the
	// EndpointSlice (default: the host's first non-loopback IPv4).
	AdvertiseAddress string
	// Logger receives the component's logs (default slog.Default()).
	Logger *slog.Logger
}

// AddFlags registers the options on fs with their defaults.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	o.defaults()
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "path of the kubeconfig file")
	fs.StringVar(&o.Listen, "listen", o.Listen, "UDP and TCP address to serve DNS on")
	fs.StringVar(&o.Domain, "cluster-domain", o.Domain, "cluster DNS domain")
	fs.StringVar(&o.ResolvConf, "resolv-conf", o.ResolvConf, "resolv.conf naming the upstream resolvers")
	fs.Func("upstream", "upstream resolver host[:port] (repeatable; default: from --resolv-conf)", func(s string) error {
		for _, u := range strings.Split(s, ",") {
			if u = strings.TrimSpace(u); u != "" {
				o.Upstreams = append(o.Upstreams, u)
			}
		}
		return nil
	})
	fs.IntVar(&o.TTL, "ttl", o.TTL, "TTL in seconds of cluster records")
	fs.StringVar(&o.ServiceIP, "service-ip", o.ServiceIP, "register kube-system/kube-dns with this fixed ClusterIP pointing at this process (e.g. 10.96.0.10)")
	fs.StringVar(&o.AdvertiseAddress, "advertise-address", o.AdvertiseAddress, "this process's IPv4 for the kube-dns EndpointSlice (default: first non-loopback IPv4)")
}

func (o *Options) defaults() {
	if o.Listen == "" {
		o.Listen = "0.0.0.0:53"
	}
	if o.Domain == "" {
		o.Domain = "cluster.local"
	}
	if o.ResolvConf == "" {
		o.ResolvConf = "/etc/resolv.conf"
	}
	if o.TTL == 0 {
		o.TTL = 5
	}
}

// Validate reports the first invalid option.
func (o *Options) Validate() error {
	o.defaults()
	if o.RESTConfig == nil && o.Kubeconfig == "" {
		return errors.New("--kubeconfig is required")
	}
	if _, _, err := net.SplitHostPort(o.Listen); err != nil {
		return fmt.Errorf("--listen %q: %w", o.Listen, err)
	}
	if _, ok := mdns.IsDomainName(o.Domain); !ok || strings.Trim(o.Domain, ".") == "" {
		return fmt.Errorf("--cluster-domain %q: not a domain name", o.Domain)
	}
	if o.TTL < 0 || o.TTL > 3600 {
		return fmt.Errorf("--ttl %d: must be within 0-3600", o.TTL)
	}
	for _, u := range o.Upstreams {
		if _, err := upstreamAddr(u); err != nil {
			return err
		}
	}
	for flagName, v := range map[string]string{"--service-ip": o.ServiceIP, "--advertise-address": o.AdvertiseAddress} {
		if v == "" {
			continue
		}
		if a, err := netip.ParseAddr(v); err != nil || !a.Is4() {
			return fmt.Errorf("%s %q: not an IPv4 address", flagName, v)
		}
	}
	return nil
}

// hostIPv4 returns the first non-loopback IPv4 address of the host.
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

func upstreamAddr(u string) (string, error) {
	if ap, err := netip.ParseAddrPort(u); err == nil {
		return ap.String(), nil
	}
	if a, err := netip.ParseAddr(u); err == nil {
		return netip.AddrPortFrom(a, 53).String(), nil
	}
	if _, _, err := net.SplitHostPort(u); err == nil {
		return u, nil
	}
	return "", fmt.Errorf("--upstream %q: want host or host:port", u)
}

// Run serves DNS until ctx ends.
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
	cfg.UserAgent = "skiff-dns"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return serve(ctx, o, client, nil)
}

// serve runs the server with client; ready, when set, receives the bound
// address once both listeners are up.
func serve(ctx context.Context, o Options, client kubernetes.Interface, ready func(addr string)) error {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With(slog.String("component", "dns"))
	upstreams, err := upstreams(o)
	if err != nil {
		return err
	}

	factory := informers.NewSharedInformerFactory(client, 0)
	svcInf := factory.Core().V1().Services().Informer()
	sliceInf := factory.Discovery().V1().EndpointSlices().Informer()
	if err := svcInf.AddIndexers(resolver.ServiceIndexers()); err != nil {
		return fmt.Errorf("service indexers: %w", err)
	}
	if err := sliceInf.AddIndexers(resolver.SliceIndexers()); err != nil {
		return fmt.Errorf("endpointslice indexers: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("sync informer cache for %v", typ)
		}
	}

	h := resolver.New(svcInf.GetIndexer(), sliceInf.GetIndexer(), resolver.Options{
		Domain: o.Domain, Upstreams: upstreams, TTL: uint32(o.TTL), Logger: log,
	})
	pc, ln, err := listen(o.Listen)
	if err != nil {
		return err
	}
	udp := &mdns.Server{PacketConn: pc, Handler: h, ReadTimeout: 5 * time.Second}
	tcp := &mdns.Server{Listener: ln, Handler: h, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	errc := make(chan error, 2)
	started := make(chan struct{}, 2)
	for _, s := range []*mdns.Server{udp, tcp} {
		s.NotifyStartedFunc = func() { started <- struct{}{} }
		go func() { errc <- s.ActivateAndServe() }()
	}
	for i := 0; i < 2; i++ {
		select {
		case <-started:
		case err := <-errc:
			_ = udp.Shutdown()
			_ = tcp.Shutdown()
			return fmt.Errorf("serve dns: %w", err)
		}
	}
	addr := pc.LocalAddr().String()
	if o.ServiceIP != "" {
		if o.AdvertiseAddress == "" {
			o.AdvertiseAddress = hostIPv4()
		}
		port, _ := listenPort(addr)
		if h, _, _ := net.SplitHostPort(addr); net.ParseIP(h).IsLoopback() && !net.ParseIP(o.AdvertiseAddress).IsLoopback() {
			log.Warn("listening on loopback but advertising a non-loopback address; the kube-dns ClusterIP will not reach this server",
				slog.String("listen", addr), slog.String("advertise", o.AdvertiseAddress))
		}
		if err := register(ctx, client, o, port); err != nil {
			_ = udp.Shutdown()
			_ = tcp.Shutdown()
			return err
		}
		log.Info("registered kube-dns service", slog.String("clusterIP", o.ServiceIP), slog.String("endpoint", net.JoinHostPort(o.AdvertiseAddress, strconv.Itoa(port))))
	}
	log.Info("serving cluster DNS", slog.String("addr", addr), slog.String("domain", o.Domain), slog.Any("upstreams", upstreams))
	if ready != nil {
		ready(addr)
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("serve dns: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = udp.ShutdownContext(sctx)
	_ = tcp.ShutdownContext(sctx)
	return err
}

// listen binds UDP and TCP on the same address; with port 0 both get the
// same free port.
func listen(addr string) (net.PacketConn, net.Listener, error) {
	var lastErr error
	for attempt := 0; attempt < 10; attempt++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp %s: %w", addr, err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		lastErr = err
		if _, port, _ := net.SplitHostPort(addr); port != "0" {
			break
		}
	}
	return nil, nil, fmt.Errorf("listen tcp %s: %w", addr, lastErr)
}

// upstreams resolves the upstream list, reading resolv.conf when none is
// given and dropping entries that point back at our own listen address.
func upstreams(o Options) ([]string, error) {
	var out []string
	if len(o.Upstreams) > 0 {
		for _, u := range o.Upstreams {
			a, err := upstreamAddr(u)
			if err != nil {
				return nil, err
			}
			out = append(out, a)
		}
		return out, nil
	}
	cc, err := mdns.ClientConfigFromFile(o.ResolvConf)
	if err != nil {
		return nil, fmt.Errorf("read upstreams from %s: %w", o.ResolvConf, err)
	}
	for _, s := range cc.Servers {
		a := net.JoinHostPort(s, cc.Port)
		if a == o.Listen {
			continue // never forward to ourselves
		}
		out = append(out, a)
	}
	return out, nil
}
