// Command bench measures the Wasm plugin runtime and prints markdown
// tables: the latency an admission policy adds to a request (Go and WAT
// guests, p50/p99), throughput with concurrent callers, and the cost of one
// batched scheduling call over 100, 400 and 1,000 nodes.
//
//	go run ./internal/bench [-n 20000] [-duration 3s] [-workers 8]
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/api/plugins/v1alpha1"
	"skiff.dev/plugins/admission"
	"skiff.dev/plugins/host"
	"skiff.dev/plugins/scheduling"
)

func main() {
	n := flag.Int("n", 20000, "sequential calls per latency measurement")
	dur := flag.Duration("duration", 3*time.Second, "duration of each throughput run")
	workers := flag.Int("workers", 8, "concurrent callers for throughput")
	root := flag.String("plugins", ".", "the plugins module directory")
	suite := flag.String("suite", "all", "what to measure: admission, scheduling or all")
	flag.Parse()
	if err := run(*root, *suite, *n, *dur, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func buildGo(root, pkg, dir string) ([]byte, error) {
	out := filepath.Join(dir, filepath.Base(pkg)+".wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "./"+pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build %s: %v\n%s", pkg, err, b)
	}
	return os.ReadFile(out)
}

func buildWAT(root, file, dir string) ([]byte, error) {
	out := filepath.Join(dir, filepath.Base(file)+".wasm")
	if b, err := exec.Command("wat2wasm", filepath.Join(root, file), "-o", out).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("wat2wasm %s: %v\n%s", file, err, b)
	}
	return os.ReadFile(out)
}

func podAttrs() admission.Attributes {
	pod := corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "web-7d4b9c", Namespace: "default", Labels: map[string]string{"app": "web", "team": "a", "pod-template-hash": "7d4b9c"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "web", Image: "registry.example.com/web:1.2.3",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}},
		}}},
	}
	raw, _ := json.Marshal(pod)
	dry := false
	return admission.Attributes{
		Request: &admissionv1.AdmissionRequest{
			UID: "0b1c", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Name: pod.Name, Namespace: pod.Namespace,
			Operation: admissionv1.Create, UserInfo: userInfo(), Object: k8sruntime.RawExtension{Raw: raw}, DryRun: &dry,
		},
		NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "default"},
	}
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

type guest struct {
	name     string
	wasm     []byte
	settings string
}

func run(root, suite string, n int, dur time.Duration, workers int) error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "skiff-plugin-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	goWasm, err := buildGo(root, "examples/requiredlabels", tmp)
	if err != nil {
		return err
	}
	noopWasm, err := buildGo(root, "internal/bench/noop", tmp)
	if err != nil {
		return err
	}
	watWasm, err := buildWAT(root, "examples/wat/denyprivileged.wat", tmp)
	if err != nil {
		return err
	}
	rt, err := host.New(ctx, host.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer rt.Close(ctx)

	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("GOMAXPROCS=%d, %s/%s, load average at start: %s\n", runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, strings.TrimSpace(string(load)))
	if suite == "all" || suite == "admission" {
		fmt.Println("### Admission: latency added by one validating policy (Chain.Validate, pod CREATE)")
		fmt.Println()
		fmt.Printf("| guest | module size | calls | p50 | p99 | CPU/call | throughput (%d callers) |\n", workers)
		fmt.Println("|---|---|---|---|---|---|---|")
		for _, g := range []guest{
			{"Go (requiredlabels)", goWasm, `{"labels":["team"]}`},
			{"Go (no-op: allows without reading)", noopWasm, ""},
			{"WAT (denyprivileged)", watWasm, ""},
		} {
			if err := benchAdmission(ctx, rt, g, n, dur, workers); err != nil {
				return err
			}
		}
	}
	if suite == "admission" {
		return nil
	}
	fmt.Println()
	fmt.Println("### Scheduling: one batched call per cycle (Go guests)")
	fmt.Println()
	fmt.Println("| plugin | nodes | mean | p99 | CPU/call | CPU per node |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, s := range []struct{ pkg, settings string }{
		{"examples/binpack", ""},
		{"examples/preferlabel", `{"key":"disktype","value":"ssd"}`},
		{"examples/gpufilter", ""},
	} {
		wasm, err := buildGo(root, s.pkg, tmp)
		if err != nil {
			return err
		}
		if err := benchScheduling(ctx, rt, filepath.Base(s.pkg), wasm, s.settings); err != nil {
			return err
		}
	}
	load, _ = os.ReadFile("/proc/loadavg")
	fmt.Printf("\nload average at end: %s\n", strings.TrimSpace(string(load)))
	return nil
}

func benchAdmission(ctx context.Context, rt *host.Runtime, g guest, n int, dur time.Duration, workers int) error {
	store := map[string][]byte{}
	sum := sha256.Sum256(g.wasm)
	name := v1alpha1.ModuleNamePrefix + hex.EncodeToString(sum[:])
	store[name] = g.wasm
	chain, err := admission.New(admission.Options{Runtime: rt, Modules: func(_ context.Context, n string) ([]byte, error) { return store[n], nil }})
	if err != nil {
		return err
	}
	defer chain.Close(ctx)
	p := v1alpha1.AdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "bench"}, Spec: v1alpha1.AdmissionPolicySpec{
		Module: name,
		Rules: []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{"*"},
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*"}},
		}},
	}}
	timeout := int32(1000)
	p.Spec.TimeoutMilliseconds = &timeout
	if g.settings != "" {
		p.Spec.Settings = &k8sruntime.RawExtension{Raw: []byte(g.settings)}
	}
	chain.Sync(ctx, []v1alpha1.AdmissionPolicy{p})
	if ok, msg := chain.Status("bench"); !ok {
		return fmt.Errorf("policy not ready: %s", msg)
	}
	attrs := podAttrs()
	for range 1000 { // warm up
		if _, err := chain.Validate(ctx, attrs); err != nil {
			return err
		}
	}
	lat := make([]time.Duration, n)
	cpu0 := cpuTime()
	for i := range lat {
		start := time.Now()
		if _, err := chain.Validate(ctx, attrs); err != nil {
			return err
		}
		lat[i] = time.Since(start)
	}
	cpuPerCall := (cpuTime() - cpu0) / time.Duration(n)
	var calls, failures atomic.Int64
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			a := podAttrs()
			for time.Now().Before(deadline) {
				if _, err := chain.Validate(ctx, a); err == nil {
					calls.Add(1)
				} else {
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	tput := float64(calls.Load()) / time.Since(start).Seconds()
	fmt.Printf("| %s | %.1f KiB | %d | %v | %v | %v | %.0f calls/s (%d failed) |\n", g.name, float64(len(g.wasm))/1024, n,
		percentile(lat, 0.50).Round(100*time.Nanosecond), percentile(lat, 0.99).Round(100*time.Nanosecond),
		cpuPerCall.Round(100*time.Nanosecond), tput, failures.Load())
	return nil
}

func benchScheduling(ctx context.Context, rt *host.Runtime, name string, wasm []byte, settings string) error {
	p, err := scheduling.Load(ctx, rt, scheduling.Config{Name: name, Wasm: wasm, Settings: []byte(settings), Timeout: time.Second})
	if err != nil {
		return err
	}
	defer p.Close(ctx)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "u"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "c", Image: "busybox", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi"), "nvidia.com/gpu": resource.MustParse("1")}}}}}}
	for _, n := range []int{100, 400, 1000} {
		nodes := nodesFor(n)
		call := func() error {
			if p.HasFilter() {
				_, err := p.Filter(ctx, pod, nodes)
				return err
			}
			_, err := p.Score(ctx, pod, nodes)
			return err
		}
		for range 50 {
			if err := call(); err != nil {
				return err
			}
		}
		iters := max(200, 200000/n)
		lat := make([]time.Duration, iters)
		var total time.Duration
		cpu0 := cpuTime()
		for i := range lat {
			start := time.Now()
			if err := call(); err != nil {
				return err
			}
			lat[i] = time.Since(start)
			total += lat[i]
		}
		cpu := (cpuTime() - cpu0) / time.Duration(iters)
		mean := total / time.Duration(iters)
		fmt.Printf("| %s | %d | %v | %v | %v | %v |\n", name, n, mean.Round(time.Microsecond), percentile(lat, 0.99).Round(time.Microsecond),
			cpu.Round(time.Microsecond), (cpu / time.Duration(n)).Round(10*time.Nanosecond))
	}
	return nil
}

func nodesFor(n int) []scheduling.NodeInput {
	nodes := make([]scheduling.NodeInput, n)
	for i := range nodes {
		nodes[i] = scheduling.NodeInput{
			Name: fmt.Sprintf("node-%04d", i),
			Labels: map[string]string{
				"kubernetes.io/hostname": fmt.Sprintf("node-%04d", i), "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"topology.kubernetes.io/zone": fmt.Sprintf("zone-%d", i%3), "disktype": []string{"ssd", "hdd"}[i%2],
			},
			Allocatable: scheduling.Resources{MilliCPU: 4000, Memory: 16 << 30, Pods: 110},
			Requested:   scheduling.Resources{MilliCPU: int64(i%40) * 100, Memory: int64(i%16) << 30, Pods: int64(i % 110)},
			Extended:    []scheduling.ExtendedResource{{Name: "nvidia.com/gpu", Allocatable: int64(i % 2 * 4), Requested: int64(i % 3)}},
		}
	}
	return nodes
}

func userInfo() (u authenticationv1.UserInfo) {
	u.Username = "alice"
	u.Groups = []string{"system:authenticated"}
	return u
}

// cpuTime is the CPU time (user+system) this process has used: on a
// loaded machine it shows the cost of a call where wall time shows mostly
// the wait for a CPU.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
