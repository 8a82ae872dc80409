package kubelet

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"

	"skiff.dev/kubelet/internal/masq"
)

// RemoveBridge deletes the node's CNI bridge if it exists. `skiff up` calls
// it before the kubelet starts, so that a bridge left by an earlier cluster
// with another pod CIDR cannot break pod networking ("already has an IP
// address different from …"), and again after every pod is gone on
// shutdown.
func RemoveBridge(name string) error {
	if name == "" {
		return errors.New("kubelet: bridge name is empty")
	}
	if _, err := net.InterfaceByName(name); err != nil {
		return nil // not there
	}
	out, err := exec.Command("ip", "link", "delete", name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("kubelet: ip link delete %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// RemovePodMasquerade deletes the pod masquerade rules the kubelet installs
// for bridge with PodMasquerade "node". `skiff up` calls it on shutdown,
// after every pod is gone.
func RemovePodMasquerade(bridge string) error {
	if err := masq.Remove(bridge, ""); err != nil {
		return fmt.Errorf("kubelet: %w", err)
	}
	return nil
}
