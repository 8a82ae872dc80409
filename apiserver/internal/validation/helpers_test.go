package validation

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"skiff.dev/apiserver/internal/defaults"
)

// objPtr is a pointer to an API type: *corev1.Pod and the like.
type objPtr[T any] interface {
	*T
	runtime.Object
}

// createCase mutates a defaulted fixture and lists the errors ValidateCreate
// must report, each as "<field path>: <error type>".
type createCase[P runtime.Object] struct {
	name   string
	mutate func(P)
	want   []string
}

// updateCase mutates a copy of the defaulted fixture (the old object) into
// the new one.
type updateCase[P runtime.Object] struct {
	name   string
	old    func(P) // optional: adjust the old object first
	mutate func(P)
	want   []string
}

func load[T any, P objPtr[T]](t *testing.T, fixture string) P {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", fixture))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	obj := P(new(T))
	if err := yaml.UnmarshalStrict(b, obj); err != nil {
		t.Fatalf("decode %s: %v", fixture, err)
	}
	defaults.Default(obj)
	return obj
}

func render(errs field.ErrorList) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, e.Field+": "+e.Type.String())
	}
	slices.Sort(out)
	return out
}

func check(t *testing.T, got field.ErrorList, want []string) {
	t.Helper()
	w := slices.Clone(want)
	slices.Sort(w)
	if g := render(got); !slices.Equal(g, w) {
		var full []string
		for _, e := range got {
			full = append(full, "  "+e.Error())
		}
		t.Errorf("errors mismatch\n got: %q\nwant: %q\nfull:\n%s", g, w, strings.Join(full, "\n"))
	}
}

func runCreate[T any, P objPtr[T]](t *testing.T, fixture string, cases []createCase[P]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := load[T, P](t, fixture)
			if tc.mutate != nil {
				tc.mutate(obj)
			}
			check(t, ValidateCreate(obj), tc.want)
		})
	}
}

func runUpdate[T any, P objPtr[T]](t *testing.T, fixture string, status bool, cases []updateCase[P]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := load[T, P](t, fixture)
			setRV(old)
			if tc.old != nil {
				tc.old(old)
			}
			obj := old.DeepCopyObject().(P)
			if tc.mutate != nil {
				tc.mutate(obj)
			}
			var got field.ErrorList
			if status {
				got = ValidateStatusUpdate(obj, old)
			} else {
				got = ValidateUpdate(obj, old)
			}
			check(t, got, tc.want)
		})
	}
}

func setRV(obj runtime.Object) {
	if m, ok := obj.(interface{ SetResourceVersion(string) }); ok {
		m.SetResourceVersion("7")
	}
}

func ptr[T any](v T) *T { return &v }
