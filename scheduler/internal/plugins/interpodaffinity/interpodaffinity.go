// Package interpodaffinity is the InterPodAffinity plugin: required pod
// affinity and anti-affinity (both the incoming pod's and the existing
// pods' anti-affinity) as a filter, and preferred terms as a score.
package interpodaffinity

import (
	"context"

	"k8s.io/apimachinery/pkg/labels"

	"skiff.dev/scheduler/internal/framework"
	"skiff.dev/scheduler/internal/plugins/names"
)

// Upstream rejection reasons.
const (
	ErrReasonExistingAntiAffinity = "node(s) didn't satisfy existing pods anti-affinity rules"
	ErrReasonAffinity             = "node(s) didn't match pod affinity rules"
	ErrReasonAntiAffinity         = "node(s) didn't match pod anti-affinity rules"
)

// HardPodAffinityWeight is the score weight an existing pod's required
// affinity term gives to nodes in its topology when it matches the incoming pod.
const HardPodAffinityWeight = 1

type pair struct{ key, value string }

type filterState struct {
	existingAnti map[pair]int64
	affinity     map[pair]int64
	anti         map[pair]int64
}

const (
	filterKey = "InterPodAffinity/filter"
	scoreKey  = "InterPodAffinity/score"
)

// Plugin implements PreFilter, Filter, PreScore, Score and NormalizeScore.
type Plugin struct {
	h framework.Handle
}

// New returns the plugin; h supplies namespace labels (may be nil).
func New(h framework.Handle) *Plugin { return &Plugin{h: h} }

// Name returns "InterPodAffinity".
func (*Plugin) Name() string { return names.InterPodAffinity }

func (p *Plugin) nsLabels(ns string) labels.Set {
	if p.h == nil {
		return nil
	}
	return p.h.NamespaceLabels(ns)
}

// PreFilter counts, per topology domain, the existing pods that the
// incoming pod's required terms match and the existing pods whose required
// anti-affinity the incoming pod would violate.
func (p *Plugin) PreFilter(_ context.Context, cs *framework.CycleState, pi *framework.PodInfo, snap *framework.Snapshot) *framework.Status {
	if pi.ParseError != nil {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, pi.ParseError.Error())
	}
	s := &filterState{existingAnti: map[pair]int64{}, affinity: map[pair]int64{}, anti: map[pair]int64{}}
	podNS := p.nsLabels(pi.Pod.Namespace)
	for _, ni := range snap.HavePodsWithRequiredAntiAffinityList {
		nodeLabels := ni.Node().Labels
		for _, ep := range ni.PodsWithRequiredAntiAffinity {
			for i := range ep.RequiredAntiAffinityTerms {
				t := &ep.RequiredAntiAffinityTerms[i]
				if v, ok := nodeLabels[t.TopologyKey]; ok && t.Matches(pi.Pod, podNS) {
					s.existingAnti[pair{t.TopologyKey, v}]++
				}
			}
		}
	}
	if len(pi.RequiredAffinityTerms) == 0 && len(pi.RequiredAntiAffinityTerms) == 0 {
		if len(s.existingAnti) == 0 {
			return framework.NewStatus(framework.Skip)
		}
		cs.Write(filterKey, s)
		return nil
	}
	for _, ni := range snap.NodeInfoList {
		nodeLabels := ni.Node().Labels
		for _, ep := range ni.Pods {
			epNS := p.nsLabels(ep.Pod.Namespace)
			if len(pi.RequiredAffinityTerms) > 0 && matchesAll(pi.RequiredAffinityTerms, ep, epNS) {
				for i := range pi.RequiredAffinityTerms {
					t := &pi.RequiredAffinityTerms[i]
					if v, ok := nodeLabels[t.TopologyKey]; ok {
						s.affinity[pair{t.TopologyKey, v}]++
					}
				}
			}
			for i := range pi.RequiredAntiAffinityTerms {
				t := &pi.RequiredAntiAffinityTerms[i]
				if v, ok := nodeLabels[t.TopologyKey]; ok && t.Matches(ep.Pod, epNS) {
					s.anti[pair{t.TopologyKey, v}]++
				}
			}
		}
	}
	cs.Write(filterKey, s)
	return nil
}

func matchesAll(terms []framework.AffinityTerm, ep *framework.PodInfo, ns labels.Set) bool {
	for i := range terms {
		if !terms[i].Matches(ep.Pod, ns) {
			return false
		}
	}
	return true
}

// Filter applies the counts to one node, checking (as upstream) the
// pod's affinity, then its anti-affinity, then existing pods' anti-affinity.
func (p *Plugin) Filter(_ context.Context, cs *framework.CycleState, pi *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	s, ok := cs.Read(filterKey).(*filterState)
	if !ok {
		return framework.AsStatus(errNoState)
	}
	nodeLabels := ni.Node().Labels
	if len(pi.RequiredAffinityTerms) > 0 {
		podsExist := true
		for i := range pi.RequiredAffinityTerms {
			t := &pi.RequiredAffinityTerms[i]
			v, ok := nodeLabels[t.TopologyKey]
			if !ok {
				return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonAffinity)
			}
			if s.affinity[pair{t.TopologyKey, v}] <= 0 {
				podsExist = false
			}
		}
		if !podsExist {
			// The first pod of a group that selects itself may go anywhere
			// that has the topology keys.
			if len(s.affinity) == 0 && matchesAll(pi.RequiredAffinityTerms, pi, p.nsLabels(pi.Pod.Namespace)) {
				return nil
			}
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonAffinity)
		}
	}
	for i := range pi.RequiredAntiAffinityTerms {
		t := &pi.RequiredAntiAffinityTerms[i]
		if v, ok := nodeLabels[t.TopologyKey]; ok && s.anti[pair{t.TopologyKey, v}] > 0 {
			return framework.NewStatus(framework.Unschedulable, ErrReasonAntiAffinity)
		}
	}
	for pr, n := range s.existingAnti {
		if v, has := nodeLabels[pr.key]; has && v == pr.value && n > 0 {
			return framework.NewStatus(framework.Unschedulable, ErrReasonExistingAntiAffinity)
		}
	}
	return nil
}

type scoreState struct {
	scores map[pair]int64
}

// PreScore sums, per topology domain, the weights of preferred terms
// between the incoming pod and existing pods (both directions).
func (p *Plugin) PreScore(_ context.Context, cs *framework.CycleState, pi *framework.PodInfo, nodes []*framework.NodeInfo) *framework.Status {
	hasOwn := len(pi.PreferredAffinityTerms)+len(pi.PreferredAntiAffinityTerms) > 0
	s := &scoreState{scores: map[pair]int64{}}
	cs.Write(scoreKey, s)
	var snapNodes []*framework.NodeInfo
	if sn, ok := cs.Read(snapshotKey).(*framework.Snapshot); ok {
		if hasOwn {
			snapNodes = sn.NodeInfoList
		} else {
			snapNodes = sn.HavePodsWithAffinityList
		}
	} else {
		snapNodes = nodes
	}
	podNS := p.nsLabels(pi.Pod.Namespace)
	for _, ni := range snapNodes {
		nodeLabels := ni.Node().Labels
		add := func(t *framework.AffinityTerm, w int64) {
			if v, ok := nodeLabels[t.TopologyKey]; ok {
				s.scores[pair{t.TopologyKey, v}] += w
			}
		}
		pods := ni.PodsWithAffinity
		if hasOwn {
			pods = ni.Pods
		}
		for _, ep := range pods {
			epNS := p.nsLabels(ep.Pod.Namespace)
			for i := range pi.PreferredAffinityTerms {
				if t := &pi.PreferredAffinityTerms[i]; t.Matches(ep.Pod, epNS) {
					add(&t.AffinityTerm, int64(t.Weight))
				}
			}
			for i := range pi.PreferredAntiAffinityTerms {
				if t := &pi.PreferredAntiAffinityTerms[i]; t.Matches(ep.Pod, epNS) {
					add(&t.AffinityTerm, -int64(t.Weight))
				}
			}
			for i := range ep.RequiredAffinityTerms {
				if t := &ep.RequiredAffinityTerms[i]; t.Matches(pi.Pod, podNS) {
					add(t, HardPodAffinityWeight)
				}
			}
			for i := range ep.PreferredAffinityTerms {
				if t := &ep.PreferredAffinityTerms[i]; t.Matches(pi.Pod, podNS) {
					add(&t.AffinityTerm, int64(t.Weight))
				}
			}
			for i := range ep.PreferredAntiAffinityTerms {
				if t := &ep.PreferredAntiAffinityTerms[i]; t.Matches(pi.Pod, podNS) {
					add(&t.AffinityTerm, -int64(t.Weight))
				}
			}
		}
	}
	if len(s.scores) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	return nil
}

// snapshotKey is where the scheduler stores the cycle's snapshot so score
// plugins can look beyond the feasible nodes.
const snapshotKey = framework.SnapshotStateKey

// Score sums the domain scores of the node's labels.
func (p *Plugin) Score(_ context.Context, cs *framework.CycleState, _ *framework.PodInfo, ni *framework.NodeInfo) (int64, *framework.Status) {
	s, ok := cs.Read(scoreKey).(*scoreState)
	if !ok || len(s.scores) == 0 {
		return 0, nil
	}
	var total int64
	for pr, w := range s.scores {
		if v, ok := ni.Node().Labels[pr.key]; ok && v == pr.value {
			total += w
		}
	}
	return total, nil
}

// NormalizeScore maps [min, max] onto [0, 100].
func (p *Plugin) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *framework.PodInfo, scores []framework.NodeScore) *framework.Status {
	return framework.MinMaxNormalize(scores, false)
}
