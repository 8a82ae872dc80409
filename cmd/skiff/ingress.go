package main

import (
	"context"
	"errors"
)

// ingressCommand is replaced by the ingress component's command when that component lands.
func ingressCommand() command {
	return command{
		summary: "run the ingress controller (not built yet)",
		run: func(ctx context.Context, args []string) error {
			return errors.New("ingress is not part of this build yet")
		},
	}
}
