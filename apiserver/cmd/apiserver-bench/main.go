// Command apiserver-bench measures a real `skiff apiserver` process: the
// ConfigMap create rate and latency with concurrent client-go workers, a
// full LIST, a watch replay of every create, and idle RSS (the process
// holds both the apiserver and its embedded etcd). It prints a table.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff.dev/api/testenv"
)

type options struct {
	skiff   string
	objects int
	workers int
	rounds  int
	// insecure runs the apiserver with --insecure-http (no TLS, no
	// authentication or authorization), to measure what security costs.
	insecure bool
	// cpuProfile, when set, is where the apiserver's CPU profile of the
	// last create round is written (the server runs with --profiling).
	cpuProfile string
	// allocProfile, when set, is where the apiserver's allocation profile
	// (a 2 s delta) of the last create round is written.
	allocProfile string
	// profileSeconds is how long the server profiles record.
	profileSeconds int
	// clientProfile, when set, is where this program's own (the client
	// side's) CPU profile of the last create round is written.
	clientProfile string
	// http1 makes the client use HTTP/1.1 over TLS (one connection per
	// worker) instead of client-go's default HTTP/2 (one shared connection).
	http1 bool
}

func main() {
	var o options
	flag.StringVar(&o.skiff, "skiff", os.Getenv("SKIFF_BIN"), "skiff binary (default $SKIFF_BIN)")
	flag.IntVar(&o.objects, "objects", 2000, "ConfigMaps to create")
	flag.IntVar(&o.workers, "workers", 8, "concurrent client-go workers")
	flag.IntVar(&o.rounds, "rounds", 3, "create rounds (each in a fresh namespace); the table shows each")
	flag.BoolVar(&o.insecure, "insecure-http", false, "run the apiserver with --insecure-http (plain HTTP, no authn/authz) to measure the cost of TLS")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write the apiserver's CPU profile of the last create round to this file")
	flag.StringVar(&o.allocProfile, "allocprofile", "", "write the apiserver's allocation profile (2 s delta) of the last create round to this file")
	flag.IntVar(&o.profileSeconds, "profile-seconds", 2, "how long the server profiles record (keep it within the last round)")
	flag.StringVar(&o.clientProfile, "client-cpuprofile", "", "write the client side's CPU profile of the last create round to this file")
	flag.BoolVar(&o.http1, "http1", false, "client uses HTTP/1.1 over TLS instead of HTTP/2 (to separate the cost of HTTP/2 from TLS)")
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "apiserver-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.skiff == "" {
		return errors.New("set -skiff or $SKIFF_BIN to a skiff binary")
	}
	dir, err := os.MkdirTemp("", "apiserver-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	port, err := testenv.PickPort()
	if err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, "apiserver.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	args := []string{"apiserver", "--data-dir", filepath.Join(dir, "data"), "--port", strconv.Itoa(port)}
	if o.insecure {
		args = append(args, "--insecure-http")
	}
	if o.cpuProfile != "" || o.allocProfile != "" {
		args = append(args, "--profiling")
	}
	cmd := exec.Command(o.skiff, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	cfg := &rest.Config{Host: fmt.Sprintf("http://127.0.0.1:%d", port), QPS: -1}
	if !o.insecure {
		// The server writes an admin kubeconfig (with a client
		// certificate) once it serves.
		kc := filepath.Join(dir, "data", "admin.kubeconfig")
		if err := waitFile(kc, 60*time.Second); err != nil {
			return err
		}
		if cfg, err = clientcmd.BuildConfigFromFlags("", kc); err != nil {
			return err
		}
		cfg.QPS = -1
		if o.http1 {
			cfg.TLSClientConfig.NextProtos = []string{"http/1.1"}
		}
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	if err := waitReady(hc, cfg.Host+"/readyz", 60*time.Second); err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	idleStart, _ := rss(cmd.Process.Pid)

	type row struct{ name, value string }
	var rows []row
	var lastNS string
	var startRV string
	for r := 0; r < o.rounds; r++ {
		ns := fmt.Sprintf("bench-%d", r)
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return err
		}
		l, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		var profile chan error
		if o.cpuProfile != "" && r == o.rounds-1 {
			profile = make(chan error, 1)
			go func() { profile <- fetchProfile(hc, cfg.Host, "profile", o.cpuProfile, o.profileSeconds) }()
		}
		var allocs chan error
		if o.allocProfile != "" && r == o.rounds-1 {
			allocs = make(chan error, 1)
			go func() { allocs <- fetchProfile(hc, cfg.Host, "allocs", o.allocProfile, o.profileSeconds) }()
		}
		var stopClientProfile func() error
		if o.clientProfile != "" && r == o.rounds-1 {
			if stopClientProfile, err = startProfile(o.clientProfile); err != nil {
				return err
			}
		}
		srvBefore, _ := procCPU(cmd.Process.Pid)
		cliBefore := selfCPU()
		rate, p50, p99, err := creates(ctx, cs, ns, o.objects, o.workers)
		if err != nil {
			return err
		}
		srvCPU, _ := procCPU(cmd.Process.Pid)
		if stopClientProfile != nil {
			if err := stopClientProfile(); err != nil {
				return err
			}
		}
		srvCPU -= srvBefore
		cliCPU := selfCPU() - cliBefore
		if allocs != nil {
			if err := <-allocs; err != nil {
				return err
			}
		}
		if profile != nil {
			if err := <-profile; err != nil {
				return err
			}
		}
		rows = append(rows, row{fmt.Sprintf("create %d ConfigMaps, %d workers (round %d)", o.objects, o.workers, r+1),
			fmt.Sprintf("%.0f/s  p50 %.2f ms  p99 %.2f ms  cpu/create server %.0f µs client %.0f µs", rate, ms(p50), ms(p99),
				float64(srvCPU.Microseconds())/float64(o.objects), float64(cliCPU.Microseconds())/float64(o.objects))})
		lastNS, startRV = ns, l.ResourceVersion
	}
	// LIST of the last round's objects (consistent read, and from the cache with resourceVersion=0).
	for _, rv := range []string{"", "0"} {
		var ds []time.Duration
		for i := 0; i < 5; i++ {
			t0 := time.Now()
			l, err := cs.CoreV1().ConfigMaps(lastNS).List(ctx, metav1.ListOptions{ResourceVersion: rv})
			if err != nil {
				return err
			}
			if len(l.Items) != o.objects {
				return fmt.Errorf("list returned %d items, want %d", len(l.Items), o.objects)
			}
			ds = append(ds, time.Since(t0))
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		label := "consistent"
		if rv == "0" {
			label = "resourceVersion=0"
		}
		rows = append(rows, row{fmt.Sprintf("LIST %d ConfigMaps (%s, median of 5)", o.objects, label), fmt.Sprintf("%.1f ms", ms(ds[2])/1)})
	}
	// Watch replay from before the last round's creates.
	t0 := time.Now()
	w, err := cs.CoreV1().ConfigMaps(lastNS).Watch(ctx, metav1.ListOptions{ResourceVersion: startRV})
	if err != nil {
		return err
	}
	n := 0
	timeout := time.After(60 * time.Second)
	for n < o.objects {
		select {
		case _, ok := <-w.ResultChan():
			if !ok {
				return fmt.Errorf("watch closed after %d events", n)
			}
			n++
		case <-timeout:
			return fmt.Errorf("watch replay: %d of %d events in 60s", n, o.objects)
		}
	}
	w.Stop()
	rows = append(rows, row{fmt.Sprintf("watch replay of %d events", o.objects), fmt.Sprintf("%.1f ms", ms(time.Since(t0)))})
	time.Sleep(3 * time.Second)
	idleEnd, _ := rss(cmd.Process.Pid)
	rows = append(rows, row{"idle RSS, apiserver + embedded etcd (fresh)", fmt.Sprintf("%.1f MB", float64(idleStart)/1e6)})
	rows = append(rows, row{fmt.Sprintf("idle RSS after the run (%d objects)", o.objects*o.rounds), fmt.Sprintf("%.1f MB", float64(idleEnd)/1e6)})

	fmt.Printf("| %-58s | %-40s |\n|%s|%s|\n", "measurement", "result", strings.Repeat("-", 60), strings.Repeat("-", 42))
	for _, r := range rows {
		fmt.Printf("| %-58s | %-40s |\n", r.name, r.value)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func creates(ctx context.Context, cs kubernetes.Interface, ns string, total, workers int) (rate float64, p50, p99 time.Duration, err error) {
	lat := make([]time.Duration, total)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < total; i += workers {
				t0 := time.Now()
				_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%05d", i), Labels: map[string]string{"bench": "true"}},
					Data:       map[string]string{"key": strings.Repeat("v", 64)},
				}, metav1.CreateOptions{})
				if err != nil {
					errs <- err
					return
				}
				lat[i] = time.Since(t0)
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, 0, err
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return float64(total) / elapsed.Seconds(), lat[total/2], lat[total*99/100], nil
}

// procCPU returns the user+system CPU time pid has used (from
// /proc/PID/stat, in clock ticks of 10 ms).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may contain spaces) start at state.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// startProfile starts this process's CPU profile into path; the returned
// function stops it and closes the file.
func startProfile(path string) (func() error, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() error { pprof.StopCPUProfile(); return f.Close() }, nil
}

// selfCPU returns the CPU time (user+system) of this process: the client side.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS")
}

// waitFile waits until path exists.
func waitFile(path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not written after %s", path, timeout)
}

func waitReady(hc *http.Client, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := *hc
	c.Timeout = 2 * time.Second
	client := &c
	for time.Now().Before(deadline) {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s", url, timeout)
}

// fetchProfile records the server's profile of the given kind ("profile"
// for CPU, "allocs") for the given seconds and writes the pprof file to
// path.
func fetchProfile(hc *http.Client, host, kind, path string, seconds int) error {
	resp, err := hc.Get(fmt.Sprintf("%s/debug/pprof/%s?seconds=%d", host, kind, seconds))
	if err != nil {
		return fmt.Errorf("%s profile: %w", kind, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s profile: %s", kind, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s profile: %w", kind, err)
	}
	return os.WriteFile(path, b, 0o644)
}
