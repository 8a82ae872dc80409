package main

import (
	"context"
	"os"

	"skiff.dev/plugins/cli"
)

// pluginCommand is the plugin author's tool: test, push, new.
func pluginCommand() command {
	return command{
		summary: "plugin author tools: test a module locally, push it to a cluster, scaffold a new one",
		run: func(ctx context.Context, args []string) error {
			return cli.Run(ctx, args, cli.IO{Out: os.Stdout, Err: os.Stderr})
		},
	}
}
