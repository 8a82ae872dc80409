// Package abi holds the wire format shared by the skiff Wasm host
// (skiff.dev/plugins/host and the admission and scheduling engines) and
// guests (skiff.dev/plugins/sdk): export names, the admission JSON payloads,
// and the compact binary encoding of scheduling batches. It has no
// dependencies beyond the standard library so that it compiles for
// GOOS=wasip1. docs/plugins/ABI.md is the normative description; this
// package is its Go rendering.
package abi

import "encoding/json"

// Version is the ABI version a module reports from ExportABIVersion.
const Version = 1

// Export names a module may define. ExportMemory, ExportAlloc and
// ExportABIVersion are required; a module defines whichever entry points it
// serves.
const (
	ExportMemory           = "memory"
	ExportABIVersion       = "skiff_abi_version"
	ExportAlloc            = "skiff_alloc"
	ExportNodeFields       = "skiff_node_fields"
	ExportCapabilities     = "skiff_capabilities"
	ExportValidate         = "validate"
	ExportMutate           = "mutate"
	ExportValidateSettings = "validate_settings"
	ExportFilter           = "filter"
	ExportScore            = "score"
	// ExportInitialize is the WASI reactor initializer (Go c-shared
	// modules); the host calls it once per instance when present.
	ExportInitialize = "_initialize"
)

// Capability bits returned by the optional skiff_capabilities() -> i32
// export. A module whose toolchain exports every entry point (like the Go
// SDK) reports the ones it actually serves; without the export the host
// goes by the exports present.
const (
	CapValidate uint32 = 1 << iota
	CapMutate
	CapValidateSettings
	CapFilter
	CapScore
)

// CapabilityExports maps capability bits to entry point exports.
var CapabilityExports = []struct {
	Bit    uint32
	Export string
}{
	{CapValidate, ExportValidate},
	{CapMutate, ExportMutate},
	{CapValidateSettings, ExportValidateSettings},
	{CapFilter, ExportFilter},
	{CapScore, ExportScore},
}

// Host imports.
const (
	// ImportModule is the import module name of skiff's host functions.
	ImportModule = "skiff"
	// ImportLog is log(level i32, ptr i32, len i32).
	ImportLog = "log"
)

// Log levels for ImportLog.
const (
	LogDebug = 0
	LogInfo  = 1
	LogWarn  = 2
	LogError = 3
)

// Pack packs a result pointer and length into the i64 an entry point returns.
func Pack(ptr, length uint32) uint64 { return uint64(ptr)<<32 | uint64(length) }

// Unpack splits an entry point's i64 result into pointer and length.
func Unpack(v uint64) (ptr, length uint32) { return uint32(v >> 32), uint32(v) }

// AdmissionInput is the JSON payload of the validate and mutate entry
// points. Request has the shape of a Kubernetes AdmissionReview's request
// (admission.k8s.io/v1); it is kept raw here so both sides can decode it
// into their own types.
type AdmissionInput struct {
	Request  json.RawMessage `json:"request"`
	Settings json.RawMessage `json:"settings,omitempty"`
}

// AdmissionOutput is the JSON result of validate and mutate.
type AdmissionOutput struct {
	// Allowed is the verdict.
	Allowed bool `json:"allowed"`
	// Message explains a denial; shown to the user.
	Message string `json:"message,omitempty"`
	// Code is the HTTP status code of a denial (default 400; values below
	// 400 are raised to 400).
	Code int32 `json:"code,omitempty"`
	// Warnings are returned to the client as Warning headers.
	Warnings []string `json:"warnings,omitempty"`
	// Patch is an RFC 6902 JSON Patch applied to the object (mutate only).
	Patch json.RawMessage `json:"patch,omitempty"`
	// Error reports that the policy itself failed (not a denial); the
	// policy's failurePolicy decides.
	Error string `json:"error,omitempty"`
}

// SettingsOutput is the JSON result of validate_settings.
type SettingsOutput struct {
	Valid   bool   `json:"valid"`
	Message string `json:"message,omitempty"`
}
