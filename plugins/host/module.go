package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"skiff.dev/plugins/abi"
)

// Errors a call can fail with; test with errors.Is. The instance involved
// is discarded in every case.
var (
	// ErrTimeout: the call's context ended (deadline or cancellation).
	ErrTimeout = errors.New("plugin timed out")
	// ErrOutOfMemory: the guest trapped with its memory at the page limit.
	ErrOutOfMemory = errors.New("plugin ran out of memory")
	// ErrTrap: the guest trapped (unreachable, bad memory access, abort, exit…).
	ErrTrap = errors.New("plugin trapped")
	// ErrABI: the guest broke the calling convention (bad pointers, missing export).
	ErrABI = errors.New("plugin broke the ABI")
	// ErrClosed: the module was closed.
	ErrClosed = errors.New("plugin module closed")
)

// Module is a compiled module with a pool of instances. It is safe for
// concurrent use; each call runs in an instance of its own.
type Module struct {
	rt       *Runtime
	name     string
	wr       wazero.Runtime // rt.rt (instrumented) or rt.safe
	compiled wazero.CompiledModule
	// instrumented: the module has the stop global (instrument.go).
	instrumented bool
	exports      map[string]bool
	// sem bounds live instances (and so concurrent calls).
	sem chan struct{}

	mu     sync.Mutex
	idle   []*instance
	closed bool
}

// instance is one instantiated module; never used by two calls at once.
type instance struct {
	mod   api.Module
	mem   api.Memory
	alloc api.Function
	fns   map[string]api.Function
	stack []uint64
	// stop is the instrumented module's stop flag (nil under the safe
	// runtime) and interrupt sets it.
	stop      api.MutableGlobal
	interrupt func()
}

// arm makes the guest trap at its next loop iteration once ctx ends. The
// returned disarm reports false when the stop fired (or is firing): the
// instance must then be discarded. nil means nothing to disarm.
func (in *instance) arm(ctx context.Context) (disarm func() bool) {
	if in.stop == nil || ctx.Done() == nil {
		return nil
	}
	return context.AfterFunc(ctx, in.interrupt)
}

// compile compiles the instrumented module, or the module as it is under
// the safe runtime when it cannot be instrumented.
func (r *Runtime) compile(ctx context.Context, name string, wasm []byte) (wazero.Runtime, wazero.CompiledModule, bool, error) {
	iw, err := instrument(wasm)
	if err == nil {
		var c wazero.CompiledModule
		if c, err = r.rt.CompileModule(ctx, iw); err == nil {
			return r.rt, c, true, nil
		}
	}
	c, serr := r.safe.CompileModule(ctx, wasm)
	if serr != nil {
		return nil, nil, false, serr
	}
	r.opts.Logger.Info("module runs with WithCloseOnContextDone (slower calls)", slog.String("plugin", name), slog.String("reason", err.Error()))
	return r.safe, c, false, nil
}

// Load compiles wasm (reusing cached code), checks that it implements the
// ABI (memory, skiff_alloc, skiff_abi_version == abi.Version) and
// instantiates a first instance, so a bad module fails here with a clear
// error rather than on the first request. name labels logs and errors.
// ctx bounds the module's initialization.
func (r *Runtime) Load(ctx context.Context, name string, wasm []byte) (*Module, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return nil, fmt.Errorf("load module %s: runtime closed: %w", name, ErrClosed)
	}
	wr, compiled, instrumented, err := r.compile(ctx, name, wasm)
	if err != nil {
		return nil, fmt.Errorf("compile module %s: %w", name, err)
	}
	if err := r.checkImports(compiled); err != nil {
		compiled.Close(ctx)
		return nil, fmt.Errorf("module %s: %w", name, err)
	}
	m := &Module{
		rt:           r,
		name:         name,
		wr:           wr,
		compiled:     compiled,
		instrumented: instrumented,
		exports:      map[string]bool{},
		sem:          make(chan struct{}, r.opts.MaxInstances),
	}
	for n := range compiled.ExportedFunctions() {
		m.exports[n] = true
	}
	delete(m.exports, startExport)
	if len(compiled.ExportedMemories()) == 0 {
		compiled.Close(ctx)
		return nil, fmt.Errorf("module %s: %w: no exported memory", name, ErrABI)
	}
	for _, n := range []string{abi.ExportAlloc, abi.ExportABIVersion} {
		if !m.exports[n] {
			compiled.Close(ctx)
			return nil, fmt.Errorf("module %s: %w: missing export %q", name, ErrABI, n)
		}
	}
	inst, err := m.instantiate(ctx)
	if err != nil {
		compiled.Close(ctx)
		return nil, err
	}
	v, err := inst.call0(ctx, abi.ExportABIVersion)
	if err == nil && v != abi.Version {
		err = fmt.Errorf("%w: module implements ABI version %d, host supports %d", ErrABI, v, abi.Version)
	}
	if err != nil {
		inst.close(ctx)
		compiled.Close(ctx)
		return nil, fmt.Errorf("module %s: %w", name, err)
	}
	if m.exports[abi.ExportCapabilities] {
		caps, err := inst.call0(ctx, abi.ExportCapabilities)
		if err != nil {
			inst.close(ctx)
			compiled.Close(ctx)
			return nil, fmt.Errorf("module %s: %s: %w", name, abi.ExportCapabilities, classify(err, inst.mem, r.opts.MemoryLimitPages))
		}
		for _, c := range abi.CapabilityExports {
			if caps&c.Bit == 0 {
				delete(m.exports, c.Export)
			}
		}
	}
	m.idle = append(m.idle, inst)
	return m, nil
}

// Name returns the name the module was loaded with.
func (m *Module) Name() string { return m.name }

// InUse returns how many calls are running (or instantiating) right now.
func (m *Module) InUse() int { return len(m.sem) }

// Has reports whether the module exports a function (for entry points:
// and serves it, per skiff_capabilities).
func (m *Module) Has(export string) bool { return m.exports[export] }

// Close closes the module; calls in flight fail, later calls get
// ErrClosed. Closing twice is harmless.
func (m *Module) Close(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	idle := m.idle
	m.idle, m.closed = nil, true
	m.mu.Unlock()
	for _, in := range idle {
		in.close(ctx)
	}
	return m.compiled.Close(ctx)
}

// Instrumented modules are instantiated without start functions, which
// then run with the stop armed.
func (m *Module) instantiate(ctx context.Context) (*instance, error) {
	cfg := m.rt.newModuleConfig(m.name)
	if m.instrumented {
		cfg = cfg.WithStartFunctions()
	}
	mod, err := m.wr.InstantiateModule(context.WithValue(ctx, ctxKey{}, m.name), m.compiled, cfg)
	if err != nil {
		return nil, fmt.Errorf("instantiate module %s: %w", m.name, classify(err, nil, m.rt.opts.MemoryLimitPages))
	}
	in := &instance{
		mod:   mod,
		mem:   mod.Memory(),
		alloc: mod.ExportedFunction(abi.ExportAlloc),
		fns:   map[string]api.Function{},
		stack: make([]uint64, 2),
	}
	if in.mem == nil || in.alloc == nil {
		mod.Close(ctx)
		return nil, fmt.Errorf("module %s: %w: missing memory or %s", m.name, ErrABI, abi.ExportAlloc)
	}
	if !m.instrumented {
		return in, nil
	}
	stop, ok := mod.ExportedGlobal(stopExport).(api.MutableGlobal)
	if !ok {
		mod.Close(ctx)
		return nil, fmt.Errorf("module %s: instrumentation global missing", m.name)
	}
	in.stop, in.interrupt = stop, func() { stop.Set(1) }
	for _, name := range []string{startExport, abi.ExportInitialize} {
		f := mod.ExportedFunction(name)
		if f == nil {
			continue
		}
		disarm := in.arm(ctx)
		_, err := f.Call(context.WithValue(ctx, ctxKey{}, m.name))
		if disarm != nil && !disarm() {
			mod.Close(ctx)
			return nil, fmt.Errorf("instantiate module %s: %s: %w: %w", m.name, name, ErrTimeout, context.Cause(ctx))
		}
		if err != nil {
			mod.Close(ctx)
			return nil, fmt.Errorf("instantiate module %s: %s: %w", m.name, name, classify(err, in.mem, m.rt.opts.MemoryLimitPages))
		}
	}
	return in, nil
}

func (in *instance) close(ctx context.Context) { in.mod.Close(ctx) }

// get takes an idle instance or creates one, waiting for a free slot.
func (m *Module) get(ctx context.Context) (*instance, error) {
	select {
	case m.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("module %s: waiting for an instance: %w: %w", m.name, ErrTimeout, ctx.Err())
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		<-m.sem
		return nil, fmt.Errorf("module %s: %w", m.name, ErrClosed)
	}
	if n := len(m.idle); n > 0 {
		in := m.idle[n-1]
		m.idle = m.idle[:n-1]
		m.mu.Unlock()
		return in, nil
	}
	m.mu.Unlock()
	// Instantiate detached from the caller: if the caller gives up first,
	// the new instance still joins the pool for the next call, so a slow
	// instantiation on a loaded machine cannot make every call time out.
	type result struct {
		in  *instance
		err error
	}
	ch := make(chan result, 1)
	go func() {
		ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), instantiateTimeout)
		defer cancel()
		in, err := m.instantiate(ictx)
		ch <- result{in, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			<-m.sem
			return nil, r.err
		}
		return r.in, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.err == nil {
				m.put(context.Background(), r.in, true)
			} else {
				<-m.sem
			}
		}()
		return nil, fmt.Errorf("module %s: waiting for a new instance: %w: %w", m.name, ErrTimeout, ctx.Err())
	}
}

// instantiateTimeout bounds creating one instance (a Go module's runtime
// initialization takes a few ms; this only stops a pathological start
// function).
const instantiateTimeout = 30 * time.Second

// put returns a healthy instance to the pool, or discards a broken one.
func (m *Module) put(ctx context.Context, in *instance, healthy bool) {
	m.mu.Lock()
	if healthy && !m.closed {
		m.idle = append(m.idle, in)
		in = nil
	}
	m.mu.Unlock()
	if in != nil {
		in.close(context.WithoutCancel(ctx))
	}
	<-m.sem
}

// Call runs one entry point: it copies input into guest memory through
// skiff_alloc, calls export(ptr, len) and returns a copy of the result the
// guest points to. ctx bounds the call; when it ends the instance is
// interrupted and discarded (ErrTimeout). Any trap discards the instance
// too, so the next call gets a fresh one.
func (m *Module) Call(ctx context.Context, export string, input []byte) (out []byte, err error) {
	return m.CallAppend(ctx, export, input, nil)
}

// CallAppend is Call appending the result to dst (which may share its
// backing array with input: input is in guest memory before the result is
// appended), so a caller can reuse one buffer for both.
func (m *Module) CallAppend(ctx context.Context, export string, input, dst []byte) (out []byte, err error) {
	if !m.exports[export] {
		return nil, fmt.Errorf("module %s: %w: no export %q", m.name, ErrABI, export)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("module %s: %s: %w: %w", m.name, export, ErrTimeout, err)
	}
	in, err := m.get(ctx)
	if err != nil {
		return nil, err
	}
	healthy := false
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("module %s: %s: %w: host panic: %v", m.name, export, ErrTrap, p)
			healthy = false
		}
		m.put(ctx, in, healthy)
	}()
	disarm := in.arm(ctx)
	out, err = in.call(context.WithValue(ctx, ctxKey{}, m.name), export, input, dst)
	if disarm != nil && !disarm() {
		// Interrupted, or finished just as the deadline passed: the
		// instance may be in any state, so it goes.
		if err != nil {
			return nil, fmt.Errorf("module %s: %s: %w: %w", m.name, export, ErrTimeout, context.Cause(ctx))
		}
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("module %s: %s: %w", m.name, export, classify(err, in.mem, m.rt.opts.MemoryLimitPages))
	}
	healthy = true
	return out, nil
}

// CallI32 calls a no-argument export returning i32 (e.g. skiff_node_fields).
func (m *Module) CallI32(ctx context.Context, export string) (v uint32, err error) {
	if !m.exports[export] {
		return 0, fmt.Errorf("module %s: %w: no export %q", m.name, ErrABI, export)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("module %s: %s: %w: %w", m.name, export, ErrTimeout, err)
	}
	in, err := m.get(ctx)
	if err != nil {
		return 0, err
	}
	healthy := false
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("module %s: %s: %w: host panic: %v", m.name, export, ErrTrap, p)
			healthy = false
		}
		m.put(ctx, in, healthy)
	}()
	disarm := in.arm(ctx)
	v, err = in.call0(context.WithValue(ctx, ctxKey{}, m.name), export)
	if disarm != nil && !disarm() {
		if err != nil {
			return 0, fmt.Errorf("module %s: %s: %w: %w", m.name, export, ErrTimeout, context.Cause(ctx))
		}
		return v, nil
	}
	if err != nil {
		return 0, fmt.Errorf("module %s: %s: %w", m.name, export, classify(err, in.mem, m.rt.opts.MemoryLimitPages))
	}
	healthy = true
	return v, nil
}

func (in *instance) fn(name string) (api.Function, error) {
	f, ok := in.fns[name]
	if !ok {
		f = in.mod.ExportedFunction(name)
		in.fns[name] = f
	}
	if f == nil {
		return nil, fmt.Errorf("%w: no export %q", ErrABI, name)
	}
	return f, nil
}

func (in *instance) call0(ctx context.Context, name string) (uint32, error) {
	f, err := in.fn(name)
	if err != nil {
		return 0, err
	}
	if len(f.Definition().ParamTypes()) != 0 || len(f.Definition().ResultTypes()) != 1 {
		return 0, fmt.Errorf("%w: %s must have type () -> i32", ErrABI, name)
	}
	in.stack[0] = 0
	if err := f.CallWithStack(ctx, in.stack); err != nil {
		return 0, err
	}
	return uint32(in.stack[0]), nil
}

func (in *instance) call(ctx context.Context, name string, input, dst []byte) ([]byte, error) {
	f, err := in.fn(name)
	if err != nil {
		return nil, err
	}
	def := f.Definition()
	if len(def.ParamTypes()) != 2 || len(def.ResultTypes()) != 1 || def.ResultTypes()[0] != api.ValueTypeI64 {
		return nil, fmt.Errorf("%w: %s must have type (i32, i32) -> i64", ErrABI, name)
	}
	// Allocate in the guest and copy the input in.
	in.stack[0] = uint64(len(input))
	if err := in.alloc.CallWithStack(ctx, in.stack); err != nil {
		return nil, err
	}
	ptr := uint32(in.stack[0])
	if len(input) > 0 {
		if ptr == 0 {
			return nil, fmt.Errorf("%w: %s(%d) returned 0", ErrABI, abi.ExportAlloc, len(input))
		}
		if !in.mem.Write(ptr, input) {
			return nil, fmt.Errorf("%w: %s(%d) returned %d, outside memory of %d bytes", ErrABI, abi.ExportAlloc, len(input), ptr, in.mem.Size())
		}
	}
	in.stack[0], in.stack[1] = uint64(ptr), uint64(len(input))
	if err := f.CallWithStack(ctx, in.stack); err != nil {
		return nil, err
	}
	rp, rn := abi.Unpack(in.stack[0])
	b, ok := in.mem.Read(rp, rn)
	if !ok {
		return nil, fmt.Errorf("%w: result [%d, +%d) outside memory of %d bytes", ErrABI, rp, rn, in.mem.Size())
	}
	return append(dst, b...), nil
}

// classify maps a wazero error to one of the package's sentinel errors.
func classify(err error, mem api.Memory, limitPages uint32) error {
	if errors.Is(err, ErrABI) {
		return err
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded, sys.ExitCodeContextCanceled:
			return fmt.Errorf("%w: %w", ErrTimeout, err)
		}
	}
	if mem != nil && limitPages > 0 {
		// A guest whose allocator found memory.grow failing traps (Go
		// guests with "unreachable"); memory near the cap says why. Go
		// grows its heap in 4 MiB arenas, hence the margin.
		const margin = 64 // pages, 4 MiB
		if pages := mem.Size() / 65536; pages+margin >= limitPages {
			return fmt.Errorf("%w (%d of %d pages): %w", ErrOutOfMemory, pages, limitPages, err)
		}
	}
	return fmt.Errorf("%w: %w", ErrTrap, err)
}

// ErrInvalidSettings reports settings a module's validate_settings rejected.
var ErrInvalidSettings = errors.New("invalid settings")

// CheckSettings passes settings to the module's validate_settings export
// (when it has one) and returns an ErrInvalidSettings error with the
// module's message if they are rejected.
func CheckSettings(ctx context.Context, m *Module, settings []byte) error {
	if !m.Has(abi.ExportValidateSettings) {
		return nil
	}
	out, err := m.Call(ctx, abi.ExportValidateSettings, settings)
	if err != nil {
		return fmt.Errorf("validate settings: %w", err)
	}
	var res abi.SettingsOutput
	if err := json.Unmarshal(out, &res); err != nil {
		return fmt.Errorf("validate settings: %w: result is not JSON: %w", ErrABI, err)
	}
	if !res.Valid {
		msg := res.Message
		if msg == "" {
			msg = "rejected without a message"
		}
		return fmt.Errorf("%w: %s", ErrInvalidSettings, msg)
	}
	return nil
}
