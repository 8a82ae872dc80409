package kubeproxy

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"skiff.dev/kubeproxy/internal/conntrack"
	"skiff.dev/kubeproxy/internal/iptables"
	"skiff.dev/kubeproxy/internal/proxier"
	"skiff.dev/kubeproxy/internal/rules"
)

// Options configures kube-proxy.
type Options struct {
	// Kubeconfig is the path of a kubeconfig file.
	Kubeconfig string
	// RESTConfig, when set, overrides Kubeconfig (used by `skiff up`).
	RESTConfig *rest.Config
	// ClusterCIDR is the pod network; traffic to a ClusterIP from outside it
	// is masqueraded. Empty disables that rule.
	ClusterCIDR string
	// MasqueradeAll masquerades all traffic sent to ClusterIPs.
	MasqueradeAll bool
	// MasqueradeBit is the fwmark bit (1–31) that flags packets for SNAT;
	// 0 means the default, 14.
	MasqueradeBit int
	// MinSyncPeriod rate-limits syncs: at most one per period.
	MinSyncPeriod time.Duration
	// SyncPeriod is how often rules are re-checked without any change.
	SyncPeriod time.Duration
	// IPTablesDir, when set, is a directory holding the iptables,
	// iptables-save and iptables-restore executables to use instead of the
	// ones on PATH (e.g. wrappers that enter a network namespace).
	IPTablesDir string
	// NodeName is this node's name as the kubelet registers it (default:
	// the lowercased hostname); endpoints on other nodes get no hairpin rule.
	NodeName string
	// ConntrackNetNS is the path of the network namespace whose conntrack
	// table stale UDP entries are deleted from (default: this process's;
	// tests point it at the namespace their iptables wrappers enter).
	ConntrackNetNS string
	// DisableConntrack turns off deleting stale UDP conntrack entries.
	DisableConntrack bool
	// EndpointChains renders upstream kube-proxy's chain layout: a KUBE-SEP
	// chain per endpoint and a KUBE-EXT chain per Service port with a
	// NodePort or external IPs, instead of one KUBE-SVC chain per Service
	// port that DNATs directly. Same behaviour, ~11× the chains; iptables-nft
	// restores get slower with every chain (a full sync of 1,000 Services ×
	// 10 endpoints takes several times as long). Switching either way cleans
	// up the other layout's chains on the first sync.
	EndpointChains bool
	// Cleanup removes kube-proxy's chains and rules and returns.
	Cleanup bool
	// Logger receives the component's logs (default slog.Default()).
	Logger *slog.Logger
}

// AddFlags registers the options on fs with their defaults.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "path of the kubeconfig file")
	fs.StringVar(&o.ClusterCIDR, "cluster-cidr", o.ClusterCIDR, "pod network CIDR; traffic to ClusterIPs from outside it is masqueraded")
	fs.BoolVar(&o.MasqueradeAll, "masquerade-all", o.MasqueradeAll, "masquerade all traffic sent to ClusterIPs")
	if o.MasqueradeBit == 0 {
		o.MasqueradeBit = 14
	}
	fs.IntVar(&o.MasqueradeBit, "iptables-masquerade-bit", o.MasqueradeBit, "fwmark bit (1-31) flagging packets for SNAT")
	if o.MinSyncPeriod == 0 {
		o.MinSyncPeriod = time.Second
	}
	fs.DurationVar(&o.MinSyncPeriod, "iptables-min-sync-period", o.MinSyncPeriod, "least time between two rule syncs")
	if o.SyncPeriod == 0 {
		o.SyncPeriod = 30 * time.Second
	}
	fs.DurationVar(&o.SyncPeriod, "iptables-sync-period", o.SyncPeriod, "how often rules are re-checked without changes")
	fs.StringVar(&o.IPTablesDir, "iptables-dir", o.IPTablesDir, "directory holding iptables, iptables-save and iptables-restore (default: PATH)")
	fs.StringVar(&o.NodeName, "hostname-override", o.NodeName, "this node's name (default: the lowercased hostname)")
	fs.BoolVar(&o.EndpointChains, "endpoint-chains", o.EndpointChains,
		"render upstream kube-proxy's chain layout: KUBE-SVC -> one KUBE-SEP chain per endpoint (hairpin masquerade, DNAT), "+
			"KUBE-EXT for node-port and external-IP traffic (default: one KUBE-SVC chain per Service port that DNATs directly). "+
			"Same Service behaviour, ~11x the chains: with iptables-nft a full sync of 1,000 Services x 10 endpoints "+
			"takes ~4-6 s of CPU instead of ~0.6-0.9 s (docs/benchmarks/network.md)")
	fs.BoolVar(&o.Cleanup, "cleanup", o.Cleanup, "remove kube-proxy's chains and rules, then exit")
}

// Validate reports the first invalid option.
func (o *Options) Validate() error {
	if o.ClusterCIDR != "" {
		p, err := netip.ParsePrefix(o.ClusterCIDR)
		if err != nil || !p.Addr().Is4() {
			return fmt.Errorf("--cluster-cidr %q: not an IPv4 CIDR", o.ClusterCIDR)
		}
	}
	if o.MasqueradeBit < 0 || o.MasqueradeBit > 31 {
		return fmt.Errorf("--iptables-masquerade-bit %d: must be within 1-31", o.MasqueradeBit)
	}
	if o.MinSyncPeriod < 0 || o.SyncPeriod < 0 {
		return errors.New("sync periods must not be negative")
	}
	if o.SyncPeriod > 0 && o.MinSyncPeriod > o.SyncPeriod {
		return fmt.Errorf("--iptables-min-sync-period %s exceeds --iptables-sync-period %s", o.MinSyncPeriod, o.SyncPeriod)
	}
	if !o.Cleanup && o.RESTConfig == nil && o.Kubeconfig == "" {
		return errors.New("--kubeconfig is required")
	}
	return nil
}

// Run programs the node's iptables until ctx ends (or, with Cleanup,
// removes the rules and returns).
func Run(ctx context.Context, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With(slog.String("component", "kube-proxy"))
	if o.MasqueradeBit == 0 {
		o.MasqueradeBit = 14
	}
	runner, err := iptables.New(o.IPTablesDir)
	if err != nil {
		return err
	}
	if o.Cleanup {
		if err := proxier.Cleanup(ctx, runner); err != nil {
			return fmt.Errorf("cleanup: %w", err)
		}
		log.Info("removed kube-proxy rules")
		return nil
	}
	cfg := o.RESTConfig
	if cfg == nil {
		if cfg, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig); err != nil {
			return fmt.Errorf("load kubeconfig: %w", err)
		}
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "skiff-kube-proxy"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if o.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("hostname: %w", err)
		}
		o.NodeName = strings.ToLower(h)
	}
	var ct proxier.Conntrack
	if !o.DisableConntrack {
		t, err := conntrack.Open(o.ConntrackNetNS)
		if err != nil {
			return err
		}
		defer t.Close()
		ct = t
	}
	p, factory := newProxier(client, runner, ct, o, log)
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
	log.Info("kube-proxy started", slog.String("clusterCIDR", o.ClusterCIDR), slog.Bool("endpointChains", o.EndpointChains))
	p.Run(ctx)
	return nil
}

func newProxier(client kubernetes.Interface, runner proxier.Runner, ct proxier.Conntrack, o Options, log *slog.Logger) (*proxier.Proxier, informers.SharedInformerFactory) {
	factory := informers.NewSharedInformerFactory(client, 0)
	svcInf := factory.Core().V1().Services()
	sliceInf := factory.Discovery().V1().EndpointSlices()
	p := proxier.New(runner, svcInf.Lister(), sliceInf.Lister(), proxier.Options{
		Rules: rules.Config{
			ClusterCIDR: o.ClusterCIDR, MasqueradeAll: o.MasqueradeAll,
			MasqueradeBit: o.MasqueradeBit, RandomFully: hasRandomFully(runner),
			EndpointChains: o.EndpointChains,
		},
		NodeName:      o.NodeName,
		Conntrack:     ct,
		MinSyncPeriod: o.MinSyncPeriod,
		SyncPeriod:    o.SyncPeriod,
		Logger:        log,
	})
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { p.Trigger() },
		UpdateFunc: func(any, any) { p.Trigger() },
		DeleteFunc: func(any) { p.Trigger() },
	}
	_, _ = svcInf.Informer().AddEventHandler(h)
	_, _ = sliceInf.Informer().AddEventHandler(h)
	return p, factory
}

func hasRandomFully(r proxier.Runner) bool {
	if rf, ok := r.(interface{ HasRandomFully() bool }); ok {
		return rf.HasRandomFully()
	}
	return false
}
