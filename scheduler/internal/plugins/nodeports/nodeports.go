// Package nodeports is the NodePorts filter: a pod asking for host ports
// fits only nodes where those ports are free.
package nodeports

import (
	"context"

	"skiff.dev/scheduler/internal/framework"
	"skiff.dev/scheduler/internal/plugins/names"
)

// ErrReason is the upstream rejection reason.
const ErrReason = "node(s) didn't have free ports for the requested pod ports"

const stateKey = "NodePorts"

// Plugin implements PreFilter and Filter.
type Plugin struct{}

// New returns the plugin.
func New() *Plugin { return &Plugin{} }

// Name returns "NodePorts".
func (*Plugin) Name() string { return names.NodePorts }

// PreFilter collects the pod's host ports; pods without any skip the filter.
func (*Plugin) PreFilter(_ context.Context, cs *framework.CycleState, pi *framework.PodInfo, _ *framework.Snapshot) *framework.Status {
	ports := framework.HostPorts(pi.Pod)
	if len(ports) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	cs.Write(stateKey, ports)
	return nil
}

// Filter rejects nodes where a wanted port is taken.
func (*Plugin) Filter(_ context.Context, cs *framework.CycleState, pi *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	ports, ok := cs.Read(stateKey).([]framework.HostPort)
	if !ok {
		ports = framework.HostPorts(pi.Pod)
	}
	for _, want := range ports {
		for _, used := range ni.UsedPorts {
			if want.Conflicts(used) {
				return framework.NewStatus(framework.Unschedulable, ErrReason)
			}
		}
	}
	return nil
}
