// Package host runs skiff Wasm plugins: it compiles modules with wazero's
// compiler (and a compilation cache), keeps a pool of instances per module
// so concurrent calls run in parallel, caps each call with a deadline (a
// stop flag the host adds to the module and the guest checks on loop back
// edges, see instrument.go; WithCloseOnContextDone for modules it cannot
// rewrite) and each instance's memory with a page limit,
// and discards any instance that trapped, timed out or ran out of memory.
// Guests get only harmless WASI: clocks, random, stdout/stderr to the log;
// no files, network, environment or arguments.
//
// The admission engine (skiff.dev/plugins/admission) and the scheduler
// bridge (skiff.dev/plugins/scheduling) are built on it; the calling
// convention is described in docs/plugins/ABI.md.
//
//	rt, err := host.New(ctx, host.Options{Logger: log})
//	mod, err := rt.Load(ctx, "sha256-…", wasmBytes)
//	out, err := mod.Call(ctx, abi.ExportValidate, input) // pooled, per-call timeout via ctx
package host

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"skiff.dev/plugins/abi"
)

// Options configures a Runtime.
type Options struct {
	// Logger receives guest log output and runtime events (default: discard).
	Logger *slog.Logger
	// MemoryLimitPages caps each instance's linear memory in 64 KiB pages
	// (default 512 = 32 MiB; a Go guest needs at least 42).
	MemoryLimitPages uint32
	// MaxInstances caps the instances of one module, i.e. its concurrent
	// calls (default 2×GOMAXPROCS, at least 4).
	MaxInstances int
	// CacheDir, when set, keeps compiled code on disk across restarts;
	// otherwise the compilation cache is in memory.
	CacheDir string
}

// Validate checks the options.
func (o *Options) Validate() error {
	if o.MemoryLimitPages > 65536 {
		return fmt.Errorf("memory limit %d pages exceeds 4 GiB", o.MemoryLimitPages)
	}
	if o.MaxInstances < 0 {
		return fmt.Errorf("max instances must not be negative")
	}
	return nil
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MemoryLimitPages == 0 {
		o.MemoryLimitPages = 512
	}
	if o.MaxInstances == 0 {
		o.MaxInstances = max(4, 2*runtime.GOMAXPROCS(0))
	}
}

// Runtime compiles and runs modules. It is safe for concurrent use.
type Runtime struct {
	opts  Options
	cache wazero.CompilationCache
	// rt runs instrumented modules (see instrument.go): no per-call
	// goroutine, no exit to Go at every loop iteration. safe runs, under
	// WithCloseOnContextDone, the modules the instrumenter cannot rewrite.
	rt, safe wazero.Runtime

	mu     sync.RWMutex // guards closed against Load
	closed bool
}

// New starts a runtime.
func New(ctx context.Context, opts Options) (*Runtime, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("host options: %w", err)
	}
	opts.defaults()
	var cache wazero.CompilationCache
	if opts.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(opts.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("compilation cache %s: %w", opts.CacheDir, err)
		}
		cache = c
	} else {
		cache = wazero.NewCompilationCache()
	}
	cfg := wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(cache).
		WithMemoryLimitPages(opts.MemoryLimitPages)
	r := &Runtime{opts: opts, cache: cache,
		rt:   wazero.NewRuntimeWithConfig(ctx, cfg),
		safe: wazero.NewRuntimeWithConfig(ctx, cfg.WithCloseOnContextDone(true)),
	}
	for _, wr := range []wazero.Runtime{r.rt, r.safe} {
		if err := r.instantiateImports(ctx, wr); err != nil {
			r.rt.Close(ctx)
			r.safe.Close(ctx)
			cache.Close(ctx)
			return nil, err
		}
	}
	return r, nil
}

// instantiateImports provides WASI and skiff's host functions to wr.
func (r *Runtime) instantiateImports(ctx context.Context, wr wazero.Runtime) error {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, wr); err != nil {
		return fmt.Errorf("instantiate wasi: %w", err)
	}
	if _, err := wr.NewHostModuleBuilder(abi.ImportModule).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(r.hostLog),
		[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, nil).
		WithParameterNames("level", "ptr", "len").Export(abi.ImportLog).
		Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiate host module: %w", err)
	}
	// AssemblyScript's default abort import; it traps.
	if _, err := wr.NewHostModuleBuilder("env").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(hostAbort),
		[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, nil).
		Export("abort").Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiate env module: %w", err)
	}
	return nil
}

// Close releases the runtime and every module loaded by it.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.rt.Close(ctx)
	if cerr := r.safe.Close(ctx); err == nil {
		err = cerr
	}
	if cerr := r.cache.Close(ctx); err == nil {
		err = cerr
	}
	return err
}

// MemoryLimitPages returns the per-instance memory cap in pages.
func (r *Runtime) MemoryLimitPages() uint32 { return r.opts.MemoryLimitPages }

type ctxKey struct{}

// maxLogLine bounds one guest log message.
const maxLogLine = 4096

func (r *Runtime) hostLog(ctx context.Context, m api.Module, stack []uint64) {
	level, ptr, n := int32(stack[0]), uint32(stack[1]), uint32(stack[2])
	truncated := false
	if n > maxLogLine {
		n, truncated = maxLogLine, true
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		panic(fmt.Errorf("log: range [%d, %d) out of memory bounds", ptr, uint64(ptr)+uint64(n)))
	}
	msg := string(b)
	if truncated {
		msg += "…"
	}
	lvl := slog.LevelInfo
	switch level {
	case abi.LogDebug:
		lvl = slog.LevelDebug
	case abi.LogWarn:
		lvl = slog.LevelWarn
	case abi.LogError:
		lvl = slog.LevelError
	}
	name, _ := ctx.Value(ctxKey{}).(string)
	r.opts.Logger.Log(ctx, lvl, msg, slog.String("plugin", name))
}

func hostAbort(ctx context.Context, m api.Module, stack []uint64) {
	panic(errors.New("abort called"))
}

// logWriter turns a guest's stdout/stderr into log lines, bounded.
type logWriter struct {
	log    *slog.Logger
	module string
	stream string
}

func (w logWriter) Write(p []byte) (int, error) {
	s := string(p)
	if len(s) > maxLogLine {
		s = s[:maxLogLine] + "…"
	}
	if s = strings.TrimRight(s, "\n"); s != "" {
		w.log.Info(s, slog.String("plugin", w.module), slog.String("stream", w.stream))
	}
	return len(p), nil
}

var _ io.Writer = logWriter{}

// newModuleConfig is the sandbox of one instance: no args, env or files;
// real clocks and crypto randomness; output to the log.
func (r *Runtime) newModuleConfig(name string) wazero.ModuleConfig {
	return wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(abi.ExportInitialize).
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(rand.Reader).
		WithStdout(logWriter{r.opts.Logger, name, "stdout"}).
		WithStderr(logWriter{r.opts.Logger, name, "stderr"})
}
