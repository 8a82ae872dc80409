package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"skiff.dev/plugins/abi"
	"skiff.dev/plugins/host"
	"skiff.dev/plugins/internal/wasmtest"
)

func newRuntime(t *testing.T, opts host.Options) *host.Runtime {
	t.Helper()
	return wasmtest.Runtime(t, opts)
}

func load(t *testing.T, rt *host.Runtime, wasm []byte) *host.Module {
	t.Helper()
	m, err := rt.Load(context.Background(), wasmtest.Name(wasm), wasm)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func callCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestLoadRejectsBadModules(t *testing.T) {
	rt := newRuntime(t, host.Options{MemoryLimitPages: 256})
	tests := []struct {
		name string
		wasm func(t *testing.T) []byte
		want string
	}{
		{"corrupt bytes", func(*testing.T) []byte { return []byte("\x00asm\x01\x00\x00\x00garbage") }, "compile module"},
		{"not wasm", func(*testing.T) []byte { return []byte("hello world") }, "compile module"},
		{"empty", func(*testing.T) []byte { return nil }, "compile module"},
		{"bad ABI version", func(t *testing.T) []byte { return wasmtest.WAT(t, "testdata/badversion.wat") }, "ABI version 99"},
		{"missing alloc", func(t *testing.T) []byte { return wasmtest.WAT(t, "testdata/noalloc.wat") }, `missing export "skiff_alloc"`},
		{"memory over limit", func(t *testing.T) []byte { return wasmtest.WAT(t, "testdata/hugememory.wat") }, "compile module"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rt.Load(context.Background(), "m", tc.wasm(t))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestCallBehaviours(t *testing.T) {
	rt := newRuntime(t, host.Options{MemoryLimitPages: 256})
	m := load(t, rt, wasmtest.WAT(t, "testdata/fixture.wat"))
	tests := []struct {
		name    string
		input   string
		timeout time.Duration
		wantErr error
	}{
		{"echo", "hello", 30 * time.Second, nil},
		{"loop times out", "loop", 200 * time.Millisecond, host.ErrTimeout},
		{"trap", "trap", 30 * time.Second, host.ErrTrap},
		{"out of memory", "mem", 30 * time.Second, host.ErrOutOfMemory},
		{"result out of bounds", "bounds", 30 * time.Second, host.ErrABI},
		{"large input", strings.Repeat("x", 3<<20), 30 * time.Second, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := m.Call(callCtx(t, tc.timeout), abi.ExportValidate, []byte(tc.input))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if string(out) != tc.input {
				t.Fatalf("echo returned %d bytes, want %d", len(out), len(tc.input))
			}
			// Whatever happened, the next call gets a healthy instance.
			out, err = m.Call(callCtx(t, 30*time.Second), abi.ExportValidate, []byte("again"))
			if err != nil || string(out) != "again" {
				t.Fatalf("next call = %q, %v; want a clean instance echoing", out, err)
			}
		})
	}
	if _, err := m.Call(callCtx(t, time.Second), "nope", nil); !errors.Is(err, host.ErrABI) {
		t.Fatalf("missing export: %v", err)
	}
}

func TestConcurrentCallsDoNotSerialize(t *testing.T) {
	rt := newRuntime(t, host.Options{MaxInstances: 4})
	m := load(t, rt, wasmtest.WAT(t, "testdata/fixture.wat"))
	// Two calls spin until they are cancelled; while they hold instances,
	// other calls must still complete on further instances.
	loopCtx, stopLoops := context.WithTimeout(context.Background(), 60*time.Second)
	defer stopLoops()
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := m.Call(loopCtx, abi.ExportValidate, []byte("loop")); !errors.Is(err, host.ErrTimeout) {
				t.Errorf("looping call: %v, want ErrTimeout", err)
			}
		}()
	}
	waitInUse(t, m, 2)
	started := time.Now()
	for range 20 {
		if _, err := m.Call(callCtx(t, 30*time.Second), abi.ExportValidate, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(started); el > 20*time.Second {
		t.Fatalf("20 calls beside two looping ones took %v: calls are serialized", el)
	}
	stopLoops()
	wg.Wait()
}

func TestPoolWaitHonoursContext(t *testing.T) {
	rt := newRuntime(t, host.Options{MaxInstances: 1})
	m := load(t, rt, wasmtest.WAT(t, "testdata/fixture.wat"))
	loopCtx, stopLoop := context.WithTimeout(context.Background(), 60*time.Second)
	defer stopLoop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Call(loopCtx, abi.ExportValidate, []byte("loop"))
	}()
	waitInUse(t, m, 1) // the looping call holds the only instance
	_, err := m.Call(callCtx(t, 100*time.Millisecond), abi.ExportValidate, []byte("x"))
	stopLoop()
	<-done
	if !errors.Is(err, host.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	// The slot is free again.
	if _, err := m.Call(callCtx(t, 30*time.Second), abi.ExportValidate, []byte("x")); err != nil {
		t.Fatal(err)
	}
}

// waitInUse polls until n calls hold instances of m.
func waitInUse(t *testing.T, m *host.Module, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for m.InUse() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls in use, want %d", m.InUse(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestGoGuest(t *testing.T) {
	var logs syncBuffer
	rt := newRuntime(t, host.Options{MemoryLimitPages: 256, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	m := load(t, rt, wasmtest.Go(t, "host/testdata/gomisbehave"))
	call := func(name string, timeout time.Duration) (abi.AdmissionOutput, error) {
		in, _ := json.Marshal(map[string]any{"request": map[string]any{"uid": "1", "name": name, "operation": "CREATE"}})
		out, err := m.Call(callCtx(t, timeout), abi.ExportValidate, in)
		var res abi.AdmissionOutput
		if err == nil {
			if jerr := json.Unmarshal(out, &res); jerr != nil {
				t.Fatalf("bad result %q: %v", out, jerr)
			}
		}
		return res, err
	}
	tests := []struct {
		name      string
		timeout   time.Duration
		wantErr   error
		wantError string
	}{
		{"ok", 30 * time.Second, nil, ""},
		{"oom", 60 * time.Second, host.ErrOutOfMemory, ""},
		{"spin", 300 * time.Millisecond, host.ErrTimeout, ""},
		{"panic", 30 * time.Second, nil, "panic: boom"},
		{"log", 30 * time.Second, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := call(tc.name, tc.timeout)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if res.Error != tc.wantError || (tc.wantError == "" && !res.Allowed) {
				t.Fatalf("result = %+v", res)
			}
			if res, err := call("ok", 30*time.Second); err != nil || !res.Allowed {
				t.Fatalf("next call = %+v, %v", res, err)
			}
		})
	}
	if !strings.Contains(logs.String(), "hello from the guest") {
		t.Fatalf("guest log missing from host log:\n%s", logs.String())
	}
}
