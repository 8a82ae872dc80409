// Package openapi serves a minimal OpenAPI v3 description of the API:
// for every resource the PATCH operation with its group-version-kind and the
// fieldValidation query parameter. That is what kubectl 1.32 reads to learn
// that the server validates fields itself (so `kubectl apply` and `kubectl
// create` work with default validation); kubectl then builds strategic merge
// patches from its compiled-in types. Object schemas are not published.
package openapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"skiff.dev/apiserver/internal/registry"
)

// Handler serves /openapi/v3 and /openapi/v3/<group-version path>.
type Handler struct {
	root []byte
	docs map[string][]byte // "api/v1", "apis/apps/v1" -> document
}

// New builds every document from reg.
func New(reg *registry.Registry, version string) (*Handler, error) {
	h := &Handler{docs: map[string][]byte{}}
	paths := map[string]any{}
	for _, gv := range reg.GroupVersions() {
		prefix := "apis/" + gv.GV.String()
		if gv.GV.Group == "" {
			prefix = "api/" + gv.GV.Version
		}
		ops := map[string]any{}
		for _, res := range gv.Resources {
			gvk := map[string]string{"group": gv.GV.Group, "version": gv.GV.Version, "kind": res.Kind}
			item := "/" + prefix + "/" + res.GVR.Resource + "/{name}"
			if res.Namespaced {
				item = "/" + prefix + "/namespaces/{namespace}/" + res.GVR.Resource + "/{name}"
			}
			params := []any{
				map[string]any{"name": "fieldValidation", "in": "query", "schema": map[string]string{"type": "string"},
					"description": "Ignore, Warn or Strict handling of unknown and duplicate fields"},
				map[string]any{"name": "dryRun", "in": "query", "schema": map[string]string{"type": "string"}},
			}
			ops[item] = map[string]any{
				"patch": map[string]any{
					"operationId":                     "patch" + res.Kind,
					"parameters":                      params,
					"x-kubernetes-action":             "patch",
					"x-kubernetes-group-version-kind": gvk,
					"responses":                       map[string]any{"200": map[string]any{"description": "OK"}},
				},
				"put": map[string]any{
					"operationId":                     "replace" + res.Kind,
					"parameters":                      params,
					"x-kubernetes-action":             "put",
					"x-kubernetes-group-version-kind": gvk,
					"responses":                       map[string]any{"200": map[string]any{"description": "OK"}},
				},
			}
		}
		doc := map[string]any{
			"openapi":    "3.0.0",
			"info":       map[string]string{"title": "Kubernetes (skiff)", "version": version},
			"paths":      ops,
			"components": map[string]any{"schemas": map[string]any{}},
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("openapi %s: %w", prefix, err)
		}
		h.docs[prefix] = b
		sum := sha256.Sum256(b)
		paths[prefix] = map[string]string{"serverRelativeURL": "/openapi/v3/" + prefix + "?hash=" + strings.ToUpper(hex.EncodeToString(sum[:]))}
	}
	root, err := json.Marshal(map[string]any{"paths": paths})
	if err != nil {
		return nil, err
	}
	h.root = root
	return h, nil
}

// ServeHTTP serves the root index or one group-version document.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := strings.Trim(strings.TrimPrefix(r.URL.Path, "/openapi/v3"), "/")
	var b []byte
	if p == "" {
		b = h.root
	} else if doc, ok := h.docs[p]; ok {
		b = doc
		if r.URL.Query().Get("hash") != "" {
			w.Header().Set("Cache-Control", "public, immutable")
		}
	} else {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404}`))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
