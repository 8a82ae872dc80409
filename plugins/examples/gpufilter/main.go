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

// reasons memoizes rejection messages: the same few recur on every node
// of every cycle, and garbage is dear in a Go guest. A Wasm instance runs
// one call at a time, so a package-level cache needs no lock.
var reasons = map[reasonKey]string{}

type reasonKey struct {
	kind       byte // 'n' no resource, 'i' insufficient, 'r' reserved
	res        string
	free, want int64
}

func reason(k reasonKey) string {
	if s, ok := reasons[k]; ok {
		return s
	}
	var s string
	switch k.kind {
	case 'n':
		s = "node has no " + k.res
	case 'i':
		s = "insufficient " + k.res + ": " + strconv.FormatInt(k.free, 10) + " free, " + strconv.FormatInt(k.want, 10) + " requested"
	default:
		s = "node is reserved for pods requesting " + k.res
	}
	if len(reasons) >= 1024 {
		clear(reasons)
	}
	reasons[k] = s
	return s
}

// Filter decides per node.
func Filter(req *sdk.SchedulingRequest, s Settings) ([]sdk.FilterResult, error) {
	res := s.Resource
	if res == "" {
		res = "nvidia.com/gpu"
	}
	want := req.PodExtendedRequest(res)
	out := req.FilterResults()
	for i := range req.Nodes {
		gpu, ok := sdk.NodeResource(&req.Nodes[i], res)
		switch {
		case want > 0 && !ok:
			out[i] = sdk.FilterResult{Code: sdk.UnschedulableAndUnresolvable, Reason: reason(reasonKey{kind: 'n', res: res})}
		case want > 0 && gpu.Allocatable-gpu.Requested < want:
			free := gpu.Allocatable - gpu.Requested
			out[i] = sdk.FilterResult{Code: sdk.Unschedulable, Reason: reason(reasonKey{kind: 'i', res: res, free: free, want: want})}
		case want == 0 && ok && gpu.Allocatable > 0 && s.ReserveForGPUPods:
			out[i] = sdk.FilterResult{Code: sdk.UnschedulableAndUnresolvable, Reason: reason(reasonKey{kind: 'r', res: res})}
		}
	}
	return out, nil
}

func init() { sdk.HandleFilter(Filter, sdk.NodeExtended) }

func main() {}
