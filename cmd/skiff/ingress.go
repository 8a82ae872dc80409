package main

import (
	"context"
	"flag"

	"skiff.dev/addons/ingress"
)

// ingressCommand runs the ingress controller.
func ingressCommand() command {
	return command{
		summary: "run the ingress controller (HTTP/HTTPS reverse proxy)",
		run: func(ctx context.Context, args []string) error {
			var o ingress.Options
			fs := flag.NewFlagSet("skiff ingress", flag.ContinueOnError)
			o.AddFlags(fs)
			if err := fs.Parse(args); err != nil {
				return err
			}
			return ingress.Run(ctx, o)
		},
	}
}
