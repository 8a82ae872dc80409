package framework

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// Code is the outcome of a plugin call.
type Code int

// Plugin outcomes.
const (
	// Success: the node fits / the call worked.
	Success Code = iota
	// Error: an internal error; the cycle fails and the pod is retried.
	Error
	// Unschedulable: the node does not fit, but preemption may help.
	Unschedulable
	// UnschedulableAndUnresolvable: the node does not fit and preemption cannot help.
	UnschedulableAndUnresolvable
	// Skip: from PreFilter/PreScore, the plugin has nothing to do this cycle.
	Skip
)

func (c Code) String() string {
	switch c {
	case Success:
		return "Success"
	case Error:
		return "Error"
	case Unschedulable:
		return "Unschedulable"
	case UnschedulableAndUnresolvable:
		return "UnschedulableAndUnresolvable"
	case Skip:
		return "Skip"
	}
	return fmt.Sprintf("Code(%d)", int(c))
}

// Status is a plugin result. A nil *Status means Success.
type Status struct {
	code    Code
	reasons []string
	err     error
	plugin  string
}

// NewStatus returns a status with a code and reasons.
func NewStatus(code Code, reasons ...string) *Status {
	return &Status{code: code, reasons: reasons}
}

// AsStatus wraps an error as an Error status.
func AsStatus(err error) *Status {
	if err == nil {
		return nil
	}
	return &Status{code: Error, reasons: []string{err.Error()}, err: err}
}

// Code returns the code (Success for nil).
func (s *Status) Code() Code {
	if s == nil {
		return Success
	}
	return s.code
}

// IsSuccess reports a nil or Success status.
func (s *Status) IsSuccess() bool { return s.Code() == Success }

// IsSkip reports a Skip status.
func (s *Status) IsSkip() bool { return s.Code() == Skip }

// IsRejected reports Unschedulable or UnschedulableAndUnresolvable.
func (s *Status) IsRejected() bool {
	c := s.Code()
	return c == Unschedulable || c == UnschedulableAndUnresolvable
}

// Reasons returns the human-readable reasons.
func (s *Status) Reasons() []string {
	if s == nil {
		return nil
	}
	return s.reasons
}

// Plugin returns the plugin that produced the status.
func (s *Status) Plugin() string {
	if s == nil {
		return ""
	}
	return s.plugin
}

// WithPlugin records the plugin name and returns s.
func (s *Status) WithPlugin(name string) *Status {
	if s != nil {
		s.plugin = name
	}
	return s
}

// AsError returns the status as an error (nil on success or rejection reasons only).
func (s *Status) AsError() error {
	if s.IsSuccess() || s.IsSkip() {
		return nil
	}
	if s.err != nil {
		return s.err
	}
	return errors.New(strings.Join(s.reasons, ", "))
}

// Message joins the reasons.
func (s *Status) Message() string {
	if s == nil {
		return ""
	}
	return strings.Join(s.reasons, ", ")
}

// CycleState carries data between a plugin's extension points within one
// scheduling cycle. Plugins write it in PreFilter/PreScore (sequential) and
// read it in Filter/Score (parallel); it is not safe for concurrent writes.
type CycleState struct {
	data map[string]any
}

// NewCycleState returns an empty state.
func NewCycleState() *CycleState { return &CycleState{data: map[string]any{}} }

// Write stores a value.
func (c *CycleState) Write(key string, v any) { c.data[key] = v }

// Read returns a value or nil.
func (c *CycleState) Read(key string) any { return c.data[key] }

// Clone returns a shallow copy; values implementing Cloner are cloned.
func (c *CycleState) Clone() *CycleState {
	n := &CycleState{data: make(map[string]any, len(c.data))}
	for k, v := range c.data {
		if cl, ok := v.(Cloner); ok {
			v = cl.Clone()
		}
		n.data[k] = v
	}
	return n
}

// Cloner is implemented by cycle-state values that hold mutable data.
type Cloner interface{ Clone() any }

// MaxNodeScore is the highest score a Score plugin returns after normalization.
const MaxNodeScore int64 = 100

// NodeScore is one node's score.
type NodeScore struct {
	Name  string
	Score int64
}

// Plugin is the parent of every extension-point interface.
type Plugin interface {
	Name() string
}

// PreFilterPlugin runs once per cycle before filtering, e.g. to compute
// state shared by all Filter calls. Skip disables the plugin's Filter.
type PreFilterPlugin interface {
	Plugin
	PreFilter(ctx context.Context, state *CycleState, pod *PodInfo, snapshot *Snapshot) *Status
}

// PodInfoChanger lets a PreFilter plugin's state track a pod added to or
// removed from a node during preemption's what-if evaluation.
type PodInfoChanger interface {
	AddPod(state *CycleState, pod *PodInfo, added *PodInfo, node *NodeInfo)
	RemovePod(state *CycleState, pod *PodInfo, removed *PodInfo, node *NodeInfo)
}

// FilterPlugin rejects nodes that cannot run the pod. Called in parallel.
type FilterPlugin interface {
	Plugin
	Filter(ctx context.Context, state *CycleState, pod *PodInfo, node *NodeInfo) *Status
}

// BatchFilterPlugin filters many nodes in one call (Wasm plugins: one
// crossing of the sandbox boundary per cycle). It returns one status per node.
type BatchFilterPlugin interface {
	Plugin
	FilterNodes(ctx context.Context, state *CycleState, pod *PodInfo, nodes []*NodeInfo) ([]*Status, *Status)
}

// PostFilterResult is what a PostFilter plugin nominates.
type PostFilterResult struct {
	NominatedNodeName string
}

// PostFilterPlugin runs when no node fits (preemption).
type PostFilterPlugin interface {
	Plugin
	PostFilter(ctx context.Context, state *CycleState, pod *PodInfo, snapshot *Snapshot, statuses map[string]*Status) (*PostFilterResult, *Status)
}

// PreScorePlugin runs once per cycle before scoring.
type PreScorePlugin interface {
	Plugin
	PreScore(ctx context.Context, state *CycleState, pod *PodInfo, nodes []*NodeInfo) *Status
}

// ScorePlugin ranks feasible nodes. Called in parallel.
type ScorePlugin interface {
	Plugin
	Score(ctx context.Context, state *CycleState, pod *PodInfo, node *NodeInfo) (int64, *Status)
}

// BatchScorePlugin scores many nodes in one call, writing scores[i] for nodes[i].
type BatchScorePlugin interface {
	Plugin
	ScoreNodes(ctx context.Context, state *CycleState, pod *PodInfo, nodes []*NodeInfo, scores []int64) *Status
}

// ScoreNormalizer maps raw scores into [0, MaxNodeScore].
type ScoreNormalizer interface {
	NormalizeScore(ctx context.Context, state *CycleState, pod *PodInfo, scores []NodeScore) *Status
}

// ReservePlugin is told when a node is chosen (Reserve) and when that
// choice is abandoned (Unreserve).
type ReservePlugin interface {
	Plugin
	Reserve(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status
	Unreserve(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string)
}

// BindPlugin binds the pod; Skip passes to the next binder.
type BindPlugin interface {
	Plugin
	Bind(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status
}

// Handle is what plugins get from the scheduler.
type Handle interface {
	// ClientSet talks to the apiserver (nil in pure unit tests).
	ClientSet() kubernetes.Interface
	// NamespaceLabels returns a namespace's labels (nil when unknown).
	NamespaceLabels(ns string) labels.Set
	// Framework lets PostFilter re-run filters.
	Framework() *Framework
}

// ErrNoNodesAvailable is the message when the cluster has no nodes.
const ErrNoNodesAvailable = "no nodes available to schedule pods"

// FitError says why no node fits.
type FitError struct {
	Pod         *v1.Pod
	NumAllNodes int
	// NodeToStatus holds each rejected node's status.
	NodeToStatus map[string]*Status
	// UnschedulablePlugins names the plugins that rejected nodes.
	UnschedulablePlugins map[string]struct{}
	// PreFilterMsg is set when a PreFilter rejected the pod outright.
	PreFilterMsg string
}

// Error formats the upstream message, e.g. "0/3 nodes are available: 3 Insufficient cpu.".
func (f *FitError) Error() string {
	if f.NumAllNodes == 0 {
		return ErrNoNodesAvailable
	}
	if f.PreFilterMsg != "" {
		return fmt.Sprintf("0/%d nodes are available: %s.", f.NumAllNodes, f.PreFilterMsg)
	}
	counts := map[string]int{}
	for _, st := range f.NodeToStatus {
		for _, r := range st.Reasons() {
			counts[r]++
		}
	}
	parts := make([]string, 0, len(counts))
	for r, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	msg := fmt.Sprintf("0/%d nodes are available", f.NumAllNodes)
	if len(parts) > 0 {
		msg += ": " + strings.Join(parts, ", ")
	}
	return msg + "."
}

// DefaultNormalizeScore scales scores so the highest becomes maxPriority;
// with reverse, higher raw scores become lower ones.
func DefaultNormalizeScore(maxPriority int64, reverse bool, scores []NodeScore) *Status {
	var maxCount int64
	for i := range scores {
		if scores[i].Score > maxCount {
			maxCount = scores[i].Score
		}
	}
	if maxCount == 0 {
		if reverse {
			for i := range scores {
				scores[i].Score = maxPriority
			}
		}
		return nil
	}
	for i := range scores {
		s := scores[i].Score * maxPriority / maxCount
		if reverse {
			s = maxPriority - s
		}
		scores[i].Score = s
	}
	return nil
}

// PodPriority returns the pod's priority (0 when unset).
func PodPriority(pod *v1.Pod) int32 {
	if pod.Spec.Priority != nil {
		return *pod.Spec.Priority
	}
	return 0
}

// SnapshotStateKey is the CycleState key under which the scheduler stores
// the cycle's *Snapshot.
const SnapshotStateKey = "framework/snapshot"

// MinMaxNormalize maps the scores' [min, max] onto [0, MaxNodeScore]
// (reversed when reverse is set). Equal scores all become 0 (or
// MaxNodeScore when reversed).
func MinMaxNormalize(scores []NodeScore, reverse bool) *Status {
	if len(scores) == 0 {
		return nil
	}
	lo, hi := scores[0].Score, scores[0].Score
	for _, s := range scores {
		lo, hi = min(lo, s.Score), max(hi, s.Score)
	}
	for i := range scores {
		var v int64
		if hi > lo {
			v = MaxNodeScore * (scores[i].Score - lo) / (hi - lo)
		}
		if reverse {
			v = MaxNodeScore - v
		}
		scores[i].Score = v
	}
	return nil
}
