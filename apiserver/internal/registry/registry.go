// Package registry is the table of every resource the apiserver serves: its
// group/version/resource, kind, scope, short names, subresources, etcd key
// prefix and the label/field attributes it can be filtered on. The REST
// layer, discovery and OpenAPI are all generated from this one table.
package registry

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Resource describes one served resource.
type Resource struct {
	// GVR is the group, version and plural resource name.
	GVR schema.GroupVersionResource
	// Kind and ListKind are the object kinds.
	Kind     string
	ListKind string
	// Singular is the lowercase singular name.
	Singular string
	// Namespaced is true for namespace-scoped resources.
	Namespaced bool
	// ShortNames and Categories appear in discovery.
	ShortNames []string
	Categories []string
	// New and NewList return empty objects.
	New     func() runtime.Object
	NewList func() runtime.Object
	// Status is true when the resource has a status subresource: the main
	// resource ignores status changes and the status subresource ignores
	// everything else.
	Status bool
	// Scale is true for resources with an autoscaling/v1 scale subresource.
	Scale bool
	// Fields returns the resource-specific selectable fields (beyond
	// metadata.name and metadata.namespace).
	Fields func(obj runtime.Object) fields.Set
	// FieldNames lists the keys Fields returns, for validating selectors.
	FieldNames []string
	// AllowCreateOnUpdate lets PUT create a missing object.
	AllowCreateOnUpdate bool
	// StoragePrefix overrides the etcd key prefix (used when another
	// resource's store holds the objects, as for events.k8s.io Events).
	StoragePrefix string
	// Subresources lists extra subresources (beyond status/scale) with
	// their verbs and kind, for discovery.
	Subresources []Subresource
	// Virtual marks a create-only resource that is never stored (the
	// TokenReview and SubjectAccessReview kinds): it has no store and is
	// served by a rest.CreateHandler registered under its group/resource.
	Virtual bool
}

// Subresource describes a non-standard subresource in discovery.
type Subresource struct {
	Name  string
	Kind  string
	Group string // optional: the subresource's own group (e.g. autoscaling)
	Ver   string
	Verbs []string
}

// GroupResource is the resource's group and plural name.
func (r *Resource) GroupResource() schema.GroupResource { return r.GVR.GroupResource() }

// GVK is the kind the resource stores.
func (r *Resource) GVK() schema.GroupVersionKind { return r.GVR.GroupVersion().WithKind(r.Kind) }

// Verbs returns the verbs of the main resource.
func (r *Resource) Verbs() []string {
	if r.Virtual {
		return []string{"create"}
	}
	return []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
}

// Prefix is the etcd key prefix of the resource's objects, ending in "/".
func (r *Resource) Prefix() string {
	if r.StoragePrefix != "" {
		return r.StoragePrefix
	}
	if r.GVR.Group == "" {
		return "/registry/" + r.GVR.Resource + "/"
	}
	return "/registry/" + r.GVR.Group + "/" + r.GVR.Resource + "/"
}

// Key returns the etcd key of one object.
func (r *Resource) Key(namespace, name string) string {
	if r.Namespaced {
		return r.Prefix() + namespace + "/" + name
	}
	return r.Prefix() + name
}

// CollectionKey returns the key prefix of a namespace's objects, or of all
// objects when namespace is empty or the resource is cluster-scoped.
func (r *Resource) CollectionKey(namespace string) string {
	if r.Namespaced && namespace != "" {
		return r.Prefix() + namespace + "/"
	}
	return r.Prefix()
}

// HasField reports whether a field label can be used in field selectors.
func (r *Resource) HasField(name string) bool {
	if name == "metadata.name" || (r.Namespaced && name == "metadata.namespace") {
		return true
	}
	for _, f := range r.FieldNames {
		if f == name {
			return true
		}
	}
	return false
}

// Attrs returns the object's labels and selectable fields.
func (r *Resource) Attrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	m, err := metaOf(obj)
	if err != nil {
		return nil, nil, err
	}
	fs := fields.Set{"metadata.name": m.GetName()}
	if r.Namespaced {
		fs["metadata.namespace"] = m.GetNamespace()
	}
	if r.Fields != nil {
		for k, v := range r.Fields(obj) {
			fs[k] = v
		}
	}
	return labels.Set(m.GetLabels()), fs, nil
}

// Registry indexes resources by group/version and resource name.
type Registry struct {
	byGVR  map[schema.GroupVersionResource]*Resource
	byGVK  map[schema.GroupVersionKind]*Resource
	groups []GroupVersion
}

// GroupVersion lists a served group/version and its resources in order.
type GroupVersion struct {
	GV        schema.GroupVersion
	Resources []*Resource
}

// New builds a registry from resources.
func New(resources []*Resource) (*Registry, error) {
	r := &Registry{
		byGVR: map[schema.GroupVersionResource]*Resource{},
		byGVK: map[schema.GroupVersionKind]*Resource{},
	}
	idx := map[schema.GroupVersion]int{}
	for _, res := range resources {
		if _, dup := r.byGVR[res.GVR]; dup {
			return nil, fmt.Errorf("resource %s registered twice", res.GVR)
		}
		r.byGVR[res.GVR] = res
		r.byGVK[res.GVK()] = res
		gv := res.GVR.GroupVersion()
		i, ok := idx[gv]
		if !ok {
			i = len(r.groups)
			idx[gv] = i
			r.groups = append(r.groups, GroupVersion{GV: gv})
		}
		r.groups[i].Resources = append(r.groups[i].Resources, res)
	}
	for _, g := range r.groups {
		sort.Slice(g.Resources, func(a, b int) bool { return g.Resources[a].GVR.Resource < g.Resources[b].GVR.Resource })
	}
	return r, nil
}

// Lookup finds a resource by group, version and plural name.
func (r *Registry) Lookup(gvr schema.GroupVersionResource) (*Resource, bool) {
	res, ok := r.byGVR[gvr]
	return res, ok
}

// ForKind finds the resource storing a kind.
func (r *Registry) ForKind(gvk schema.GroupVersionKind) (*Resource, bool) {
	res, ok := r.byGVK[gvk]
	return res, ok
}

// GroupVersions returns every served group/version, core first, in
// registration order.
func (r *Registry) GroupVersions() []GroupVersion { return r.groups }

// HasGroupVersion reports whether a group/version is served.
func (r *Registry) HasGroupVersion(gv schema.GroupVersion) bool {
	for _, g := range r.groups {
		if g.GV == gv {
			return true
		}
	}
	return false
}

// All returns every resource.
func (r *Registry) All() []*Resource {
	var out []*Resource
	for _, g := range r.groups {
		out = append(out, g.Resources...)
	}
	return out
}

// String is for debugging.
func (r *Registry) String() string {
	var b strings.Builder
	for _, g := range r.groups {
		for _, res := range g.Resources {
			fmt.Fprintf(&b, "%s %s\n", g.GV, res.GVR.Resource)
		}
	}
	return b.String()
}
