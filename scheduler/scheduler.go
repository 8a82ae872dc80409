package scheduler

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"skiff.dev/plugins/host"

	"skiff.dev/scheduler/internal/config"
	"skiff.dev/scheduler/internal/core"
	"skiff.dev/scheduler/internal/wasm"
)

// Options configures the scheduler.
type Options struct {
	// Kubeconfig is the path of a kubeconfig file; empty means in-cluster.
	Kubeconfig string
	// RESTConfig, when set, overrides Kubeconfig (in-process composition).
	RESTConfig *rest.Config
	// ConfigFile is an optional YAML SchedulerConfiguration (profiles,
	// plugins, weights). Without it one "default-scheduler" profile runs
	// the default plugins.
	ConfigFile string
	// Config, when set, is used instead of ConfigFile (in-process use).
	Config *Configuration

	// LeaderElect runs the scheduler only while it holds a Lease.
	LeaderElect bool
	// LeaseNamespace and LeaseName name the Lease (default
	// kube-system/skiff-scheduler).
	LeaseNamespace string
	LeaseName      string
	// Identity names this replica in the Lease (default hostname_uuid).
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod tune leader election
	// (defaults 15s, 10s, 2s as upstream).
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration

	// QPS and Burst limit requests to the apiserver (defaults 2000/4000:
	// binding throughput is bounded by them).
	QPS   float32
	Burst int

	// DisableWasm turns off SchedulerPlugin watching (and wazero).
	DisableWasm bool
	// WasmMemoryLimitPages caps each Wasm instance's memory in 64 KiB pages
	// (default 512 = 32 MiB).
	WasmMemoryLimitPages uint32
	// WasmCacheDir, when set, keeps the compiled machine code of Wasm
	// modules on disk, so a restarted (or newly elected) scheduler loads
	// its plugins in milliseconds instead of recompiling them (~1–2 s of
	// CPU for a Go guest).
	WasmCacheDir string

	// WasmSyncTimeout bounds the wait for the initial SchedulerPlugin list
	// before scheduling starts (default 10s; the plugins load later if
	// the list is slow or the resource is not served yet).
	WasmSyncTimeout time.Duration

	// Logger receives structured logs (default: stderr text at Info).
	Logger *slog.Logger

	// OnBound, when set, is called after every successful binding with
	// the time the pod entered the queue (benchmarks, metrics).
	OnBound func(pod *v1.Pod, node string, queued time.Time)
}

// Configuration is the parsed form of a configuration file.
type Configuration = config.Configuration

// ParseConfig parses a YAML SchedulerConfiguration.
func ParseConfig(b []byte) (*Configuration, error) { return config.Parse(b) }

// AddFlags binds the options to flags.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "path of a kubeconfig file (empty: in-cluster config)")
	fs.StringVar(&o.ConfigFile, "config", o.ConfigFile, "path of a YAML SchedulerConfiguration (profiles, plugins, weights)")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "run only while holding the scheduler Lease (for replicas)")
	fs.StringVar(&o.LeaseNamespace, "leader-elect-resource-namespace", o.LeaseNamespace, "namespace of the leader election Lease (default kube-system)")
	fs.StringVar(&o.LeaseName, "leader-elect-resource-name", o.LeaseName, "name of the leader election Lease (default skiff-scheduler)")
	fs.StringVar(&o.Identity, "identity", o.Identity, "identity of this replica in the Lease (default hostname_uuid)")
	fs.DurationVar(&o.LeaseDuration, "leader-elect-lease-duration", o.LeaseDuration, "leader election lease duration (default 15s)")
	fs.DurationVar(&o.RenewDeadline, "leader-elect-renew-deadline", o.RenewDeadline, "leader election renew deadline (default 10s)")
	fs.DurationVar(&o.RetryPeriod, "leader-elect-retry-period", o.RetryPeriod, "leader election retry period (default 2s)")
	fs.Func("kube-api-qps", "requests per second to the apiserver (default 2000)", func(s string) error {
		v, err := strconv.ParseFloat(s, 32)
		if err != nil {
			return errors.New("not a number")
		}
		o.QPS = float32(v)
		return nil
	})
	fs.IntVar(&o.Burst, "kube-api-burst", o.Burst, "request burst to the apiserver (default 4000)")
	fs.BoolVar(&o.DisableWasm, "disable-wasm-plugins", o.DisableWasm, "do not load SchedulerPlugin Wasm modules")
	fs.StringVar(&o.WasmCacheDir, "wasm-cache-dir", o.WasmCacheDir, "directory for compiled Wasm plugin code, reused across restarts (default: compile in memory at every start)")
	fs.Func("wasm-memory-limit-pages", "memory cap per Wasm instance in 64 KiB pages (default 512)", func(s string) error {
		v, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return errors.New("not a page count")
		}
		o.WasmMemoryLimitPages = uint32(v)
		return nil
	})
}

func (o *Options) setDefaults() {
	if o.LeaseNamespace == "" {
		o.LeaseNamespace = "kube-system"
	}
	if o.LeaseName == "" {
		o.LeaseName = "skiff-scheduler"
	}
	if o.Identity == "" {
		h, _ := os.Hostname()
		o.Identity = h + "_" + string(uuid.NewUUID())
	}
	if o.LeaseDuration == 0 {
		o.LeaseDuration = 15 * time.Second
	}
	if o.RenewDeadline == 0 {
		o.RenewDeadline = 10 * time.Second
	}
	if o.RetryPeriod == 0 {
		o.RetryPeriod = 2 * time.Second
	}
	if o.QPS == 0 {
		o.QPS = 2000
	}
	if o.Burst == 0 {
		o.Burst = 4000
	}
	if o.WasmSyncTimeout == 0 {
		o.WasmSyncTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
}

// Validate checks the options.
func (o *Options) Validate() error {
	var errs []error
	if o.QPS < 0 {
		errs = append(errs, fmt.Errorf("--kube-api-qps %v: must not be negative", o.QPS))
	}
	if o.Burst < 0 {
		errs = append(errs, fmt.Errorf("--kube-api-burst %d: must not be negative", o.Burst))
	}
	if o.LeaderElect {
		ld, rd, rp := o.LeaseDuration, o.RenewDeadline, o.RetryPeriod
		if ld == 0 {
			ld = 15 * time.Second
		}
		if rd == 0 {
			rd = 10 * time.Second
		}
		if rp == 0 {
			rp = 2 * time.Second
		}
		if ld <= rd || rd <= rp || rp <= 0 {
			errs = append(errs, fmt.Errorf("leader election: need lease duration (%s) > renew deadline (%s) > retry period (%s) > 0", ld, rd, rp))
		}
	}
	if o.WasmMemoryLimitPages > 65536 {
		errs = append(errs, fmt.Errorf("--wasm-memory-limit-pages %d: at most 65536", o.WasmMemoryLimitPages))
	}
	if o.Config == nil && o.ConfigFile != "" {
		if _, err := config.Load(o.ConfigFile); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (o *Options) restConfig() (*rest.Config, error) {
	var cfg *rest.Config
	switch {
	case o.RESTConfig != nil:
		cfg = rest.CopyConfig(o.RESTConfig)
	case o.Kubeconfig != "":
		c, err := clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("load kubeconfig %s: %w", o.Kubeconfig, err)
		}
		cfg = c
	default:
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("no --kubeconfig and not in a cluster: %w", err)
		}
		cfg = c
	}
	cfg.QPS, cfg.Burst = o.QPS, o.Burst
	if cfg.UserAgent == "" {
		cfg.UserAgent = "skiff-scheduler"
	}
	return cfg, nil
}

// Run schedules pods until ctx ends. With LeaderElect it waits for the
// Lease first and returns an error if it loses it.
func Run(ctx context.Context, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	o.setDefaults()
	cfg := o.Config
	if cfg == nil {
		cfg = config.Default()
		if o.ConfigFile != "" {
			c, err := config.Load(o.ConfigFile)
			if err != nil {
				return err
			}
			cfg = c
		}
	}
	rc, err := o.restConfig()
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(protobufConfig(rc))
	if err != nil {
		return fmt.Errorf("clientset: %w", err)
	}
	s, err := core.New(core.Options{Client: client, Config: cfg, Logger: o.Logger, OnBound: o.OnBound})
	if err != nil {
		return err
	}
	runAll := func(ctx context.Context) error {
		if !o.DisableWasm {
			stop, err := startWasm(ctx, o, rc, s)
			if err != nil {
				return err
			}
			defer stop()
		}
		return s.Run(ctx)
	}
	if !o.LeaderElect {
		return runAll(ctx)
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, o.LeaseNamespace, o.LeaseName,
		client.CoreV1(), client.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: o.Identity})
	if err != nil {
		return fmt.Errorf("leader election lock: %w", err)
	}
	var runErr error
	lost := make(chan struct{})
	runDone := make(chan struct{})
	var started atomic.Bool
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   o.LeaseDuration,
		RenewDeadline:   o.RenewDeadline,
		RetryPeriod:     o.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            o.LeaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				started.Store(true)
				defer close(runDone)
				o.Logger.Info("became leader", slog.String("identity", o.Identity))
				runErr = runAll(ctx)
				cancel()
			},
			OnStoppedLeading: func() { close(lost) },
			OnNewLeader: func(id string) {
				if id != o.Identity {
					o.Logger.Info("leader is another replica", slog.String("leader", id))
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	le.Run(lctx)
	<-lost
	if started.Load() {
		// Let the scheduling loop finish its in-flight bindings.
		<-runDone
	}
	if runErr != nil {
		return runErr
	}
	if ctx.Err() == nil {
		return errors.New("lost the scheduler lease")
	}
	return nil
}

// protobufConfig returns a copy of rc that speaks protobuf, as upstream's
// scheduler does: built-in objects (pods in the informers, bindings,
// events) encode and decode several times cheaper than as JSON, on both
// sides of the connection. Skiff's own resources are not protobuf types;
// the dynamic and discovery clients for them use rc itself.
func protobufConfig(rc *rest.Config) *rest.Config {
	c := rest.CopyConfig(rc)
	if c.ContentType == "" {
		c.ContentType = runtime.ContentTypeProtobuf
		c.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	}
	return c
}

func startWasm(ctx context.Context, o Options, rc *rest.Config, s *core.Scheduler) (func(), error) {
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("clientset: %w", err)
	}
	rt, err := host.New(ctx, host.Options{Logger: o.Logger, MemoryLimitPages: o.WasmMemoryLimitPages, CacheDir: o.WasmCacheDir})
	if err != nil {
		return nil, fmt.Errorf("wasm runtime: %w", err)
	}
	m := wasm.New(wasm.Options{
		Dynamic:  dyn,
		REST:     client.Discovery().RESTClient(),
		Profiles: s.Profiles(),
		Runtime:  rt,
		OnChange: func() { s.MoveAll("SchedulerPluginChange") },
		Logger:   o.Logger,
	})
	sctx, cancel := context.WithTimeout(ctx, o.WasmSyncTimeout)
	defer cancel()
	if err := m.Run(ctx, sctx); err != nil {
		o.Logger.Warn("scheduler plugins not synced; scheduling without them until they load", slog.String("err", err.Error()))
	}
	return func() {
		// The manager stops on ctx; close the runtime after its last call.
		<-m.Done()
		_ = rt.Close(context.Background())
	}, nil
}
