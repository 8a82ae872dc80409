package kubelet

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"
)

// Options configure a kubelet.
type Options struct {
	// Kubeconfig is the path of a kubeconfig for the API server.
	Kubeconfig string
	// RESTConfig, when set, overrides Kubeconfig (used by `skiff up`, which
	// composes every component in one process).
	RESTConfig *rest.Config
	// NodeName is the Node to register (default: the hostname). In hollow
	// mode it is the prefix of the hollow nodes' names.
	NodeName string
	// NodeIP is the address reported in status.addresses (default: the
	// address of the interface holding the default route).
	NodeIP string
	// NodeLabels are added to the Node's labels.
	NodeLabels map[string]string
	// ContainerRuntimeEndpoint is the CRI socket, e.g.
	// unix:///run/containerd/containerd.sock.
	ContainerRuntimeEndpoint string
	// RootDir holds pod volumes and container logs (default /var/lib/skiff/kubelet).
	RootDir string
	// Address and ServerPort are where the kubelet HTTP server listens
	// (default 0.0.0.0:10250; port 0 disables the server).
	Address    string
	ServerPort int
	// TLSCertFile and TLSKeyFile are the server's certificate and key. When
	// both are empty the kubelet serves a self-signed certificate it keeps
	// in RootDir/pki (as the Kubernetes kubelet does).
	TLSCertFile string
	TLSKeyFile  string
	// ClientCAFile verifies client certificates (CN = user, O = groups).
	// Empty means the CA bundle of the API server connection (skiff's one
	// cluster CA), and no x509 authentication when there is none.
	ClientCAFile string
	// AnonymousAuth lets requests without credentials in as
	// system:anonymous (they are still authorized); default false: 401.
	AnonymousAuth bool
	// AuthorizationMode is Webhook (SubjectAccessReview to the API server,
	// the default) or AlwaysAllow.
	AuthorizationMode string
	// PodCIDR is the pod range of the CNI network when the Node gets no
	// spec.podCIDR within PodCIDRWait of registration (default 10.244.0.0/24).
	PodCIDR string
	// PodCIDRWait is how long to wait for node IPAM (default 2s).
	PodCIDRWait time.Duration
	// CNIConfDir is where the CNI conflist is written (default
	// /etc/cni/net.d; empty string with SkipCNI leaves CNI alone).
	CNIConfDir string
	// CNIBridge is the Linux bridge of the pod network (default skiff0).
	CNIBridge string
	// SkipCNI leaves the CNI configuration to someone else.
	SkipCNI bool
	// PodMasquerade is how pod traffic leaving the pod network is
	// source-NATed: "node" (default) installs one iptables rule set for the
	// whole pod CIDR when the CNI config is written; "cni" uses the bridge
	// plugin's ipMasq, which adds and removes an iptables chain for every
	// pod (≈90 ms of CPU per pod start+stop here); "none" does neither.
	PodMasquerade string
	// CNINoPortMap leaves the portmap plugin out of the CNI chain: every
	// pod start and stop then skips one plugin exec (≈15–20 ms of CPU per
	// pod here), and hostPort mappings are not set up.
	CNINoPortMap bool
	// ClusterDNS servers and ClusterDomain for pods with dnsPolicy ClusterFirst.
	ClusterDNS    []string
	ClusterDomain string
	// MaxPods is the pods capacity (default 110).
	MaxPods int
	// CgroupRoot is the cgroupfs parent of pod cgroups (default /skiff).
	CgroupRoot string
	// MaxParallelPodStarts bounds how many pods create their sandbox and
	// first containers at once (default 4; 0 or less: no bound). A burst
	// then becomes Running in arrival order instead of all at the end.
	MaxParallelPodStarts int
	// RestartBackoff and MaxRestartBackoff bound CrashLoopBackOff (default 10s, 5m).
	RestartBackoff    time.Duration
	MaxRestartBackoff time.Duration
	// ContainerLogMaxSize rotates container logs past this many bytes (default 10 MiB).
	ContainerLogMaxSize int64
	// StatusInterval between node status updates (default 10s).
	StatusInterval time.Duration
	// Hollow runs HollowNodes fake nodes without a runtime.
	Hollow      bool
	HollowNodes int
	// Log is the logger (default slog.Default()).
	Log *slog.Logger
}

// PodMasquerade modes.
const (
	MasqueradeNode = "node"
	MasqueradeCNI  = "cni"
	MasqueradeNone = "none"
)

// Defaults for Options.
const (
	DefaultRootDir = "/var/lib/skiff/kubelet"
	// DefaultMaxParallelPodStarts is the default MaxParallelPodStarts.
	DefaultMaxParallelPodStarts = 4
	DefaultPort                 = 10250
	DefaultPodCIDR              = "10.244.0.0/24"
	DefaultCNIConfDir           = "/etc/cni/net.d"
	DefaultEndpoint             = "unix:///run/containerd/containerd.sock"
)

// NewOptions returns Options with defaults filled in.
func NewOptions() Options {
	return Options{
		RootDir:                  DefaultRootDir,
		Address:                  "0.0.0.0",
		AuthorizationMode:        "Webhook",
		ServerPort:               DefaultPort,
		PodCIDR:                  DefaultPodCIDR,
		PodCIDRWait:              2 * time.Second,
		CNIConfDir:               DefaultCNIConfDir,
		CNIBridge:                "skiff0",
		PodMasquerade:            MasqueradeNode,
		ClusterDomain:            "cluster.local",
		ContainerRuntimeEndpoint: DefaultEndpoint,
		MaxPods:                  110,
		CgroupRoot:               "/skiff",
		MaxParallelPodStarts:     DefaultMaxParallelPodStarts,
		RestartBackoff:           10 * time.Second,
		MaxRestartBackoff:        5 * time.Minute,
		StatusInterval:           10 * time.Second,
		ContainerLogMaxSize:      10 << 20,
	}
}

type listFlag struct{ v *[]string }

func (l listFlag) String() string {
	if l.v == nil {
		return ""
	}
	return strings.Join(*l.v, ",")
}

func (l listFlag) Set(s string) error {
	*l.v = nil
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l.v = append(*l.v, p)
		}
	}
	return nil
}

type mapFlag struct{ v *map[string]string }

func (m mapFlag) String() string {
	if m.v == nil {
		return ""
	}
	var parts []string
	for k, v := range *m.v {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

func (m mapFlag) Set(s string) error {
	out := map[string]string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return fmt.Errorf("label %q: want key=value", p)
		}
		out[k] = v
	}
	*m.v = out
	return nil
}

// AddFlags binds the options to fs.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig of the API server")
	fs.StringVar(&o.NodeName, "node-name", o.NodeName, "name of the Node to register (default: hostname); the name prefix with --hollow")
	fs.StringVar(&o.NodeIP, "node-ip", o.NodeIP, "node address to report (default: address of the default-route interface)")
	fs.Var(mapFlag{&o.NodeLabels}, "node-labels", "extra node labels, key=value,…")
	fs.StringVar(&o.ContainerRuntimeEndpoint, "container-runtime-endpoint", o.ContainerRuntimeEndpoint, "CRI endpoint")
	fs.StringVar(&o.RootDir, "root-dir", o.RootDir, "directory for pod volumes and container logs")
	fs.StringVar(&o.Address, "address", o.Address, "address the kubelet server listens on")
	fs.IntVar(&o.ServerPort, "port", o.ServerPort, "port of the kubelet server (logs, exec, stats); 0 disables it")
	fs.StringVar(&o.TLSCertFile, "tls-cert-file", o.TLSCertFile, "serving certificate of the kubelet server (default: self-signed in <root-dir>/pki)")
	fs.StringVar(&o.TLSKeyFile, "tls-private-key-file", o.TLSKeyFile, "private key of --tls-cert-file")
	fs.StringVar(&o.ClientCAFile, "client-ca-file", o.ClientCAFile, "CA bundle that verifies client certificates (default: the CA of the API server connection)")
	fs.BoolVar(&o.AnonymousAuth, "anonymous-auth", o.AnonymousAuth, "let requests without credentials in as system:anonymous")
	fs.StringVar(&o.AuthorizationMode, "authorization-mode", o.AuthorizationMode, "Webhook (SubjectAccessReview) or AlwaysAllow")
	fs.StringVar(&o.PodCIDR, "pod-cidr", o.PodCIDR, "pod range when the Node gets no spec.podCIDR from node IPAM within --pod-cidr-wait")
	fs.DurationVar(&o.PodCIDRWait, "pod-cidr-wait", o.PodCIDRWait, "how long to wait for the Node's spec.podCIDR before using --pod-cidr")
	fs.StringVar(&o.CNIConfDir, "cni-conf-dir", o.CNIConfDir, "directory the runtime reads CNI conflists from")
	fs.StringVar(&o.CNIBridge, "cni-bridge", o.CNIBridge, "Linux bridge name of the pod network")
	fs.BoolVar(&o.SkipCNI, "skip-cni", o.SkipCNI, "do not write a CNI conflist")
	fs.StringVar(&o.PodMasquerade, "pod-masquerade", o.PodMasquerade, "source NAT for pod traffic leaving the pod network: node (one iptables rule set for the pod CIDR), cni (the bridge plugin's per-pod ipMasq) or none")
	fs.BoolVar(&o.CNINoPortMap, "cni-no-portmap", o.CNINoPortMap, "leave the CNI portmap plugin out (no hostPort support; saves a plugin exec per pod start and stop)")
	fs.Var(listFlag{&o.ClusterDNS}, "cluster-dns", "cluster DNS server IPs, comma separated")
	fs.StringVar(&o.ClusterDomain, "cluster-domain", o.ClusterDomain, "cluster DNS domain")
	fs.IntVar(&o.MaxPods, "max-pods", o.MaxPods, "pods capacity of the node")
	fs.StringVar(&o.CgroupRoot, "cgroup-root", o.CgroupRoot, "cgroupfs parent of pod cgroups")
	fs.IntVar(&o.MaxParallelPodStarts, "max-parallel-pod-starts", o.MaxParallelPodStarts, "pods that create their sandbox and first containers at once; 0: no bound")
	fs.DurationVar(&o.RestartBackoff, "restart-backoff", o.RestartBackoff, "initial container restart back-off")
	fs.DurationVar(&o.MaxRestartBackoff, "max-restart-backoff", o.MaxRestartBackoff, "maximum container restart back-off")
	fs.Int64Var(&o.ContainerLogMaxSize, "container-log-max-size", o.ContainerLogMaxSize, "rotate a container's log file past this many bytes")
	fs.DurationVar(&o.StatusInterval, "node-status-update-frequency", o.StatusInterval, "interval of node status updates")
	fs.BoolVar(&o.Hollow, "hollow", o.Hollow, "run fake nodes without a container runtime (scale tests)")
	fs.IntVar(&o.HollowNodes, "hollow-nodes", o.HollowNodes, "number of hollow nodes")
}

// Validate checks the options.
func (o *Options) Validate() error {
	var errs []error
	if o.RESTConfig == nil && o.Kubeconfig == "" {
		errs = append(errs, errors.New("--kubeconfig is required"))
	}
	if o.Hollow {
		if o.HollowNodes <= 0 {
			errs = append(errs, fmt.Errorf("--hollow-nodes must be positive with --hollow, got %d", o.HollowNodes))
		}
		return joinErrs(errs)
	}
	if o.ContainerRuntimeEndpoint == "" {
		errs = append(errs, errors.New("--container-runtime-endpoint is required"))
	}
	if o.RootDir == "" || !filepath.IsAbs(o.RootDir) {
		errs = append(errs, fmt.Errorf("--root-dir %q must be an absolute path", o.RootDir))
	}
	if o.ServerPort < 0 || o.ServerPort > 65535 {
		errs = append(errs, fmt.Errorf("--port %d is out of range", o.ServerPort))
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		errs = append(errs, errors.New("--tls-cert-file and --tls-private-key-file go together"))
	}
	switch o.AuthorizationMode {
	case "", "Webhook", "AlwaysAllow":
	default:
		errs = append(errs, fmt.Errorf("--authorization-mode %q: want Webhook or AlwaysAllow", o.AuthorizationMode))
	}
	if o.PodCIDR != "" {
		if _, _, err := net.ParseCIDR(o.PodCIDR); err != nil {
			errs = append(errs, fmt.Errorf("--pod-cidr %q is not a CIDR", o.PodCIDR))
		}
	}
	if o.NodeIP != "" && net.ParseIP(o.NodeIP) == nil {
		errs = append(errs, fmt.Errorf("--node-ip %q is not an IP address", o.NodeIP))
	}
	for _, d := range o.ClusterDNS {
		if net.ParseIP(d) == nil {
			errs = append(errs, fmt.Errorf("--cluster-dns %q is not an IP address", d))
		}
	}
	if o.ContainerLogMaxSize < 0 {
		errs = append(errs, fmt.Errorf("--container-log-max-size must not be negative, got %d", o.ContainerLogMaxSize))
	}
	if o.MaxPods <= 0 {
		errs = append(errs, fmt.Errorf("--max-pods must be positive, got %d", o.MaxPods))
	}
	switch o.PodMasquerade {
	case "", MasqueradeNode, MasqueradeCNI, MasqueradeNone:
	default:
		errs = append(errs, fmt.Errorf("--pod-masquerade %q: want node, cni or none", o.PodMasquerade))
	}
	if len(o.CNIBridge) > 15 {
		errs = append(errs, fmt.Errorf("--cni-bridge %q is longer than 15 characters", o.CNIBridge))
	}
	return joinErrs(errs)
}

// joinErrs joins errors on one line, for a one-line CLI message.
func joinErrs(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}
