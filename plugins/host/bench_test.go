package host_test

import (
	"context"
	"testing"
	"time"

	"skiff.dev/plugins/abi"
	"skiff.dev/plugins/host"
	"skiff.dev/plugins/internal/wasmtest"
)

// BenchmarkCall measures the host's share of a call: pool, deadline,
// copying 900 bytes in and out of a guest that echoes them.
func BenchmarkCall(b *testing.B) {
	wasm := wasmtest.WAT(b, "testdata/fixture.wat")
	rt := wasmtest.Runtime(b, host.Options{})
	m, err := rt.Load(context.Background(), "f", wasm)
	if err != nil {
		b.Fatal(err)
	}
	in := make([]byte, 900)
	for i := range in {
		in[i] = 'x'
	}
	var out []byte
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if out, err = m.CallAppend(ctx, abi.ExportValidate, in, out[:0]); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
}
