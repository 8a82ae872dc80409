// Command scheduler-bench measures scheduling throughput and latency
// against a real `skiff apiserver` (embedded etcd) with hollow nodes: Node
// objects with capacity, a Ready condition and a Lease, and no kubelet.
// For each mode (native default profile; plus one Wasm score plugin; plus
// one Wasm filter plugin) it starts a fresh apiserver, creates the nodes,
// runs the scheduler in-process and creates pods while it runs
// ("streaming": pods/s from first create to last bind, and per-pod latency
// from create to bind), then creates a second batch with the scheduler
// stopped and restarts it ("backlog": pods/s from first to last bind, the
// scheduler's own rate without the create path). It prints a table.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	pluginsv1alpha1 "skiff.dev/api/plugins/v1alpha1"
	"skiff.dev/api/testenv"

	"skiff.dev/scheduler"
	"skiff.dev/scheduler/internal/fixture"
)

type options struct {
	nodes, pods, workers int
	modes                string
	skiffBin, wasmDir    string
	timeout              time.Duration
	logLevel             string
	cpuProfile           string
}

func main() {
	var o options
	flag.IntVar(&o.nodes, "nodes", 1000, "hollow nodes")
	flag.IntVar(&o.pods, "pods", 5000, "pods per phase")
	flag.IntVar(&o.workers, "workers", 32, "concurrent pod/node creators")
	flag.StringVar(&o.modes, "modes", "native,wasm-score,wasm-filter", "comma-separated modes: native, wasm-score, wasm-filter")
	flag.StringVar(&o.skiffBin, "skiff-bin", os.Getenv("SKIFF_BIN"), "skiff binary (default $SKIFF_BIN)")
	flag.StringVar(&o.wasmDir, "wasm-dir", "", "directory with binpack.wasm and gpufilter.wasm (Go guests) for the wasm modes")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "timeout per phase")
	flag.StringVar(&o.logLevel, "log-level", "warn", "scheduler log level")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (the scheduler) during each backlog drain to FILE.<mode>")
	flag.Parse()
	// client-go reports events it could not write when the apiserver of a
	// finished mode goes away; keep the table readable.
	kfs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(kfs)
	_ = kfs.Set("logtostderr", "false")
	_ = kfs.Set("stderrthreshold", "FATAL")
	klog.SetOutput(io.Discard)
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "scheduler-bench:", err)
		os.Exit(1)
	}
}

type result struct {
	mode, phase      string
	pods             int
	seconds          float64
	podsPerSec       float64
	createPerSec     float64
	p50, p99, maxLat time.Duration
	// selfCPU is this process's CPU time during the phase: during a
	// backlog drain that is the scheduler alone; while streaming it also
	// includes the pod creators. apiCPU is the apiserver's.
	selfCPU, apiCPU time.Duration
	// events counts Scheduled Events in the namespace after the phase
	// (cumulative over the mode's phases).
	events int
	// start is where seconds counts from: the first create while
	// streaming, the first bind in the backlog.
	start time.Time
	// drained is when the scheduler had stopped, i.e. written its queued
	// Scheduled Events, in seconds from start.
	drained float64
}

func run(o options) error {
	if o.skiffBin == "" {
		return errors.New("no skiff binary: set $SKIFF_BIN or --skiff-bin (make build)")
	}
	var results []result
	for _, mode := range strings.Split(o.modes, ",") {
		mode = strings.TrimSpace(mode)
		if mode == "" {
			continue
		}
		rs, err := runMode(o, mode)
		if err != nil {
			return fmt.Errorf("mode %s: %w", mode, err)
		}
		results = append(results, rs...)
	}
	fmt.Printf("\nscheduler benchmark: %d hollow nodes, %d pods per phase, %d creators, GOMAXPROCS=%s\n\n",
		o.nodes, o.pods, o.workers, envOr("GOMAXPROCS", "default"))
	fmt.Printf("| %-12s | %-9s | %5s | %7s | %9s | %10s | %8s | %8s | %8s | %14s | %13s | %s |\n", "mode", "phase", "pods", "secs", "pods/s", "creates/s", "p50", "p99", "max", "bench cpu-µs/pod", "apiserver cpu-µs/pod", "events done s")
	fmt.Printf("|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", dash(14), dash(11), dash(7), dash(9), dash(11), dash(12), dash(10), dash(10), dash(10), dash(18), dash(22), dash(15))
	for _, r := range results {
		lat := func(d time.Duration) string {
			if d == 0 {
				return "-"
			}
			return d.Round(100 * time.Microsecond).String()
		}
		cr := "-"
		if r.createPerSec > 0 {
			cr = fmt.Sprintf("%.0f", r.createPerSec)
		}
		perPod := func(d time.Duration) string {
			if r.pods == 0 || d == 0 {
				return "-"
			}
			return fmt.Sprintf("%.0f", float64(d.Microseconds())/float64(r.pods))
		}
		fmt.Printf("| %-12s | %-9s | %5d | %7.2f | %9.0f | %10s | %8s | %8s | %8s | %16s | %20s | %13.2f |\n", r.mode, r.phase, r.pods, r.seconds, r.podsPerSec, cr, lat(r.p50), lat(r.p99), lat(r.maxLat), perPod(r.selfCPU), perPod(r.apiCPU), r.drained)
	}
	fmt.Println("\nbench cpu-µs/pod is this process's CPU per pod: the scheduler alone in the backlog phase, scheduler + pod creators while streaming.\nevents done s: when the scheduler had stopped after writing its queued Scheduled Events (from the first create, or the first bind in the backlog).")
	for _, r := range results {
		if r.phase == "backlog" {
			fmt.Printf("%s: %d Scheduled events for %d bound pods\n", r.mode, r.events, 2*o.pods)
		}
	}
	return nil
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is a process's user+system CPU time from /proc/PID/stat (0 when
// it cannot be read).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 (1-based), in clock ticks (100 Hz on Linux).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func dash(n int) string { return strings.Repeat("-", n) }

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

type apiserver struct {
	config *rest.Config // admin credentials (TLS)
	cmd    *exec.Cmd
	dir    string
}

func startAPIServer(bin string) (*apiserver, error) {
	dir, err := os.MkdirTemp("", "scheduler-bench-")
	if err != nil {
		return nil, err
	}
	port, err := testenv.PickPort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "apiserver.log"))
	if err != nil {
		return nil, err
	}
	// No controller-manager runs here to create "default" ServiceAccounts.
	cmd := exec.Command(bin, "apiserver", "--data-dir", filepath.Join(dir, "data"), "--bind-address", "127.0.0.1", "--port", strconv.Itoa(port),
		"--disable-admission-plugins=ServiceAccount")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start apiserver: %w", err)
	}
	a := &apiserver{cmd: cmd, dir: dir}
	cfg, err := testenv.WaitKubeconfig(filepath.Join(dir, "data", "admin.kubeconfig"), 60*time.Second)
	if err != nil {
		a.stop()
		return nil, fmt.Errorf("%w; log in %s", err, logf.Name())
	}
	a.config = cfg
	return a, nil
}

func (a *apiserver) stop() {
	testenv.StopGroup(a.cmd, 10*time.Second)
	os.RemoveAll(a.dir)
}

// recorder collects bind times.
type recorder struct {
	mu      sync.Mutex
	created map[string]time.Time
	bound   map[string]time.Time
	n       atomic.Int64
	all     chan struct{}
	want    int64
	prefix  string
}

func newRecorder(prefix string, want int) *recorder {
	return &recorder{created: map[string]time.Time{}, bound: map[string]time.Time{}, all: make(chan struct{}), want: int64(want), prefix: prefix}
}

func (r *recorder) onBound(p *v1.Pod, _ string, _ time.Time) {
	if !strings.HasPrefix(p.Name, r.prefix) {
		return
	}
	now := time.Now()
	r.mu.Lock()
	r.bound[p.Name] = now
	r.mu.Unlock()
	if r.n.Add(1) == r.want {
		close(r.all)
	}
}

func (r *recorder) setCreated(name string, t time.Time) {
	r.mu.Lock()
	r.created[name] = t
	r.mu.Unlock()
}

func benchNodes(n int) []*v1.Node {
	nodes := make([]*v1.Node, n)
	for i := range nodes {
		nodes[i] = fixture.Node(fmt.Sprintf("hollow-%05d", i)).Capacity("32", "128Gi", "110").
			Label("topology.kubernetes.io/zone", fmt.Sprintf("zone-%d", i%10)).Obj()
	}
	return nodes
}

func benchPod(name string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "bench"}},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "registry.local/pause:1",
			Resources: v1.ResourceRequirements{Requests: v1.ResourceList{
				v1.ResourceCPU: resource.MustParse("100m"), v1.ResourceMemory: resource.MustParse("128Mi")}}}}},
	}
}

func createPods(ctx context.Context, c kubernetes.Interface, prefix string, n, workers int, rec *recorder) (time.Duration, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var once sync.Once
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || ctx.Err() != nil {
					return
				}
				name := fmt.Sprintf("%s%05d", prefix, i)
				rec.setCreated(name, time.Now())
				if _, err := c.CoreV1().Pods("default").Create(ctx, benchPod(name), metav1.CreateOptions{}); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("create pod %s: %w", name, err) })
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), firstErr
}

func runMode(o options, mode string) ([]result, error) {
	fmt.Fprintf(os.Stderr, "== %s: starting apiserver\n", mode)
	api, err := startAPIServer(o.skiffBin)
	if err != nil {
		return nil, err
	}
	defer api.stop()
	cfg := rest.CopyConfig(api.config)
	cfg.QPS, cfg.Burst = 5000, 10000
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	t0 := time.Now()
	if err := fixture.CreateHollowNodes(ctx, c, benchNodes(o.nodes), o.workers); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "== %s: %d hollow nodes in %s\n", mode, o.nodes, time.Since(t0).Round(time.Millisecond))

	wasmEnabled := false
	switch mode {
	case "native":
	case "wasm-score", "wasm-filter":
		wasmEnabled = true
		if err := installWasm(ctx, c, o.wasmDir, mode); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown mode %q", mode)
	}
	level := slog.LevelWarn
	_ = level.UnmarshalText([]byte(o.logLevel))
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	// One compilation cache per mode, as a scheduler restarted on the same
	// machine (or with --wasm-cache-dir on shared storage) has: the
	// streaming phase's scheduler compiles the module, the backlog's
	// fresh scheduler reuses the machine code.
	wasmCache, err := os.MkdirTemp("", "scheduler-bench-wasm-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(wasmCache)

	var results []result
	// Streaming: the scheduler runs while pods are created.
	rec := newRecorder("stream-", o.pods)
	stop, err := startScheduler(cfg, logger, wasmEnabled, wasmCache, rec.onBound)
	if err != nil {
		return nil, err
	}
	if wasmEnabled {
		if err := waitLoaded(ctx, c, mode); err != nil {
			stop()
			return nil, err
		}
	}
	first := time.Now()
	self0, api0 := selfCPU(), procCPU(api.cmd.Process.Pid)
	createDur, err := createPods(ctx, c, "stream-", o.pods, o.workers, rec)
	if err != nil {
		stop()
		return nil, err
	}
	select {
	case <-rec.all:
	case <-time.After(o.timeout):
		stop()
		return nil, fmt.Errorf("streaming: only %d of %d pods bound within %s", rec.n.Load(), o.pods, o.timeout)
	}
	// The CPU counts run until the scheduler stopped, so that the Events
	// it still writes after the last bind are included.
	stop()
	stopped := time.Now()
	self1, api1 := selfCPU(), procCPU(api.cmd.Process.Pid)
	r := summarize(mode, "streaming", rec, first, createDur)
	r.selfCPU, r.apiCPU = self1-self0, api1-api0
	r.drained = stopped.Sub(r.start).Seconds()
	results = append(results, r)

	// Backlog: pods wait, then a fresh scheduler drains them.
	rec2 := newRecorder("backlog-", o.pods)
	if _, err := createPods(ctx, c, "backlog-", o.pods, o.workers, rec2); err != nil {
		return nil, err
	}
	stopProfile, err := startProfile(o.cpuProfile, mode)
	if err != nil {
		return nil, err
	}
	self0, api0 = selfCPU(), procCPU(api.cmd.Process.Pid)
	stop, err = startScheduler(cfg, logger, wasmEnabled, wasmCache, rec2.onBound)
	if err != nil {
		stopProfile()
		return nil, err
	}
	select {
	case <-rec2.all:
	case <-time.After(o.timeout):
		stop()
		stopProfile()
		return nil, fmt.Errorf("backlog: only %d of %d pods bound within %s", rec2.n.Load(), o.pods, o.timeout)
	}
	stop()
	stopped = time.Now()
	self1, api1 = selfCPU(), procCPU(api.cmd.Process.Pid)
	stopProfile()
	r = summarizeBacklog(mode, rec2)
	r.selfCPU, r.apiCPU = self1-self0, api1-api0
	r.drained = stopped.Sub(r.start).Seconds()
	r.events = countScheduledEvents(ctx, c, 2*o.pods)
	results = append(results, r)
	return results, nil
}

// startProfile starts a CPU profile written to path.mode; it returns a
// function that stops it. An empty path profiles nothing.
func startProfile(path, mode string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path + "." + mode)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// countScheduledEvents waits (up to 10s) for want Scheduled Events in the
// default namespace and returns how many there are.
func countScheduledEvents(ctx context.Context, c kubernetes.Interface, want int) int {
	n := 0
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := c.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "reason=Scheduled"})
		if err == nil {
			n = 0
			for i := range l.Items {
				if l.Items[i].Reason == "Scheduled" {
					n++
				}
			}
		}
		if n >= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func startScheduler(cfg *rest.Config, logger *slog.Logger, wasmEnabled bool, wasmCacheDir string, onBound func(*v1.Pod, string, time.Time)) (func(), error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- scheduler.Run(ctx, scheduler.Options{RESTConfig: cfg, Logger: logger, DisableWasm: !wasmEnabled, OnBound: onBound, WasmCacheDir: wasmCacheDir})
	}()
	return func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "scheduler:", err)
		}
	}, nil
}

func summarize(mode, phase string, rec *recorder, first time.Time, createDur time.Duration) result {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var last time.Time
	lats := make([]time.Duration, 0, len(rec.bound))
	for name, b := range rec.bound {
		if b.After(last) {
			last = b
		}
		lats = append(lats, b.Sub(rec.created[name]))
	}
	slices.Sort(lats)
	secs := last.Sub(first).Seconds()
	return result{mode: mode, phase: phase, pods: len(lats), seconds: secs, podsPerSec: float64(len(lats)) / secs, start: first,
		createPerSec: float64(len(lats)) / createDur.Seconds(),
		p50:          pct(lats, 50), p99: pct(lats, 99), maxLat: lats[len(lats)-1]}
}

func summarizeBacklog(mode string, rec *recorder) result {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var first, last time.Time
	for _, b := range rec.bound {
		if first.IsZero() || b.Before(first) {
			first = b
		}
		if b.After(last) {
			last = b
		}
	}
	secs := last.Sub(first).Seconds()
	return result{mode: mode, phase: "backlog", pods: len(rec.bound), seconds: secs, podsPerSec: float64(len(rec.bound)) / secs, start: first}
}

func pct(s []time.Duration, p int) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}

func installWasm(ctx context.Context, c kubernetes.Interface, dir, mode string) error {
	if dir == "" {
		return errors.New("--wasm-dir is required for the wasm modes")
	}
	file, spec := "binpack.wasm", pluginsv1alpha1.SchedulerPluginSpec{Score: true, Weight: 1}
	if mode == "wasm-filter" {
		file, spec = "gpufilter.wasm", pluginsv1alpha1.SchedulerPluginSpec{Filter: true}
	}
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return err
	}
	name, err := fixture.UploadModule(ctx, c, b)
	if err != nil {
		return err
	}
	spec.Module = name
	if mode == "wasm-filter" {
		spec.Settings = &runtime.RawExtension{Raw: []byte(`{"reserveForGPUPods":true}`)}
	}
	return fixture.ApplySchedulerPlugin(ctx, c, mode, spec)
}

func waitLoaded(ctx context.Context, c kubernetes.Interface, name string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		raw, err := c.Discovery().RESTClient().Get().AbsPath("/apis", pluginsv1alpha1.GroupName, pluginsv1alpha1.Version,
			pluginsv1alpha1.ResourceSchedulerPlugins, name).DoRaw(ctx)
		if err == nil {
			var sp pluginsv1alpha1.SchedulerPlugin
			if json.NewDecoder(bytes.NewReader(raw)).Decode(&sp) == nil {
				for _, cond := range sp.Status.Conditions {
					if cond.Type == "Loaded" && cond.Status == metav1.ConditionTrue {
						return nil
					}
					if cond.Type == "Loaded" && cond.Status == metav1.ConditionFalse {
						return fmt.Errorf("plugin %s failed to load: %s", name, cond.Message)
					}
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("plugin %s not loaded within 60s", name)
}
