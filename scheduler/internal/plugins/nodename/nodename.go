// Package nodename is the NodeName filter: a pod that names a node in
// spec.nodeName fits only that node.
package nodename

import (
	"context"

	"skiff.dev/scheduler/internal/framework"
	"skiff.dev/scheduler/internal/plugins/names"
)

// ErrReason is the upstream rejection reason.
const ErrReason = "node(s) didn't match the requested node name"

// Plugin implements framework.FilterPlugin.
type Plugin struct{}

// New returns the plugin.
func New() *Plugin { return &Plugin{} }

// Name returns "NodeName".
func (*Plugin) Name() string { return names.NodeName }

// Filter rejects every node but the requested one.
func (*Plugin) Filter(_ context.Context, _ *framework.CycleState, pi *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	if want := pi.Pod.Spec.NodeName; want != "" && want != ni.Name() {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReason)
	}
	return nil
}
