package admission

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"skiff.dev/api/plugins/v1alpha1"
)

// latencyBuckets are the histogram's upper bounds in seconds.
var latencyBuckets = [...]float64{
	0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// recentDenials is how many denials a policy remembers for the dashboard.
const recentDenials = 20

// Denial is one denied (or, in audit mode, would-be denied) request.
type Denial struct {
	Time      time.Time `json:"time"`
	Operation string    `json:"operation"`
	Resource  string    `json:"resource"`
	Namespace string    `json:"namespace,omitempty"`
	Name      string    `json:"name,omitempty"`
	User      string    `json:"user,omitempty"`
	Message   string    `json:"message"`
	Audit     bool      `json:"audit,omitempty"`
	DryRun    bool      `json:"dryRun,omitempty"`
}

// PolicyStats is a snapshot of one policy's state and counters.
type PolicyStats struct {
	Name     string `json:"name"`
	Module   string `json:"module"`
	Mode     string `json:"mode"`
	Mutating bool   `json:"mutating"`
	Ready    bool   `json:"ready"`
	Message  string `json:"message,omitempty"`
	// Calls counts module calls; Allowed, Denied (enforced), AuditDenied
	// (allowed by Audit mode) and Errors (failures, incl. not ready) count
	// decisions.
	Calls       uint64 `json:"calls"`
	Allowed     uint64 `json:"allowed"`
	Denied      uint64 `json:"denied"`
	AuditDenied uint64 `json:"auditDenied"`
	Errors      uint64 `json:"errors"`
	// LatencyP50/P99 are estimated from the latency histogram.
	LatencyP50    time.Duration `json:"latencyP50"`
	LatencyP99    time.Duration `json:"latencyP99"`
	RecentDenials []Denial      `json:"recentDenials,omitempty"`
}

type policyStats struct {
	calls, allowed, denied, auditDenied, errors atomic.Uint64
	buckets                                     [len(latencyBuckets) + 1]atomic.Uint64
	sumNanos                                    atomic.Uint64

	mu       sync.Mutex
	info     PolicyStats // name, module, mode, mutating, ready, message
	denials  []Denial    // ring, newest last
	denialAt int
}

func (c *Chain) statsFor(name string) *policyStats {
	c.statsMu.Lock()
	defer c.statsMu.Unlock()
	s, ok := c.stats[name]
	if !ok {
		s = &policyStats{}
		s.info.Name = name
		c.stats[name] = s
	}
	return s
}

func (s *policyStats) setInfo(spec v1alpha1.AdmissionPolicySpec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mode := string(spec.Mode)
	if mode == "" {
		mode = string(v1alpha1.ModeEnforce)
	}
	s.info.Module, s.info.Mode, s.info.Mutating = spec.Module, mode, spec.Mutating
}

func (s *policyStats) setReady(ready bool, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.info.Ready, s.info.Message = ready, msg
}

func (s *policyStats) recordCall(d time.Duration) {
	s.calls.Add(1)
	s.sumNanos.Add(uint64(d))
	sec := d.Seconds()
	i := sort.SearchFloat64s(latencyBuckets[:], sec)
	s.buckets[i].Add(1)
}

func (s *policyStats) recordAllowed() { s.allowed.Add(1) }
func (s *policyStats) recordError()   { s.errors.Add(1) }

func (s *policyStats) recordDenial(req *admissionv1.AdmissionRequest, msg string, audit, dry bool) {
	if audit {
		s.auditDenied.Add(1)
	} else {
		s.denied.Add(1)
	}
	d := Denial{
		Time: time.Now(), Operation: string(req.Operation), Resource: req.Resource.Resource,
		Namespace: req.Namespace, Name: req.Name, User: req.UserInfo.Username, Message: msg, Audit: audit, DryRun: dry,
	}
	if req.SubResource != "" {
		d.Resource += "/" + req.SubResource
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.denials) < recentDenials {
		s.denials = append(s.denials, d)
		return
	}
	s.denials[s.denialAt] = d
	s.denialAt = (s.denialAt + 1) % recentDenials
}

// quantile estimates a latency quantile from the histogram by linear
// interpolation inside the bucket.
func (s *policyStats) quantile(q float64, counts []uint64) time.Duration {
	var total uint64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var seen float64
	for i, c := range counts {
		if seen+float64(c) >= rank && c > 0 {
			lo := 0.0
			if i > 0 {
				lo = latencyBuckets[i-1]
			}
			hi := lo * 2
			if i < len(latencyBuckets) {
				hi = latencyBuckets[i]
			}
			v := lo + (hi-lo)*(rank-seen)/float64(c)
			return time.Duration(v * float64(time.Second))
		}
		seen += float64(c)
	}
	return time.Duration(latencyBuckets[len(latencyBuckets)-1] * float64(time.Second))
}

func (s *policyStats) snapshot() PolicyStats {
	s.mu.Lock()
	out := s.info
	out.RecentDenials = make([]Denial, 0, len(s.denials))
	out.RecentDenials = append(out.RecentDenials, s.denials[s.denialAt:]...)
	out.RecentDenials = append(out.RecentDenials, s.denials[:s.denialAt]...)
	s.mu.Unlock()
	out.Calls, out.Allowed, out.Denied = s.calls.Load(), s.allowed.Load(), s.denied.Load()
	out.AuditDenied, out.Errors = s.auditDenied.Load(), s.errors.Load()
	counts := make([]uint64, len(s.buckets))
	for i := range s.buckets {
		counts[i] = s.buckets[i].Load()
	}
	out.LatencyP50, out.LatencyP99 = s.quantile(0.5, counts), s.quantile(0.99, counts)
	return out
}

// Stats returns a snapshot of every policy's state and counters, sorted by
// name, for the dashboard.
func (c *Chain) Stats() []PolicyStats {
	c.statsMu.RLock()
	all := make([]*policyStats, 0, len(c.stats))
	for _, s := range c.stats {
		all = append(all, s)
	}
	c.statsMu.RUnlock()
	out := make([]PolicyStats, len(all))
	for i, s := range all {
		out[i] = s.snapshot()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func escapeLabel(v string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(v)
}

// WriteMetrics writes every policy's metrics in the Prometheus text format.
func (c *Chain) WriteMetrics(w io.Writer) error {
	bw := bufio.NewWriter(w)
	stats := c.Stats()
	c.statsMu.RLock()
	raw := make(map[string]*policyStats, len(c.stats))
	for k, v := range c.stats {
		raw[k] = v
	}
	c.statsMu.RUnlock()

	fmt.Fprintln(bw, "# HELP skiff_admission_policy_ready Whether the admission policy is loaded (1) or failed to load (0).")
	fmt.Fprintln(bw, "# TYPE skiff_admission_policy_ready gauge")
	for _, s := range stats {
		ready := 0
		if s.Ready {
			ready = 1
		}
		fmt.Fprintf(bw, "skiff_admission_policy_ready{policy=\"%s\",mode=\"%s\"} %d\n", escapeLabel(s.Name), s.Mode, ready)
	}
	fmt.Fprintln(bw, "# HELP skiff_admission_policy_calls_total Calls into the policy's module.")
	fmt.Fprintln(bw, "# TYPE skiff_admission_policy_calls_total counter")
	for _, s := range stats {
		fmt.Fprintf(bw, "skiff_admission_policy_calls_total{policy=\"%s\",mode=\"%s\"} %d\n", escapeLabel(s.Name), s.Mode, s.Calls)
	}
	fmt.Fprintln(bw, "# HELP skiff_admission_policy_decisions_total Decisions by outcome: allowed, denied, audit_denied (allowed by Audit mode), error.")
	fmt.Fprintln(bw, "# TYPE skiff_admission_policy_decisions_total counter")
	for _, s := range stats {
		n := escapeLabel(s.Name)
		for _, d := range []struct {
			k string
			v uint64
		}{{"allowed", s.Allowed}, {"denied", s.Denied}, {"audit_denied", s.AuditDenied}, {"error", s.Errors}} {
			fmt.Fprintf(bw, "skiff_admission_policy_decisions_total{policy=\"%s\",mode=\"%s\",decision=\"%s\"} %d\n", n, s.Mode, d.k, d.v)
		}
	}
	fmt.Fprintln(bw, "# HELP skiff_admission_policy_duration_seconds Latency of module calls.")
	fmt.Fprintln(bw, "# TYPE skiff_admission_policy_duration_seconds histogram")
	for _, s := range stats {
		ps := raw[s.Name]
		if ps == nil {
			continue
		}
		n := escapeLabel(s.Name)
		var cum uint64
		for i := range ps.buckets {
			cum += ps.buckets[i].Load()
			le := "+Inf"
			if i < len(latencyBuckets) {
				le = strconv.FormatFloat(latencyBuckets[i], 'g', -1, 64)
			}
			fmt.Fprintf(bw, "skiff_admission_policy_duration_seconds_bucket{policy=\"%s\",le=\"%s\"} %d\n", n, le, cum)
		}
		fmt.Fprintf(bw, "skiff_admission_policy_duration_seconds_sum{policy=\"%s\"} %s\n", n,
			strconv.FormatFloat(float64(ps.sumNanos.Load())/1e9, 'g', -1, 64))
		fmt.Fprintf(bw, "skiff_admission_policy_duration_seconds_count{policy=\"%s\"} %d\n", n, cum)
	}
	return bw.Flush()
}
