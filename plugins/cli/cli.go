// Package cli implements `skiff plugin`, the plugin author's tool:
//
//	skiff plugin test MODULE.wasm --request REQ.json [--settings S.json] [--mutate]
//	skiff plugin test MODULE.wasm --pod POD.yaml --nodes NODES.yaml [--settings S.json]
//	skiff plugin push MODULE.wasm [--policy NAME ...] [--scheduler-plugin NAME ...]
//	skiff plugin new NAME --lang go|as|wat [--dir DIR] [--sdk PATH]
//
// cmd/skiff calls Run with the arguments after "plugin".
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// ErrDenied is returned by `test` when the policy denies the request, so
// the command exits non-zero.
var ErrDenied = errors.New("request denied")

// IO are the streams a command writes to.
type IO struct {
	Out, Err io.Writer
}

const usage = `usage: skiff plugin <command> [flags]

commands:
  test MODULE.wasm --request REQ.json [--settings S.json] [--mutate]
        run an admission policy locally and print the verdict and patch
  test MODULE.wasm --pod POD.yaml --nodes NODES.yaml [--settings S.json]
        run a scheduler filter/score plugin locally and print a table
  push MODULE.wasm [--kubeconfig K] [--policy NAME | --scheduler-plugin NAME] [...]
        upload a module as a WasmModule and optionally register it
  new NAME --lang go|as|wat [--dir DIR] [--sdk PATH]
        scaffold a plugin project

run 'skiff plugin <command> -h' for a command's flags.
`

// Run runs one `skiff plugin` subcommand.
func Run(ctx context.Context, args []string, stdio IO) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdio.Err, usage)
		if len(args) == 0 {
			return errors.New("missing command")
		}
		return flag.ErrHelp
	}
	switch args[0] {
	case "test":
		return runTest(ctx, args[1:], stdio)
	case "push":
		return runPush(ctx, args[1:], stdio)
	case "new":
		return runNew(ctx, args[1:], stdio)
	}
	return fmt.Errorf("unknown command %q (run 'skiff plugin help')", args[0])
}

// parse parses flags that may come before or after positional arguments.
func parse(fs *flag.FlagSet, args []string, stdio IO) ([]string, error) {
	fs.SetOutput(stdio.Err)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
