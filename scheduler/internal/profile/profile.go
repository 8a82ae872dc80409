// Package profile turns configuration profiles into frameworks: it holds
// the registry of built-in plugins, the default plugin set and weights,
// and applies each profile's enabled/disabled lists and plugin arguments.
package profile

import (
	"encoding/json"
	"fmt"
	"slices"

	"skiff.dev/scheduler/internal/config"
	"skiff.dev/scheduler/internal/framework"
	"skiff.dev/scheduler/internal/plugins/defaultbinder"
	"skiff.dev/scheduler/internal/plugins/defaultpreemption"
	"skiff.dev/scheduler/internal/plugins/imagelocality"
	"skiff.dev/scheduler/internal/plugins/interpodaffinity"
	"skiff.dev/scheduler/internal/plugins/names"
	"skiff.dev/scheduler/internal/plugins/nodeaffinity"
	"skiff.dev/scheduler/internal/plugins/nodename"
	"skiff.dev/scheduler/internal/plugins/nodeports"
	"skiff.dev/scheduler/internal/plugins/noderesources"
	"skiff.dev/scheduler/internal/plugins/nodeunschedulable"
	"skiff.dev/scheduler/internal/plugins/podtopologyspread"
	"skiff.dev/scheduler/internal/plugins/tainttoleration"
)

// Factory builds a plugin from its JSON arguments.
type Factory func(args json.RawMessage, h framework.Handle) (framework.Plugin, error)

func noArgs(f func(h framework.Handle) framework.Plugin) Factory {
	return func(args json.RawMessage, h framework.Handle) (framework.Plugin, error) {
		if len(args) > 0 && string(args) != "null" && string(args) != "{}" {
			return nil, fmt.Errorf("takes no args")
		}
		return f(h), nil
	}
}

// Registry returns the built-in plugins by name.
func Registry() map[string]Factory {
	return map[string]Factory{
		names.NodeName:          noArgs(func(framework.Handle) framework.Plugin { return nodename.New() }),
		names.NodeUnschedulable: noArgs(func(framework.Handle) framework.Plugin { return nodeunschedulable.New() }),
		names.NodeAffinity:      noArgs(func(framework.Handle) framework.Plugin { return nodeaffinity.New() }),
		names.TaintToleration:   noArgs(func(framework.Handle) framework.Plugin { return tainttoleration.New() }),
		names.NodePorts:         noArgs(func(framework.Handle) framework.Plugin { return nodeports.New() }),
		names.NodeResourcesFit: func(args json.RawMessage, _ framework.Handle) (framework.Plugin, error) {
			return noderesources.NewFit(args)
		},
		names.NodeResourcesBalancedAllocation: noArgs(func(framework.Handle) framework.Plugin { return noderesources.NewBalancedAllocation() }),
		names.ImageLocality:                   noArgs(func(framework.Handle) framework.Plugin { return imagelocality.New() }),
		names.InterPodAffinity:                noArgs(func(h framework.Handle) framework.Plugin { return interpodaffinity.New(h) }),
		names.PodTopologySpread:               noArgs(func(framework.Handle) framework.Plugin { return podtopologyspread.New() }),
		names.DefaultPreemption:               noArgs(func(h framework.Handle) framework.Plugin { return defaultpreemption.New(h) }),
		names.DefaultBinder:                   noArgs(func(h framework.Handle) framework.Plugin { return defaultbinder.New(h) }),
	}
}

// Defaults lists the default plugins in call order with their score
// weights (upstream's defaults).
func Defaults() []config.Plugin {
	return []config.Plugin{
		{Name: names.NodeUnschedulable},
		{Name: names.NodeName},
		{Name: names.TaintToleration, Weight: 3},
		{Name: names.NodeAffinity, Weight: 2},
		{Name: names.NodePorts},
		{Name: names.NodeResourcesFit, Weight: 1},
		{Name: names.PodTopologySpread, Weight: 2},
		{Name: names.InterPodAffinity, Weight: 2},
		{Name: names.DefaultPreemption},
		{Name: names.NodeResourcesBalancedAllocation, Weight: 1},
		{Name: names.ImageLocality, Weight: 1},
		{Name: names.DefaultBinder},
	}
}

// HandleFor returns the framework.Handle for a profile; the scheduler
// supplies it so plugins reach the client, namespace labels and their own framework.
type HandleFor func(profile string) framework.Handle

// Build creates one framework per profile. The handle's Framework() must
// return the framework once built (the scheduler sets it after Build).
func Build(cfg *config.Configuration, handle HandleFor) (map[string]*framework.Framework, error) {
	reg := Registry()
	out := map[string]*framework.Framework{}
	for _, p := range cfg.Profiles {
		fwk, err := buildOne(cfg, p, reg, handle(p.SchedulerName))
		if err != nil {
			return nil, fmt.Errorf("profile %q: %w", p.SchedulerName, err)
		}
		out[p.SchedulerName] = fwk
	}
	return out, nil
}

func buildOne(cfg *config.Configuration, p config.Profile, reg map[string]Factory, h framework.Handle) (*framework.Framework, error) {
	list := Defaults()
	if p.Plugins != nil {
		for _, d := range p.Plugins.Disabled {
			if d.Name == "*" {
				list = nil
				break
			}
			if _, ok := reg[d.Name]; !ok {
				return nil, fmt.Errorf("disabled plugin %q: unknown (known: %v)", d.Name, known(reg))
			}
			list = slices.DeleteFunc(list, func(x config.Plugin) bool { return x.Name == d.Name })
		}
		for _, e := range p.Plugins.Enabled {
			if _, ok := reg[e.Name]; !ok {
				return nil, fmt.Errorf("enabled plugin %q: unknown (known: %v)", e.Name, known(reg))
			}
			i := slices.IndexFunc(list, func(x config.Plugin) bool { return x.Name == e.Name })
			if i >= 0 {
				if e.Weight != 0 {
					list[i].Weight = e.Weight
				}
				continue
			}
			list = append(list, e)
		}
	}
	args := map[string]json.RawMessage{}
	for _, pc := range p.PluginConfig {
		if _, ok := reg[pc.Name]; !ok {
			return nil, fmt.Errorf("pluginConfig %q: unknown plugin", pc.Name)
		}
		args[pc.Name] = pc.Args
	}
	var ps framework.Plugins
	for _, e := range list {
		pl, err := reg[e.Name](args[e.Name], h)
		if err != nil {
			return nil, fmt.Errorf("plugin %s: %w", e.Name, err)
		}
		if x, ok := pl.(framework.PreFilterPlugin); ok {
			ps.PreFilter = append(ps.PreFilter, x)
		}
		if x, ok := pl.(framework.FilterPlugin); ok {
			ps.Filter = append(ps.Filter, x)
		}
		if x, ok := pl.(framework.PostFilterPlugin); ok {
			ps.PostFilter = append(ps.PostFilter, x)
		}
		if x, ok := pl.(framework.PreScorePlugin); ok {
			ps.PreScore = append(ps.PreScore, x)
		}
		if _, ok := pl.(framework.ScorePlugin); ok {
			w := int64(e.Weight)
			if w == 0 {
				w = 1
			}
			ps.Score = append(ps.Score, framework.WeightedScorePlugin{Plugin: pl, Weight: w})
		}
		if x, ok := pl.(framework.ReservePlugin); ok {
			ps.Reserve = append(ps.Reserve, x)
		}
		if x, ok := pl.(framework.BindPlugin); ok {
			ps.Bind = append(ps.Bind, x)
		}
	}
	if len(ps.Bind) == 0 {
		return nil, fmt.Errorf("no bind plugin enabled (enable %s)", names.DefaultBinder)
	}
	return framework.New(framework.Options{
		ProfileName:              p.SchedulerName,
		Parallelism:              cfg.Parallelism,
		PercentageOfNodesToScore: cfg.PercentageOfNodesToScore,
	}, ps), nil
}

func known(reg map[string]Factory) []string {
	out := make([]string, 0, len(reg))
	for k := range reg {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
