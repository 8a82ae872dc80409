package scheduling_test

import (
	"context"
	"fmt"
	"testing"

	"skiff.dev/plugins/scheduling"
)

func benchNodes(n int) []scheduling.NodeInput {
	nodes := make([]scheduling.NodeInput, n)
	for i := range nodes {
		nodes[i] = scheduling.NodeInput{
			Name: fmt.Sprintf("node-%04d", i),
			Labels: map[string]string{
				"kubernetes.io/hostname": fmt.Sprintf("node-%04d", i), "kubernetes.io/os": "linux",
				"kubernetes.io/arch": "amd64", "topology.kubernetes.io/zone": fmt.Sprintf("zone-%d", i%3),
				"disktype": []string{"ssd", "hdd"}[i%2], "node.kubernetes.io/instance-type": "m5.large",
			},
			Allocatable: scheduling.Resources{MilliCPU: 4000, Memory: 16 << 30, Pods: 110},
			Requested:   scheduling.Resources{MilliCPU: int64(i%40) * 100, Memory: int64(i%16) << 30, Pods: int64(i % 110)},
			Extended:    []scheduling.ExtendedResource{{Name: "nvidia.com/gpu", Allocatable: int64(i % 2 * 4), Requested: int64(i % 3)}},
		}
	}
	return nodes
}

// BenchmarkScheduling measures one batched call per cycle for the Go-guest
// examples over 100, 400 and 1000 nodes.
func BenchmarkScheduling(b *testing.B) {
	rt := runtimeFor(b)
	cases := []struct {
		example, settings string
		filter            bool
	}{
		{"binpack", "", false},
		{"preferlabel", `{"key":"disktype","value":"ssd"}`, false},
		{"gpufilter", "", true},
	}
	for _, c := range cases {
		p := load(b, rt, c.example, c.settings)
		for _, n := range []int{100, 400, 1000} {
			nodes := benchNodes(n)
			pd := pod("500m", "1Gi", 1)
			b.Run(fmt.Sprintf("%s/nodes=%d", c.example, n), func(b *testing.B) {
				ctx := context.Background()
				for b.Loop() {
					var err error
					if c.filter {
						_, err = p.Filter(ctx, pd, nodes)
					} else {
						_, err = p.Score(ctx, pd, nodes)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
