// Package apiresources lists, from API discovery, the resources a
// controller can list, watch and delete; the garbage collector watches them
// and the namespace controller empties them.
package apiresources

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

// Resource is one served resource.
type Resource struct {
	GVR        schema.GroupVersionResource
	Kind       string
	Namespaced bool
	Verbs      []string
}

// Has reports whether the resource supports verb.
func (r Resource) Has(verb string) bool {
	for _, v := range r.Verbs {
		if v == verb {
			return true
		}
	}
	return false
}

// Deletable returns the preferred version of every top-level resource that
// supports list, watch and delete. Partial discovery failures (an aggregated
// API down) are tolerated as long as something was discovered.
func Deletable(d discovery.DiscoveryInterface) ([]Resource, error) {
	lists, err := discovery.ServerPreferredResources(d)
	if err != nil && len(lists) == 0 {
		return nil, fmt.Errorf("discover resources: %w", err)
	}
	var out []Resource
	for _, l := range lists {
		gv, perr := schema.ParseGroupVersion(l.GroupVersion)
		if perr != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !hasAll(r, "list", "watch", "delete") {
				continue
			}
			out = append(out, Resource{
				GVR: gv.WithResource(r.Name), Kind: r.Kind, Namespaced: r.Namespaced, Verbs: r.Verbs,
			})
		}
	}
	return out, nil
}

func hasAll(r metav1.APIResource, verbs ...string) bool {
	for _, v := range verbs {
		if !(Resource{Verbs: r.Verbs}).Has(v) {
			return false
		}
	}
	return true
}
