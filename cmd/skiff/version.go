package main

import (
	"context"
	"fmt"
)

// Version is the skiff release, reported by `skiff version` and /version.
const Version = "v0.1.0-dev"

func versionCommand() command {
	return command{
		summary: "print the skiff version",
		run: func(ctx context.Context, args []string) error {
			fmt.Println("skiff", Version)
			return nil
		},
	}
}
