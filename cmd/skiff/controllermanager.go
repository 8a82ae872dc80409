package main

import (
	"context"
	"errors"
)

// controllerManagerCommand is replaced by the controller-manager component's command when that component lands.
func controllerManagerCommand() command {
	return command{
		summary: "run the controller manager (not built yet)",
		run: func(ctx context.Context, args []string) error {
			return errors.New("controller-manager is not part of this build yet")
		},
	}
}
