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
	// port). HTTPS unless InsecureHTTP.
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
	// at least (default 10000).
	WatchCacheSize int
	// WatchCacheHistory is how much history each resource's watch cache
	// keeps while events arrive faster than WatchCacheSize covers, up to
	// 102,400 events (default 75s, as kube-apiserver; negative: a fixed
	// WatchCacheSize).
	WatchCacheHistory time.Duration
	// KubeconfigPath is where an admin kubeconfig is written once serving
	// (default <DataDir>/admin.kubeconfig; "-" disables).
	KubeconfigPath string

	// InsecureHTTP serves plain HTTP without authentication or
	// authorization: every request acts as a member of system:masters. For
	// debugging and benchmarks only.
	InsecureHTTP bool
	// PKIDir holds the generated cluster CA, serving and client
	// certificates and the ServiceAccount signing key (default
	// <DataDir>/pki). Existing files are reused, so apiservers given the
	// same PKIDir share one CA and one signing key.
	PKIDir string
	// TLSCertFile and TLSKeyFile are the serving certificate and key
	// (default: generated in PKIDir, signed by the cluster CA).
	TLSCertFile, TLSKeyFile string
	// ClientCAFile verifies client certificates (default: the cluster CA
	// when the PKI is generated; otherwise empty disables x509 clients).
	ClientCAFile string
	// TokenAuthFile is a static token CSV file: token,user,uid,"g1,g2".
	TokenAuthFile string
	// ServiceAccountKeyFiles verify ServiceAccount tokens (default: the
	// signing key).
	ServiceAccountKeyFiles []string
	// ServiceAccountSigningKeyFile signs ServiceAccount tokens (default
	// <PKIDir>/sa.key, generated).
	ServiceAccountSigningKeyFile string
	// ServiceAccountIssuer is the iss of ServiceAccount tokens (default
	// https://kubernetes.default.svc.cluster.local).
	ServiceAccountIssuer string
	// APIAudiences are the audiences API tokens must be meant for
	// (default: the issuer).
	APIAudiences []string
	// AnonymousAuth lets requests without credentials in as
	// system:anonymous (group system:unauthenticated), subject to
	// authorization.
	AnonymousAuth bool
	// AuditLogPath, when set, receives one JSON audit event per mutating
	// request.
	AuditLogPath string
	// AuthorizationModes are the authorizers in order (default RBAC,Node;
	// AlwaysAllow allows every authenticated request).
	AuthorizationModes []string
	// KubeletClientCertificate and KubeletClientKey authenticate the
	// apiserver to kubelets (default: generated kubelet-client cert);
	// KubeletCertificateAuthority verifies kubelets' serving certificates
	// (default: the cluster CA when generated; empty skips verification).
	KubeletClientCertificate, KubeletClientKey, KubeletCertificateAuthority string

	// Admission replaces the admission chain. When nil, the server runs the
	// cluster's Wasm AdmissionPolicies (skiff.dev/plugins/admission) unless
	// DisableWasmAdmission is set.
	Admission Admission
	// DisableWasmAdmission turns Wasm AdmissionPolicies off.
	DisableWasmAdmission bool
	// DisableServiceAccountAdmission turns off ServiceAccount admission on
	// pod create (default account, existence check, token volume), as
	// --disable-admission-plugins=ServiceAccount does; for tests that run
	// no controller-manager to create the "default" ServiceAccount.
	DisableServiceAccountAdmission bool
	// GCPercent sets the Go garbage collector's target (as GOGC does) for
	// the process when GOGC is not set in the environment: the create path
	// allocates briskly, and 200 trades a little memory for ~20% more
	// creates/s and a lower p99 (docs/benchmarks/apiserver.md). 0 leaves
	// the runtime's default.
	GCPercent int
	// Profiling serves Go's pprof handlers under /debug/pprof/ (behind
	// authentication and authorization, like every path).
	Profiling bool
	// Logger receives the server's logs (default slog.Default()).
	Logger *slog.Logger
}

// AddFlags registers the options as command-line flags.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.DataDir, "data-dir", o.DataDir, "directory for embedded etcd data and the admin kubeconfig (default ~/.skiff/apiserver)")
	fs.StringVar(&o.BindAddress, "bind-address", "127.0.0.1", "IP address to serve the API on")
	fs.IntVar(&o.Port, "port", 6443, "port to serve the API on (HTTPS unless --insecure-http; 0 picks a free port)")
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
	fs.IntVar(&o.WatchCacheSize, "watch-cache-size", 10000, "events kept at least per resource for watch resumption")
	fs.DurationVar(&o.WatchCacheHistory, "watch-cache-history", 75*time.Second, "history the watch cache keeps while events arrive faster than --watch-cache-size covers (up to 102400 events per resource; negative: fixed size)")
	fs.StringVar(&o.KubeconfigPath, "write-kubeconfig", "", "where to write an admin kubeconfig (default <data-dir>/admin.kubeconfig; - disables)")
	fs.BoolVar(&o.Profiling, "profiling", false, "serve Go pprof handlers under /debug/pprof/ (authorized like any non-resource URL)")
	fs.BoolVar(&o.DisableWasmAdmission, "disable-wasm-admission", false, "do not run the cluster's Wasm AdmissionPolicies")
	fs.Func("disable-admission-plugins", "comma-separated built-in admission plugins to turn off (known: ServiceAccount)", func(s string) error {
		for _, p := range strings.Split(s, ",") {
			switch p = strings.TrimSpace(p); p {
			case "":
			case "ServiceAccount":
				o.DisableServiceAccountAdmission = true
			default:
				return fmt.Errorf("unknown admission plugin %q (known: ServiceAccount)", p)
			}
		}
		return nil
	})
	fs.IntVar(&o.GCPercent, "gc-percent", 200, "Go GC target percentage when GOGC is unset (0 keeps the runtime default)")
	fs.BoolVar(&o.InsecureHTTP, "insecure-http", false, "serve plain HTTP with no authentication or authorization (every request is system:masters); debugging only")
	fs.StringVar(&o.PKIDir, "pki-dir", "", "directory for the generated cluster CA, certificates and ServiceAccount key (default <data-dir>/pki)")
	fs.StringVar(&o.TLSCertFile, "tls-cert-file", "", "serving certificate (default: generated in --pki-dir)")
	fs.StringVar(&o.TLSKeyFile, "tls-private-key-file", "", "serving key (default: generated in --pki-dir)")
	fs.StringVar(&o.ClientCAFile, "client-ca-file", "", "CA bundle that verifies client certificates (default: the generated cluster CA)")
	fs.StringVar(&o.TokenAuthFile, "token-auth-file", "", `static bearer tokens, CSV: token,user,uid,"group1,group2"`)
	fs.Func("service-account-key-file", "PEM file of keys that verify ServiceAccount tokens (repeatable or comma-separated; default: the signing key)", func(s string) error {
		for _, f := range strings.Split(s, ",") {
			if f = strings.TrimSpace(f); f != "" {
				o.ServiceAccountKeyFiles = append(o.ServiceAccountKeyFiles, f)
			}
		}
		return nil
	})
	fs.StringVar(&o.ServiceAccountSigningKeyFile, "service-account-signing-key-file", "", "private key that signs ServiceAccount tokens (default <pki-dir>/sa.key, generated)")
	fs.StringVar(&o.ServiceAccountIssuer, "service-account-issuer", DefaultServiceAccountIssuer, "issuer (iss) of ServiceAccount tokens")
	fs.Func("api-audiences", "comma-separated audiences API tokens must carry (default: the issuer)", func(s string) error {
		o.APIAudiences = splitList(s)
		return nil
	})
	fs.BoolVar(&o.AnonymousAuth, "anonymous-auth", false, "let requests without credentials in as system:anonymous (subject to authorization)")
	fs.StringVar(&o.AuditLogPath, "audit-log-path", "", "write one JSON audit event per mutating request to this file")
	o.AuthorizationModes = []string{"RBAC", "Node"}
	fs.Func("authorization-mode", "comma-separated authorizers: RBAC, Node, AlwaysAllow (default RBAC,Node)", func(s string) error {
		o.AuthorizationModes = splitList(s)
		return nil
	})
	fs.StringVar(&o.KubeletClientCertificate, "kubelet-client-certificate", "", "client certificate for connections to kubelets (default: generated)")
	fs.StringVar(&o.KubeletClientKey, "kubelet-client-key", "", "client key for connections to kubelets (default: generated)")
	fs.StringVar(&o.KubeletCertificateAuthority, "kubelet-certificate-authority", "", "CA that verifies kubelets' serving certificates (default: the generated cluster CA; none skips verification)")
}

// DefaultServiceAccountIssuer is the default --service-account-issuer.
const DefaultServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// generatesPKI reports whether the server makes its own CA and
// certificates (TLS without a user-supplied serving certificate).
func (o *Options) generatesPKI() bool { return !o.InsecureHTTP && o.TLSCertFile == "" }

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
	if o.PKIDir == "" {
		o.PKIDir = filepath.Join(o.DataDir, "pki")
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		errs = append(errs, errors.New("--tls-cert-file and --tls-private-key-file go together"))
	}
	if (o.KubeletClientCertificate == "") != (o.KubeletClientKey == "") {
		errs = append(errs, errors.New("--kubelet-client-certificate and --kubelet-client-key go together"))
	}
	if o.ServiceAccountIssuer == "" {
		o.ServiceAccountIssuer = DefaultServiceAccountIssuer
	}
	if len(o.APIAudiences) == 0 {
		o.APIAudiences = []string{o.ServiceAccountIssuer}
	}
	if len(o.AuthorizationModes) == 0 {
		o.AuthorizationModes = []string{"RBAC", "Node"}
	}
	for _, m := range o.AuthorizationModes {
		switch m {
		case "RBAC", "Node", "AlwaysAllow":
		default:
			errs = append(errs, fmt.Errorf("--authorization-mode: unknown mode %q (want RBAC, Node or AlwaysAllow)", m))
		}
	}
	if o.generatesPKI() {
		pki := func(f string) string { return filepath.Join(o.PKIDir, f) }
		if o.ClientCAFile == "" {
			o.ClientCAFile = pki("ca.crt")
		}
		if o.KubeletClientCertificate == "" {
			o.KubeletClientCertificate, o.KubeletClientKey = pki("kubelet-client.crt"), pki("kubelet-client.key")
		}
		if o.KubeletCertificateAuthority == "" {
			o.KubeletCertificateAuthority = pki("ca.crt")
		}
	}
	if !o.InsecureHTTP && o.ServiceAccountSigningKeyFile == "" {
		o.ServiceAccountSigningKeyFile = filepath.Join(o.PKIDir, "sa.key")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return errors.Join(errs...)
}
