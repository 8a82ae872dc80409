package rbac

import "k8s.io/apimachinery/pkg/runtime"

// Sink adapts the index to one RBAC kind's feed (see package feed).
type Sink struct {
	Index *Index
	// Kind is an empty value of the kind fed, e.g. &rbacv1.Role{}.
	Kind runtime.Object
}

// Replace implements feed.Sink.
func (s Sink) Replace(items []runtime.Object) {
	all := make([]any, len(items))
	for i, it := range items {
		all[i] = it
	}
	s.Index.Replace(s.Kind, all)
}

// Set implements feed.Sink.
func (s Sink) Set(obj runtime.Object) { s.Index.Set(obj) }

// Delete implements feed.Sink.
func (s Sink) Delete(obj runtime.Object) { s.Index.Delete(obj) }
