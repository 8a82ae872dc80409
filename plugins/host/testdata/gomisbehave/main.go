// Command gomisbehave is a Go-built test policy whose behaviour is chosen by
// the request's name: "oom" allocates until memory runs out, "spin" loops
// forever, "panic" panics (the SDK turns that into a policy error), "log"
// logs; anything else is allowed.
package main

import (
	"skiff.dev/plugins/abi"
	"skiff.dev/plugins/sdk"
)

var sink [][]byte

// Validate misbehaves on demand.
func Validate(req sdk.AdmissionRequest, _ struct{}) sdk.Response {
	switch req.Name {
	case "oom":
		for {
			b := make([]byte, 1<<20)
			b[0] = 1
			sink = append(sink, b)
		}
	case "spin":
		for i := 0; ; i++ {
			if i < 0 {
				break
			}
		}
	case "panic":
		panic("boom")
	case "log":
		sdk.Log(abi.LogWarn, "hello from the guest")
	}
	return sdk.Allow()
}

func init() { sdk.HandleValidate(Validate) }

func main() {}
