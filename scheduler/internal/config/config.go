// Package config reads the scheduler's configuration file: global tuning
// (parallelism, percentageOfNodesToScore, backoff) and profiles, each a
// schedulerName with the built-in plugins it enables or disables, score
// weights and per-plugin arguments.
package config

import (
	"encoding/json"
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

// APIVersion and Kind identify the file format.
const (
	APIVersion = "scheduler.skiff.dev/v1alpha1"
	Kind       = "SchedulerConfiguration"
)

// DefaultSchedulerName is the profile used when none is configured.
const DefaultSchedulerName = "default-scheduler"

// Configuration is the file's top-level object.
type Configuration struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	// Parallelism bounds goroutines filtering and scoring nodes (default 16).
	Parallelism int `json:"parallelism,omitempty"`
	// PercentageOfNodesToScore: 0 (default) is adaptive, 100 scores all feasible nodes.
	PercentageOfNodesToScore int32 `json:"percentageOfNodesToScore,omitempty"`
	// PodInitialBackoffSeconds (default 1) and PodMaxBackoffSeconds (default 10).
	PodInitialBackoffSeconds int64 `json:"podInitialBackoffSeconds,omitempty"`
	PodMaxBackoffSeconds     int64 `json:"podMaxBackoffSeconds,omitempty"`
	// Profiles: one per schedulerName.
	Profiles []Profile `json:"profiles,omitempty"`
}

// Profile configures one schedulerName.
type Profile struct {
	SchedulerName string         `json:"schedulerName"`
	Plugins       *Plugins       `json:"plugins,omitempty"`
	PluginConfig  []PluginConfig `json:"pluginConfig,omitempty"`
}

// Plugins enables and disables built-in plugins; a plugin serves every
// extension point it implements. Disabling "*" removes all defaults.
type Plugins struct {
	Enabled  []Plugin `json:"enabled,omitempty"`
	Disabled []Plugin `json:"disabled,omitempty"`
}

// Plugin names a plugin, with a score weight for scoring plugins.
type Plugin struct {
	Name   string `json:"name"`
	Weight int32  `json:"weight,omitempty"`
}

// PluginConfig passes arguments to one plugin.
type PluginConfig struct {
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

// Default returns the configuration used without a file.
func Default() *Configuration {
	c := &Configuration{}
	c.setDefaults()
	return c
}

func (c *Configuration) setDefaults() {
	if c.Parallelism == 0 {
		c.Parallelism = 16
	}
	if c.PodInitialBackoffSeconds == 0 {
		c.PodInitialBackoffSeconds = 1
	}
	if c.PodMaxBackoffSeconds == 0 {
		c.PodMaxBackoffSeconds = 10
	}
	if len(c.Profiles) == 0 {
		c.Profiles = []Profile{{SchedulerName: DefaultSchedulerName}}
	}
}

// Load reads and validates a configuration file.
func Load(path string) (*Configuration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scheduler config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("scheduler config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes YAML (or JSON) strictly and validates it.
func Parse(b []byte) (*Configuration, error) {
	c := &Configuration{}
	if err := yaml.UnmarshalStrict(b, c); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if c.APIVersion != "" && c.APIVersion != APIVersion {
		return nil, fmt.Errorf("apiVersion %q: want %s", c.APIVersion, APIVersion)
	}
	if c.Kind != "" && c.Kind != Kind {
		return nil, fmt.Errorf("kind %q: want %s", c.Kind, Kind)
	}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks ranges and uniqueness.
func (c *Configuration) Validate() error {
	if c.Parallelism < 1 {
		return fmt.Errorf("parallelism %d: must be positive", c.Parallelism)
	}
	if c.PercentageOfNodesToScore < 0 || c.PercentageOfNodesToScore > 100 {
		return fmt.Errorf("percentageOfNodesToScore %d: must be in 0..100", c.PercentageOfNodesToScore)
	}
	if c.PodInitialBackoffSeconds < 1 || c.PodMaxBackoffSeconds < c.PodInitialBackoffSeconds {
		return fmt.Errorf("podInitialBackoffSeconds %d / podMaxBackoffSeconds %d: need 1 <= initial <= max",
			c.PodInitialBackoffSeconds, c.PodMaxBackoffSeconds)
	}
	seen := map[string]bool{}
	for i, p := range c.Profiles {
		if p.SchedulerName == "" {
			return fmt.Errorf("profiles[%d].schedulerName: required", i)
		}
		if seen[p.SchedulerName] {
			return fmt.Errorf("profiles[%d].schedulerName %q: duplicate", i, p.SchedulerName)
		}
		seen[p.SchedulerName] = true
		if p.Plugins != nil {
			for j, e := range p.Plugins.Enabled {
				if e.Name == "" {
					return fmt.Errorf("profiles[%d].plugins.enabled[%d].name: required", i, j)
				}
				if e.Weight < 0 || e.Weight > 100 {
					return fmt.Errorf("profiles[%d].plugins.enabled[%d] %s weight %d: must be in 0..100", i, j, e.Name, e.Weight)
				}
			}
		}
	}
	return nil
}
