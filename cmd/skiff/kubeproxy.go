package main

import (
	"context"
	"flag"

	"skiff.dev/kubeproxy"
)

// kubeProxyCommand runs kube-proxy (iptables mode), or removes its rules with --cleanup.
func kubeProxyCommand() command {
	return command{
		summary: "run the service proxy (iptables; --cleanup removes its rules)",
		run: func(ctx context.Context, args []string) error {
			var o kubeproxy.Options
			fs := flag.NewFlagSet("skiff kube-proxy", flag.ContinueOnError)
			o.AddFlags(fs)
			if err := fs.Parse(args); err != nil {
				return err
			}
			return kubeproxy.Run(ctx, o)
		},
	}
}
