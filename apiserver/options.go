package apiserver

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Options configures a Server. Fill it with AddFlags or by hand, then call
// Validate (New does).
type Options struct {
	// DataDir holds the embedded etcd data and the admin kubeconfig
	// (default ~/.skiff/apiserver).
	DataDir string
	// BindAddress is the IP the API listens on (default 127.0.0.1).
	BindAddress string
	// Port is the API port (the flag defaults to 6443; 0 picks a free
	// port). Plain HTTP until TLS and authentication land.
	Port int
	// EtcdServers, when set, are the client URLs of an external etcd
	// cluster used instead of the embedded one.
	EtcdServers []string
	// ServiceClusterIPRange is the CIDR Service cluster IPs come from
	// (default 10.96.0.0/12).
	ServiceClusterIPRange string
	// ServiceNodePortRange is the range node ports come from (default
	// 30000-32767).
	ServiceNodePortRange string
	// CompactionInterval is how often etcd history is compacted (default 5m;
	// negative disables compaction).
	CompactionInterval time.Duration
	// EventTTL is how long Events are kept after they were last seen
	// (default 1h; negative keeps them forever).
	EventTTL time.Duration
	// WatchCacheSize is how many events each resource's watch cache keeps
	// (default 10000).
	WatchCacheSize int
	// KubeconfigPath is where an admin kubeconfig is written once serving
	// (default <DataDir>/admin.kubeconfig; "-" disables).
	KubeconfigPath string
	// TLSCertFile and TLSKeyFile are reserved for the security issue; they
	// must be empty for now.
	TLSCertFile, TLSKeyFile string

	// Admission replaces the admission chain. When nil, the server runs the
	// cluster's Wasm AdmissionPolicies (skiff.dev/plugins/admission) unless
	// DisableWasmAdmission is set.
	Admission Admission
	// DisableWasmAdmission turns Wasm AdmissionPolicies off.
	DisableWasmAdmission bool
	// GCPercent sets the Go garbage collector's target (as GOGC does) for
	// the process when GOGC is not set in the environment: the create path
	// allocates briskly, and 200 trades a little memory for ~20% more
	// creates/s and a lower p99 (docs/benchmarks/apiserver.md). 0 leaves
	// the runtime's default.
	GCPercent int
	// Logger receives the server's logs (default slog.Default()).
	Logger *slog.Logger
}

// AddFlags registers the options as command-line flags.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.DataDir, "data-dir", o.DataDir, "directory for embedded etcd data and the admin kubeconfig (default ~/.skiff/apiserver)")
	fs.StringVar(&o.BindAddress, "bind-address", "127.0.0.1", "IP address to serve the API on")
	fs.IntVar(&o.Port, "port", 6443, "port to serve the API on (plain HTTP for now; 0 picks a free port)")
	fs.Func("etcd-servers", "comma-separated client URLs of an external etcd cluster (default: embedded etcd)", func(s string) error {
		o.EtcdServers = nil
		for _, u := range strings.Split(s, ",") {
			if u = strings.TrimSpace(u); u != "" {
				o.EtcdServers = append(o.EtcdServers, u)
			}
		}
		return nil
	})
	fs.StringVar(&o.ServiceClusterIPRange, "service-cluster-ip-range", "10.96.0.0/12", "CIDR from which Service cluster IPs are allocated")
	fs.StringVar(&o.ServiceNodePortRange, "service-node-port-range", "30000-32767", "port range from which NodePort Services get node ports")
	fs.DurationVar(&o.CompactionInterval, "etcd-compaction-interval", 5*time.Minute, "how often to compact etcd history (negative disables)")
	fs.DurationVar(&o.EventTTL, "event-ttl", time.Hour, "how long to keep events after they were last seen (negative keeps them)")
	fs.IntVar(&o.WatchCacheSize, "watch-cache-size", 10000, "events kept per resource for watch resumption")
	fs.StringVar(&o.KubeconfigPath, "write-kubeconfig", "", "where to write an admin kubeconfig (default <data-dir>/admin.kubeconfig; - disables)")
	fs.BoolVar(&o.DisableWasmAdmission, "disable-wasm-admission", false, "do not run the cluster's Wasm AdmissionPolicies")
	fs.IntVar(&o.GCPercent, "gc-percent", 200, "Go GC target percentage when GOGC is unset (0 keeps the runtime default)")
	fs.StringVar(&o.TLSCertFile, "tls-cert-file", "", "serving certificate (not supported yet)")
	fs.StringVar(&o.TLSKeyFile, "tls-private-key-file", "", "serving key (not supported yet)")
}

// Validate checks the options and fills defaults.
func (o *Options) Validate() error {
	var errs []error
	if o.DataDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			errs = append(errs, fmt.Errorf("--data-dir is required (no home directory: %v)", err))
		}
		o.DataDir = filepath.Join(home, ".skiff", "apiserver")
	}
	if o.BindAddress == "" {
		o.BindAddress = "127.0.0.1"
	}
	if net.ParseIP(o.BindAddress) == nil {
		errs = append(errs, fmt.Errorf("--bind-address %q is not an IP address", o.BindAddress))
	}
	if o.Port < 0 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("--port %d is out of range", o.Port))
	}
	for _, u := range o.EtcdServers {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			errs = append(errs, fmt.Errorf("--etcd-servers: %q is not an http(s) URL", u))
		}
	}
	if o.ServiceClusterIPRange == "" {
		o.ServiceClusterIPRange = "10.96.0.0/12"
	}
	if _, err := netip.ParsePrefix(o.ServiceClusterIPRange); err != nil {
		errs = append(errs, fmt.Errorf("--service-cluster-ip-range: %v", err))
	}
	if o.ServiceNodePortRange == "" {
		o.ServiceNodePortRange = "30000-32767"
	}
	if lo, hi, ok := strings.Cut(o.ServiceNodePortRange, "-"); !ok || lo == "" || hi == "" {
		errs = append(errs, fmt.Errorf("--service-node-port-range %q: want MIN-MAX", o.ServiceNodePortRange))
	}
	if o.CompactionInterval == 0 {
		o.CompactionInterval = 5 * time.Minute
	}
	if o.EventTTL == 0 {
		o.EventTTL = time.Hour
	}
	if o.WatchCacheSize < 0 {
		errs = append(errs, errors.New("--watch-cache-size must not be negative"))
	}
	if o.KubeconfigPath == "" {
		o.KubeconfigPath = filepath.Join(o.DataDir, "admin.kubeconfig")
	}
	if o.TLSCertFile != "" || o.TLSKeyFile != "" {
		errs = append(errs, errors.New("TLS serving is not supported yet: leave --tls-cert-file and --tls-private-key-file empty"))
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return errors.Join(errs...)
}
