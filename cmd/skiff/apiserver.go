package main

import (
	"context"
	"errors"
)

// apiserverCommand is replaced by the apiserver component's command when that component lands.
func apiserverCommand() command {
	return command{
		summary: "run the API server (embedded etcd by default) (not built yet)",
		run: func(ctx context.Context, args []string) error {
			return errors.New("apiserver is not part of this build yet")
		},
	}
}
