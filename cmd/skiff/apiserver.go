package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"skiff.dev/apiserver"
)

// apiserverCommand runs the API server (embedded etcd unless --etcd-servers).
func apiserverCommand() command {
	return command{
		summary: "run the API server (embedded etcd by default)",
		run: func(ctx context.Context, args []string) error {
			fs := flag.NewFlagSet("apiserver", flag.ContinueOnError)
			var opts apiserver.Options
			opts.AddFlags(fs)
			level := slog.LevelInfo
			fs.TextVar(&level, "log-level", slog.LevelInfo, "log level: debug (logs every request), info, warn or error")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if fs.NArg() > 0 {
				return fmt.Errorf("unexpected arguments: %v", fs.Args())
			}
			opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			srv, err := apiserver.New(opts)
			if err != nil {
				return err
			}
			return srv.Run(ctx)
		},
	}
}
