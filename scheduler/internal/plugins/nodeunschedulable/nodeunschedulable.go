// Package nodeunschedulable is the NodeUnschedulable filter: cordoned nodes
// (spec.unschedulable) take only pods tolerating the unschedulable taint.
package nodeunschedulable

import (
	"context"

	"github.com/go-logr/logr"
	v1 "k8s.io/api/core/v1"

	"skiff.dev/scheduler/internal/framework"
	"skiff.dev/scheduler/internal/plugins/names"
)

// ErrReason is the upstream rejection reason.
const ErrReason = "node(s) were unschedulable"

// Plugin implements framework.FilterPlugin.
type Plugin struct{}

// New returns the plugin.
func New() *Plugin { return &Plugin{} }

// Name returns "NodeUnschedulable".
func (*Plugin) Name() string { return names.NodeUnschedulable }

var unschedulableTaint = v1.Taint{Key: v1.TaintNodeUnschedulable, Effect: v1.TaintEffectNoSchedule}

// Filter rejects cordoned nodes unless the pod tolerates them.
func (*Plugin) Filter(_ context.Context, _ *framework.CycleState, pi *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	if !ni.Node().Spec.Unschedulable {
		return nil
	}
	for i := range pi.Pod.Spec.Tolerations {
		if pi.Pod.Spec.Tolerations[i].ToleratesTaint(logr.Discard(), &unschedulableTaint, false) {
			return nil
		}
	}
	return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReason)
}
