package defaults

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"sigs.k8s.io/yaml"

	"skiff.dev/apiserver/internal/registry"
)

// FuzzDefault decodes client bytes into a served kind the way the apiserver
// does and defaults them twice: defaulting must not panic on any input and
// must be idempotent (the apiserver defaults again after mutating
// admission).
//
//	go test -run '^$' -fuzz '^FuzzDefault$' -fuzztime 1m ./internal/defaults
func FuzzDefault(f *testing.F) {
	scheme, err := registry.NewScheme()
	if err != nil {
		f.Fatal(err)
	}
	reg, err := registry.New(registry.Complete(registry.Default()))
	if err != nil {
		f.Fatal(err)
	}
	var kinds []*registry.Resource
	index := map[string]uint8{}
	for _, res := range reg.All() {
		if res.Virtual {
			continue
		}
		if _, ok := index[res.Kind]; !ok {
			index[res.Kind] = uint8(len(kinds))
		}
		kinds = append(kinds, res)
	}
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		y, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		j, err := yaml.YAMLToJSON(y)
		if err != nil {
			f.Fatalf("%s: %v", file, err)
		}
		var tm struct{ Kind string }
		if err := yaml.Unmarshal(j, &tm); err != nil {
			f.Fatalf("%s: %v", file, err)
		}
		if k, ok := index[tm.Kind]; ok {
			f.Add(k, j)
		}
	}
	dec := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme, json.SerializerOptions{})
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		res := kinds[int(kind)%len(kinds)]
		gvk := res.GVK()
		obj, _, err := dec.Decode(data, &gvk, res.New())
		if err != nil || obj.GetObjectKind().GroupVersionKind() != gvk {
			return
		}
		Default(obj)
		once := obj.DeepCopyObject()
		Default(obj)
		if !equality.Semantic.DeepEqual(once, obj) {
			t.Fatalf("defaulting %s is not idempotent:\nonce:  %+v\ntwice: %+v", gvk.Kind, once, obj)
		}
	})
}
