package main

import (
	"context"
	"errors"
)

// dashboardCommand is replaced by the dashboard component's command when that component lands.
func dashboardCommand() command {
	return command{
		summary: "run the web dashboard (not built yet)",
		run: func(ctx context.Context, args []string) error {
			return errors.New("dashboard is not part of this build yet")
		},
	}
}
