package validation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"sigs.k8s.io/yaml"

	"skiff.dev/apiserver/internal/defaults"
	"skiff.dev/apiserver/internal/registry"
)

// FuzzDecodeValidate decodes client bytes the way the apiserver does (the
// scheme's JSON serializer, into the resource's kind), defaults the object
// and runs create, update and status-update validation against a second
// decoded object. Bad input must become field errors, never a panic.
//
//	go test -run '^$' -fuzz '^FuzzDecodeValidate$' -fuzztime 1m ./internal/validation
func FuzzDecodeValidate(f *testing.F) {
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
		// Fixtures may hold several documents; seed each.
		for _, doc := range strings.Split(string(y), "\n---\n") {
			j, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				f.Fatalf("%s: %v", file, err)
			}
			var tm struct{ Kind string }
			if err := yaml.Unmarshal(j, &tm); err != nil {
				f.Fatalf("%s: %v", file, err)
			}
			k, ok := index[tm.Kind]
			if !ok {
				continue
			}
			f.Add(k, j, j)
		}
	}
	dec := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme, json.SerializerOptions{})
	decode := func(res *registry.Resource, data []byte) runtime.Object {
		gvk := res.GVK()
		obj, _, err := dec.Decode(data, &gvk, res.New())
		if err != nil {
			return nil
		}
		if obj.GetObjectKind().GroupVersionKind() != (schema.GroupVersionKind{}) && obj.GetObjectKind().GroupVersionKind() != gvk {
			return nil
		}
		return obj
	}
	f.Fuzz(func(t *testing.T, kind uint8, data, oldData []byte) {
		res := kinds[int(kind)%len(kinds)]
		obj := decode(res, data)
		if obj == nil {
			return
		}
		old := decode(res, oldData)
		if old == nil {
			old = obj.DeepCopyObject()
		}
		_ = ValidateCreate(obj)
		defaults.Default(obj)
		defaults.Default(old)
		_ = ValidateCreate(obj)
		_ = ValidateUpdate(obj, old)
		_ = ValidateStatusUpdate(obj, old)
	})
}
