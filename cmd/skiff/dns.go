package main

import (
	"context"
	"errors"
)

// dnsCommand is replaced by the dns component's command when that component lands.
func dnsCommand() command {
	return command{
		summary: "run cluster DNS (not built yet)",
		run: func(ctx context.Context, args []string) error {
			return errors.New("dns is not part of this build yet")
		},
	}
}
