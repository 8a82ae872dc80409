package main

import (
	"context"
	"errors"
)

// schedulerCommand is replaced by the scheduler component's command when that component lands.
func schedulerCommand() command {
	return command{
		summary: "run the scheduler (not built yet)",
		run: func(ctx context.Context, args []string) error {
			return errors.New("scheduler is not part of this build yet")
		},
	}
}
