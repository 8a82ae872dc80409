//go:build !wasip1

package sdk

import (
	"fmt"
	"os"
)

// Log writes a message to stderr when the policy runs natively (tests).
func Log(level int32, msg string) { fmt.Fprintf(os.Stderr, "plugin log [%d]: %s\n", level, msg) }
