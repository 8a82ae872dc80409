// Package tainttoleration is the TaintToleration plugin: it rejects nodes
// with NoSchedule/NoExecute taints the pod does not tolerate and prefers
// nodes with fewer untolerated PreferNoSchedule taints.
package tainttoleration

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	v1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"

	"skiff.dev/scheduler/internal/framework"
	"skiff.dev/scheduler/internal/plugins/names"
)

// Plugin implements Filter, Score and NormalizeScore.
type Plugin struct{}

// New returns the plugin.
func New() *Plugin { return &Plugin{} }

// Name returns "TaintToleration".
func (*Plugin) Name() string { return names.TaintToleration }

func hardTaint(t *v1.Taint) bool {
	return t.Effect == v1.TaintEffectNoSchedule || t.Effect == v1.TaintEffectNoExecute
}

// Filter rejects nodes with an untolerated NoSchedule/NoExecute taint.
func (*Plugin) Filter(_ context.Context, _ *framework.CycleState, pi *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	taints := ni.Node().Spec.Taints
	if len(taints) == 0 {
		return nil
	}
	taint, bad := corev1helpers.FindMatchingUntoleratedTaint(logr.Discard(), taints, pi.Pod.Spec.Tolerations, hardTaint, false)
	if !bad {
		return nil
	}
	return framework.NewStatus(framework.UnschedulableAndUnresolvable,
		fmt.Sprintf("node(s) had untolerated taint {%s: %s}", taint.Key, taint.Value))
}

// Score counts untolerated PreferNoSchedule taints (lower is better after normalization).
func (*Plugin) Score(_ context.Context, _ *framework.CycleState, pi *framework.PodInfo, ni *framework.NodeInfo) (int64, *framework.Status) {
	var n int64
	for i := range ni.Node().Spec.Taints {
		t := &ni.Node().Spec.Taints[i]
		if t.Effect != v1.TaintEffectPreferNoSchedule {
			continue
		}
		if !corev1helpers.TolerationsTolerateTaint(logr.Discard(), pi.Pod.Spec.Tolerations, t, false) {
			n++
		}
	}
	return n, nil
}

// NormalizeScore reverses the counts into [0, 100].
func (*Plugin) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *framework.PodInfo, scores []framework.NodeScore) *framework.Status {
	return framework.DefaultNormalizeScore(framework.MaxNodeScore, true, scores)
}
