package host

import (
	"fmt"
	"slices"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"skiff.dev/plugins/abi"
)

// importModules are the only import modules a plugin may use: skiff's own
// host functions, AssemblyScript's env.abort and WASI preview 1 (whose
// sandbox has no files, sockets, environment or arguments behind it).
var importModules = []string{abi.ImportModule, "env", wasi_snapshot_preview1.ModuleName}

// checkImports rejects a module that imports anything the host does not
// provide, or provides with another signature, with an ErrABI error naming
// the import, before any instance is created.
func (r *Runtime) checkImports(compiled wazero.CompiledModule) error {
	for _, def := range compiled.ImportedMemories() {
		mod, name, _ := def.Import()
		return fmt.Errorf("%w: imports memory %s.%s; a plugin must define and export its own memory", ErrABI, mod, name)
	}
	for _, def := range compiled.ImportedFunctions() {
		mod, name, _ := def.Import()
		var provided api.FunctionDefinition
		if slices.Contains(importModules, mod) {
			if m := r.rt.Module(mod); m != nil {
				provided = m.ExportedFunctionDefinitions()[name]
			}
		}
		if provided == nil {
			return fmt.Errorf("%w: imports function %s.%s, which is not provided to plugins "+
				"(allowed: %s.%s, env.abort and the wasi_snapshot_preview1 functions; see docs/plugins/ABI.md)",
				ErrABI, mod, name, abi.ImportModule, abi.ImportLog)
		}
		if !slices.Equal(def.ParamTypes(), provided.ParamTypes()) || !slices.Equal(def.ResultTypes(), provided.ResultTypes()) {
			return fmt.Errorf("%w: imports function %s.%s with signature %s, the host provides %s",
				ErrABI, mod, name, signature(def), signature(provided))
		}
	}
	return nil
}

func signature(def api.FunctionDefinition) string {
	types := func(ts []api.ValueType) string {
		s := "("
		for i, t := range ts {
			if i > 0 {
				s += ", "
			}
			s += api.ValueTypeName(t)
		}
		return s + ")"
	}
	return types(def.ParamTypes()) + " -> " + types(def.ResultTypes())
}
