// Package cni writes the node's CNI network configuration: a bridge
// conflist (bridge + host-local IPAM + portmap) for the node's pod CIDR,
// into the directory the container runtime reads.
package cni

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// FileName is the conflist file skiff writes.
const FileName = "10-skiff.conflist"

// Options describe the bridge network.
type Options struct {
	// ConfDir is the runtime's CNI conf dir. Required.
	ConfDir string
	// PodCIDR is the node's pod range, e.g. 10.244.0.0/24. Required.
	PodCIDR string
	// Bridge is the Linux bridge name (default "skiff0").
	Bridge string
	// DataDir is host-local IPAM's state dir (default: host-local's own).
	DataDir string
	// IPMasq masquerades pod traffic leaving the node.
	IPMasq bool
	// MTU of the bridge and veths (0: plugin default).
	MTU int
	// NoPortMap leaves out the portmap plugin, which only pods with a
	// hostPort need; every other pod then skips its exec on add and delete.
	NoPortMap bool
}

// Write writes the conflist atomically and returns its path. It is a no-op
// when the file already holds the same content.
func Write(o Options) (string, error) {
	if o.ConfDir == "" {
		return "", errors.New("cni: ConfDir is required")
	}
	if _, _, err := net.ParseCIDR(o.PodCIDR); err != nil {
		return "", fmt.Errorf("cni: pod CIDR %q: %w", o.PodCIDR, err)
	}
	if o.Bridge == "" {
		o.Bridge = "skiff0"
	}
	if len(o.Bridge) > 15 {
		return "", fmt.Errorf("cni: bridge name %q is longer than 15 bytes", o.Bridge)
	}
	ipam := map[string]any{
		"type":   "host-local",
		"ranges": [][]map[string]string{{{"subnet": o.PodCIDR}}},
		"routes": []map[string]string{{"dst": "0.0.0.0/0"}},
	}
	if o.DataDir != "" {
		ipam["dataDir"] = o.DataDir
	}
	bridge := map[string]any{
		"type":        "bridge",
		"bridge":      o.Bridge,
		"isGateway":   true,
		"ipMasq":      o.IPMasq,
		"hairpinMode": true,
		"ipam":        ipam,
	}
	if o.MTU > 0 {
		bridge["mtu"] = o.MTU
	}
	plugins := []any{bridge}
	if !o.NoPortMap {
		plugins = append(plugins, map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}})
	}
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "skiff",
		"plugins":    plugins,
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return "", fmt.Errorf("cni: encode: %w", err)
	}
	if err := os.MkdirAll(o.ConfDir, 0o755); err != nil {
		return "", fmt.Errorf("cni: %w", err)
	}
	path := filepath.Join(o.ConfDir, FileName)
	if old, err := os.ReadFile(path); err == nil && string(old) == string(b) {
		return path, nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return "", fmt.Errorf("cni: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("cni: %w", err)
	}
	return path, nil
}
