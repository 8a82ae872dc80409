package main

import (
	"context"
	"flag"
	"log/slog"
	"os"

	"skiff.dev/controlplane"
)

// controllerManagerCommand runs the controller-manager.
func controllerManagerCommand() command {
	return command{
		summary: "run the controller manager (workloads, GC, namespaces, nodes, endpoints)",
		run: func(ctx context.Context, args []string) error {
			fs := flag.NewFlagSet("controller-manager", flag.ContinueOnError)
			opts := controlplane.Defaults()
			opts.AddFlags(fs)
			verbose := fs.Bool("v", false, "debug logging")
			if err := fs.Parse(args); err != nil {
				return err
			}
			level := slog.LevelInfo
			if *verbose {
				level = slog.LevelDebug
			}
			opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			if err := opts.Validate(); err != nil {
				return err
			}
			return controlplane.Run(ctx, opts)
		},
	}
}
