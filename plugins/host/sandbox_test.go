package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"skiff.dev/plugins/abi"
	"skiff.dev/plugins/host"
	"skiff.dev/plugins/internal/wasmtest"
)

// WASI errno values (wasi_snapshot_preview1).
const (
	errnoSuccess = 0
)

// TestSandboxGivesNoHostAccess runs testdata/sandbox.wat, whose probes try
// every way out of the sandbox WASI offers: environment, arguments,
// preopened directories, path_open from any descriptor, writes to any
// descriptor beyond stdout/stderr, sockets, CPU-time clocks and sleeping.
func TestSandboxGivesNoHostAccess(t *testing.T) {
	var logs syncBuffer
	rt := newRuntime(t, host.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	m := load(t, rt, wasmtest.WAT(t, "testdata/sandbox.wat"))
	type check func(v uint32) bool
	is := func(want uint32) check { return func(v uint32) bool { return v == want } }
	not := func(bad uint32) check { return func(v uint32) bool { return v != bad } }
	tests := []struct {
		probe string
		what  string
		ok    check
	}{
		{"probe_environ", "environment variables + bytes (want 0)", is(0)},
		{"probe_args", "arguments + bytes (want 0)", is(0)},
		{"probe_preopens", "preopened directories among fds 3..1023 (want 0)", is(0)},
		{"probe_path_open", "path_open successes from fds 0..1023 (want 0)", is(0)},
		{"probe_path_open_errno", "errno of path_open(3, /etc/passwd) (want an error)", not(errnoSuccess)},
		{"probe_stat", "errno of path_filestat_get(3, /etc/passwd) (want an error)", not(errnoSuccess)},
		{"probe_write_fds", "successful writes to fds 3..1023 (want 0)", is(0)},
		{"probe_sockets", "successful sock_accept/recv/send on fds 0..63 (want 0)", is(0)},
		{"probe_stdin", "bytes read from stdin (want 0)", is(0)},
		{"probe_stdout", "errno of a write to stdout (want success: it is logged)", is(errnoSuccess)},
		{"probe_clock_realtime", "errno of the wall clock (want success)", is(errnoSuccess)},
		{"probe_clock_monotonic", "errno of the monotonic clock (want success)", is(errnoSuccess)},
		{"probe_clock_process", "errno of the process CPU-time clock (want an error)", not(errnoSuccess)},
		{"probe_clock_thread", "errno of the thread CPU-time clock (want an error)", not(errnoSuccess)},
		{"probe_random", "errno of random_get (want success)", is(errnoSuccess)},
	}
	for _, tc := range tests {
		t.Run(tc.probe, func(t *testing.T) {
			v, err := m.CallI32(callCtx(t, 30*time.Second), tc.probe)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.ok(v) {
				t.Fatalf("%s: got %d", tc.what, v)
			}
		})
	}
	if !strings.Contains(logs.String(), "hello") {
		t.Errorf("stdout did not reach the log: %q", logs.String())
	}

	t.Run("sleep returns at once", func(t *testing.T) {
		start := time.Now()
		v, err := m.CallI32(callCtx(t, 30*time.Second), "probe_sleep")
		if err != nil || v != errnoSuccess {
			t.Fatalf("poll_oneoff = %d, %v", v, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("a 10 s poll_oneoff took %v: the guest can sleep", d)
		}
	})
	t.Run("proc_exit is a trap", func(t *testing.T) {
		if _, err := m.CallI32(callCtx(t, 30*time.Second), "probe_exit"); !errors.Is(err, host.ErrTrap) {
			t.Fatalf("proc_exit: %v, want ErrTrap", err)
		}
		// The instance that exited is gone; a fresh one still works.
		if v, err := m.CallI32(callCtx(t, 30*time.Second), "probe_environ"); err != nil || v != 0 {
			t.Fatalf("after proc_exit: %d, %v", v, err)
		}
	})
}

// TestSandboxGoGuest checks the sandbox from a real Go guest's point of
// view (testdata/gosandbox reports what the os and net packages see): the
// host's environment, arguments, files and network are out of reach.
func TestSandboxGoGuest(t *testing.T) {
	t.Setenv("SKIFF_SANDBOX_SECRET", "visible-to-the-host-only")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	const escape = "/tmp/skiff-sandbox-escape"
	_, statErr := os.Stat(escape)
	existed := statErr == nil

	rt := newRuntime(t, host.Options{})
	m := load(t, rt, wasmtest.Go(t, "host/testdata/gosandbox"))
	in, _ := json.Marshal(map[string]any{"request": map[string]any{"uid": "1", "name": ln.Addr().String(), "operation": "CREATE"}})
	out, err := m.Call(callCtx(t, 30*time.Second), abi.ExportValidate, in)
	if err != nil {
		t.Fatal(err)
	}
	var res abi.AdmissionOutput
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("bad result %q: %v", out, err)
	}
	const want = "env=0 args=0 home= readfile=err readdir=err create=err dial=err"
	if res.Message != want {
		t.Fatalf("the guest saw %q, want %q", res.Message, want)
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("the guest opened %d connections", n)
	}
	if _, err := os.Stat(escape); err == nil && !existed {
		os.Remove(escape)
		t.Fatalf("the guest created %s", escape)
	}
}

// TestLoadRejectsImportsOutsideTheABI: a module may import only skiff.log,
// env.abort and WASI preview 1 functions, with their signatures; anything
// else fails Load with an ErrABI error that names the import.
func TestLoadRejectsImportsOutsideTheABI(t *testing.T) {
	rt := newRuntime(t, host.Options{})
	tests := []struct {
		file string
		want []string
	}{
		{"testdata/import-env.wat", []string{`env.system`, "not provided to plugins"}},
		{"testdata/import-module.wat", []string{`wasi_unstable.fd_write`, "not provided to plugins"}},
		{"testdata/import-skiff.wat", []string{`skiff.exec`, "not provided to plugins"}},
		{"testdata/import-wasi.wat", []string{`wasi_snapshot_preview1.sock_open`, "not provided to plugins"}},
		{"testdata/import-memory.wat", []string{`memory env.memory`, "must define and export its own memory"}},
		{"testdata/import-signature.wat", []string{`skiff.log with signature (i64) -> (i32), the host provides (i32, i32, i32) -> ()`}},
	}
	for _, tc := range tests {
		t.Run(strings.TrimSuffix(strings.TrimPrefix(tc.file, "testdata/"), ".wat"), func(t *testing.T) {
			_, err := rt.Load(context.Background(), "m", wasmtest.WAT(t, tc.file))
			if err == nil {
				t.Fatal("loaded")
			}
			if !errors.Is(err, host.ErrABI) {
				t.Errorf("error is not ErrABI: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
