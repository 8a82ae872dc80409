// Package framework defines the scheduling framework: the extension-point
// interfaces plugins implement (PreFilter, Filter, PostFilter, PreScore,
// Score, NormalizeScore, Reserve, Bind), the per-node state they read
// (NodeInfo, PodInfo, Resource), and Framework, which runs one profile's
// plugins over a snapshot of the cluster to pick a node for a pod.
package framework

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	resourcehelper "k8s.io/component-helpers/resource"
)

// Default requests used for scoring pods that declare none, as upstream
// does, so that best-effort pods still spread.
const (
	DefaultMilliCPURequest int64 = 100
	DefaultMemoryRequest   int64 = 200 * 1024 * 1024
)

// Resource is a compact, arithmetic-friendly resource list.
type Resource struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	AllowedPodNumber int64
	Scalar           map[v1.ResourceName]int64
}

// NewResource converts a ResourceList.
func NewResource(rl v1.ResourceList) *Resource {
	r := &Resource{}
	r.Add(rl)
	return r
}

// Add adds every quantity of rl to r.
func (r *Resource) Add(rl v1.ResourceList) {
	for name, q := range rl {
		switch name {
		case v1.ResourceCPU:
			r.MilliCPU += q.MilliValue()
		case v1.ResourceMemory:
			r.Memory += q.Value()
		case v1.ResourceEphemeralStorage:
			r.EphemeralStorage += q.Value()
		case v1.ResourcePods:
			r.AllowedPodNumber += q.Value()
		default:
			if r.Scalar == nil {
				r.Scalar = map[v1.ResourceName]int64{}
			}
			r.Scalar[name] += q.Value()
		}
	}
}

// AddResource adds o to r.
func (r *Resource) AddResource(o *Resource, sign int64) {
	r.MilliCPU += sign * o.MilliCPU
	r.Memory += sign * o.Memory
	r.EphemeralStorage += sign * o.EphemeralStorage
	r.AllowedPodNumber += sign * o.AllowedPodNumber
	for k, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[v1.ResourceName]int64{}
		}
		r.Scalar[k] += sign * v
	}
}

// Get returns the amount of one named resource.
func (r *Resource) Get(name v1.ResourceName) int64 {
	switch name {
	case v1.ResourceCPU:
		return r.MilliCPU
	case v1.ResourceMemory:
		return r.Memory
	case v1.ResourceEphemeralStorage:
		return r.EphemeralStorage
	case v1.ResourcePods:
		return r.AllowedPodNumber
	default:
		return r.Scalar[name]
	}
}

// Clone returns a deep copy.
func (r *Resource) Clone() *Resource {
	c := *r
	if r.Scalar != nil {
		c.Scalar = make(map[v1.ResourceName]int64, len(r.Scalar))
		for k, v := range r.Scalar {
			c.Scalar[k] = v
		}
	}
	return &c
}

// ResourceDisplayName formats a resource name as upstream reasons do.
func ResourceDisplayName(name v1.ResourceName) string { return string(name) }

// AffinityTerm is a parsed pod (anti-)affinity term.
type AffinityTerm struct {
	Namespaces        sets.Set[string]
	Selector          labels.Selector
	TopologyKey       string
	NamespaceSelector labels.Selector // nil: only Namespaces
}

// Matches reports whether pod (with its namespace's labels) matches the term.
func (t *AffinityTerm) Matches(pod *v1.Pod, nsLabels labels.Set) bool {
	if t.Namespaces.Has(pod.Namespace) || (t.NamespaceSelector != nil && t.NamespaceSelector.Matches(nsLabels)) {
		return t.Selector.Matches(labels.Set(pod.Labels))
	}
	return false
}

// WeightedAffinityTerm is a preferred term with its weight.
type WeightedAffinityTerm struct {
	AffinityTerm
	Weight int32
}

// PodInfo is a pod with everything the plugins derive from it computed once.
type PodInfo struct {
	Pod *v1.Pod
	// Requests includes init containers (max) and overhead.
	Requests Resource
	// NonZeroCPU and NonZeroMemory replace zero requests with defaults.
	NonZeroCPU    int64
	NonZeroMemory int64

	RequiredAffinityTerms      []AffinityTerm
	RequiredAntiAffinityTerms  []AffinityTerm
	PreferredAffinityTerms     []WeightedAffinityTerm
	PreferredAntiAffinityTerms []WeightedAffinityTerm
	// ParseError is set when an affinity term's selector does not parse.
	ParseError error
}

// NewPodInfo computes a PodInfo.
func NewPodInfo(pod *v1.Pod) *PodInfo {
	pi := &PodInfo{Pod: pod}
	reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	pi.Requests.Add(reqs)
	pi.Requests.AllowedPodNumber = 0
	nonZero := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{
		NonMissingContainerRequests: v1.ResourceList{
			v1.ResourceCPU:    *resource.NewMilliQuantity(DefaultMilliCPURequest, resource.DecimalSI),
			v1.ResourceMemory: *resource.NewQuantity(DefaultMemoryRequest, resource.BinarySI),
		},
	})
	pi.NonZeroCPU = nonZero.Cpu().MilliValue()
	pi.NonZeroMemory = nonZero.Memory().Value()
	if a := pod.Spec.Affinity; a != nil {
		var err error
		if a.PodAffinity != nil {
			pi.RequiredAffinityTerms, err = parseTerms(pod, a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution, err)
			pi.PreferredAffinityTerms, err = parseWeighted(pod, a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution, err)
		}
		if a.PodAntiAffinity != nil {
			pi.RequiredAntiAffinityTerms, err = parseTerms(pod, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, err)
			pi.PreferredAntiAffinityTerms, err = parseWeighted(pod, a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution, err)
		}
		pi.ParseError = err
	}
	return pi
}

func parseTerms(pod *v1.Pod, terms []v1.PodAffinityTerm, prev error) ([]AffinityTerm, error) {
	out := make([]AffinityTerm, 0, len(terms))
	for i := range terms {
		t, err := newAffinityTerm(pod, &terms[i])
		if err != nil {
			if prev == nil {
				prev = err
			}
			continue
		}
		out = append(out, t)
	}
	return out, prev
}

func parseWeighted(pod *v1.Pod, terms []v1.WeightedPodAffinityTerm, prev error) ([]WeightedAffinityTerm, error) {
	out := make([]WeightedAffinityTerm, 0, len(terms))
	for i := range terms {
		t, err := newAffinityTerm(pod, &terms[i].PodAffinityTerm)
		if err != nil {
			if prev == nil {
				prev = err
			}
			continue
		}
		out = append(out, WeightedAffinityTerm{AffinityTerm: t, Weight: terms[i].Weight})
	}
	return out, prev
}

func newAffinityTerm(pod *v1.Pod, term *v1.PodAffinityTerm) (AffinityTerm, error) {
	sel, err := labelSelectorAsSelector(term.LabelSelector)
	if err != nil {
		return AffinityTerm{}, fmt.Errorf("pod affinity term label selector: %w", err)
	}
	ns := sets.New(term.Namespaces...)
	t := AffinityTerm{Namespaces: ns, Selector: sel, TopologyKey: term.TopologyKey}
	if term.NamespaceSelector != nil {
		nsSel, err := labelSelectorAsSelector(term.NamespaceSelector)
		if err != nil {
			return AffinityTerm{}, fmt.Errorf("pod affinity term namespace selector: %w", err)
		}
		t.NamespaceSelector = nsSel
	} else if len(ns) == 0 {
		t.Namespaces = sets.New(pod.Namespace)
	}
	return t, nil
}

// WithPod returns a copy of pi describing pod, a newer version of pi.Pod
// whose requests (SameRequests) and affinity are unchanged; the derived
// fields are shared, not recomputed.
func (pi *PodInfo) WithPod(pod *v1.Pod) *PodInfo {
	c := *pi
	c.Pod = pod
	return &c
}

// SameRequests reports whether two versions of a pod declare the same
// resource requests, so that a PodInfo computed for one serves the other.
// Affinity is not compared: it cannot change once a pod is scheduled.
func SameRequests(a, b *v1.Pod) bool {
	if len(a.Spec.Containers) != len(b.Spec.Containers) || len(a.Spec.InitContainers) != len(b.Spec.InitContainers) ||
		!sameList(a.Spec.Overhead, b.Spec.Overhead) || (a.Spec.Resources == nil) != (b.Spec.Resources == nil) {
		return false
	}
	if a.Spec.Resources != nil && !sameList(a.Spec.Resources.Requests, b.Spec.Resources.Requests) {
		return false
	}
	for i := range a.Spec.Containers {
		if !sameList(a.Spec.Containers[i].Resources.Requests, b.Spec.Containers[i].Resources.Requests) {
			return false
		}
	}
	for i := range a.Spec.InitContainers {
		x, y := &a.Spec.InitContainers[i], &b.Spec.InitContainers[i]
		if !sameList(x.Resources.Requests, y.Resources.Requests) || (x.RestartPolicy == nil) != (y.RestartPolicy == nil) ||
			(x.RestartPolicy != nil && *x.RestartPolicy != *y.RestartPolicy) {
			return false
		}
	}
	return true
}

func sameList(a, b v1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, q := range a {
		if r, ok := b[k]; !ok || q.Cmp(r) != 0 {
			return false
		}
	}
	return true
}

// HasAffinity reports whether the pod has any (anti-)affinity term.
func (pi *PodInfo) HasAffinity() bool {
	return len(pi.RequiredAffinityTerms)+len(pi.RequiredAntiAffinityTerms)+
		len(pi.PreferredAffinityTerms)+len(pi.PreferredAntiAffinityTerms) > 0
}

// HostPort identifies one host port in use on a node.
type HostPort struct {
	IP       string
	Protocol v1.Protocol
	Port     int32
}

// HostPorts lists the host ports a pod asks for.
func HostPorts(pod *v1.Pod) []HostPort {
	var out []HostPort
	add := func(cs []v1.Container) {
		for i := range cs {
			for _, p := range cs[i].Ports {
				if p.HostPort <= 0 {
					continue
				}
				proto := p.Protocol
				if proto == "" {
					proto = v1.ProtocolTCP
				}
				ip := p.HostIP
				if ip == "" {
					ip = "0.0.0.0"
				}
				out = append(out, HostPort{IP: ip, Protocol: proto, Port: p.HostPort})
			}
		}
	}
	add(pod.Spec.InitContainers)
	add(pod.Spec.Containers)
	return out
}

// Conflicts reports whether two host ports collide (0.0.0.0 collides with any IP).
func (a HostPort) Conflicts(b HostPort) bool {
	if a.Port != b.Port || a.Protocol != b.Protocol {
		return false
	}
	return a.IP == b.IP || a.IP == "0.0.0.0" || b.IP == "0.0.0.0"
}
