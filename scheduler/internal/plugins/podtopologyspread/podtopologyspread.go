// Package podtopologyspread is the PodTopologySpread plugin: hard
// (DoNotSchedule) topology spread constraints as a filter and soft
// (ScheduleAnyway) ones as a score.
package podtopologyspread

import (
	"context"
	"fmt"
	"math"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"skiff.dev/scheduler/internal/framework"
	"skiff.dev/scheduler/internal/plugins/names"
)

// Upstream rejection reasons.
const (
	ErrReasonConstraintsNotMatch = "node(s) didn't match pod topology spread constraints"
	ErrReasonNodeLabelNotMatch   = ErrReasonConstraintsNotMatch + " (missing required label)"
)

const (
	filterKey = "PodTopologySpread/filter"
	scoreKey  = "PodTopologySpread/score"
)

type constraint struct {
	maxSkew     int32
	topologyKey string
	minDomains  int32
	selector    labels.Selector
}

type pair struct{ key, value string }

type filterState struct {
	constraints []constraint
	counts      map[pair]int64
	// minCount is the smallest count per topology key among eligible domains.
	minCount map[string]int64
	domains  map[string]int
}

// Plugin implements PreFilter, Filter, PreScore, Score and NormalizeScore.
type Plugin struct{}

// New returns the plugin.
func New() *Plugin { return &Plugin{} }

// Name returns "PodTopologySpread".
func (*Plugin) Name() string { return names.PodTopologySpread }

func buildConstraints(pod *v1.Pod, when v1.UnsatisfiableConstraintAction) ([]constraint, error) {
	var out []constraint
	for _, c := range pod.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable != when {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		if err != nil {
			return nil, fmt.Errorf("topology spread constraint %q selector: %w", c.TopologyKey, err)
		}
		for _, k := range c.MatchLabelKeys {
			if v, ok := pod.Labels[k]; ok {
				r, err := labels.NewRequirement(k, selection.Equals, []string{v})
				if err != nil {
					return nil, fmt.Errorf("topology spread constraint matchLabelKeys %q: %w", k, err)
				}
				sel = sel.Add(*r)
			}
		}
		mc := c.MaxSkew
		if mc <= 0 {
			mc = 1
		}
		md := int32(1)
		if c.MinDomains != nil {
			md = *c.MinDomains
		}
		out = append(out, constraint{maxSkew: mc, topologyKey: c.TopologyKey, minDomains: md, selector: sel})
	}
	return out, nil
}

func hasAllKeys(node *v1.Node, cs []constraint) bool {
	for _, c := range cs {
		if _, ok := node.Labels[c.topologyKey]; !ok {
			return false
		}
	}
	return true
}

func countMatching(ni *framework.NodeInfo, ns string, sel labels.Selector) int64 {
	var n int64
	for _, ep := range ni.Pods {
		if ep.Pod.Namespace != ns || ep.Pod.DeletionTimestamp != nil {
			continue
		}
		if sel.Matches(labels.Set(ep.Pod.Labels)) {
			n++
		}
	}
	return n
}

// count tallies matching pods per domain over nodes that pass the pod's
// required node affinity (nodeAffinityPolicy Honor) and carry every key.
func count(pod *v1.Pod, cs []constraint, nodes []*framework.NodeInfo) (map[pair]int64, error) {
	req := nodeaffinity.GetRequiredNodeAffinity(pod)
	counts := map[pair]int64{}
	for _, ni := range nodes {
		node := ni.Node()
		if ok, err := req.Match(node); err != nil {
			return nil, fmt.Errorf("node affinity: %w", err)
		} else if !ok || !hasAllKeys(node, cs) {
			continue
		}
		for _, c := range cs {
			p := pair{c.topologyKey, node.Labels[c.topologyKey]}
			counts[p] += countMatching(ni, pod.Namespace, c.selector)
		}
	}
	return counts, nil
}

// PreFilter counts matching pods per domain for the hard constraints.
func (*Plugin) PreFilter(_ context.Context, cs *framework.CycleState, pi *framework.PodInfo, snap *framework.Snapshot) *framework.Status {
	cons, err := buildConstraints(pi.Pod, v1.DoNotSchedule)
	if err != nil {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
	}
	if len(cons) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	counts, err := count(pi.Pod, cons, snap.NodeInfoList)
	if err != nil {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
	}
	s := &filterState{constraints: cons, counts: counts, minCount: map[string]int64{}, domains: map[string]int{}}
	for p, n := range counts {
		s.domains[p.key]++
		if m, ok := s.minCount[p.key]; !ok || n < m {
			s.minCount[p.key] = n
		}
	}
	cs.Write(filterKey, s)
	return nil
}

// Filter rejects nodes where placing the pod would exceed maxSkew.
func (*Plugin) Filter(_ context.Context, cs *framework.CycleState, pi *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	s, ok := cs.Read(filterKey).(*filterState)
	if !ok {
		return framework.AsStatus(fmt.Errorf("PodTopologySpread: PreFilter state missing"))
	}
	podLabels := labels.Set(pi.Pod.Labels)
	for _, c := range s.constraints {
		v, ok := ni.Node().Labels[c.topologyKey]
		if !ok {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeLabelNotMatch)
		}
		var self int64
		if c.selector.Matches(podLabels) {
			self = 1
		}
		minCount := s.minCount[c.topologyKey]
		if int32(s.domains[c.topologyKey]) < c.minDomains {
			minCount = 0
		}
		if s.counts[pair{c.topologyKey, v}]+self-minCount > int64(c.maxSkew) {
			return framework.NewStatus(framework.Unschedulable, ErrReasonConstraintsNotMatch)
		}
	}
	return nil
}

type scoreState struct {
	constraints []constraint
	counts      map[pair]int64
	weights     []float64
}

// PreScore counts matching pods per domain for the soft constraints.
func (*Plugin) PreScore(_ context.Context, cs *framework.CycleState, pi *framework.PodInfo, nodes []*framework.NodeInfo) *framework.Status {
	cons, err := buildConstraints(pi.Pod, v1.ScheduleAnyway)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(cons) == 0 {
		cs.Write(scoreKey, (*scoreState)(nil))
		return framework.NewStatus(framework.Skip)
	}
	all := nodes
	if snap, ok := cs.Read(framework.SnapshotStateKey).(*framework.Snapshot); ok {
		all = snap.NodeInfoList
	}
	counts, err := count(pi.Pod, cons, all)
	if err != nil {
		return framework.AsStatus(err)
	}
	domains := map[string]int{}
	for p := range counts {
		domains[p.key]++
	}
	s := &scoreState{constraints: cons, counts: counts}
	for _, c := range cons {
		// Upstream weighs a constraint by log(domains+2) so that keys
		// with many domains (hostname) do not drown out zones.
		s.weights = append(s.weights, math.Log(float64(domains[c.topologyKey]+2)))
	}
	cs.Write(scoreKey, s)
	return nil
}

// Score is the weighted number of matching pods in the node's domains
// (lower is better; NormalizeScore reverses it).
func (*Plugin) Score(_ context.Context, cs *framework.CycleState, _ *framework.PodInfo, ni *framework.NodeInfo) (int64, *framework.Status) {
	s, _ := cs.Read(scoreKey).(*scoreState)
	if s == nil {
		return 0, nil
	}
	var total float64
	for i, c := range s.constraints {
		v, ok := ni.Node().Labels[c.topologyKey]
		if !ok {
			continue
		}
		total += float64(s.counts[pair{c.topologyKey, v}]+int64(c.maxSkew)-1) * s.weights[i]
	}
	return int64(math.Round(total)), nil
}

// NormalizeScore reverses and scales to [0, 100].
func (*Plugin) NormalizeScore(_ context.Context, cs *framework.CycleState, _ *framework.PodInfo, scores []framework.NodeScore) *framework.Status {
	if s, _ := cs.Read(scoreKey).(*scoreState); s == nil {
		for i := range scores {
			scores[i].Score = 0
		}
		return nil
	}
	return framework.MinMaxNormalize(scores, true)
}
