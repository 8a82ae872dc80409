// Package wasmtest builds Wasm modules for tests: Go packages with the
// wasip1 toolchain (cached per test process, since a build takes seconds),
// WAT sources with wat2wasm, and AssemblyScript with asc. A missing
// toolchain skips the test with a clear message.
package wasmtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"skiff.dev/plugins/host"
)

// builds caches Go module builds per test process, keyed by package path.
var builds sync.Map // string -> *goBuild

type goBuild struct {
	once sync.Once
	wasm []byte
	err  error
	out  string
}

// PluginsRoot returns the directory of the skiff.dev/plugins module.
func PluginsRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("wasmtest: cannot locate source")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Go builds the Go package dir (relative to the plugins module, e.g.
// "examples/requiredlabels") as a wasip1 c-shared module.
func Go(t testing.TB, dir string) []byte {
	t.Helper()
	root := PluginsRoot(t)
	v, _ := builds.LoadOrStore(dir, &goBuild{})
	b := v.(*goBuild)
	b.once.Do(func() {
		tmp, err := os.MkdirTemp("", "skiff-wasm-")
		if err != nil {
			b.err = err
			return
		}
		defer os.RemoveAll(tmp)
		outFile := filepath.Join(tmp, "m.wasm")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", outFile, "./"+dir)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.err, b.out = err, string(out)
			return
		}
		b.wasm, b.err = os.ReadFile(outFile)
	})
	if b.err != nil {
		t.Fatalf("wasmtest: go build %s: %v\n%s", dir, b.err, b.out)
	}
	return b.wasm
}

// WAT compiles a .wat file with wat2wasm.
func WAT(t testing.TB, path string) []byte {
	t.Helper()
	bin, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Skip("wat2wasm not installed (apt-get install wabt); skipping WAT module test")
	}
	out := filepath.Join(t.TempDir(), "m.wasm")
	cmd := exec.Command(bin, path, "-o", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm %s: %v\n%s", path, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ASC returns the AssemblyScript compiler, or skips the test.
func ASC(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("asc"); err == nil {
		return p
	}
	p := filepath.Join(PluginsRoot(t), "..", "hack", "node", "node_modules", ".bin", "asc")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	t.Skip("AssemblyScript compiler not found (run: cd hack/node && npm install); skipping")
	return ""
}

// AssemblyScript compiles an AssemblyScript file with asc using the flags
// docs/plugins/ABI.md recommends.
func AssemblyScript(t testing.TB, path string) []byte {
	t.Helper()
	asc := ASC(t)
	out := filepath.Join(t.TempDir(), "m.wasm")
	cmd := exec.Command(asc, path, "-o", out, "--runtime", "stub", "-O3", "--noAssert")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("asc %s: %v\n%s", path, err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Name returns the content address of a module: "sha256-<hex>".
func Name(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return "sha256-" + hex.EncodeToString(sum[:])
}

// CacheDir is a wazero compilation cache shared by the test processes of
// this module: entries are content-addressed and written atomically, and
// compiling a Go-built module takes seconds on a loaded machine.
func CacheDir() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("skiff-wasmtest-cache-%d", os.Getuid()))
}

// Runtime returns a host runtime using CacheDir, closed at cleanup.
func Runtime(t testing.TB, opts host.Options) *host.Runtime {
	t.Helper()
	if opts.CacheDir == "" {
		opts.CacheDir = CacheDir()
	}
	rt, err := host.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	return rt
}
