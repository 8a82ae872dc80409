package examples_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"skiff.dev/plugins/abi"
	"skiff.dev/plugins/host"
	"skiff.dev/plugins/internal/wasmtest"
)

func request(ns string, privileged bool) []byte {
	c := map[string]any{"name": "c", "image": "busybox"}
	if privileged {
		c["securityContext"] = map[string]any{"privileged": true}
	}
	r, _ := json.Marshal(map[string]any{"request": map[string]any{
		"uid": "1", "operation": "CREATE", "namespace": ns,
		"kind":     map[string]string{"version": "v1", "kind": "Pod"},
		"resource": map[string]string{"version": "v1", "resource": "pods"},
		"object": map[string]any{"kind": "Pod", "metadata": map[string]any{"name": "p", "namespace": ns},
			"spec": map[string]any{"containers": []any{c}}},
	}})
	return r
}

// TestSDKFreeExamples runs the WAT and AssemblyScript examples, built in the
// test run, through the host.
func TestSDKFreeExamples(t *testing.T) {
	tests := []struct {
		name   string
		build  func(t *testing.T) []byte
		input  []byte
		allow  bool
		code   int32
		substr string
	}{
		{"wat allows", func(t *testing.T) []byte { return wasmtest.WAT(t, "wat/denyprivileged.wat") }, request("default", false), true, 0, ""},
		{"wat denies privileged", func(t *testing.T) []byte { return wasmtest.WAT(t, "wat/denyprivileged.wat") }, request("x", true), false, 403, "privileged"},
		{"as allows", func(t *testing.T) []byte { return wasmtest.AssemblyScript(t, "assemblyscript/denydefault.ts") }, request("prod", true), true, 0, ""},
		{"as denies default namespace", func(t *testing.T) []byte { return wasmtest.AssemblyScript(t, "assemblyscript/denydefault.ts") }, request("default", false), false, 403, "default namespace"},
	}
	rt := wasmtest.Runtime(t, host.Options{})
	mods := map[string]*host.Module{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.name[:3]
			m := mods[key]
			if m == nil {
				var err error
				if m, err = rt.Load(context.Background(), key, tc.build(t)); err != nil {
					t.Fatal(err)
				}
				mods[key] = m
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for i := range 3 { // repeated calls reuse the instance and its buffers
				out, err := m.Call(ctx, abi.ExportValidate, tc.input)
				if err != nil {
					t.Fatal(err)
				}
				var res abi.AdmissionOutput
				if err := json.Unmarshal(out, &res); err != nil {
					t.Fatalf("call %d: %q: %v", i, out, err)
				}
				if res.Allowed != tc.allow || res.Code != tc.code || (tc.substr != "" && !strings.Contains(res.Message, tc.substr)) {
					t.Fatalf("call %d: %+v", i, res)
				}
			}
			if err := host.CheckSettings(ctx, m, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
		})
	}
}
