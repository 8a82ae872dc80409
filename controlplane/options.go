package controlplane

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/rest"
)

// Options configures the controller-manager.
type Options struct {
	// Kubeconfig is the path of a kubeconfig for the API server.
	Kubeconfig string
	// RESTConfig, when set, overrides Kubeconfig (used when skiff composes
	// components in one process).
	RESTConfig *rest.Config
	// Controllers lists the controllers to run: "*" enables all, "name"
	// enables one, "-name" disables one. Default ["*"].
	Controllers []string
	// Workers is the number of concurrent syncs per controller (default 5).
	Workers int
	// QPS and Burst limit requests to the API server (default 200/400).
	QPS   float32
	Burst int

	// LeaderElect runs the controllers only while holding the Lease
	// LeaderElectNamespace/LeaderElectName, so several replicas can run.
	LeaderElect          bool
	LeaderElectNamespace string
	LeaderElectName      string
	LeaseDuration        time.Duration
	RenewDeadline        time.Duration
	RetryPeriod          time.Duration
	// Identity is this replica's leader-election identity (default hostname_random).
	Identity string

	// ClusterCIDR is the range node pod CIDRs are carved from.
	ClusterCIDR string
	// NodeCIDRMaskSize is the prefix length of each node's pod CIDR.
	NodeCIDRMaskSize int

	// NodeMonitorPeriod is how often node health is checked.
	NodeMonitorPeriod time.Duration
	// NodeMonitorGracePeriod is how long a node may be silent before it is
	// marked Ready=Unknown and tainted unreachable.
	NodeMonitorGracePeriod time.Duration
	// DefaultTolerationSeconds is how long pods without a toleration for the
	// not-ready/unreachable taints stay on a tainted node (as the upstream
	// DefaultTolerationSeconds admission plugin would have set).
	DefaultTolerationSeconds int64

	// TerminatedPodGCThreshold is how many terminated pods may exist before
	// the oldest are deleted (0 disables).
	TerminatedPodGCThreshold int
	// JobBackoffBase is the first delay before a failed Job pod is replaced
	// (doubling per failure, capped at 6 minutes); 10s by default.
	JobBackoffBase time.Duration

	// PodGCPeriod is how often the pod garbage collector runs (20s by default).
	PodGCPeriod time.Duration

	// EventTTL is how long Events are kept.
	EventTTL time.Duration

	// RootCAFile is the PEM bundle published as the ConfigMap
	// kube-root-ca.crt in every namespace (default: the CA the client
	// config trusts; without either the publisher does not run).
	RootCAFile string

	// Logger receives the controllers' logs (default slog.Default()).
	Logger *slog.Logger
}

// Controller names accepted in Options.Controllers.
var controllerNames = []string{
	"replicaset", "deployment", "garbagecollector", "namespace", "serviceaccount", "nodeipam",
	"endpoints", "endpointslice", "nodelifecycle", "job", "cronjob", "daemonset", "statefulset",
	"podgc", "eventttl", "root-ca-cert-publisher",
}

// ControllerNames returns the names of all controllers.
func ControllerNames() []string { return slices.Clone(controllerNames) }

// Defaults returns Options with every default filled in.
func Defaults() Options {
	return Options{
		Controllers:              []string{"*"},
		Workers:                  5,
		QPS:                      200,
		Burst:                    400,
		LeaderElectNamespace:     "kube-system",
		LeaderElectName:          "kube-controller-manager",
		LeaseDuration:            15 * time.Second,
		RenewDeadline:            10 * time.Second,
		RetryPeriod:              2 * time.Second,
		ClusterCIDR:              "10.244.0.0/16",
		NodeCIDRMaskSize:         24,
		NodeMonitorPeriod:        5 * time.Second,
		NodeMonitorGracePeriod:   40 * time.Second,
		DefaultTolerationSeconds: 300,
		TerminatedPodGCThreshold: 12500,
		EventTTL:                 time.Hour,
	}
}

type stringList struct{ p *[]string }

func (s stringList) String() string {
	if s.p == nil {
		return ""
	}
	return strings.Join(*s.p, ",")
}

func (s stringList) Set(v string) error {
	*s.p = nil
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			*s.p = append(*s.p, x)
		}
	}
	return nil
}

// AddFlags registers the options on fs, with defaults from Defaults for
// fields that are still zero.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	d := Defaults()
	if o.Controllers == nil {
		o.Controllers = d.Controllers
	}
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "path to a kubeconfig for the API server")
	fs.Var(stringList{&o.Controllers}, "controllers", "comma-separated controllers to run: '*' all, 'name' one, '-name' all but one; known: "+strings.Join(controllerNames, ","))
	fs.IntVar(&o.Workers, "concurrent-syncs", or(o.Workers, d.Workers), "concurrent syncs per controller")
	qps := float64(or(o.QPS, d.QPS))
	fs.Func("kube-api-qps", fmt.Sprintf("queries per second to the API server (default %v)", qps), func(s string) error {
		var v float64
		if _, err := fmt.Sscan(s, &v); err != nil {
			return err
		}
		o.QPS = float32(v)
		return nil
	})
	o.QPS = float32(qps)
	fs.IntVar(&o.Burst, "kube-api-burst", or(o.Burst, d.Burst), "burst of requests to the API server")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "hold a Lease before running controllers (for several replicas)")
	fs.StringVar(&o.LeaderElectNamespace, "leader-elect-resource-namespace", or(o.LeaderElectNamespace, d.LeaderElectNamespace), "namespace of the leader-election Lease")
	fs.StringVar(&o.LeaderElectName, "leader-elect-resource-name", or(o.LeaderElectName, d.LeaderElectName), "name of the leader-election Lease")
	fs.DurationVar(&o.LeaseDuration, "leader-elect-lease-duration", or(o.LeaseDuration, d.LeaseDuration), "leader-election lease duration")
	fs.DurationVar(&o.RenewDeadline, "leader-elect-renew-deadline", or(o.RenewDeadline, d.RenewDeadline), "leader-election renew deadline")
	fs.StringVar(&o.Identity, "identity", o.Identity, "identity of this replica in the leader-election Lease (default hostname_random)")
	fs.DurationVar(&o.RetryPeriod, "leader-elect-retry-period", or(o.RetryPeriod, d.RetryPeriod), "leader-election retry period")
	fs.StringVar(&o.ClusterCIDR, "cluster-cidr", or(o.ClusterCIDR, d.ClusterCIDR), "CIDR that node pod CIDRs are allocated from")
	fs.IntVar(&o.NodeCIDRMaskSize, "node-cidr-mask-size", or(o.NodeCIDRMaskSize, d.NodeCIDRMaskSize), "prefix length of each node's pod CIDR")
	fs.DurationVar(&o.NodeMonitorPeriod, "node-monitor-period", or(o.NodeMonitorPeriod, d.NodeMonitorPeriod), "how often node health is checked")
	fs.DurationVar(&o.NodeMonitorGracePeriod, "node-monitor-grace-period", or(o.NodeMonitorGracePeriod, d.NodeMonitorGracePeriod), "how long a node may be silent before it is marked unreachable")
	fs.Int64Var(&o.DefaultTolerationSeconds, "default-toleration-seconds", or(o.DefaultTolerationSeconds, d.DefaultTolerationSeconds), "eviction delay for pods without a toleration of the unreachable/not-ready taints")
	fs.IntVar(&o.TerminatedPodGCThreshold, "terminated-pod-gc-threshold", or(o.TerminatedPodGCThreshold, d.TerminatedPodGCThreshold), "terminated pods kept before the oldest are deleted (0 disables)")
	fs.DurationVar(&o.EventTTL, "event-ttl", or(o.EventTTL, d.EventTTL), "how long Events are kept")
	fs.StringVar(&o.RootCAFile, "root-ca-file", o.RootCAFile, "CA bundle published as ConfigMap kube-root-ca.crt in every namespace (default: the apiserver CA of the kubeconfig)")
}

func or[T comparable](v, d T) T {
	var zero T
	if v == zero {
		return d
	}
	return v
}

// withDefaults fills zero fields.
func (o Options) withDefaults() Options {
	d := Defaults()
	if len(o.Controllers) == 0 {
		o.Controllers = d.Controllers
	}
	o.Workers = or(o.Workers, d.Workers)
	o.QPS = or(o.QPS, d.QPS)
	o.Burst = or(o.Burst, d.Burst)
	o.LeaderElectNamespace = or(o.LeaderElectNamespace, d.LeaderElectNamespace)
	o.LeaderElectName = or(o.LeaderElectName, d.LeaderElectName)
	o.LeaseDuration = or(o.LeaseDuration, d.LeaseDuration)
	o.RenewDeadline = or(o.RenewDeadline, d.RenewDeadline)
	o.RetryPeriod = or(o.RetryPeriod, d.RetryPeriod)
	o.ClusterCIDR = or(o.ClusterCIDR, d.ClusterCIDR)
	o.NodeCIDRMaskSize = or(o.NodeCIDRMaskSize, d.NodeCIDRMaskSize)
	o.NodeMonitorPeriod = or(o.NodeMonitorPeriod, d.NodeMonitorPeriod)
	o.NodeMonitorGracePeriod = or(o.NodeMonitorGracePeriod, d.NodeMonitorGracePeriod)
	o.DefaultTolerationSeconds = or(o.DefaultTolerationSeconds, d.DefaultTolerationSeconds)
	o.EventTTL = or(o.EventTTL, d.EventTTL)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Validate checks the options (after defaults are applied).
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	if o.Kubeconfig == "" && o.RESTConfig == nil {
		errs = append(errs, errors.New("--kubeconfig is required"))
	}
	for _, c := range o.Controllers {
		name := strings.TrimPrefix(c, "-")
		if c != "*" && !slices.Contains(controllerNames, name) {
			errs = append(errs, fmt.Errorf("unknown controller %q (known: %s)", c, strings.Join(controllerNames, ",")))
		}
	}
	if o.Workers < 1 {
		errs = append(errs, fmt.Errorf("concurrent syncs must be at least 1, got %d", o.Workers))
	}
	p, err := netip.ParsePrefix(o.ClusterCIDR)
	if err != nil {
		errs = append(errs, fmt.Errorf("invalid cluster CIDR %q: %w", o.ClusterCIDR, err))
	} else if o.NodeCIDRMaskSize < p.Bits() || o.NodeCIDRMaskSize > p.Addr().BitLen() || o.NodeCIDRMaskSize-p.Bits() > 24 {
		errs = append(errs, fmt.Errorf("node CIDR mask size /%d does not fit cluster CIDR %s", o.NodeCIDRMaskSize, o.ClusterCIDR))
	}
	if o.LeaderElect && !(o.LeaseDuration > o.RenewDeadline && o.RenewDeadline > o.RetryPeriod) {
		errs = append(errs, errors.New("leader election needs lease duration > renew deadline > retry period"))
	}
	if o.NodeMonitorGracePeriod <= o.NodeMonitorPeriod {
		errs = append(errs, errors.New("node monitor grace period must exceed the node monitor period"))
	}
	if o.TerminatedPodGCThreshold < 0 {
		errs = append(errs, errors.New("terminated pod GC threshold must not be negative"))
	}
	return errors.Join(errs...)
}

// enabled reports whether controller name is enabled by o.Controllers.
func (o Options) enabled(name string) bool {
	on := false
	for _, c := range o.Controllers {
		switch c {
		case "*":
			on = true
		case name:
			return true
		case "-" + name:
			return false
		}
	}
	return on
}
