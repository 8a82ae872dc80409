package host

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Interrupting a guest: wazero's WithCloseOnContextDone makes compiled code
// leave native code for Go at every loop iteration, to check whether the
// module was closed and to let the Go scheduler preempt the goroutine
// (native code cannot be preempted: a guest that never comes back to Go
// stalls the garbage collector's stop-the-world), and starts a goroutine
// per call to watch the context. For a Go-built guest, whose every function
// is a loop, that multiplies the cost of a call several times.
//
// Instead, the host rewrites each module once at load. It adds two mutable
// i32 globals, $fuel (starts at fuelPerExit) and $stop (exported as
// stopExport), and before every branch back to a loop (br, br_if and
// br_table to a loop label, a try_table catch to a loop label) and every
// tail call (return_call*, which can loop without growing the stack):
//
//	if (global.get $fuel) == 0 {
//	    drop(memory.grow 0)           ;; a cheap exit to Go: a preemption point
//	    if (global.get $stop) { unreachable }
//	    global.set $fuel fuelPerExit
//	}
//	global.set $fuel (global.get $fuel) - 1
//
// so the guest comes back to Go once every fuelPerExit iterations instead of
// at each one, and entering a loop costs nothing (Go's wasm backend makes
// every function body a loop, entered once per call). A call arms a
// context.AfterFunc that sets $stop; the guest traps at its next exit, and
// the host reports ErrTimeout and discards the instance. Code without back
// edges always ends and recursion ends in a stack overflow trap, so this
// stops any guest. A module the rewriter does not understand runs under
// WithCloseOnContextDone instead.

// fuelPerExit is how many loop iterations a guest runs between two exits to
// Go: the exit costs ~0.1 µs, so its share stays tiny, while a stop request
// or a garbage collection waits for at most that many iterations.
const fuelPerExit = 4096

// stopExport names the global added by instrument. The dot keeps it out of
// the way of names a toolchain would generate.
const stopExport = "skiff.stop"

// startExport names the module's start function, which instrument turns
// into an export so that it runs with the stop armed.
const startExport = "skiff.start"

// Section ids (WebAssembly core spec, binary format).
const (
	secCustom   = 0
	secImport   = 2
	secGlobal   = 6
	secExport   = 7
	secStart    = 8
	secElement  = 9
	secCode     = 10
	secData     = 11
	secDataCnt  = 12
	wasmHdrSize = 8
)

var errInstrument = errors.New("cannot instrument module")

// instrument returns wasm with the stop global and loop checks added.
func instrument(wasm []byte) ([]byte, error) {
	if len(wasm) < wasmHdrSize || !bytes.Equal(wasm[:4], []byte("\x00asm")) || binary.LittleEndian.Uint32(wasm[4:8]) != 1 {
		return nil, fmt.Errorf("%w: not a WebAssembly 1.0 binary", errInstrument)
	}
	var secs []section
	r := &reader{b: wasm, i: wasmHdrSize}
	for r.i < len(r.b) {
		id := r.byte()
		n := r.u32()
		p := r.bytes(int(n))
		if r.err != nil {
			return nil, fmt.Errorf("%w: section %d: %w", errInstrument, id, r.err)
		}
		if id == secCustom && isDebugSection(p) {
			// DWARF describes code offsets the rewrite shifts: drop it
			// rather than have traps report wrong source lines.
			continue
		}
		secs = append(secs, section{id, p})
	}
	// Count globals: imported first, then defined; ours is the next index.
	var importedGlobals, definedGlobals uint32
	globalSec, exportSec := -1, -1
	for i, s := range secs {
		switch s.id {
		case secImport:
			n, err := countGlobalImports(s.payload)
			if err != nil {
				return nil, fmt.Errorf("%w: import section: %w", errInstrument, err)
			}
			importedGlobals = n
		case secGlobal:
			globalSec = i
			gr := &reader{b: s.payload}
			definedGlobals = gr.u32()
			if gr.err != nil {
				return nil, fmt.Errorf("%w: global section: %w", errInstrument, gr.err)
			}
		case secExport:
			exportSec = i
		}
	}
	stop := importedGlobals + definedGlobals
	// A start function would run inside instantiation, before the host can
	// arm the stop: export it instead (startExport) and let the host call it.
	var startExp []byte
	for i, s := range secs {
		if s.id == secStart {
			sr := &reader{b: s.payload}
			fn := sr.u32()
			if sr.err != nil {
				return nil, fmt.Errorf("%w: start section: %w", errInstrument, sr.err)
			}
			startExp = appendName(nil, startExport)
			startExp = append(startExp, 0x00) // func
			startExp = appendU32(startExp, fn)
			secs = append(secs[:i], secs[i+1:]...)
			if exportSec > i {
				exportSec--
			}
			if globalSec > i {
				globalSec--
			}
			break
		}
	}
	// The globals: $fuel = fuelPerExit and $stop = 0, both i32 and mutable.
	fuel := stop
	stop++
	global := []byte{0x7f, 0x01, 0x41}
	global = appendS32(global, fuelPerExit)
	global = append(global, 0x0b, 0x7f, 0x01, 0x41, 0x00, 0x0b)
	if globalSec >= 0 {
		gr := &reader{b: secs[globalSec].payload}
		gr.u32()
		secs[globalSec].payload = append(appendU32(nil, definedGlobals+2), append(gr.b[gr.i:len(gr.b):len(gr.b)], global...)...)
	} else {
		secs = insertBefore(secs, section{secGlobal, append(appendU32(nil, 2), global...)},
			secExport, secStart, secElement, secDataCnt, secCode, secData)
		if exportSec >= 0 {
			exportSec++
		}
	}
	export := appendName(nil, stopExport)
	export = append(export, 0x03) // global
	export = appendU32(export, stop)
	exports := uint32(1)
	if startExp != nil {
		export = append(export, startExp...)
		exports++
	}
	if exportSec >= 0 {
		er := &reader{b: secs[exportSec].payload}
		n := er.u32()
		if er.err != nil {
			return nil, fmt.Errorf("%w: export section: %w", errInstrument, er.err)
		}
		if bytes.Contains(er.b[er.i:], []byte("skiff.")) {
			return nil, fmt.Errorf("%w: module already exports names starting with \"skiff.\"", errInstrument)
		}
		secs[exportSec].payload = append(appendU32(nil, n+exports), append(er.b[er.i:len(er.b):len(er.b)], export...)...)
	} else {
		secs = insertBefore(secs, section{secExport, append(appendU32(nil, exports), export...)},
			secStart, secElement, secDataCnt, secCode, secData)
	}
	check := []byte{0x23} // global.get $fuel
	check = appendU32(check, fuel)
	check = append(check, 0x45, 0x04, 0x40)             // i32.eqz if
	check = append(check, 0x41, 0x00, 0x40, 0x00, 0x1a) // drop(memory.grow 0)
	check = append(check, 0x23)                         // global.get $stop
	check = appendU32(check, stop)
	check = append(check, 0x04, 0x40, 0x00, 0x0b) // if unreachable end
	check = append(check, 0x41)                   // i32.const fuelPerExit
	check = appendS32(check, fuelPerExit)
	check = append(check, 0x24) // global.set $fuel
	check = appendU32(check, fuel)
	check = append(check, 0x0b, 0x23) // end global.get $fuel
	check = appendU32(check, fuel)
	check = append(check, 0x41, 0x01, 0x6b, 0x24) // i32.const 1 i32.sub global.set $fuel
	check = appendU32(check, fuel)
	out := make([]byte, 0, len(wasm)+len(wasm)/8+64)
	out = append(out, wasm[:wasmHdrSize]...)
	for _, s := range secs {
		p := s.payload
		if s.id == secCode {
			var err error
			if p, err = instrumentCode(p, check); err != nil {
				return nil, fmt.Errorf("%w: code section: %w", errInstrument, err)
			}
		}
		out = append(out, s.id)
		out = appendU32(out, uint32(len(p)))
		out = append(out, p...)
	}
	return out, nil
}

type section struct {
	id      byte
	payload []byte
}

// insertBefore inserts s before the first section whose id is in later
// (sections that must follow it), or at the end.
func insertBefore(secs []section, s section, later ...byte) []section {
	for i := range secs {
		if bytes.IndexByte(later, secs[i].id) >= 0 {
			return append(secs[:i], append([]section{s}, secs[i:]...)...)
		}
	}
	return append(secs, s)
}

// isDebugSection reports whether a custom section is DWARF (".debug_*").
func isDebugSection(p []byte) bool {
	r := &reader{b: p}
	name := r.bytes(int(r.u32()))
	return r.err == nil && bytes.HasPrefix(name, []byte(".debug_"))
}

// countGlobalImports counts global imports in an import section.
func countGlobalImports(p []byte) (uint32, error) {
	r := &reader{b: p}
	n := r.u32()
	var globals uint32
	for range n {
		r.bytes(int(r.u32())) // module
		r.bytes(int(r.u32())) // name
		switch kind := r.byte(); kind {
		case 0x00: // func: type index
			r.u32()
		case 0x01: // table: reftype, limits
			r.byte()
			r.limits()
		case 0x02: // memory: limits
			r.limits()
		case 0x03: // global: valtype, mut
			r.byte()
			r.byte()
			globals++
		case 0x04: // tag: attribute, type index
			r.byte()
			r.u32()
		default:
			return 0, fmt.Errorf("unknown import kind %#x", kind)
		}
		if r.err != nil {
			return 0, r.err
		}
	}
	return globals, r.err
}

// instrumentCode copies a code section, inserting check after the block
// type of every loop instruction and fixing the body sizes.
func instrumentCode(p, check []byte) ([]byte, error) {
	r := &reader{b: p}
	n := r.u32()
	out := make([]byte, 0, len(p)+len(p)/8)
	out = appendU32(out, n)
	var body []byte
	for i := range n {
		size := r.u32()
		fb := r.bytes(int(size))
		if r.err != nil {
			return nil, fmt.Errorf("function %d: %w", i, r.err)
		}
		var err error
		if body, err = instrumentBody(body[:0], fb, check); err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	if r.i != len(r.b) {
		return nil, errors.New("trailing bytes")
	}
	return out, nil
}

func instrumentBody(out, fb, check []byte) ([]byte, error) {
	r := &reader{b: fb}
	// Locals: vec of (count, valtype).
	for range r.u32() {
		r.u32()
		r.valtype()
	}
	if r.err != nil {
		return nil, r.err
	}
	// loops is the control stack, true for loop frames; the function body
	// is the outermost frame.
	loops := []bool{false}
	toLoop := func(label uint32) bool {
		return int(label) < len(loops) && loops[len(loops)-1-int(label)]
	}
	copied := 0
	for r.i < len(r.b) && r.err == nil {
		start := r.i
		backEdge := false
		op := r.byte()
		switch {
		case op == 0x02 || op == 0x04 || op == 0x06: // block, if, try
			r.blockType()
			loops = append(loops, false)
		case op == 0x03: // loop
			r.blockType()
			loops = append(loops, true)
		case op == 0x0b || op == 0x18: // end, delegate
			if op == 0x18 {
				r.u32()
			}
			if len(loops) == 0 {
				return nil, errors.New("unbalanced end")
			}
			loops = loops[:len(loops)-1]
		case op == 0x0c || op == 0x0d: // br, br_if
			backEdge = toLoop(r.u32())
		case op == 0x12 || op == 0x13: // return_call, return_call_indirect: may loop without growing the stack
			r.u32()
			if op == 0x13 {
				r.u32()
			}
			backEdge = true
		case op <= 0x01, op == 0x05, op == 0x0a, op == 0x0f, op == 0x19, op == 0x1a, op == 0x1b, op == 0xd1:
			// unreachable, nop, else, throw_ref, return, catch_all, drop, select, ref.is_null
		case op == 0x07 || op == 0x08 || op == 0x09 || op == 0x10 ||
			(op >= 0x20 && op <= 0x26) || op == 0x3f || op == 0x40 || op == 0xd2:
			// catch, throw, rethrow, call, local/global get/set/tee,
			// table.get/set, memory.size/grow, ref.func
			r.u32()
		case op == 0x0e: // br_table
			for range r.u32() {
				backEdge = toLoop(r.u32()) || backEdge
			}
			backEdge = toLoop(r.u32()) || backEdge
		case op == 0x11: // call_indirect
			r.u32()
			r.u32()
		case op == 0x1c: // select t*
			for range r.u32() {
				r.valtype()
			}
		case op == 0x1f: // try_table: a catch may branch back to a loop
			r.blockType()
			for range r.u32() {
				switch k := r.byte(); k {
				case 0x00, 0x01:
					r.u32()
					backEdge = toLoop(r.u32()) || backEdge
				case 0x02, 0x03:
					backEdge = toLoop(r.u32()) || backEdge
				default:
					return nil, fmt.Errorf("try_table: unknown catch kind %#x", k)
				}
			}
			loops = append(loops, false)
		case op >= 0x28 && op <= 0x3e: // loads and stores
			r.memarg()
		case op == 0x41:
			r.sleb(32)
		case op == 0x42:
			r.sleb(64)
		case op == 0x43:
			r.bytes(4)
		case op == 0x44:
			r.bytes(8)
		case op >= 0x45 && op <= 0xc4: // numeric, no immediates
		case op == 0xd0: // ref.null
			r.heapType()
		case op == 0xfc:
			switch sub := r.u32(); {
			case sub <= 7:
			case sub == 8, sub == 10, sub == 12, sub == 14: // memory.init, memory.copy, table.init, table.copy
				r.u32()
				r.u32()
			case sub == 9, sub == 11, sub == 13, sub == 15, sub == 16, sub == 17:
				r.u32()
			default:
				return nil, fmt.Errorf("unknown instruction 0xfc %d", sub)
			}
		case op == 0xfd:
			switch sub := r.u32(); {
			case sub <= 11 || sub == 92 || sub == 93: // v128 loads and stores
				r.memarg()
			case sub == 12 || sub == 13: // v128.const, i8x16.shuffle
				r.bytes(16)
			case sub >= 21 && sub <= 34: // extract/replace lane
				r.byte()
			case sub >= 84 && sub <= 91: // load/store lane
				r.memarg()
				r.byte()
			case sub <= 0x113:
			default:
				return nil, fmt.Errorf("unknown instruction 0xfd %d", sub)
			}
		case op == 0xfe:
			switch sub := r.u32(); {
			case sub == 3: // atomic.fence
				r.byte()
			case sub <= 2 || (sub >= 0x10 && sub <= 0x4e):
				r.memarg()
			default:
				return nil, fmt.Errorf("unknown instruction 0xfe %d", sub)
			}
		default:
			return nil, fmt.Errorf("unknown opcode %#x at %d", op, r.i-1)
		}
		if backEdge && r.err == nil {
			out = append(out, r.b[copied:start]...)
			out = append(out, check...)
			copied = start
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(loops) != 0 {
		return nil, errors.New("unbalanced blocks")
	}
	return append(out, r.b[copied:]...), nil
}

// reader decodes the binary format; the first error sticks.
type reader struct {
	b   []byte
	i   int
	err error
}

var errShort = errors.New("unexpected end")

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.i >= len(r.b) {
		r.err = errShort
		return 0
	}
	c := r.b[r.i]
	r.i++
	return c
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.i {
		r.err = errShort
		return nil
	}
	p := r.b[r.i : r.i+n]
	r.i += n
	return p
}

func (r *reader) uleb(bits uint) uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if shift >= bits+7 {
			r.err = errors.New("LEB128 too long")
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
}

func (r *reader) u32() uint32 { return uint32(r.uleb(32)) }

func (r *reader) sleb(bits uint) {
	for shift := uint(0); ; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return
		}
		if shift >= bits+7 {
			r.err = errors.New("LEB128 too long")
			return
		}
		if c&0x80 == 0 {
			return
		}
	}
}

func (r *reader) limits() {
	flags := r.byte()
	r.uleb(64)
	if flags&1 != 0 {
		r.uleb(64)
	}
}

func (r *reader) memarg() {
	align := r.u32()
	if align&0x40 != 0 { // multi-memory: memory index follows
		r.u32()
	}
	r.uleb(64)
}

func isValType(c byte) bool {
	switch c {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		return true
	}
	return false
}

func (r *reader) valtype() {
	if c := r.byte(); r.err == nil && !isValType(c) {
		r.err = fmt.Errorf("unsupported value type %#x", c)
	}
}

// blockType reads 0x40, a value type, or a type index (s33).
func (r *reader) blockType() {
	if r.i < len(r.b) && (r.b[r.i] == 0x40 || isValType(r.b[r.i])) {
		r.i++
		return
	}
	r.sleb(33)
}

func (r *reader) heapType() {
	if r.i < len(r.b) && (r.b[r.i] == 0x70 || r.b[r.i] == 0x6f) {
		r.i++
		return
	}
	r.sleb(33)
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendName(b []byte, s string) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}
