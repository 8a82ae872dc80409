// Command binpack is a scheduler score plugin that prefers the fullest
// nodes that still fit the pod (bin packing), scoring the average of CPU
// and memory utilization after placing the pod. Settings (optional):
//
//	{"cpuWeight": 1, "memoryWeight": 1}
package main

import (
	"skiff.dev/plugins/sdk"
)

// Settings weigh CPU against memory.
type Settings struct {
	CPUWeight    int64 `json:"cpuWeight,omitempty"`
	MemoryWeight int64 `json:"memoryWeight,omitempty"`
}

func utilization(requested, pod, allocatable int64) int64 {
	if allocatable <= 0 {
		return 0
	}
	u := (requested + pod) * 100 / allocatable
	return min(max(u, 0), 100)
}

// Score scores each node.
func Score(req *sdk.SchedulingRequest, s Settings) ([]int64, error) {
	cw, mw := s.CPUWeight, s.MemoryWeight
	if cw == 0 && mw == 0 {
		cw, mw = 1, 1
	}
	scores := req.Scores()
	for i := range req.Nodes {
		n := &req.Nodes[i]
		cpu := utilization(n.Requested.MilliCPU, req.PodRequests.MilliCPU, n.Allocatable.MilliCPU)
		mem := utilization(n.Requested.Memory, req.PodRequests.Memory, n.Allocatable.Memory)
		scores[i] = (cpu*cw + mem*mw) / (cw + mw)
	}
	return scores, nil
}

func init() { sdk.HandleScore(Score, sdk.NodeResources) }

func main() {}
