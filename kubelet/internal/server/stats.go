package server

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"skiff.dev/kubelet/internal/pod"
)

// The summary types follow the JSON shape of the upstream kubelet's
// stats/v1alpha1 Summary (the fields metrics consumers read).
type (
	// Summary is the /stats/summary document.
	Summary struct {
		Node NodeStats  `json:"node"`
		Pods []PodStats `json:"pods"`
	}
	// NodeStats are node-wide usage numbers.
	NodeStats struct {
		NodeName  string       `json:"nodeName"`
		StartTime metav1.Time  `json:"startTime"`
		CPU       *CPUStats    `json:"cpu,omitempty"`
		Memory    *MemoryStats `json:"memory,omitempty"`
	}
	// PodReference names a pod.
	PodReference struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
		UID       string `json:"uid"`
	}
	// PodStats are one pod's usage numbers.
	PodStats struct {
		PodRef     PodReference     `json:"podRef"`
		StartTime  metav1.Time      `json:"startTime"`
		Containers []ContainerStats `json:"containers"`
		CPU        *CPUStats        `json:"cpu,omitempty"`
		Memory     *MemoryStats     `json:"memory,omitempty"`
	}
	// ContainerStats are one container's usage numbers.
	ContainerStats struct {
		Name      string       `json:"name"`
		StartTime metav1.Time  `json:"startTime"`
		CPU       *CPUStats    `json:"cpu,omitempty"`
		Memory    *MemoryStats `json:"memory,omitempty"`
	}
	// CPUStats is CPU usage.
	CPUStats struct {
		Time                 metav1.Time `json:"time"`
		UsageNanoCores       *uint64     `json:"usageNanoCores,omitempty"`
		UsageCoreNanoSeconds *uint64     `json:"usageCoreNanoSeconds,omitempty"`
	}
	// MemoryStats is memory usage.
	MemoryStats struct {
		Time            metav1.Time `json:"time"`
		AvailableBytes  *uint64     `json:"availableBytes,omitempty"`
		UsageBytes      *uint64     `json:"usageBytes,omitempty"`
		WorkingSetBytes *uint64     `json:"workingSetBytes,omitempty"`
	}
)

// nodeStats samples /proc to compute node CPU rate between calls.
type nodeStats struct {
	mu       sync.Mutex
	lastT    time.Time
	lastUsed uint64 // ns of CPU time used
	rate     uint64
}

func u64(v uint64) *uint64 { return &v }

// cpuUsedNanos reads /proc/stat: non-idle CPU time in nanoseconds.
func cpuUsedNanos() (uint64, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || fields[0] != "cpu" {
			continue
		}
		var total uint64
		for i, v := range fields[1:] {
			n, _ := strconv.ParseUint(v, 10, 64)
			if i == 3 || i == 4 { // idle, iowait
				continue
			}
			total += n
		}
		// USER_HZ is 100 on Linux.
		return total * uint64(time.Second/100), nil
	}
	return 0, fmt.Errorf("no cpu line in /proc/stat")
}

func memInfo() (total, avail uint64, err error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "MemTotal:":
			total = n * 1024
		case "MemAvailable:":
			avail = n * 1024
		}
	}
	return total, avail, nil
}

func (n *nodeStats) sample() (*CPUStats, *MemoryStats) {
	now := time.Now()
	var cpu *CPUStats
	if used, err := cpuUsedNanos(); err == nil {
		n.mu.Lock()
		if !n.lastT.IsZero() && used >= n.lastUsed {
			if dt := now.Sub(n.lastT); dt > 100*time.Millisecond {
				n.rate = uint64(float64(used-n.lastUsed) / dt.Seconds())
				n.lastT, n.lastUsed = now, used
			}
		} else {
			n.lastT, n.lastUsed = now, used
		}
		rate := n.rate
		n.mu.Unlock()
		cpu = &CPUStats{Time: metav1.NewTime(now), UsageCoreNanoSeconds: u64(used), UsageNanoCores: u64(rate)}
	}
	var mem *MemoryStats
	if total, avail, err := memInfo(); err == nil {
		mem = &MemoryStats{Time: metav1.NewTime(now), AvailableBytes: u64(avail), UsageBytes: u64(total - avail), WorkingSetBytes: u64(total - avail)}
	}
	return cpu, mem
}

// Collect builds the summary from the runtime's container stats.
func (s *Server) Collect(r *http.Request) (*Summary, error) {
	cpu, mem := s.stats.sample()
	sum := &Summary{Node: NodeStats{NodeName: s.opts.NodeName, CPU: cpu, Memory: mem, StartTime: metav1.NewTime(bootTime())}}
	stats, err := s.opts.Runtime.ListContainerStats(r.Context(), &runtimeapi.ContainerStatsFilter{})
	if err != nil {
		return nil, fmt.Errorf("list container stats: %w", err)
	}
	byPod := map[string]*PodStats{}
	for _, p := range s.opts.Pods.Pods() {
		ps := &PodStats{PodRef: PodReference{Name: p.Name, Namespace: p.Namespace, UID: string(p.UID)}}
		if p.Status.StartTime != nil {
			ps.StartTime = *p.Status.StartTime
		}
		byPod[string(p.UID)] = ps
	}
	for _, st := range stats {
		uid := st.GetAttributes().GetLabels()[pod.LabelPodUID]
		ps, ok := byPod[uid]
		if !ok {
			continue
		}
		cs := ContainerStats{Name: st.GetAttributes().GetMetadata().GetName()}
		if c := st.GetCpu(); c != nil {
			cs.CPU = &CPUStats{Time: metav1.NewTime(time.Unix(0, c.Timestamp))}
			if c.UsageCoreNanoSeconds != nil {
				cs.CPU.UsageCoreNanoSeconds = u64(c.UsageCoreNanoSeconds.Value)
			}
			if c.UsageNanoCores != nil {
				cs.CPU.UsageNanoCores = u64(c.UsageNanoCores.Value)
			}
		}
		if m := st.GetMemory(); m != nil {
			cs.Memory = &MemoryStats{Time: metav1.NewTime(time.Unix(0, m.Timestamp))}
			if m.WorkingSetBytes != nil {
				cs.Memory.WorkingSetBytes = u64(m.WorkingSetBytes.Value)
			}
			if m.UsageBytes != nil {
				cs.Memory.UsageBytes = u64(m.UsageBytes.Value)
			}
		}
		ps.Containers = append(ps.Containers, cs)
	}
	for _, ps := range byPod {
		if len(ps.Containers) == 0 {
			continue
		}
		var cpuNs, cpuRate, ws, usage uint64
		var t metav1.Time
		for _, c := range ps.Containers {
			if c.CPU != nil {
				t = c.CPU.Time
				if c.CPU.UsageCoreNanoSeconds != nil {
					cpuNs += *c.CPU.UsageCoreNanoSeconds
				}
				if c.CPU.UsageNanoCores != nil {
					cpuRate += *c.CPU.UsageNanoCores
				}
			}
			if c.Memory != nil {
				if c.Memory.WorkingSetBytes != nil {
					ws += *c.Memory.WorkingSetBytes
				}
				if c.Memory.UsageBytes != nil {
					usage += *c.Memory.UsageBytes
				}
			}
		}
		ps.CPU = &CPUStats{Time: t, UsageCoreNanoSeconds: u64(cpuNs), UsageNanoCores: u64(cpuRate)}
		ps.Memory = &MemoryStats{Time: t, WorkingSetBytes: u64(ws), UsageBytes: u64(usage)}
		sort.Slice(ps.Containers, func(i, j int) bool { return ps.Containers[i].Name < ps.Containers[j].Name })
		sum.Pods = append(sum.Pods, *ps)
	}
	sort.Slice(sum.Pods, func(i, j int) bool {
		a, b := sum.Pods[i].PodRef, sum.Pods[j].PodRef
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})
	return sum, nil
}

func bootTime() time.Time {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return time.Time{}
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return time.Time{}
	}
	up, _ := strconv.ParseFloat(f[0], 64)
	return time.Now().Add(-time.Duration(up * float64(time.Second))).Truncate(time.Second)
}

func (s *Server) summary(w http.ResponseWriter, r *http.Request) {
	sum, err := s.Collect(r)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, sum)
}

// metricsResource serves the summary in the Prometheus text format of the
// upstream /metrics/resource endpoint.
func (s *Server) metricsResource(w http.ResponseWriter, r *http.Request) {
	sum, err := s.Collect(r)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	ms := func(t metav1.Time) int64 { return t.UnixMilli() }
	fmt.Fprintln(w, "# TYPE node_cpu_usage_seconds_total counter")
	if c := sum.Node.CPU; c != nil && c.UsageCoreNanoSeconds != nil {
		fmt.Fprintf(w, "node_cpu_usage_seconds_total %g %d\n", float64(*c.UsageCoreNanoSeconds)/1e9, ms(c.Time))
	}
	fmt.Fprintln(w, "# TYPE node_memory_working_set_bytes gauge")
	if m := sum.Node.Memory; m != nil && m.WorkingSetBytes != nil {
		fmt.Fprintf(w, "node_memory_working_set_bytes %d %d\n", *m.WorkingSetBytes, ms(m.Time))
	}
	fmt.Fprintln(w, "# TYPE container_cpu_usage_seconds_total counter")
	for _, p := range sum.Pods {
		for _, c := range p.Containers {
			if c.CPU != nil && c.CPU.UsageCoreNanoSeconds != nil {
				fmt.Fprintf(w, "container_cpu_usage_seconds_total{container=%q,namespace=%q,pod=%q} %g %d\n", c.Name, p.PodRef.Namespace, p.PodRef.Name, float64(*c.CPU.UsageCoreNanoSeconds)/1e9, ms(c.CPU.Time))
			}
		}
	}
	fmt.Fprintln(w, "# TYPE container_memory_working_set_bytes gauge")
	for _, p := range sum.Pods {
		for _, c := range p.Containers {
			if c.Memory != nil && c.Memory.WorkingSetBytes != nil {
				fmt.Fprintf(w, "container_memory_working_set_bytes{container=%q,namespace=%q,pod=%q} %d %d\n", c.Name, p.PodRef.Namespace, p.PodRef.Name, *c.Memory.WorkingSetBytes, ms(c.Memory.Time))
			}
		}
	}
	fmt.Fprintln(w, "# TYPE scrape_error gauge\nscrape_error 0")
}
