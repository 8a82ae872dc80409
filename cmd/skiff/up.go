package main

import (
	"context"
	"errors"
)

// upCommand is replaced by the up component's command when that component lands.
func upCommand() command {
	return command{
		summary: "run a whole single-node cluster (not built yet)",
		run: func(ctx context.Context, args []string) error {
			return errors.New("up is not part of this build yet")
		},
	}
}
