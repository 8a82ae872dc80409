package host

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"skiff.dev/plugins/abi"
)

const abiExports = `
  (memory (export "memory") 2)
  (func (export "skiff_abi_version") (result i32) (i32.const 1))
  (func (export "skiff_alloc") (param i32) (result i32) (i32.const 65536))
`

// TestInstrumentedGuestsStop checks that every kind of back edge is
// interrupted by the deadline, and that instrumented modules run normally.
func TestInstrumentedGuestsStop(t *testing.T) {
	tests := []struct {
		name, body string
	}{
		{"br", `(loop $l (br $l))`},
		{"br_if", `(loop $l (br_if $l (i32.const 1)))`},
		{"br_table", `(loop $l (block $b (br_table $l $b (i32.const 0))))`},
		{"nested loops", `(loop $o (loop $i (br_if $i (i32.const 1))) (br $o))`},
		{"call in loop", `(loop $l (call $f) (br $l))`},
	}
	rt, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := `(module` + abiExports + `
  (func $f)
  (func (export "validate") (param $p i32) (param $n i32) (result i64)
    (if (i32.eqz (local.get $n)) (then (return (i64.const 0))))
    ` + tc.body + `
    (i64.const 0)))`
			m := loadWAT(t, rt, src)
			if !m.instrumented {
				t.Fatal("module was not instrumented")
			}
			if _, err := m.Call(context.Background(), abi.ExportValidate, nil); err != nil {
				t.Fatalf("call without input: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := m.Call(ctx, abi.ExportValidate, []byte("x"))
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("Call = %v, want ErrTimeout", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("interrupted after %v", d)
			}
			// The next call gets a fresh instance.
			if _, err := m.Call(context.Background(), abi.ExportValidate, nil); err != nil {
				t.Fatalf("call after timeout: %v", err)
			}
		})
	}
	t.Run("start function", func(t *testing.T) {
		src := `(module` + abiExports + `
  (func $start (loop $l (br $l)))
  (start $start))`
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := rt.Load(ctx, "m", watBytes(t, src))
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("Load = %v, want ErrTimeout", err)
		}
	})
}

func TestInstrumentRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("\x00asm"), []byte("\x00asm\x01\x00\x00\x00\x0a\x05\x01\x03\x00\xff\x0b")} {
		if _, err := instrument(b); err == nil {
			t.Errorf("instrument(%q) succeeded", b)
		}
	}
}

func TestLoadAfterClose(t *testing.T) {
	rt, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	rt.Close(context.Background())
	if _, err := rt.Load(context.Background(), "m", []byte("\x00asm\x01\x00\x00\x00")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Load after Close = %v, want ErrClosed", err)
	}
}

func watBytes(t *testing.T, src string) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.wat")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	bin, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Skip("wat2wasm not installed (apt-get install wabt); skipping")
	}
	out := p + ".wasm"
	if b, err := exec.Command(bin, p, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadWAT(t *testing.T, rt *Runtime, src string) *Module {
	t.Helper()
	m, err := rt.Load(context.Background(), "m", watBytes(t, src))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return m
}
