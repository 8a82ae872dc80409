package prof

import (
	"context"
	"os"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

type counter map[string]int

func (c counter) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	if def.GoFunction() == nil {
		return nil
	}
	name := def.DebugName()
	return experimental.FunctionListenerFunc(func(ctx context.Context, m api.Module, d api.FunctionDefinition, params []uint64, si experimental.StackIterator) {
		c[name]++
	})
}

func TestCount(t *testing.T) {
	c := counter{}
	ctx := experimental.WithFunctionListenerFactory(context.Background(), c)
	wasm, _ := os.ReadFile("/tmp/p-rl.wasm")
	in := []byte(`{"request":{"uid":"0b1c","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"name":"web-7d4b9c","namespace":"default","operation":"CREATE","userInfo":{"username":"alice","groups":["system:authenticated"]},"object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-7d4b9c","namespace":"default","creationTimestamp":null,"labels":{"app":"web","pod-template-hash":"7d4b9c","team":"a"}},"spec":{"containers":[{"name":"web","image":"registry.example.com/web:1.2.3","ports":[{"containerPort":8080}],"resources":{"requests":{"cpu":"100m","memory":"64Mi"}}}]},"status":{}},"oldObject":null,"dryRun":false,"options":null},"settings":{"labels":["team"]}}`)
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler())
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	r.NewHostModuleBuilder("skiff").NewFunctionBuilder().WithFunc(func(int32, int32, int32) {}).Export("log").Instantiate(ctx)
	m, err := r.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
	if err != nil {
		t.Fatal(err)
	}
	f := m.ExportedFunction("validate")
	al := m.ExportedFunction("skiff_alloc")
	for k := range c {
		delete(c, k)
	}
	for i := 0; i < 100; i++ {
		res, _ := al.Call(ctx, uint64(len(in)))
		m.Memory().Write(uint32(res[0]), in)
		if _, err := f.Call(ctx, res[0], uint64(len(in))); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("host calls per 100 validate calls: %v", c)
}
