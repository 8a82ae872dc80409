package main

import (
	"context"
	"flag"

	"skiff.dev/addons/dns"
)

// dnsCommand runs cluster DNS.
func dnsCommand() command {
	return command{
		summary: "run cluster DNS (service records, upstream forwarding)",
		run: func(ctx context.Context, args []string) error {
			var o dns.Options
			fs := flag.NewFlagSet("skiff dns", flag.ContinueOnError)
			o.AddFlags(fs)
			if err := fs.Parse(args); err != nil {
				return err
			}
			return dns.Run(ctx, o)
		},
	}
}
