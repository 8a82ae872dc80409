package main

import (
	"context"
	"flag"
	"fmt"

	"skiff.dev/scheduler"
)

// schedulerCommand runs the scheduler: flags → scheduler.Options → scheduler.Run.
func schedulerCommand() command {
	return command{
		summary: "run the scheduler (filter/score framework with built-in and Wasm plugins)",
		run: func(ctx context.Context, args []string) error {
			fs := flag.NewFlagSet("skiff scheduler", flag.ContinueOnError)
			var opts scheduler.Options
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
			return scheduler.Run(ctx, opts)
		},
	}
}
