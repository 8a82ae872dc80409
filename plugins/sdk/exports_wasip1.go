//go:build wasip1

package sdk

import (
	"unsafe"

	"skiff.dev/plugins/abi"
)

// in and out are the call's input and result buffers; they stay referenced
// here so the GC keeps them while the host reads or writes them.
var in, out []byte

//go:wasmexport skiff_abi_version
func skiffABIVersion() int32 { return abi.Version }

//go:wasmexport skiff_alloc
func skiffAlloc(size int32) unsafe.Pointer {
	n := max(int(size), 1)
	if cap(in) < n {
		in = make([]byte, n, n+n/4)
	}
	in = in[:n]
	return unsafe.Pointer(unsafe.SliceData(in))
}

//go:wasmexport skiff_capabilities
func skiffCapabilities() int32 { return int32(capabilities()) }

//go:wasmexport skiff_node_fields
func skiffNodeFields() int32 { return int32(nodeFields()) }

func run(export string, ptr unsafe.Pointer, n int32) int64 {
	input := unsafe.Slice((*byte)(ptr), int(n))
	var err error
	out, err = invokeEntry(export, input)
	if err != nil {
		out = []byte(`{"error":"` + export + `: no handler registered"}`)
		if export == abi.ExportFilter || export == abi.ExportScore {
			out = abi.AppendError(nil, export+": no handler registered")
		}
	}
	if len(out) == 0 {
		return 0
	}
	return int64(abi.Pack(uint32(uintptr(unsafe.Pointer(unsafe.SliceData(out)))), uint32(len(out))))
}

//go:wasmexport validate
func validate(ptr unsafe.Pointer, n int32) int64 { return run(abi.ExportValidate, ptr, n) }

//go:wasmexport mutate
func mutate(ptr unsafe.Pointer, n int32) int64 { return run(abi.ExportMutate, ptr, n) }

//go:wasmexport validate_settings
func validateSettingsExport(ptr unsafe.Pointer, n int32) int64 {
	return run(abi.ExportValidateSettings, ptr, n)
}

//go:wasmexport filter
func filter(ptr unsafe.Pointer, n int32) int64 { return run(abi.ExportFilter, ptr, n) }

//go:wasmexport score
func score(ptr unsafe.Pointer, n int32) int64 { return run(abi.ExportScore, ptr, n) }

//go:wasmimport skiff log
func hostLog(level int32, ptr unsafe.Pointer, n int32)

// Log writes a message to the host's log at level abi.LogDebug…LogError.
func Log(level int32, msg string) {
	if len(msg) == 0 {
		return
	}
	hostLog(level, unsafe.Pointer(unsafe.StringData(msg)), int32(len(msg)))
}
