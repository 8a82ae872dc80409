package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"skiff.dev/plugins/host"
	"skiff.dev/plugins/scheduling"
)

// nodeSpec is one node of a --nodes file.
type nodeSpec struct {
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels,omitempty"`
	Taints      []corev1.Taint    `json:"taints,omitempty"`
	Allocatable map[string]string `json:"allocatable,omitempty"`
	Requested   map[string]string `json:"requested,omitempty"`
}

func quantities(m map[string]string) (scheduling.Resources, map[string]int64, error) {
	var r scheduling.Resources
	ext := map[string]int64{}
	for k, v := range m {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return r, nil, fmt.Errorf("%s: %q: %w", k, v, err)
		}
		switch corev1.ResourceName(k) {
		case corev1.ResourceCPU:
			r.MilliCPU = q.MilliValue()
		case corev1.ResourceMemory:
			r.Memory = q.Value()
		case corev1.ResourcePods:
			r.Pods = q.Value()
		case corev1.ResourceEphemeralStorage:
		default:
			ext[k] = q.Value()
		}
	}
	return r, ext, nil
}

func loadNodes(path string) ([]scheduling.NodeInput, error) {
	b, err := readJSON(path)
	if err != nil {
		return nil, fmt.Errorf("nodes: %w", err)
	}
	var specs []nodeSpec
	if err := json.Unmarshal(b, &specs); err != nil {
		return nil, fmt.Errorf("nodes %s: expected a list of {name, labels, taints, allocatable, requested}: %w", path, err)
	}
	nodes := make([]scheduling.NodeInput, len(specs))
	for i, s := range specs {
		if s.Name == "" {
			return nil, fmt.Errorf("nodes %s: node %d has no name", path, i)
		}
		alloc, allocExt, err := quantities(s.Allocatable)
		if err != nil {
			return nil, fmt.Errorf("node %s: allocatable: %w", s.Name, err)
		}
		req, reqExt, err := quantities(s.Requested)
		if err != nil {
			return nil, fmt.Errorf("node %s: requested: %w", s.Name, err)
		}
		n := scheduling.NodeInput{Name: s.Name, Labels: s.Labels, Taints: s.Taints, Allocatable: alloc, Requested: req}
		names := make([]string, 0, len(allocExt))
		for k := range allocExt {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			n.Extended = append(n.Extended, scheduling.ExtendedResource{Name: k, Allocatable: allocExt[k], Requested: reqExt[k]})
		}
		nodes[i] = n
	}
	return nodes, nil
}

// runSchedulingTest runs a filter and/or score module over nodes.
func runSchedulingTest(ctx context.Context, stdio IO, wasmPath, podPath, nodesPath string, settings []byte, timeout time.Duration) error {
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		return err
	}
	b, err := readJSON(podPath)
	if err != nil {
		return fmt.Errorf("pod: %w", err)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(b, &pod); err != nil {
		return fmt.Errorf("pod %s: %w", podPath, err)
	}
	nodes, err := loadNodes(nodesPath)
	if err != nil {
		return err
	}
	rt, err := host.New(ctx, host.Options{Logger: discardLogger(), CacheDir: cacheDir()})
	if err != nil {
		return err
	}
	defer rt.Close(context.WithoutCancel(ctx))
	p, err := scheduling.Load(ctx, rt, scheduling.Config{Name: wasmPath, Wasm: wasm, Settings: settings, Timeout: timeout})
	if err != nil {
		return err
	}
	var filters []scheduling.FilterResult
	var scores []int64
	start := time.Now()
	if p.HasFilter() {
		if filters, err = p.Filter(ctx, &pod, nodes); err != nil {
			return fmt.Errorf("filter: %w", err)
		}
	}
	if p.HasScore() {
		if scores, err = p.Score(ctx, &pod, nodes); err != nil {
			return fmt.Errorf("score: %w", err)
		}
	}
	took := time.Since(start)
	tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tFILTER\tSCORE\tREASON")
	codes := map[uint32]string{scheduling.Success: "fits", scheduling.Unschedulable: "Unschedulable", scheduling.UnschedulableAndUnresolvable: "UnschedulableAndUnresolvable"}
	for i, n := range nodes {
		f, s, reason := "-", "-", ""
		if filters != nil {
			f, reason = codes[filters[i].Code], filters[i].Reason
			if f == "" {
				f = fmt.Sprintf("code %d", filters[i].Code)
			}
		}
		if scores != nil {
			s = fmt.Sprint(scores[i])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Name, f, s, reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdio.Out, "%d nodes in %v\n", len(nodes), took.Round(time.Microsecond))
	return nil
}
