package storage

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

func benchConfigMap(i int) *corev1.ConfigMap {
	return cm("bench", fmt.Sprintf("cm-%07d", i), map[string]string{"app": "bench", "idx": fmt.Sprint(i % 10)},
		"key", "some configuration value that is not tiny", "other", "value")
}

// BenchmarkCreate measures Create with 8 concurrent writers and reports
// latency percentiles.
func BenchmarkCreate(b *testing.B) {
	s, p := newTestStore(b)
	ctx := testCtx(b)
	var seq atomic.Int64
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	b.SetParallelism(8 / max(1, runtimeGOMAXPROCS()))
	b.ResetTimer()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			i := int(seq.Add(1))
			obj := benchConfigMap(i)
			start := time.Now()
			if err := s.Create(ctx, p+"bench/"+obj.Name, obj, &corev1.ConfigMap{}); err != nil {
				b.Error(err)
				return
			}
			local = append(local, time.Since(start))
		}
		mu.Lock()
		lat = append(lat, local...)
		mu.Unlock()
	})
	b.StopTimer()
	reportCPU(b, cpu0)
	reportLatency(b, lat)
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

func fillStore(b *testing.B, s *Store, p string, n int) {
	b.Helper()
	ctx := testCtx(b)
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				obj := benchConfigMap(i)
				if err := s.Create(ctx, p+"bench/"+obj.Name, obj, &corev1.ConfigMap{}); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
}

// BenchmarkList2000 lists 2,000 ConfigMaps with the given resourceVersion.
func BenchmarkList2000(b *testing.B) {
	s, p := newTestStore(b)
	fillStore(b, s, p, 2000)
	ctx := testCtx(b)
	for _, bc := range []struct {
		name string
		opts ListOptions
	}{
		{"consistent-cache", ListOptions{Recursive: true}},
		{"rv0-cache", ListOptions{Recursive: true, ResourceVersion: "0"}},
		{"etcd-exact", ListOptions{Recursive: true, ResourceVersionMatch: "Exact"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			opts := bc.opts
			if opts.ResourceVersionMatch == "Exact" {
				l := &corev1.ConfigMapList{}
				if err := s.List(ctx, p, ListOptions{Recursive: true}, l); err != nil {
					b.Fatal(err)
				}
				opts.ResourceVersion = l.ResourceVersion
			}
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				l := &corev1.ConfigMapList{}
				if err := s.List(ctx, p, opts, l); err != nil {
					b.Fatal(err)
				}
				if len(l.Items) != 2000 {
					b.Fatalf("%d items", len(l.Items))
				}
			}
			reportCPU(b, cpu0)
		})
	}
}

// BenchmarkWatchReplay2000 starts a watch that replays 2,000 events.
func BenchmarkWatchReplay2000(b *testing.B) {
	s, p := newTestStore(b)
	first := mustCreate(b, s, p+"bench/first", benchConfigMap(-1))
	fillStore(b, s, p, 2000)
	ctx := testCtx(b)
	if err := s.List(ctx, p, ListOptions{Recursive: true}, &corev1.ConfigMapList{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		w, err := s.Watch(ctx, p, ListOptions{Recursive: true, ResourceVersion: first.ResourceVersion})
		if err != nil {
			b.Fatal(err)
		}
		for n := 0; n < 2000; n++ {
			<-w.ResultChan()
		}
		w.Stop()
	}
	reportCPU(b, cpu0)
}

// BenchmarkWatchFanout measures delivering each write to 100 watchers.
func BenchmarkWatchFanout(b *testing.B) {
	s, p := newTestStore(b, func(c *Config) { c.WatcherBufferSize = 100000 })
	ctx := testCtx(b)
	const watchers = 100
	var wg sync.WaitGroup
	ws := make([]watch.Interface, watchers)
	for i := range ws {
		w, err := s.Watch(ctx, p, ListOptions{Recursive: true, ResourceVersion: "0"})
		if err != nil {
			b.Fatal(err)
		}
		ws[i] = w
	}
	b.ResetTimer()
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < b.N; n++ {
				<-w.ResultChan()
			}
		}()
	}
	fillStore(b, s, p, b.N)
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N*watchers)/b.Elapsed().Seconds(), "deliveries/s")
	for _, w := range ws {
		w.Stop()
	}
}

func runtimeGOMAXPROCS() int { return runtime.GOMAXPROCS(0) }

// BenchmarkIdleRSS reports the resident memory of the process (embedded
// etcd plus 40 idle stores with their watch caches). Run it alone:
// other benchmarks in the same process inflate it.
func BenchmarkIdleRSS(b *testing.B) {
	for i := 0; i < b.N; i++ {
		stores := make([]*Store, 40)
		for j := range stores {
			stores[j], _ = newTestStore(b)
		}
		time.Sleep(2 * time.Second)
		debug.FreeOSMemory()
		b.ReportMetric(float64(rssBytes(b))/(1<<20), "rss-MB")
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		before := ms.HeapAlloc
		// Then 6,000 objects in one store: what the cache costs per object.
		fillStore(b, stores[0], stores[0].cfg.Prefix, 6000)
		if err := stores[0].List(testCtx(b), stores[0].cfg.Prefix, ListOptions{Recursive: true}, &corev1.ConfigMapList{}); err != nil {
			b.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		debug.FreeOSMemory()
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(rssBytes(b))/(1<<20), "rss-6000-MB")
		b.ReportMetric(float64(int64(ms.HeapAlloc)-int64(before))/6000, "heap-B/object")
		for _, s := range stores {
			s.Stop()
		}
	}
}

func rssBytes(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// cpuTime is the process's user+system CPU time. Reported per operation it
// is a load-independent cost, unlike wall time on a shared machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}

// codecBenchObject is a ConfigMap as the REST layer stores it.
func codecBenchObject(i int) *corev1.ConfigMap {
	c := benchConfigMap(i)
	c.Namespace = "bench"
	c.UID = types.UID(fmt.Sprintf("7c9e6679-7425-40de-944b-%012d", i))
	c.CreationTimestamp = metav1.NewTime(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	c.ResourceVersion = strconv.Itoa(1000 + i)
	return c
}

var codecFormats = []struct {
	name   string
	encode func(kruntime.Object) ([]byte, error)
}{
	{"json", func(o kruntime.Object) ([]byte, error) { return encodeJSON(o) }},
	{"protobuf", func(o kruntime.Object) ([]byte, error) { return encodeProto(o.(protoObject)) }},
}

// BenchmarkCodec measures encoding one ConfigMap (what every create and
// update pays) and decoding it (what the watch cache pays per event), in
// either storage format.
func BenchmarkCodec(b *testing.B) {
	s := &Store{cfg: Config{NewFunc: func() kruntime.Object { return &corev1.ConfigMap{} }}}
	for _, f := range codecFormats {
		b.Run("encode/"+f.name, func(b *testing.B) {
			obj := codecBenchObject(1)
			b.ReportAllocs()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				if _, err := f.encode(obj); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu0)
		})
		b.Run("decode/"+f.name, func(b *testing.B) {
			data, err := f.encode(codecBenchObject(1))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(len(data)), "bytes")
			b.ReportAllocs()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				if _, err := s.decode(data, 5); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu0)
		})
	}
	b.Run("encode/auto", func(b *testing.B) {
		obj := codecBenchObject(1)
		b.ReportAllocs()
		cpu0 := cpuTime()
		for i := 0; i < b.N; i++ {
			if _, err := encode(obj); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu0)
	})
}

// BenchmarkDecode2000 decodes 2,000 stored ConfigMaps: what the watch
// cache does when it loads a resource, and an etcd list (exact
// resourceVersion, or a paged list) per page.
func BenchmarkDecode2000(b *testing.B) {
	s := &Store{cfg: Config{NewFunc: func() kruntime.Object { return &corev1.ConfigMap{} }}}
	for _, f := range codecFormats {
		b.Run(f.name, func(b *testing.B) {
			values := make([][]byte, 2000)
			for i := range values {
				data, err := f.encode(codecBenchObject(i))
				if err != nil {
					b.Fatal(err)
				}
				values[i] = data
			}
			b.ReportAllocs()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				for j, data := range values {
					if _, err := s.decode(data, int64(1000+j)); err != nil {
						b.Fatal(err)
					}
				}
			}
			reportCPU(b, cpu0)
		})
	}
}
