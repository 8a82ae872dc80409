package main

import (
	"context"
	"errors"
)

// pluginCommand is replaced by the plugin component's command when that component lands.
func pluginCommand() command {
	return command{
		summary: "plugin author tools: test, push, new (not built yet)",
		run: func(ctx context.Context, args []string) error {
			return errors.New("plugin is not part of this build yet")
		},
	}
}
