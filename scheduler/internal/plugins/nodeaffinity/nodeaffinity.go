// Package nodeaffinity is the NodeAffinity plugin: it filters nodes by the
// pod's nodeSelector and required node affinity and scores them by the
// preferred node affinity terms' weights.
package nodeaffinity

import (
	"context"
	"fmt"

	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"skiff.dev/scheduler/internal/framework"
	"skiff.dev/scheduler/internal/plugins/names"
)

// ErrReason is the upstream rejection reason.
const ErrReason = "node(s) didn't match Pod's node affinity/selector"

const stateKey = "NodeAffinity"

type state struct {
	required  nodeaffinity.RequiredNodeAffinity
	preferred *nodeaffinity.PreferredSchedulingTerms
}

// Plugin implements PreFilter, Filter, PreScore, Score and NormalizeScore.
type Plugin struct{}

// New returns the plugin.
func New() *Plugin { return &Plugin{} }

// Name returns "NodeAffinity".
func (*Plugin) Name() string { return names.NodeAffinity }

// PreFilter parses the pod's node selector and affinity once per cycle.
func (*Plugin) PreFilter(_ context.Context, cs *framework.CycleState, pi *framework.PodInfo, _ *framework.Snapshot) *framework.Status {
	pod := pi.Pod
	a := pod.Spec.Affinity
	noRequired := len(pod.Spec.NodeSelector) == 0 && (a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil)
	if noRequired {
		return framework.NewStatus(framework.Skip)
	}
	cs.Write(stateKey, &state{required: nodeaffinity.GetRequiredNodeAffinity(pod)})
	return nil
}

// Filter rejects nodes that do not match.
func (*Plugin) Filter(_ context.Context, cs *framework.CycleState, pi *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	s, ok := cs.Read(stateKey).(*state)
	if !ok {
		s = &state{required: nodeaffinity.GetRequiredNodeAffinity(pi.Pod)}
	}
	match, err := s.required.Match(ni.Node())
	if err != nil {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("invalid node affinity: %v", err))
	}
	if !match {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReason)
	}
	return nil
}

const scoreKey = "NodeAffinity/score"

// PreScore parses the preferred terms.
func (*Plugin) PreScore(_ context.Context, cs *framework.CycleState, pi *framework.PodInfo, _ []*framework.NodeInfo) *framework.Status {
	a := pi.Pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		cs.Write(scoreKey, (*nodeaffinity.PreferredSchedulingTerms)(nil))
		return framework.NewStatus(framework.Skip)
	}
	terms, err := nodeaffinity.NewPreferredSchedulingTerms(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	if err != nil {
		return framework.AsStatus(fmt.Errorf("parse preferred node affinity: %w", err))
	}
	cs.Write(scoreKey, terms)
	return nil
}

// Score sums the weights of matching preferred terms.
func (*Plugin) Score(_ context.Context, cs *framework.CycleState, _ *framework.PodInfo, ni *framework.NodeInfo) (int64, *framework.Status) {
	terms, _ := cs.Read(scoreKey).(*nodeaffinity.PreferredSchedulingTerms)
	if terms == nil {
		return 0, nil
	}
	return terms.Score(ni.Node()), nil
}

// NormalizeScore scales to [0, 100].
func (*Plugin) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *framework.PodInfo, scores []framework.NodeScore) *framework.Status {
	return framework.DefaultNormalizeScore(framework.MaxNodeScore, false, scores)
}
