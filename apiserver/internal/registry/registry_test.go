package registry

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestDefaultTable checks every served resource against the scheme: its
// New and NewList types are registered under the resource's kind and list
// kind, and its etcd key prefix is unique unless shared on purpose.
func TestDefaultTable(t *testing.T) {
	s, err := NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := New(Complete(Default()))
	if err != nil {
		t.Fatal(err)
	}
	prefixes := map[string]string{}
	for _, res := range reg.All() {
		kinds, _, err := s.ObjectKinds(res.New())
		if err != nil || len(kinds) == 0 {
			t.Fatalf("%s: New() type not in scheme: %v", res.GVR, err)
		}
		if !containsKind(kinds, res.GVK().Kind, res.GVR.GroupVersion().String()) {
			t.Errorf("%s: New() is %v, want kind %s", res.GVR, kinds, res.Kind)
		}
		if res.Virtual {
			if res.NewList != nil {
				t.Errorf("%s: a virtual resource has no list", res.GVR)
			}
			continue
		}
		lkinds, _, err := s.ObjectKinds(res.NewList())
		if err != nil || !containsKind(lkinds, res.ListKind, res.GVR.GroupVersion().String()) {
			t.Errorf("%s: NewList() is %v (%v), want %s", res.GVR, lkinds, err, res.ListKind)
		}
		if !meta.IsListType(res.NewList()) {
			t.Errorf("%s: NewList() is not a list", res.GVR)
		}
		if other, dup := prefixes[res.Prefix()]; dup && res.StoragePrefix == "" {
			t.Errorf("%s and %s share the etcd prefix %s", res.GVR, other, res.Prefix())
		}
		prefixes[res.Prefix()] = res.GVR.String()
		if _, _, err := res.Attrs(res.New()); err != nil {
			t.Errorf("%s: Attrs: %v", res.GVR, err)
		}
		for _, f := range res.FieldNames {
			if !res.HasField(f) {
				t.Errorf("%s: field %s not selectable", res.GVR, f)
			}
		}
	}
	if got := len(reg.All()); got != 34 {
		t.Errorf("%d resources served, want 34", got)
	}
}

func containsKind(kinds []schema.GroupVersionKind, kind, gv string) bool {
	for _, k := range kinds {
		if k.Kind == kind && k.GroupVersion().String() == gv {
			return true
		}
	}
	return false
}

// TestKey: an object's key is its resource's prefix followed by
// "<namespace>/<name>" or "<name>".
func TestKey(t *testing.T) {
	t.Parallel()
	resources := append(Complete(Default()),
		&Resource{GVR: schema.GroupVersionResource{Group: "g", Version: "v1", Resource: "things"}, Namespaced: true, StoragePrefix: "/registry/other/"},
		&Resource{GVR: schema.GroupVersionResource{Group: "g", Version: "v1", Resource: "cthings"}, StoragePrefix: "/registry/cother/"})
	for _, res := range resources {
		want := res.Prefix() + "n"
		if res.Namespaced {
			want = res.Prefix() + "ns/n"
		}
		if got := res.Key("ns", "n"); got != want {
			t.Errorf("%s: Key = %q, want %q", res.GVR, got, want)
		}
	}
}
