package admission_test

import (
	"context"
	"testing"

	"skiff.dev/api/plugins/v1alpha1"
	"skiff.dev/plugins/internal/wasmtest"
)

// BenchmarkValidate measures Chain.Validate with one policy per guest kind.
func BenchmarkValidate(b *testing.B) {
	cases := []struct {
		name     string
		wasm     func(testing.TB) []byte
		settings string
	}{
		{"wat", func(t testing.TB) []byte { return wasmtest.WAT(t, "../examples/wat/denyprivileged.wat") }, ""},
		{"go", func(t testing.TB) []byte { return wasmtest.Go(t, "examples/requiredlabels") }, `{"labels":["team"]}`},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			e := newEnvTB(b)
			mod := e.store.add(c.wasm(b))
			opts := []policyOpt{}
			if c.settings != "" {
				opts = append(opts, settings(c.settings))
			}
			e.chain.Sync(context.Background(), []v1alpha1.AdmissionPolicy{policy("p", mod, opts...)})
			attrs := podRequest("a", "default", map[string]string{"team": "x"}, false, false)
			for b.Loop() {
				if _, err := e.chain.Validate(context.Background(), attrs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
