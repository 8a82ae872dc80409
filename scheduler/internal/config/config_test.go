package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Parallelism != 8 || c.PercentageOfNodesToScore != 50 || c.PodInitialBackoffSeconds != 2 || c.PodMaxBackoffSeconds != 20 {
		t.Fatalf("globals not read: %+v", c)
	}
	if len(c.Profiles) != 2 || c.Profiles[1].SchedulerName != "bin-packing" || c.Profiles[1].Plugins.Enabled[0].Weight != 5 {
		t.Fatalf("profiles not read: %+v", c.Profiles)
	}
	if !strings.Contains(string(c.Profiles[1].PluginConfig[0].Args), "MostAllocated") {
		t.Fatalf("plugin args lost: %s", c.Profiles[1].PluginConfig[0].Args)
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	if len(c.Profiles) != 1 || c.Profiles[0].SchedulerName != DefaultSchedulerName || c.Parallelism != 16 {
		t.Fatalf("default %+v", c)
	}
}

func TestInvalid(t *testing.T) {
	tests := map[string]string{
		"unknown-field.yaml":     "unknown field",
		"duplicate-profile.yaml": "duplicate",
		"bad-percentage.yaml":    "percentageOfNodesToScore",
		"wrong-kind.yaml":        "apiVersion",
		"not-yaml.yaml":          "decode",
	}
	for file, want := range tests {
		t.Run(file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", file))
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want it to mention %q", err, want)
			}
			if strings.Count(err.Error(), "\n") > 0 {
				t.Fatalf("multi-line error: %q", err)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("missing file: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}
