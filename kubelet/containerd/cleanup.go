package containerd

import (
	"context"
	"errors"
	"fmt"

	"skiff.dev/kubelet/internal/cri"
)

// RemoveAllPods stops and removes every pod sandbox, with its containers,
// that this containerd runs. `skiff up` calls it on Ctrl-C, after the
// kubelet has stopped, so that no container, shim or network namespace
// outlives the cluster.
func (c *Containerd) RemoveAllPods(ctx context.Context) error {
	client, err := cri.Dial(ctx, c.Endpoint)
	if err != nil {
		return fmt.Errorf("containerd: remove pods: %w", err)
	}
	defer client.Close()
	sandboxes, err := client.ListPodSandbox(ctx, nil)
	if err != nil {
		return fmt.Errorf("containerd: list pod sandboxes: %w", err)
	}
	var errs []error
	for _, sb := range sandboxes {
		// RemovePodSandbox stops a running sandbox itself; a separate
		// Stop would run every CNI plugin's DEL a second time.
		if err := client.RemovePodSandbox(ctx, sb.Id); err == nil {
			continue
		}
		if err := client.StopPodSandbox(ctx, sb.Id); err != nil {
			errs = append(errs, fmt.Errorf("stop sandbox %s: %w", sb.Id, err))
			continue
		}
		if err := client.RemovePodSandbox(ctx, sb.Id); err != nil {
			errs = append(errs, fmt.Errorf("remove sandbox %s: %w", sb.Id, err))
		}
	}
	return errors.Join(errs...)
}
