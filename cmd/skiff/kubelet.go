package main

import (
	"context"
	"errors"
)

// kubeletCommand is replaced by the kubelet component's command when that component lands.
func kubeletCommand() command {
	return command{
		summary: "run the node agent (not built yet)",
		run: func(ctx context.Context, args []string) error {
			return errors.New("kubelet is not part of this build yet")
		},
	}
}
