// Package scheduling runs Wasm modules as kube-scheduler style filter and
// score plugins, calling each module once per scheduling cycle with the pod
// and every candidate node (a batch), so the Wasm boundary is crossed once
// per cycle rather than once per node.
//
// Typical use by a scheduler (one host.Runtime per process, shared by all
// plugins; one Plugin per SchedulerPlugin object):
//
//	rt, _ := host.New(ctx, host.Options{Logger: log})
//	p, err := scheduling.Load(ctx, rt, scheduling.Config{
//		Name:     sp.Name,              // for logs and errors
//		Wasm:     moduleBytes,          // content of WasmModule sp.Spec.Module
//		Settings: sp.Spec.Settings.Raw, // may be nil
//		Timeout:  100 * time.Millisecond,
//	})
//	// err: bad module, missing filter/score export, or settings rejected
//	// by the module's validate_settings.
//	nodes := make([]scheduling.NodeInput, len(candidates)) // see NodeInput
//	res, err := p.Filter(ctx, pod, nodes)  // one FilterResult per node, same order
//	scores, err := p.Score(ctx, pod, nodes) // one score in [0,100] per node
//
// Errors (timeouts, traps, out of memory, guest-reported errors) are
// returned; apply the SchedulerPlugin's failurePolicy to them (Ignore:
// skip the plugin this cycle). The instance involved is discarded by the
// runtime. Plugin methods are safe for concurrent use.
//
// Cost: the nodes are sent in a compact binary layout (docs/plugins/ABI.md,
// "Scheduling batch") and only the field groups the module asks for
// (Fields) are encoded, so fill only those in NodeInput if building them is
// costly. Set NodeInput.Generation to let the plugin reuse each node's
// encoded record (labels, taints) while the node is unchanged. ScoreInto and FilterInto write into the caller's slices. A
// Go-guest score over 420 nodes with resources only measures in
// docs/benchmarks/plugins.md.
package scheduling

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/plugins/abi"
	"skiff.dev/plugins/host"
)

// Resources are milli-CPU, memory bytes and pod count.
type Resources = abi.Resources

// ExtendedResource is an extended resource (e.g. nvidia.com/gpu) of a node:
// allocatable and already requested amounts.
type ExtendedResource = abi.ExtendedResource

// Node field groups (see Plugin.Fields).
const (
	FieldResources = abi.FieldResources // Allocatable, Requested
	FieldExtended  = abi.FieldExtended  // Extended
	FieldLabels    = abi.FieldLabels    // Labels
	FieldTaints    = abi.FieldTaints    // Taints
)

// NodeInput is what a plugin sees of a candidate node.
type NodeInput struct {
	Name   string
	Labels map[string]string
	Taints []corev1.Taint
	// Allocatable and Requested (sum of the requests of pods already on
	// the node) in milli-CPU, bytes and pods.
	Allocatable Resources
	Requested   Resources
	// Extended lists extended resources (names not in the kubernetes.io
	// core set), allocatable and requested.
	Extended []ExtendedResource
	// Generation, when not 0, versions this node's content: it must
	// change whenever any field above changes (a scheduler cache's node
	// generation does). The plugin then keeps the node's encoded record
	// and, while Name and Generation match, copies it instead of sorting
	// and encoding labels and taints again (records without labels or
	// taints are cheaper to encode than to look up, so they never are).
	Generation int64
}

// Filter result codes, as the kube-scheduler framework's.
const (
	Success                      = abi.FilterSuccess
	Unschedulable                = abi.FilterUnschedulable
	UnschedulableAndUnresolvable = abi.FilterUnschedulableAndUnresolvable
)

// FilterResult is a filter's verdict for one node: Code Success means the
// node fits; otherwise Reason says why not.
type FilterResult = abi.FilterResult

// MaxScore is the highest score; scores are clamped to [0, MaxScore].
const MaxScore = 100

// Config describes one plugin.
type Config struct {
	// Name labels the plugin in logs and errors (the SchedulerPlugin name).
	Name string
	// Wasm is the module's bytes.
	Wasm []byte
	// Settings is the plugin's settings JSON (may be empty).
	Settings []byte
	// Timeout caps one call (default 100ms).
	Timeout time.Duration
}

// Plugin is a loaded filter and/or score module.
type Plugin struct {
	name     string
	mod      *host.Module
	settings []byte
	timeout  time.Duration
	fields   uint32

	bufs sync.Pool // *[]byte batch buffers, reused for the results

	mu      sync.Mutex
	podKey  podKey
	podJSON []byte

	recMu sync.Mutex
	recs  map[string]nodeRecord // by node name; see NodeInput.Generation
}

// nodeRecord is a node's encoded record at one generation.
type nodeRecord struct {
	gen int64
	rec []byte
}

type podKey struct {
	uid types.UID
	rv  string
	ptr *corev1.Pod
}

// Load compiles the module, checks it serves filter and/or score,
// validates the settings with the module's validate_settings (if exported)
// and asks which node fields it needs.
func Load(ctx context.Context, rt *host.Runtime, cfg Config) (*Plugin, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 100 * time.Millisecond
	}
	if len(cfg.Settings) > 0 && !json.Valid(cfg.Settings) {
		return nil, fmt.Errorf("plugin %s: settings are not valid JSON", cfg.Name)
	}
	mod, err := rt.Load(ctx, cfg.Name, cfg.Wasm)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", cfg.Name, err)
	}
	p := &Plugin{name: cfg.Name, mod: mod, settings: cfg.Settings, timeout: cfg.Timeout, fields: abi.FieldAll}
	fail := func(err error) (*Plugin, error) {
		mod.Close(ctx)
		return nil, fmt.Errorf("plugin %s: %w", cfg.Name, err)
	}
	if !p.HasFilter() && !p.HasScore() {
		return fail(errors.New("module exports neither filter nor score"))
	}
	cctx, cancel := context.WithTimeout(ctx, max(cfg.Timeout, time.Second))
	defer cancel()
	if err := host.CheckSettings(cctx, mod, cfg.Settings); err != nil {
		return fail(err)
	}
	if mod.Has(abi.ExportNodeFields) {
		f, err := mod.CallI32(cctx, abi.ExportNodeFields)
		if err != nil {
			return fail(err)
		}
		p.fields = f & abi.FieldAll
	}
	return p, nil
}

// Name returns the plugin's name.
func (p *Plugin) Name() string { return p.name }

// HasFilter reports whether the module is a filter.
func (p *Plugin) HasFilter() bool { return p.mod.Has(abi.ExportFilter) }

// HasScore reports whether the module is a score plugin.
func (p *Plugin) HasScore() bool { return p.mod.Has(abi.ExportScore) }

// Fields returns the node field groups the module reads (FieldResources|…);
// the others need not be filled in NodeInput.
func (p *Plugin) Fields() uint32 { return p.fields }

// Close releases the module.
func (p *Plugin) Close(ctx context.Context) error { return p.mod.Close(ctx) }

// Filter runs the module's filter over nodes.
func (p *Plugin) Filter(ctx context.Context, pod *corev1.Pod, nodes []NodeInput) ([]FilterResult, error) {
	rs := make([]FilterResult, len(nodes))
	if err := p.FilterInto(ctx, pod, nodes, rs); err != nil {
		return nil, err
	}
	return rs, nil
}

// FilterInto is Filter writing the results into rs, which must have one
// entry per node.
func (p *Plugin) FilterInto(ctx context.Context, pod *corev1.Pod, nodes []NodeInput, rs []FilterResult) error {
	if len(rs) != len(nodes) {
		return fmt.Errorf("plugin %s: filter: %d result slots for %d nodes", p.name, len(rs), len(nodes))
	}
	return p.call(ctx, abi.ExportFilter, pod, nodes, func(out []byte) error {
		if err := abi.DecodeFilterResultsInto(rs, out); err != nil {
			return fmt.Errorf("plugin %s: filter: %w", p.name, err)
		}
		return nil
	})
}

// Score runs the module's score over nodes; scores are clamped to [0, 100].
func (p *Plugin) Score(ctx context.Context, pod *corev1.Pod, nodes []NodeInput) ([]int64, error) {
	scores := make([]int64, len(nodes))
	if err := p.ScoreInto(ctx, pod, nodes, scores); err != nil {
		return nil, err
	}
	return scores, nil
}

// ScoreInto is Score writing the scores into scores, which must have one
// entry per node.
func (p *Plugin) ScoreInto(ctx context.Context, pod *corev1.Pod, nodes []NodeInput, scores []int64) error {
	if len(scores) != len(nodes) {
		return fmt.Errorf("plugin %s: score: %d score slots for %d nodes", p.name, len(scores), len(nodes))
	}
	return p.call(ctx, abi.ExportScore, pod, nodes, func(out []byte) error {
		if err := abi.DecodeScoresInto(scores, out); err != nil {
			return fmt.Errorf("plugin %s: score: %w", p.name, err)
		}
		for i, s := range scores {
			scores[i] = min(max(s, 0), MaxScore)
		}
		return nil
	})
}

// call encodes the batch, calls export and hands the result to decode
// before the buffer that holds it goes back to the pool.
func (p *Plugin) call(ctx context.Context, export string, pod *corev1.Pod, nodes []NodeInput, decode func([]byte) error) error {
	if !p.mod.Has(export) {
		return fmt.Errorf("plugin %s: module does not export %s", p.name, export)
	}
	podJSON, err := p.encodePod(pod)
	if err != nil {
		return err
	}
	bp, _ := p.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer p.bufs.Put(bp)
	*bp = p.encodeBatch((*bp)[:0], podJSON, pod, nodes)
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	// The result goes into the same buffer, after the input.
	n := len(*bp)
	out, err := p.mod.CallAppend(ctx, export, *bp, *bp)
	if err != nil {
		return fmt.Errorf("plugin %s: %w", p.name, err)
	}
	*bp = out
	return decode(out[n:])
}

// encodePod marshals the pod, reusing the last encoding for the same pod
// (filter and score of one cycle).
func (p *Plugin) encodePod(pod *corev1.Pod) ([]byte, error) {
	key := podKey{uid: pod.UID, rv: pod.ResourceVersion, ptr: pod}
	p.mu.Lock()
	if p.podJSON != nil && p.podKey == key {
		b := p.podJSON
		p.mu.Unlock()
		return b, nil
	}
	p.mu.Unlock()
	b, err := json.Marshal(pod)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: encode pod: %w", p.name, err)
	}
	p.mu.Lock()
	p.podKey, p.podJSON = key, b
	p.mu.Unlock()
	return b, nil
}

// encodeBatch encodes the batch for nodes onto dst, node by node (no
// intermediate slice), copying cached records of unchanged nodes.
func (p *Plugin) encodeBatch(dst, podJSON []byte, pod *corev1.Pod, nodes []NodeInput) []byte {
	req, ext := PodRequests(pod)
	b := abi.Batch{Fields: p.fields, Pod: podJSON, Settings: p.settings, PodRequests: req, PodExtended: ext}
	w := abi.Writer{B: abi.AppendBatchHeader(dst, &b)}
	w.U32(uint32(len(nodes)))
	if p.fields&(abi.FieldLabels|abi.FieldTaints) == 0 {
		// Names, resources and extended resources encode faster than a
		// cache lookup.
		for i := range nodes {
			appendNode(&w, p.fields, &nodes[i], nil)
		}
		return w.B
	}
	var keys []string
	p.recMu.Lock()
	defer p.recMu.Unlock()
	if p.recs == nil || len(p.recs) > 2*len(nodes)+1024 {
		// New, or full of nodes that have gone: start over.
		p.recs = make(map[string]nodeRecord, len(nodes))
	}
	for i := range nodes {
		n := &nodes[i]
		if n.Generation == 0 {
			keys = appendNode(&w, p.fields, n, keys)
			continue
		}
		if r, ok := p.recs[n.Name]; ok && r.gen == n.Generation {
			w.B = append(w.B, r.rec...)
			continue
		}
		start := len(w.B)
		keys = appendNode(&w, p.fields, n, keys)
		p.recs[n.Name] = nodeRecord{gen: n.Generation, rec: bytes.Clone(w.B[start:])}
	}
	return w.B
}

// appendNode encodes one node record; keys is scratch space for sorting
// label keys, returned for reuse.
func appendNode(w *abi.Writer, fields uint32, n *NodeInput, keys []string) []string {
	w.Str(n.Name)
	if fields&abi.FieldResources != 0 {
		w.I64(n.Allocatable.MilliCPU)
		w.I64(n.Allocatable.Memory)
		w.I64(n.Allocatable.Pods)
		w.I64(n.Requested.MilliCPU)
		w.I64(n.Requested.Memory)
		w.I64(n.Requested.Pods)
	}
	if fields&abi.FieldExtended != 0 {
		w.U32(uint32(len(n.Extended)))
		for _, e := range n.Extended {
			w.Str(e.Name)
			w.I64(e.Allocatable)
			w.I64(e.Requested)
		}
	}
	if fields&abi.FieldLabels != 0 {
		keys = keys[:0]
		for k := range n.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		w.U32(uint32(len(keys)))
		for _, k := range keys {
			w.Str(k)
			w.Str(n.Labels[k])
		}
	}
	if fields&abi.FieldTaints != 0 {
		w.U32(uint32(len(n.Taints)))
		for _, t := range n.Taints {
			w.Str(t.Key)
			w.Str(t.Value)
			w.Str(string(t.Effect))
		}
	}
	return keys
}

// PodRequests computes a pod's effective requests as the scheduler does:
// the larger of the sum over containers and each init container, plus
// overhead. Extended resources are those other than cpu, memory,
// ephemeral-storage and pods, sorted by name.
func PodRequests(pod *corev1.Pod) (Resources, []abi.Quantity) {
	sum := corev1.ResourceList{}
	add := func(rl corev1.ResourceList) {
		for n, q := range rl {
			cur := sum[n]
			cur.Add(q)
			sum[n] = cur
		}
	}
	for _, c := range pod.Spec.Containers {
		add(c.Resources.Requests)
	}
	for _, c := range pod.Spec.InitContainers {
		for n, q := range c.Resources.Requests {
			if cur, ok := sum[n]; !ok || q.Cmp(cur) > 0 {
				sum[n] = q.DeepCopy()
			}
		}
	}
	add(pod.Spec.Overhead)
	r := Resources{Pods: 1}
	var ext []abi.Quantity
	for n, q := range sum {
		switch n {
		case corev1.ResourceCPU:
			r.MilliCPU = q.MilliValue()
		case corev1.ResourceMemory:
			r.Memory = q.Value()
		case corev1.ResourceEphemeralStorage, corev1.ResourcePods:
		default:
			ext = append(ext, abi.Quantity{Name: string(n), Value: q.Value()})
		}
	}
	sort.Slice(ext, func(i, j int) bool { return ext[i].Name < ext[j].Name })
	return r, ext
}
