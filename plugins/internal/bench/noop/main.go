// Command noop is a Go admission policy that allows every request without
// reading it: the floor of a Go guest's cost (runtime entry, SDK envelope
// decoding, response encoding). Used by the plugins benchmark.
package main

import "skiff.dev/plugins/sdk"

// Validate allows everything.
func Validate(sdk.AdmissionRequest, struct{}) sdk.Response { return sdk.Allow() }

func init() { sdk.HandleValidate(Validate) }

func main() {}
