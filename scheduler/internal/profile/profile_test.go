package profile

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"skiff.dev/scheduler/internal/config"
	"skiff.dev/scheduler/internal/framework"
)

func build(t *testing.T, file string) (map[string]*framework.Framework, error) {
	t.Helper()
	c, err := config.Load(filepath.Join("..", "config", "testdata", file))
	if err != nil {
		t.Fatalf("load %s: %v", file, err)
	}
	var fwk *framework.Framework
	return Build(c, func(string) framework.Handle { return stubHandle{&fwk} })
}

func TestBuildProfiles(t *testing.T) {
	fwks, err := build(t, "full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	def := fwks["default-scheduler"].PluginNames()
	if !slices.Equal(def["filter"], []string{"NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts", "NodeResourcesFit", "PodTopologySpread", "InterPodAffinity"}) {
		t.Errorf("default filters %v", def["filter"])
	}
	if !slices.Equal(def["score"], []string{"TaintToleration:3", "NodeAffinity:2", "NodeResourcesFit:1", "PodTopologySpread:2", "InterPodAffinity:2", "NodeResourcesBalancedAllocation:1", "ImageLocality:1"}) {
		t.Errorf("default scores %v", def["score"])
	}
	if !slices.Equal(def["postFilter"], []string{"DefaultPreemption"}) || !slices.Equal(def["bind"], []string{"DefaultBinder"}) {
		t.Errorf("default postFilter/bind %v %v", def["postFilter"], def["bind"])
	}
	bp := fwks["bin-packing"].PluginNames()
	if slices.Contains(bp["score"], "NodeResourcesBalancedAllocation:1") || !slices.Contains(bp["score"], "ImageLocality:5") {
		t.Errorf("bin-packing scores %v", bp["score"])
	}
}

func TestBuildErrors(t *testing.T) {
	for file, want := range map[string]string{
		"unknown-plugin.yaml": "NoSuchPlugin",
		"bad-args.yaml":       "Sideways",
		"no-binder.yaml":      "no bind plugin",
	} {
		t.Run(file, func(t *testing.T) {
			_, err := build(t, file)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want %q", err, want)
			}
		})
	}
}
