package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"unsafe"
)

// BatchMagic starts every scheduling batch: the bytes "SKB1".
const BatchMagic uint32 = 0x31424b53

// Node field groups a scheduling module can ask for by exporting
// skiff_node_fields() -> i32 (a bitmask). Without that export the host
// sends all of them.
const (
	FieldResources uint32 = 1 << iota // allocatable and requested cpu, memory, pods
	FieldExtended                     // extended resources (e.g. nvidia.com/gpu)
	FieldLabels                       // node labels
	FieldTaints                       // node taints
	FieldAll       = FieldResources | FieldExtended | FieldLabels | FieldTaints
)

// Filter result codes, as in the kube-scheduler framework.
const (
	FilterSuccess                      uint32 = 0
	FilterUnschedulable                uint32 = 1
	FilterUnschedulableAndUnresolvable uint32 = 2
)

// Result status words for filter and score results.
const (
	StatusOK    uint32 = 0
	StatusError uint32 = 1
)

// Quantity is one named extended resource amount.
type Quantity struct {
	Name  string
	Value int64
}

// ExtendedResource is an extended resource of a node.
type ExtendedResource struct {
	Name        string
	Allocatable int64
	Requested   int64
}

// Label is a node label.
type Label struct{ Key, Value string }

// Taint is a node taint.
type Taint struct{ Key, Value, Effect string }

// Resources are the core resources of a node or pod: milli-CPU, memory
// bytes and pod count.
type Resources struct {
	MilliCPU int64
	Memory   int64
	Pods     int64
}

// Node is one candidate node of a batch.
type Node struct {
	Name        string
	Allocatable Resources
	Requested   Resources
	Extended    []ExtendedResource
	Labels      []Label
	Taints      []Taint
}

// Batch is the input of the filter and score entry points: one pod and
// many nodes.
type Batch struct {
	// Fields says which node field groups are present.
	Fields uint32
	// Pod is the pod as Kubernetes JSON (core/v1 Pod).
	Pod []byte
	// Settings is the plugin's settings JSON (may be empty).
	Settings []byte
	// PodRequests are the pod's effective requests (init containers and
	// overhead included), computed by the host.
	PodRequests Resources
	// PodExtended are the pod's extended resource requests.
	PodExtended []Quantity
	Nodes       []Node

	// dirty are the node field groups that a previous DecodeBatch into
	// this Batch may have left set in Nodes (up to its capacity);
	// DecodeBatch clears those not in Fields once, so that the per-node
	// loop need not.
	dirty uint32
}

// Writer appends little-endian primitives to a buffer.
type Writer struct{ B []byte }

// U32 appends a uint32.
func (w *Writer) U32(v uint32) { w.B = binary.LittleEndian.AppendUint32(w.B, v) }

// I64 appends an int64.
func (w *Writer) I64(v int64) { w.B = binary.LittleEndian.AppendUint64(w.B, uint64(v)) }

// Str appends a length-prefixed string.
func (w *Writer) Str(s string) { w.U32(uint32(len(s))); w.B = append(w.B, s...) }

// Bytes appends length-prefixed bytes.
func (w *Writer) Bytes(b []byte) { w.U32(uint32(len(b))); w.B = append(w.B, b...) }

// AppendBatch encodes b (only the node field groups in b.Fields) onto dst.
func AppendBatch(dst []byte, b *Batch) []byte {
	w := Writer{B: AppendBatchHeader(dst, b)}
	w.U32(uint32(len(b.Nodes)))
	for i := range b.Nodes {
		AppendNode(&w, b.Fields, &b.Nodes[i])
	}
	return w.B
}

// AppendBatchHeader encodes everything before the node count: magic,
// fields, pod, settings and pod requests. Encoders that build nodes on the
// fly follow it with the node count and AppendNode per node.
func AppendBatchHeader(dst []byte, b *Batch) []byte {
	w := Writer{B: dst}
	w.U32(BatchMagic)
	w.U32(b.Fields)
	w.Bytes(b.Pod)
	w.Bytes(b.Settings)
	w.I64(b.PodRequests.MilliCPU)
	w.I64(b.PodRequests.Memory)
	w.I64(b.PodRequests.Pods)
	w.U32(uint32(len(b.PodExtended)))
	for _, q := range b.PodExtended {
		w.Str(q.Name)
		w.I64(q.Value)
	}
	return w.B
}

// AppendNode encodes one node's record with the given field groups.
func AppendNode(w *Writer, fields uint32, n *Node) {
	w.Str(n.Name)
	if fields&FieldResources != 0 {
		w.I64(n.Allocatable.MilliCPU)
		w.I64(n.Allocatable.Memory)
		w.I64(n.Allocatable.Pods)
		w.I64(n.Requested.MilliCPU)
		w.I64(n.Requested.Memory)
		w.I64(n.Requested.Pods)
	}
	if fields&FieldExtended != 0 {
		w.U32(uint32(len(n.Extended)))
		for _, e := range n.Extended {
			w.Str(e.Name)
			w.I64(e.Allocatable)
			w.I64(e.Requested)
		}
	}
	if fields&FieldLabels != 0 {
		w.U32(uint32(len(n.Labels)))
		for _, l := range n.Labels {
			w.Str(l.Key)
			w.Str(l.Value)
		}
	}
	if fields&FieldTaints != 0 {
		w.U32(uint32(len(n.Taints)))
		for _, t := range n.Taints {
			w.Str(t.Key)
			w.Str(t.Value)
			w.Str(t.Effect)
		}
	}
}

// ErrShort reports a truncated buffer.
var ErrShort = errors.New("abi: buffer too short")

// Reader consumes little-endian primitives from a buffer. The first error
// sticks; check Err after reading.
type Reader struct {
	B   []byte
	Err error
	// ZeroCopy makes Str return strings that alias B instead of copies
	// (the guest SDK's choice: B lives for the whole call).
	ZeroCopy bool
}

func (r *Reader) take(n int) []byte {
	if r.Err != nil {
		return nil
	}
	if n < 0 || len(r.B) < n {
		r.Err = ErrShort
		return nil
	}
	b := r.B[:n:n]
	r.B = r.B[n:]
	return b
}

// U32 reads a uint32.
func (r *Reader) U32() uint32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

// I64 reads an int64.
func (r *Reader) I64() int64 {
	b := r.take(8)
	if b == nil {
		return 0
	}
	return int64(binary.LittleEndian.Uint64(b))
}

// Bytes reads length-prefixed bytes (aliasing the buffer).
func (r *Reader) Bytes() []byte {
	n := r.U32()
	if n > math.MaxInt32 {
		r.Err = ErrShort
		return nil
	}
	return r.take(int(n))
}

// Str reads a length-prefixed string. It is the decoder's hot path (node
// names and labels), so the common case avoids the generic helpers.
func (r *Reader) Str() string {
	if r.Err == nil && len(r.B) >= 4 {
		n := uint64(binary.LittleEndian.Uint32(r.B))
		if n+4 <= uint64(len(r.B)) {
			b := r.B[4 : 4+n : 4+n]
			r.B = r.B[4+n:]
			if n == 0 {
				return ""
			}
			if r.ZeroCopy {
				return unsafe.String(&b[0], len(b))
			}
			return string(b)
		}
	}
	if r.Err == nil {
		r.Err = ErrShort
	}
	return ""
}

// count reads an element count and checks it against the bytes left, each
// element taking at least min bytes, so a corrupt count cannot make the
// decoder allocate unbounded memory.
func (r *Reader) count(min int) int {
	n := r.U32()
	if r.Err == nil && uint64(n)*uint64(min) > uint64(len(r.B)) {
		r.Err = ErrShort
		return 0
	}
	return int(n)
}

// DecodeBatch decodes a batch into b, reusing the capacity of b's slices
// (a guest decodes every cycle into the same Batch, which keeps its garbage
// collector idle); strings alias r.B when r.ZeroCopy is set.
func DecodeBatch(r *Reader, b *Batch) error {
	if m := r.U32(); r.Err == nil && m != BatchMagic {
		return fmt.Errorf("abi: bad batch magic %#x", m)
	}
	b.Fields = r.U32()
	b.Pod = r.Bytes()
	b.Settings = r.Bytes()
	b.PodRequests = Resources{MilliCPU: r.I64(), Memory: r.I64(), Pods: r.I64()}
	n := r.count(12)
	b.PodExtended = resize(b.PodExtended, n)
	for i := range b.PodExtended {
		b.PodExtended[i] = Quantity{Name: r.Str(), Value: r.I64()}
	}
	nn := r.count(4)
	b.Nodes = resize(b.Nodes, nn)
	if r.Err == nil {
		if stale := b.dirty &^ b.Fields; stale != 0 {
			clearGroups(b.Nodes[:cap(b.Nodes)], stale)
		}
		b.dirty = b.Fields
		switch {
		case b.Fields == FieldResources && r.ZeroCopy:
			r.B, r.Err = decodeResourceNodes(r.B, b.Nodes)
		case b.Fields == FieldExtended && r.ZeroCopy:
			r.B, r.Err = decodeExtendedNodes(r.B, b.Nodes)
		default:
			r.B, r.Err = decodeNodes(r.B, b.Fields, r.ZeroCopy, b.Nodes)
		}
	}
	if r.Err != nil {
		return fmt.Errorf("abi: decode batch: %w", r.Err)
	}
	return nil
}

// cut splits a length-prefixed field off buf. It is small enough to be
// inlined: the node loop is the guest's hot path, and in a Go guest every
// call and every taken branch is dear.
func cut(buf []byte) (field, rest []byte, ok bool) {
	if len(buf) < 4 {
		return nil, nil, false
	}
	n := uint64(binary.LittleEndian.Uint32(buf))
	if n > uint64(len(buf)-4) {
		return nil, nil, false
	}
	return buf[4 : 4+n : 4+n], buf[4+n:], true
}

// str makes a string of b, aliasing it when zeroCopy is set.
func str(b []byte, zeroCopy bool) string {
	if zeroCopy {
		return unsafe.String(unsafe.SliceData(b), len(b))
	}
	return string(b)
}

// decodeNodes decodes len(nodes) node records from buf into nodes (reusing
// their slices' capacity) and returns the bytes after them. Groups not in
// fields must be clear already (see Batch.dirty).
//
// The loop is kept small and each variable group decodes in a function of
// its own: a Go guest (GOARCH=wasm) runs a small loop calling small
// functions much faster than one large function.
func decodeNodes(buf []byte, fields uint32, zeroCopy bool, nodes []Node) ([]byte, error) {
	le := binary.LittleEndian
	res, ext, lab, tnt := fields&FieldResources != 0, fields&FieldExtended != 0, fields&FieldLabels != 0, fields&FieldTaints != 0
	var f []byte
	var ok bool
	for i := range nodes {
		n := &nodes[i]
		if f, buf, ok = cut(buf); !ok {
			return nil, ErrShort
		}
		n.Name = str(f, zeroCopy)
		if res {
			if len(buf) < 48 {
				return nil, ErrShort
			}
			x := buf[:48:48]
			n.Allocatable = Resources{MilliCPU: int64(le.Uint64(x)), Memory: int64(le.Uint64(x[8:])), Pods: int64(le.Uint64(x[16:]))}
			n.Requested = Resources{MilliCPU: int64(le.Uint64(x[24:])), Memory: int64(le.Uint64(x[32:])), Pods: int64(le.Uint64(x[40:]))}
			buf = buf[48:]
		}
		if ext {
			// Most nodes have none: no call then.
			if len(buf) >= 4 && le.Uint32(buf) == 0 {
				n.Extended, buf = n.Extended[:0], buf[4:]
			} else if buf, ok = decodeExtended(buf, zeroCopy, n); !ok {
				return nil, ErrShort
			}
		}
		if lab {
			if buf, ok = decodeLabels(buf, zeroCopy, n); !ok {
				return nil, ErrShort
			}
		}
		if tnt {
			// Most nodes have none: no call then.
			if len(buf) >= 4 && le.Uint32(buf) == 0 {
				n.Taints, buf = n.Taints[:0], buf[4:]
			} else if buf, ok = decodeTaints(buf, zeroCopy, n); !ok {
				return nil, ErrShort
			}
		}
	}
	return buf, nil
}

func decodeExtended(buf []byte, zeroCopy bool, n *Node) ([]byte, bool) {
	c, buf, ok := count(buf, 20)
	if !ok {
		return nil, false
	}
	if c == 0 {
		n.Extended = n.Extended[:0]
		return buf, true
	}
	n.Extended = resize(n.Extended, c)
	var f []byte
	for j := range n.Extended {
		e := &n.Extended[j]
		if f, buf, ok = cut(buf); !ok || len(buf) < 16 {
			return nil, false
		}
		e.Name, e.Allocatable, e.Requested = str(f, zeroCopy), int64(binary.LittleEndian.Uint64(buf)), int64(binary.LittleEndian.Uint64(buf[8:]))
		buf = buf[16:]
	}
	return buf, true
}

func decodeLabels(buf []byte, zeroCopy bool, n *Node) ([]byte, bool) {
	c, buf, ok := count(buf, 8)
	if !ok {
		return nil, false
	}
	n.Labels = resize(n.Labels, c)
	var k, v []byte
	for j := range n.Labels {
		if k, buf, ok = cut(buf); !ok {
			return nil, false
		}
		if v, buf, ok = cut(buf); !ok {
			return nil, false
		}
		n.Labels[j] = Label{Key: str(k, zeroCopy), Value: str(v, zeroCopy)}
	}
	return buf, true
}

func decodeTaints(buf []byte, zeroCopy bool, n *Node) ([]byte, bool) {
	c, buf, ok := count(buf, 12)
	if !ok {
		return nil, false
	}
	n.Taints = resize(n.Taints, c)
	var k, v, e []byte
	for j := range n.Taints {
		if k, buf, ok = cut(buf); !ok {
			return nil, false
		}
		if v, buf, ok = cut(buf); !ok {
			return nil, false
		}
		if e, buf, ok = cut(buf); !ok {
			return nil, false
		}
		n.Taints[j] = Taint{Key: str(k, zeroCopy), Value: str(v, zeroCopy), Effect: str(e, zeroCopy)}
	}
	return buf, true
}

// clearGroups empties the given field groups of nodes.
func clearGroups(nodes []Node, groups uint32) {
	for i := range nodes {
		n := &nodes[i]
		if groups&FieldResources != 0 {
			n.Allocatable, n.Requested = Resources{}, Resources{}
		}
		if groups&FieldExtended != 0 {
			n.Extended = n.Extended[:0]
		}
		if groups&FieldLabels != 0 {
			n.Labels = n.Labels[:0]
		}
		if groups&FieldTaints != 0 {
			n.Taints = n.Taints[:0]
		}
	}
}

// decodeResourceNodes is decodeNodes for the commonest batch, names and
// resources only, with zero-copy names: two length checks and eight stores
// per node.
func decodeResourceNodes(buf []byte, nodes []Node) ([]byte, error) {
	le := binary.LittleEndian
	for i := range nodes {
		if len(buf) < 4 {
			return nil, ErrShort
		}
		l := uint64(le.Uint32(buf))
		if l+52 > uint64(len(buf)) {
			return nil, ErrShort
		}
		x := buf[4+l : 52+l : 52+l]
		n := &nodes[i]
		n.Name = unsafe.String(unsafe.SliceData(buf[4:]), int(l))
		n.Allocatable = Resources{MilliCPU: int64(le.Uint64(x)), Memory: int64(le.Uint64(x[8:])), Pods: int64(le.Uint64(x[16:]))}
		n.Requested = Resources{MilliCPU: int64(le.Uint64(x[24:])), Memory: int64(le.Uint64(x[32:])), Pods: int64(le.Uint64(x[40:]))}
		buf = buf[52+l:]
	}
	return buf, nil
}

// decodeExtendedNodes is decodeNodes for names and extended resources
// only (GPU filters), with zero-copy names; nodes without extended
// resources cost no call.
func decodeExtendedNodes(buf []byte, nodes []Node) ([]byte, error) {
	le := binary.LittleEndian
	var ok bool
	for i := range nodes {
		if len(buf) < 4 {
			return nil, ErrShort
		}
		l := uint64(le.Uint32(buf))
		if l+8 > uint64(len(buf)) {
			return nil, ErrShort
		}
		n := &nodes[i]
		n.Name = unsafe.String(unsafe.SliceData(buf[4:]), int(l))
		buf = buf[4+l:]
		if le.Uint32(buf) == 0 {
			n.Extended, buf = n.Extended[:0], buf[4:]
		} else if buf, ok = decodeExtended(buf, true, n); !ok {
			return nil, ErrShort
		}
	}
	return buf, nil
}

// count reads an element count from buf, checked against the bytes left
// (each element takes at least min bytes).
func count(buf []byte, min int) (int, []byte, bool) {
	if len(buf) < 4 {
		return 0, nil, false
	}
	n := uint64(binary.LittleEndian.Uint32(buf))
	if n*uint64(min) > uint64(len(buf)-4) {
		return 0, nil, false
	}
	return int(n), buf[4:], true
}

// resize returns s with length n, reusing its capacity.
func resize[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return append(s[:cap(s)], make([]T, n-cap(s))...)
}

// FilterResult is the verdict of a filter for one node.
type FilterResult struct {
	Code   uint32
	Reason string
}

// AppendFilterResults encodes filter results (status OK), growing dst
// once.
func AppendFilterResults(dst []byte, rs []FilterResult) []byte {
	size := 8 + 8*len(rs)
	for i := range rs {
		size += len(rs[i].Reason)
	}
	off := len(dst)
	dst = slices.Grow(dst, size)[:off+size]
	le := binary.LittleEndian
	le.PutUint32(dst[off:], StatusOK)
	le.PutUint32(dst[off+4:], uint32(len(rs)))
	out := dst[off+8:]
	for i := range rs {
		r := &rs[i]
		x := out[: 8+len(r.Reason) : 8+len(r.Reason)]
		le.PutUint32(x, r.Code)
		le.PutUint32(x[4:], uint32(len(r.Reason)))
		if len(r.Reason) > 0 {
			copy(x[8:], r.Reason)
		}
		out = out[len(x):]
	}
	return dst
}

// AppendScores encodes score results (status OK).
func AppendScores(dst []byte, scores []int64) []byte {
	off := len(dst)
	dst = slices.Grow(dst, 8+8*len(scores))[:off+8+8*len(scores)]
	le := binary.LittleEndian
	le.PutUint32(dst[off:], StatusOK)
	le.PutUint32(dst[off+4:], uint32(len(scores)))
	out := dst[off+8:]
	for i, s := range scores {
		le.PutUint64(out[8*i:], uint64(s))
	}
	return dst
}

// AppendError encodes a failed filter or score result.
func AppendError(dst []byte, msg string) []byte {
	w := Writer{B: dst}
	w.U32(StatusError)
	w.B = append(w.B, msg...)
	return w.B
}

// GuestError is an error a module reported in its result.
type GuestError struct{ Message string }

func (e *GuestError) Error() string { return "plugin error: " + e.Message }

// decodeStatus reads the status word; a non-OK status yields a *GuestError.
func decodeStatus(r *Reader) error {
	st := r.U32()
	if r.Err != nil {
		return fmt.Errorf("abi: decode result: %w", r.Err)
	}
	if st != StatusOK {
		return &GuestError{Message: string(r.B)}
	}
	return nil
}

// DecodeFilterResults decodes a filter result buffer.
func DecodeFilterResults(buf []byte) ([]FilterResult, error) {
	r := &Reader{B: buf}
	if err := decodeStatus(r); err != nil {
		return nil, err
	}
	out := make([]FilterResult, r.count(8))
	if err := decodeFilterResults(r, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DecodeFilterResultsInto decodes a filter result buffer into rs, which
// must have exactly as many entries as the result. Reasons are copied.
func DecodeFilterResultsInto(rs []FilterResult, buf []byte) error {
	r := &Reader{B: buf}
	if err := decodeStatus(r); err != nil {
		return err
	}
	if n := r.count(8); r.Err == nil && n != len(rs) {
		return fmt.Errorf("abi: %d filter results for %d nodes", n, len(rs))
	}
	return decodeFilterResults(r, rs)
}

func decodeFilterResults(r *Reader, rs []FilterResult) error {
	for i := range rs {
		rs[i] = FilterResult{Code: r.U32(), Reason: r.Str()}
	}
	if r.Err != nil {
		return fmt.Errorf("abi: decode filter results: %w", r.Err)
	}
	return nil
}

// DecodeScores decodes a score result buffer.
func DecodeScores(buf []byte) ([]int64, error) {
	r := &Reader{B: buf}
	if err := decodeStatus(r); err != nil {
		return nil, err
	}
	out := make([]int64, r.count(8))
	if err := decodeScores(r, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DecodeScoresInto decodes a score result buffer into scores, which must
// have exactly as many entries as the result.
func DecodeScoresInto(scores []int64, buf []byte) error {
	r := &Reader{B: buf}
	if err := decodeStatus(r); err != nil {
		return err
	}
	if n := r.count(8); r.Err == nil && n != len(scores) {
		return fmt.Errorf("abi: %d scores for %d nodes", n, len(scores))
	}
	return decodeScores(r, scores)
}

func decodeScores(r *Reader, scores []int64) error {
	if r.Err == nil && len(r.B) < 8*len(scores) {
		r.Err = ErrShort
	}
	if r.Err != nil {
		return fmt.Errorf("abi: decode scores: %w", r.Err)
	}
	for i := range scores {
		scores[i] = int64(binary.LittleEndian.Uint64(r.B[8*i:]))
	}
	return nil
}
