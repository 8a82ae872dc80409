package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"skiff.dev/dashboard"
)

// dashboardCommand runs the web dashboard: flags → dashboard.Options → dashboard.Run.
func dashboardCommand() command {
	return command{
		summary: "run the web dashboard (live UI over websockets, acts with the user's token)",
		run: func(ctx context.Context, args []string) error {
			fs := flag.NewFlagSet("skiff dashboard", flag.ContinueOnError)
			var opts dashboard.Options
			opts.AddFlags(fs)
			if err := fs.Parse(args); err != nil {
				return err
			}
			if fs.NArg() > 0 {
				return fmt.Errorf("unexpected arguments: %v", fs.Args())
			}
			if err := opts.Validate(); err != nil {
				return err
			}
			opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			return dashboard.Run(ctx, opts)
		},
	}
}
