package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"skiff.dev/plugins/abi"
)

// handlers is the guest's registration table, filled by Handle* in init.
// A Wasm instance is single-threaded and each call runs to completion, so
// this module-level table is the one piece of state the ABI needs.
var handlers = struct {
	entry    map[string]func([]byte) []byte
	settings []func([]byte) error
	fields   uint32
}{entry: map[string]func([]byte) []byte{}}

// settingsValidator is implemented by settings types that check themselves.
type settingsValidator interface{ Validate() error }

// settingsCache keeps the decoded settings of the last call; settings of a
// policy rarely change, so most calls skip decoding them. Handlers must
// treat the settings they receive as read-only.
type settingsCache[T any] struct {
	raw []byte
	val T
	ok  bool
}

func (c *settingsCache[T]) get(raw []byte) (T, error) {
	if c.ok && bytes.Equal(c.raw, raw) {
		return c.val, nil
	}
	v, err := decodeSettings[T](raw)
	if err != nil {
		return v, err
	}
	c.raw, c.val, c.ok = append(c.raw[:0], raw...), v, true
	return v, nil
}

func decodeSettings[T any](raw []byte) (T, error) {
	var v T
	if len(bytes.TrimSpace(raw)) > 0 && string(raw) != "null" {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			return v, fmt.Errorf("settings: %w", err)
		}
	}
	if sv, ok := any(&v).(settingsValidator); ok {
		if err := sv.Validate(); err != nil {
			return v, fmt.Errorf("settings: %w", err)
		}
	} else if sv, ok := any(v).(settingsValidator); ok {
		if err := sv.Validate(); err != nil {
			return v, fmt.Errorf("settings: %w", err)
		}
	}
	return v, nil
}

func registerSettings[T any]() {
	handlers.settings = append(handlers.settings, func(raw []byte) error {
		_, err := decodeSettings[T](raw)
		return err
	})
}

type admissionInput struct {
	Request  AdmissionRequest `json:"request"`
	Settings json.RawMessage  `json:"settings,omitempty"`
}

func admissionHandler[T any](f func(AdmissionRequest, T) Response, mutating bool) func([]byte) []byte {
	var cache settingsCache[T]
	return func(in []byte) (out []byte) {
		defer func() {
			if p := recover(); p != nil {
				out = encodeAdmission(Response{Err: fmt.Errorf("panic: %v", p)}, mutating)
			}
		}()
		input, err := decodeEnvelope(in)
		if err != nil {
			return encodeAdmission(Fail(fmt.Errorf("decode request: %w", err)), mutating)
		}
		s, err := cache.get(input.Settings)
		if err != nil {
			return encodeAdmission(Fail(err), mutating)
		}
		return encodeAdmission(f(input.Request, s), mutating)
	}
}

// allowedJSON is the result of a plain Allow(); the host recognizes it
// without decoding.
var allowedJSON = []byte(`{"allowed":true}`)

// respBuf is reused for results: the host copies a result out before the
// next call, and an instance runs one call at a time.
var respBuf []byte

// encodeAdmission encodes a verdict without reflection (encoding/json is
// slow in a Go guest); the patch, whose values are arbitrary, goes through
// encoding/json.
func encodeAdmission(r Response, mutating bool) []byte {
	if r.Err == nil && r.Allowed && r.Message == "" && r.Code == 0 && len(r.Warnings) == 0 && (!mutating || len(r.Patch) == 0) {
		return allowedJSON
	}
	b := respBuf[:0]
	if r.Err != nil {
		b = append(b, `{"allowed":false,"error":`...)
		b = appendJSONString(b, r.Err.Error())
		respBuf = append(b, '}')
		return respBuf
	}
	var patch []byte
	if mutating && len(r.Patch) > 0 {
		p, err := json.Marshal(r.Patch)
		if err != nil {
			return encodeAdmission(Response{Err: fmt.Errorf("encode patch: %w", err)}, mutating)
		}
		patch = p
	}
	if r.Allowed {
		b = append(b, `{"allowed":true`...)
	} else {
		b = append(b, `{"allowed":false`...)
	}
	if r.Message != "" {
		b = append(b, `,"message":`...)
		b = appendJSONString(b, r.Message)
	}
	if r.Code != 0 {
		b = append(b, `,"code":`...)
		b = strconv.AppendInt(b, int64(r.Code), 10)
	}
	if len(r.Warnings) > 0 {
		b = append(b, `,"warnings":[`...)
		for i, w := range r.Warnings {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, w)
		}
		b = append(b, ']')
	}
	if patch != nil {
		b = append(b, `,"patch":`...)
		b = append(b, patch...)
	}
	respBuf = append(b, '}')
	return respBuf
}

// appendJSONString appends s as a JSON string (invalid UTF-8 becomes U+FFFD).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r < 0x20:
			const hex = "0123456789abcdef"
			b = append(b, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}

// HandleValidate registers a validating admission handler (export validate).
func HandleValidate[T any](f func(req AdmissionRequest, settings T) Response) {
	handlers.entry[abi.ExportValidate] = admissionHandler(f, false)
	registerSettings[T]()
}

// HandleMutate registers a mutating admission handler (export mutate); its
// responses' Patch is applied to the object.
func HandleMutate[T any](f func(req AdmissionRequest, settings T) Response) {
	handlers.entry[abi.ExportMutate] = admissionHandler(f, true)
	registerSettings[T]()
}

// scratch is reused by every scheduling call, so a steady stream of cycles
// allocates next to nothing in the guest.
var scratch struct {
	batch abi.Batch
	req   SchedulingRequest
	out   []byte
}

func decodeScheduling[T any](in []byte, cache *settingsCache[T]) (*SchedulingRequest, T, error) {
	var zero T
	b := &scratch.batch
	if err := abi.DecodeBatch(&abi.Reader{B: in, ZeroCopy: true}, b); err != nil {
		return nil, zero, err
	}
	s, err := cache.get(b.Settings)
	if err != nil {
		return nil, zero, err
	}
	r := &scratch.req
	r.PodJSON, r.PodRequests, r.PodExtended, r.Nodes, r.pod = b.Pod, b.PodRequests, b.PodExtended, b.Nodes, nil
	return r, s, nil
}

// HandleFilter registers a filter (export filter). fields selects the node
// field groups the host sends (NodeResources|NodeLabels|…); less is faster.
// The result must have one entry per node, in order.
func HandleFilter[T any](f func(req *SchedulingRequest, settings T) ([]FilterResult, error), fields uint32) {
	var cache settingsCache[T]
	handlers.entry[abi.ExportFilter] = func(in []byte) (out []byte) {
		defer func() {
			if p := recover(); p != nil {
				out = abi.AppendError(nil, fmt.Sprintf("panic: %v", p))
			}
		}()
		req, s, err := decodeScheduling(in, &cache)
		if err != nil {
			return abi.AppendError(nil, err.Error())
		}
		rs, err := f(req, s)
		if err == nil && len(rs) != len(req.Nodes) {
			err = fmt.Errorf("filter returned %d results for %d nodes", len(rs), len(req.Nodes))
		}
		if err != nil {
			return abi.AppendError(nil, err.Error())
		}
		scratch.out = abi.AppendFilterResults(scratch.out[:0], rs)
		return scratch.out
	}
	handlers.fields |= fields
	registerSettings[T]()
}

// HandleScore registers a score plugin (export score): one score per node,
// in order, in [0, 100].
func HandleScore[T any](f func(req *SchedulingRequest, settings T) ([]int64, error), fields uint32) {
	var cache settingsCache[T]
	handlers.entry[abi.ExportScore] = func(in []byte) (out []byte) {
		defer func() {
			if p := recover(); p != nil {
				out = abi.AppendError(nil, fmt.Sprintf("panic: %v", p))
			}
		}()
		req, s, err := decodeScheduling(in, &cache)
		if err != nil {
			return abi.AppendError(nil, err.Error())
		}
		scores, err := f(req, s)
		if err == nil && len(scores) != len(req.Nodes) {
			err = fmt.Errorf("score returned %d scores for %d nodes", len(scores), len(req.Nodes))
		}
		if err != nil {
			return abi.AppendError(nil, err.Error())
		}
		scratch.out = abi.AppendScores(scratch.out[:0], scores)
		return scratch.out
	}
	handlers.fields |= fields
	registerSettings[T]()
}

func validateSettings(in []byte) []byte {
	out := abi.SettingsOutput{Valid: true}
	for _, check := range handlers.settings {
		if err := check(in); err != nil {
			out = abi.SettingsOutput{Message: err.Error()}
			break
		}
	}
	b, _ := json.Marshal(out)
	return b
}

// ErrNoHandler is returned by Invoke for an entry point nobody registered.
var ErrNoHandler = errors.New("no handler registered")

// Invoke runs an entry point on input exactly as the host would and returns
// its result bytes; for unit tests of a policy on the host.
func Invoke(export string, input []byte) ([]byte, error) {
	out, err := invokeEntry(export, input)
	return bytes.Clone(out), err
}

// invokeEntry is Invoke for the wasm exports: the result may be a buffer reused
// by the next call.
func invokeEntry(export string, input []byte) ([]byte, error) {
	if export == abi.ExportValidateSettings {
		return validateSettings(input), nil
	}
	h := handlers.entry[export]
	if h == nil {
		return nil, fmt.Errorf("%s: %w", export, ErrNoHandler)
	}
	return h(input), nil
}

// capabilities is what skiff_capabilities reports.
func capabilities() uint32 {
	var caps uint32
	for _, c := range abi.CapabilityExports {
		if handlers.entry[c.Export] != nil {
			caps |= c.Bit
		}
	}
	if len(handlers.settings) > 0 {
		caps |= abi.CapValidateSettings
	}
	return caps
}

// nodeFields is what skiff_node_fields reports.
func nodeFields() uint32 {
	if handlers.fields == 0 {
		return abi.FieldAll
	}
	return handlers.fields
}
