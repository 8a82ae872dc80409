// Command gpufilter is a scheduler filter plugin: a pod that requests GPUs
// only fits nodes with enough free GPUs, and (optionally) pods that request
// none are kept off GPU nodes. Settings:
//
//	{"resource": "nvidia.com/gpu", "reserveForGPUPods": true}
package main

import (
	"strconv"

	"skiff.dev/plugins/sdk"
)

// Settings configure the filter.
type Settings struct {
	// Resource is the GPU resource name (default nvidia.com/gpu).
	Resource string `json:"resource,omitempty"`
	// ReserveForGPUPods keeps pods without GPU requests off GPU nodes.
	ReserveForGPUPods bool `json:"reserveForGPUPods,omitempty"`
}

// Filter decides per node.
func Filter(req *sdk.SchedulingRequest, s Settings) ([]sdk.FilterResult, error) {
	res := s.Resource
	if res == "" {
		res = "nvidia.com/gpu"
	}
	want := req.PodExtendedRequest(res)
	out := make([]sdk.FilterResult, len(req.Nodes))
	for i := range req.Nodes {
		gpu, ok := sdk.NodeResource(&req.Nodes[i], res)
		switch {
		case want > 0 && !ok:
			out[i] = sdk.FilterResult{Code: sdk.UnschedulableAndUnresolvable, Reason: "node has no " + res}
		case want > 0 && gpu.Allocatable-gpu.Requested < want:
			// strconv, not fmt: this runs for every rejected node.
			out[i] = sdk.FilterResult{Code: sdk.Unschedulable, Reason: "insufficient " + res + ": " +
				strconv.FormatInt(gpu.Allocatable-gpu.Requested, 10) + " free, " + strconv.FormatInt(want, 10) + " requested"}
		case want == 0 && ok && gpu.Allocatable > 0 && s.ReserveForGPUPods:
			out[i] = sdk.FilterResult{Code: sdk.UnschedulableAndUnresolvable, Reason: "node is reserved for pods requesting " + res}
		}
	}
	return out, nil
}

func init() { sdk.HandleFilter(Filter, sdk.NodeExtended) }

func main() {}
