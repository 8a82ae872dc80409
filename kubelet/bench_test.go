package kubelet_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"skiff.dev/api/testenv"
	"skiff.dev/kubelet"
	"skiff.dev/kubelet/internal/crienv"
)

// BenchmarkPodStartup measures pod startup latency (create → Running as
// seen by a watch) for 50 pods on one real node: created all at once
// ("burst", 10 concurrent clients), at a steady 10 pods/s as upstream's
// density tests create them ("paced-10ps"), and one after the other
// ("serial"). Besides latency it reports the CPU time per pod of the
// runtime (containerd, shims, OCI runtime, CNI plugins: cgroup cpuacct) and
// of this process (the kubelet plus the benchmark's clients), measured from
// the first create until all pods are Running; CPU time does not depend on
// other load the way latency does. SKIFF_TEST_OCI_RUNTIME (runc, crun) and
// SKIFF_BENCH_PARALLEL_STARTS (the kubelet's MaxParallelPodStarts; 0: no
// bound) select other setups.
// Run with: go test -run '^$' -bench PodStartup -benchtime 1x ./
func BenchmarkPodStartup(b *testing.B) {
	if why := crienv.Skip(); why != "" {
		b.Skip(why)
	}
	env := testenv.StartAPIServer(b, testenv.Options{})
	crt := crienv.Start(b)
	o := kubelet.NewOptions()
	o.RESTConfig = env.Config
	o.NodeName = "bench-node"
	o.NodeIP = "127.0.0.1"
	o.Address = "127.0.0.1"
	o.ServerPort = testenv.FreePort(b)
	o.ContainerRuntimeEndpoint = crt.Containerd.Endpoint
	o.RootDir = b.TempDir()
	o.SkipCNI = true
	o.CgroupRoot = crt.CgroupRoot
	o.Log = testLoggerB()
	if v := os.Getenv("SKIFF_BENCH_PARALLEL_STARTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatal(err)
		}
		o.MaxParallelPodStarts = n
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = kubelet.Run(ctx, o); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	c := env.Client
	if err := testenv.Poll(30*time.Second, func() (bool, error) {
		n, err := c.CoreV1().Nodes().Get(ctx, o.NodeName, metav1.GetOptions{})
		return err == nil && nodeReady(n), nil
	}); err != nil {
		b.Fatal(err)
	}
	const pods = 50
	for _, mode := range []struct {
		name    string
		workers int
		every   time.Duration // pace of creates (0: as fast as the workers go)
	}{{"burst", 10, 0}, {"paced-10ps", 10, 100 * time.Millisecond}, {"serial", 1, 0}} {
		b.Run(mode.name, func(b *testing.B) {
			for iter := 0; iter < b.N; iter++ {
				ns := fmt.Sprintf("bench-%s-%d", mode.name, iter)
				if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
					b.Fatal(err)
				}
				w, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
				if err != nil {
					b.Fatal(err)
				}
				var mu sync.Mutex
				created := map[string]time.Time{}
				running := map[string]time.Duration{}
				allRunning := make(chan struct{})
				go func() {
					for ev := range w.ResultChan() {
						p, ok := ev.Object.(*corev1.Pod)
						if !ok || ev.Type == watch.Deleted || p.Status.Phase != corev1.PodRunning {
							continue
						}
						now := time.Now()
						mu.Lock()
						if _, seen := running[p.Name]; !seen {
							if t0, ok := created[p.Name]; ok {
								running[p.Name] = now.Sub(t0)
								if len(running) == pods {
									close(allRunning)
								}
							}
						}
						mu.Unlock()
					}
				}()
				rt0, _ := crt.CPU()
				self0 := selfCPU()
				next := make(chan int)
				var wg sync.WaitGroup
				for i := 0; i < mode.workers; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range next {
							name := fmt.Sprintf("p%d", i)
							mu.Lock()
							created[name] = time.Now()
							mu.Unlock()
							_, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
								ObjectMeta: metav1.ObjectMeta{Name: name},
								Spec: corev1.PodSpec{NodeName: o.NodeName, TerminationGracePeriodSeconds: ptr(int64(0)), Containers: []corev1.Container{{
									Name: "c", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent, Command: []string{"sleep", "3600"},
								}}},
							}, metav1.CreateOptions{})
							if err != nil {
								b.Error(err)
							}
							if mode.workers == 1 {
								// Serial: wait for this pod before the next.
								for {
									mu.Lock()
									_, ok := running[name]
									mu.Unlock()
									if ok {
										break
									}
									time.Sleep(5 * time.Millisecond)
								}
							}
						}
					}()
				}
				for i := 0; i < pods; i++ {
					if mode.every > 0 && i > 0 {
						time.Sleep(mode.every) // the pace is what is measured here
					}
					next <- i
				}
				close(next)
				wg.Wait()
				select {
				case <-allRunning:
				case <-time.After(120 * time.Second):
					b.Fatalf("only %d/%d pods Running", len(running), pods)
				}
				w.Stop()
				if rt1, err := crt.CPU(); err == nil {
					b.ReportMetric(float64((rt1-rt0).Microseconds())/1e3/pods, "runtime-cpu-ms/pod")
				}
				b.ReportMetric(float64((selfCPU()-self0).Microseconds())/1e3/pods, "kubelet-cpu-ms/pod")
				var lat []time.Duration
				for _, d := range running {
					lat = append(lat, d)
				}
				sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
				pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
				b.ReportMetric(float64(pct(0.50).Milliseconds()), "p50-ms")
				b.ReportMetric(float64(pct(0.90).Milliseconds()), "p90-ms")
				b.ReportMetric(float64(pct(0.99).Milliseconds()), "p99-ms")
				b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "max-ms")
				// Clean up: delete the pods and wait until the runtime is empty —
				// sandboxes too, whose teardown (CNI DEL, shim exit, unmounts)
				// outlasts the containers' and would otherwise overlap the next
				// mode's measurement.
				zero := int64(0)
				_ = c.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{})
				_ = testenv.Poll(120*time.Second, func() (bool, error) {
					cs, err := crt.Containers(ctx, nil)
					if err != nil || len(cs) > 0 {
						return false, nil
					}
					sbs, err := crt.Client.ListPodSandbox(ctx, nil)
					return err == nil && len(sbs) == 0, nil
				})
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// selfCPU is the user+system CPU time of this process (the kubelet and the
// benchmark's API clients).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
