// Command gosandbox is a Go-built test policy that reports what the
// sandbox lets a real Go program see: it tries the environment, its
// arguments, the host's files and the network (dialing the address given as
// the request's name) and denies with a summary such as
// "env=0 args=0 home= readfile=err readdir=err create=err dial=err".
package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"skiff.dev/plugins/sdk"
)

func errOr(err error, what string) string {
	if err != nil {
		return "err"
	}
	return what
}

// Validate probes the sandbox.
func Validate(req sdk.AdmissionRequest, _ struct{}) sdk.Response {
	var parts []string
	parts = append(parts, fmt.Sprintf("env=%d", len(os.Environ())))
	parts = append(parts, fmt.Sprintf("args=%d", len(os.Args)))
	parts = append(parts, "home="+os.Getenv("HOME"))
	_, err := os.ReadFile("/etc/passwd")
	parts = append(parts, "readfile="+errOr(err, "ok"))
	_, err = os.ReadDir("/")
	parts = append(parts, "readdir="+errOr(err, "ok"))
	f, err := os.Create("/tmp/skiff-sandbox-escape")
	if err == nil {
		f.Close()
	}
	parts = append(parts, "create="+errOr(err, "ok"))
	c, err := net.DialTimeout("tcp", req.Name, time.Second)
	if err == nil {
		c.Close()
	}
	parts = append(parts, "dial="+errOr(err, "ok"))
	return sdk.Deny(strings.Join(parts, " "))
}

func init() { sdk.HandleValidate(Validate) }

func main() {}
