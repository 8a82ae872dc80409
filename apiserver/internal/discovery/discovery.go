// Package discovery serves the API discovery documents kubectl and
// client-go read before anything else: /api, /apis, /apis/<group>,
// /apis/<group>/<version>, /api/v1 (legacy format), the aggregated
// discovery format (apidiscovery.k8s.io/v2) on /api and /apis when asked
// for, and /version. Every document is built once from the registry.
package discovery

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"

	"skiff.dev/apiserver/internal/registry"
)

// Version returns the Kubernetes version skiff reports on /version.
func Version() version.Info {
	return version.Info{
		Major: "1", Minor: "37", GitVersion: "v1.37.2-skiff", GitCommit: "skiff", GitTreeState: "clean",
		BuildDate: "2026-11-25T00:00:00Z", GoVersion: runtime.Version(), Compiler: runtime.Compiler,
		Platform: runtime.GOOS + "/" + runtime.GOARCH,
	}
}

const aggregatedV2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

// Handler serves discovery documents.
type Handler struct {
	docs map[string][]byte // path -> JSON
	// aggregated documents for /api and /apis.
	aggCore, aggGroups []byte
}

// Extra is a group version served outside the registry (no storage), such
// as metrics.k8s.io; it is listed in discovery like any other.
type Extra struct {
	GV        schema.GroupVersion
	Resources []metav1.APIResource
}

// New precomputes every document from reg and the extra group versions.
func New(reg *registry.Registry, serverAddress string, extras ...Extra) (*Handler, error) {
	h := &Handler{docs: map[string][]byte{}}
	put := func(path string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("discovery %s: %w", path, err)
		}
		h.docs[path] = b
		return nil
	}
	groups := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{}}
	aggCore := &apidiscoveryv2.APIGroupDiscoveryList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"}}
	aggGroups := &apidiscoveryv2.APIGroupDiscoveryList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"}}
	var coreVersions []string
	seen := map[string]int{}
	for _, gv := range reg.GroupVersions() {
		list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.GV.String()}
		aggVersion := apidiscoveryv2.APIVersionDiscovery{Version: gv.GV.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
		for _, res := range gv.Resources {
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: res.GVR.Resource, SingularName: res.Singular, Namespaced: res.Namespaced,
				Kind: res.Kind, Verbs: res.Verbs(), ShortNames: res.ShortNames, Categories: res.Categories,
			})
			scope := apidiscoveryv2.ScopeCluster
			if res.Namespaced {
				scope = apidiscoveryv2.ScopeNamespace
			}
			ar := apidiscoveryv2.APIResourceDiscovery{
				Resource: res.GVR.Resource, SingularResource: res.Singular, Scope: scope,
				ResponseKind: &metav1.GroupVersionKind{Group: gv.GV.Group, Version: gv.GV.Version, Kind: res.Kind},
				Verbs:        res.Verbs(), ShortNames: res.ShortNames, Categories: res.Categories,
			}
			for _, sub := range res.Subresources {
				list.APIResources = append(list.APIResources, metav1.APIResource{
					Name: res.GVR.Resource + "/" + sub.Name, Namespaced: res.Namespaced, Kind: sub.Kind,
					Group: sub.Group, Version: sub.Ver, Verbs: sub.Verbs,
				})
				g, v := sub.Group, sub.Ver
				if g == "" && v == "" {
					g, v = gv.GV.Group, gv.GV.Version
				}
				ar.Subresources = append(ar.Subresources, apidiscoveryv2.APISubresourceDiscovery{
					Subresource: sub.Name, Verbs: sub.Verbs,
					ResponseKind: &metav1.GroupVersionKind{Group: g, Version: v, Kind: sub.Kind},
				})
			}
			aggVersion.Resources = append(aggVersion.Resources, ar)
		}
		if gv.GV.Group == "" {
			coreVersions = append(coreVersions, gv.GV.Version)
			if err := put("/api/"+gv.GV.Version, list); err != nil {
				return nil, err
			}
			aggCore.Items = append(aggCore.Items, apidiscoveryv2.APIGroupDiscovery{Versions: []apidiscoveryv2.APIVersionDiscovery{aggVersion}})
			continue
		}
		if err := put("/apis/"+gv.GV.String(), list); err != nil {
			return nil, err
		}
		gvd := metav1.GroupVersionForDiscovery{GroupVersion: gv.GV.String(), Version: gv.GV.Version}
		if i, ok := seen[gv.GV.Group]; ok {
			groups.Groups[i].Versions = append(groups.Groups[i].Versions, gvd)
			aggGroups.Items[i].Versions = append(aggGroups.Items[i].Versions, aggVersion)
		} else {
			seen[gv.GV.Group] = len(groups.Groups)
			groups.Groups = append(groups.Groups, metav1.APIGroup{Name: gv.GV.Group, Versions: []metav1.GroupVersionForDiscovery{gvd}, PreferredVersion: gvd})
			item := apidiscoveryv2.APIGroupDiscovery{Versions: []apidiscoveryv2.APIVersionDiscovery{aggVersion}}
			item.Name = gv.GV.Group
			aggGroups.Items = append(aggGroups.Items, item)
		}
	}
	for _, ex := range extras {
		list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: ex.GV.String(), APIResources: ex.Resources}
		aggVersion := apidiscoveryv2.APIVersionDiscovery{Version: ex.GV.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
		for _, r := range ex.Resources {
			scope := apidiscoveryv2.ScopeCluster
			if r.Namespaced {
				scope = apidiscoveryv2.ScopeNamespace
			}
			aggVersion.Resources = append(aggVersion.Resources, apidiscoveryv2.APIResourceDiscovery{
				Resource: r.Name, Scope: scope, Verbs: r.Verbs,
				ResponseKind: &metav1.GroupVersionKind{Group: ex.GV.Group, Version: ex.GV.Version, Kind: r.Kind},
			})
		}
		if err := put("/apis/"+ex.GV.String(), list); err != nil {
			return nil, err
		}
		gvd := metav1.GroupVersionForDiscovery{GroupVersion: ex.GV.String(), Version: ex.GV.Version}
		groups.Groups = append(groups.Groups, metav1.APIGroup{Name: ex.GV.Group, Versions: []metav1.GroupVersionForDiscovery{gvd}, PreferredVersion: gvd})
		item := apidiscoveryv2.APIGroupDiscovery{Versions: []apidiscoveryv2.APIVersionDiscovery{aggVersion}}
		item.Name = ex.GV.Group
		aggGroups.Items = append(aggGroups.Items, item)
	}
	for _, g := range groups.Groups {
		g := g
		g.Kind, g.APIVersion = "APIGroup", "v1"
		if err := put("/apis/"+g.Name, &g); err != nil {
			return nil, err
		}
	}
	if err := put("/apis", groups); err != nil {
		return nil, err
	}
	versions := &metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: coreVersions,
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: serverAddress}}}
	if err := put("/api", versions); err != nil {
		return nil, err
	}
	v := Version()
	if err := put("/version", &v); err != nil {
		return nil, err
	}
	var err error
	if h.aggCore, err = json.Marshal(aggCore); err != nil {
		return nil, err
	}
	if h.aggGroups, err = json.Marshal(aggGroups); err != nil {
		return nil, err
	}
	return h, nil
}

// Has reports whether path is a discovery document.
func (h *Handler) Has(path string) bool {
	_, ok := h.docs[strings.TrimSuffix(path, "/")]
	return ok
}

// ServeHTTP serves the document at r.URL.Path.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	if path == "/api" || path == "/apis" {
		if wantsAggregated(r.Header.Get("Accept")) {
			w.Header().Set("Content-Type", aggregatedV2)
			w.Header().Set("Vary", "Accept")
			if path == "/api" {
				_, _ = w.Write(h.aggCore)
			} else {
				_, _ = w.Write(h.aggGroups)
			}
			return
		}
	}
	b, ok := h.docs[path]
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404}`))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Vary", "Accept")
	_, _ = w.Write(b)
}

// wantsAggregated reports whether an Accept header asks for the v2
// aggregated discovery format before the legacy one.
func wantsAggregated(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		p := strings.ReplaceAll(part, " ", "")
		if strings.Contains(p, "g=apidiscovery.k8s.io") && strings.Contains(p, "v=v2;") || strings.HasSuffix(p, "v=v2") && strings.Contains(p, "g=apidiscovery.k8s.io") {
			return strings.Contains(p, "as=APIGroupDiscoveryList")
		}
		if strings.HasPrefix(p, "application/json") && !strings.Contains(p, "g=") {
			return false
		}
	}
	return false
}
