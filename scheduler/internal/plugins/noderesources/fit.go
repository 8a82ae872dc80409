// Package noderesources holds the resource plugins: NodeResourcesFit
// (requests against allocatable, with LeastAllocated or MostAllocated
// scoring) and NodeResourcesBalancedAllocation.
package noderesources

import (
	"context"
	"encoding/json"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"skiff.dev/scheduler/internal/framework"
	"skiff.dev/scheduler/internal/plugins/names"
)

// Scoring strategies.
const (
	LeastAllocated = "LeastAllocated"
	MostAllocated  = "MostAllocated"
)

// ResourceSpec is a resource and its scoring weight.
type ResourceSpec struct {
	Name   v1.ResourceName `json:"name"`
	Weight int64           `json:"weight"`
}

// ScoringStrategy selects how NodeResourcesFit scores.
type ScoringStrategy struct {
	// Type is LeastAllocated (spread, default) or MostAllocated (bin-pack).
	Type string `json:"type,omitempty"`
	// Resources default to cpu and memory with weight 1.
	Resources []ResourceSpec `json:"resources,omitempty"`
}

// FitArgs configures NodeResourcesFit.
type FitArgs struct {
	ScoringStrategy *ScoringStrategy `json:"scoringStrategy,omitempty"`
	// IgnoredResources are extended resources the filter does not check.
	IgnoredResources []string `json:"ignoredResources,omitempty"`
}

// MemoryPressureReason rejects best-effort pods on nodes under memory pressure.
const MemoryPressureReason = "node(s) had memory pressure"

// Fit is the NodeResourcesFit plugin.
type Fit struct {
	strategy  string
	resources []ResourceSpec
	ignored   sets.Set[string]
}

// NewFit builds the plugin from raw JSON args (may be empty).
func NewFit(raw json.RawMessage) (*Fit, error) {
	var args FitArgs
	if len(raw) > 0 {
		dec := json.NewDecoder(bytesReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&args); err != nil {
			return nil, fmt.Errorf("NodeResourcesFit args: %w", err)
		}
	}
	f := &Fit{strategy: LeastAllocated, ignored: sets.New(args.IgnoredResources...)}
	if s := args.ScoringStrategy; s != nil {
		if s.Type != "" {
			f.strategy = s.Type
		}
		f.resources = s.Resources
	}
	if f.strategy != LeastAllocated && f.strategy != MostAllocated {
		return nil, fmt.Errorf("NodeResourcesFit args: scoringStrategy.type %q: must be %s or %s", f.strategy, LeastAllocated, MostAllocated)
	}
	if len(f.resources) == 0 {
		f.resources = []ResourceSpec{{Name: v1.ResourceCPU, Weight: 1}, {Name: v1.ResourceMemory, Weight: 1}}
	}
	for _, r := range f.resources {
		if r.Weight <= 0 || r.Weight > 100 {
			return nil, fmt.Errorf("NodeResourcesFit args: resource %q weight %d: must be in 1..100", r.Name, r.Weight)
		}
	}
	return f, nil
}

// Name returns "NodeResourcesFit".
func (*Fit) Name() string { return names.NodeResourcesFit }

// Strategy returns the scoring strategy.
func (f *Fit) Strategy() string { return f.strategy }

// Filter rejects nodes without room for the pod's requests.
func (f *Fit) Filter(_ context.Context, _ *framework.CycleState, pi *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	reasons := InsufficientResources(pi, ni, f.ignored)
	if isBestEffort(pi.Pod) && underMemoryPressure(ni.Node()) {
		reasons = append(reasons, MemoryPressureReason)
	}
	if len(reasons) > 0 {
		return framework.NewStatus(framework.Unschedulable, reasons...)
	}
	return nil
}

// InsufficientResources returns upstream-style reasons ("Insufficient cpu",
// "Too many pods") for every resource the node lacks.
func InsufficientResources(pi *framework.PodInfo, ni *framework.NodeInfo, ignored sets.Set[string]) []string {
	var reasons []string
	alloc, used, req := &ni.Allocatable, &ni.Requested, &pi.Requests
	if int64(len(ni.Pods))+1 > alloc.AllowedPodNumber {
		reasons = append(reasons, "Too many pods")
	}
	if req.MilliCPU > 0 && req.MilliCPU > alloc.MilliCPU-used.MilliCPU {
		reasons = append(reasons, "Insufficient cpu")
	}
	if req.Memory > 0 && req.Memory > alloc.Memory-used.Memory {
		reasons = append(reasons, "Insufficient memory")
	}
	if req.EphemeralStorage > 0 && req.EphemeralStorage > alloc.EphemeralStorage-used.EphemeralStorage {
		reasons = append(reasons, "Insufficient ephemeral-storage")
	}
	for name, q := range req.Scalar {
		if q == 0 || ignored.Has(string(name)) {
			continue
		}
		if q > alloc.Scalar[name]-used.Scalar[name] {
			reasons = append(reasons, "Insufficient "+string(name))
		}
	}
	return reasons
}

func isBestEffort(pod *v1.Pod) bool {
	check := func(cs []v1.Container) bool {
		for i := range cs {
			if len(cs[i].Resources.Requests) > 0 || len(cs[i].Resources.Limits) > 0 {
				return false
			}
		}
		return true
	}
	return check(pod.Spec.InitContainers) && check(pod.Spec.Containers)
}

func underMemoryPressure(node *v1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == v1.NodeMemoryPressure {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

// Score applies the configured strategy.
func (f *Fit) Score(_ context.Context, _ *framework.CycleState, pi *framework.PodInfo, ni *framework.NodeInfo) (int64, *framework.Status) {
	var total, weights int64
	for _, r := range f.resources {
		alloc := ni.Allocatable.Get(r.Name)
		if alloc == 0 {
			continue
		}
		requested := requestedWith(pi, ni, r.Name)
		var s int64
		switch f.strategy {
		case MostAllocated:
			s = min(requested, alloc) * framework.MaxNodeScore / alloc
		default:
			if requested <= alloc {
				s = (alloc - requested) * framework.MaxNodeScore / alloc
			}
		}
		total += s * r.Weight
		weights += r.Weight
	}
	if weights == 0 {
		return 0, nil
	}
	return total / weights, nil
}

// requestedWith is the node's request of a resource after adding the pod,
// using default requests for cpu/memory when none are declared.
func requestedWith(pi *framework.PodInfo, ni *framework.NodeInfo, name v1.ResourceName) int64 {
	switch name {
	case v1.ResourceCPU:
		return ni.NonZeroRequested.MilliCPU + pi.NonZeroCPU
	case v1.ResourceMemory:
		return ni.NonZeroRequested.Memory + pi.NonZeroMemory
	default:
		return ni.Requested.Get(name) + pi.Requests.Get(name)
	}
}

// BalancedAllocation prefers nodes whose cpu and memory utilisation stay
// close to each other after placing the pod.
type BalancedAllocation struct{}

// NewBalancedAllocation returns the plugin.
func NewBalancedAllocation() *BalancedAllocation { return &BalancedAllocation{} }

// Name returns "NodeResourcesBalancedAllocation".
func (*BalancedAllocation) Name() string { return names.NodeResourcesBalancedAllocation }

// Score is (1 - standard deviation of the utilisation fractions) * 100.
func (*BalancedAllocation) Score(_ context.Context, _ *framework.CycleState, pi *framework.PodInfo, ni *framework.NodeInfo) (int64, *framework.Status) {
	var fr [2]float64
	for i, name := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory} {
		alloc := ni.Allocatable.Get(name)
		if alloc == 0 {
			return 0, nil
		}
		fr[i] = min(float64(requestedWith(pi, ni, name))/float64(alloc), 1)
	}
	d := fr[0] - fr[1]
	if d < 0 {
		d = -d
	}
	return int64((1 - d/2) * float64(framework.MaxNodeScore)), nil
}
