package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"skiff.dev/kubelet"
)

// kubeletCommand runs the node agent.
func kubeletCommand() command {
	return command{
		summary: "run the node agent (pods on containerd through CRI; --hollow for fake nodes)",
		run: func(ctx context.Context, args []string) error {
			fs := flag.NewFlagSet("kubelet", flag.ContinueOnError)
			opts := kubelet.NewOptions()
			opts.AddFlags(fs)
			verbose := fs.Bool("v", false, "debug logging")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if fs.NArg() > 0 {
				return fmt.Errorf("unexpected arguments: %v", fs.Args())
			}
			level := slog.LevelInfo
			if *verbose {
				level = slog.LevelDebug
			}
			opts.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			return kubelet.Run(ctx, opts)
		},
	}
}
