package main

import (
	"context"
	"errors"
)

// kubeProxyCommand is replaced by the kube-proxy component's command when that component lands.
func kubeProxyCommand() command {
	return command{
		summary: "run the service proxy (not built yet)",
		run: func(ctx context.Context, args []string) error {
			return errors.New("kube-proxy is not part of this build yet")
		},
	}
}
