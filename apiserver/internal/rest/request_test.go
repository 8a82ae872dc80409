package rest

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		method, path string
		want         requestInfo
		ok           bool
	}{
		{"GET", "/api/v1/pods", requestInfo{Verb: "list", GV: schema.GroupVersion{Version: "v1"}, Resource: "pods"}, true},
		{"GET", "/api/v1/pods?watch=true", requestInfo{Verb: "watch", GV: schema.GroupVersion{Version: "v1"}, Resource: "pods"}, true},
		{"GET", "/api/v1/watch/namespaces/a/pods", requestInfo{Verb: "watch", GV: schema.GroupVersion{Version: "v1"}, Resource: "pods", Namespace: "a"}, true},
		{"GET", "/api/v1/namespaces/a/pods/p", requestInfo{Verb: "get", GV: schema.GroupVersion{Version: "v1"}, Resource: "pods", Namespace: "a", Name: "p"}, true},
		{"POST", "/api/v1/namespaces/a/pods/p/binding", requestInfo{Verb: "create", GV: schema.GroupVersion{Version: "v1"}, Resource: "pods", Namespace: "a", Name: "p", Subresource: "binding"}, true},
		{"GET", "/api/v1/namespaces/a", requestInfo{Verb: "get", GV: schema.GroupVersion{Version: "v1"}, Resource: "namespaces", Name: "a"}, true},
		{"PUT", "/api/v1/namespaces/a/finalize", requestInfo{Verb: "update", GV: schema.GroupVersion{Version: "v1"}, Resource: "namespaces", Name: "a", Subresource: "finalize"}, true},
		{"PATCH", "/api/v1/namespaces/a/status", requestInfo{Verb: "patch", GV: schema.GroupVersion{Version: "v1"}, Resource: "namespaces", Name: "a", Subresource: "status"}, true},
		{"DELETE", "/apis/apps/v1/namespaces/a/deployments", requestInfo{Verb: "deletecollection", GV: schema.GroupVersion{Group: "apps", Version: "v1"}, Resource: "deployments", Namespace: "a"}, true},
		{"PUT", "/apis/apps/v1/namespaces/a/deployments/d/scale", requestInfo{Verb: "update", GV: schema.GroupVersion{Group: "apps", Version: "v1"}, Resource: "deployments", Namespace: "a", Name: "d", Subresource: "scale"}, true},
		{"GET", "/apis/apps", requestInfo{}, false},
		{"GET", "/api/v1/namespaces/a/pods/p/log/extra", requestInfo{}, false},
		{"GET", "/healthz", requestInfo{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			got, ok := parseRequest(httptest.NewRequest(tc.method, tc.path, nil))
			if ok != tc.ok || (ok && got != tc.want) {
				t.Fatalf("got %+v %v, want %+v %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestAcceptsTable(t *testing.T) {
	tests := []struct {
		accept string
		want   bool
	}{
		{"application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json", true},
		{"application/json", false},
		{"", false},
		{"application/json, application/json;as=Table;v=v1;g=meta.k8s.io", false},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "/api/v1/pods", nil)
		r.Header.Set("Accept", tc.accept)
		if got := acceptsTable(r); got != tc.want {
			t.Errorf("%q: got %v, want %v", tc.accept, got, tc.want)
		}
	}
}

func TestPatchJSON(t *testing.T) {
	cur := []byte(`{"metadata":{"name":"a","labels":{"x":"1"}},"data":{"k":"v"}}`)
	tests := []struct {
		name, pt, patch, want string
		wantErr               bool
	}{
		{"json patch", "application/json-patch+json", `[{"op":"replace","path":"/data/k","value":"w"}]`, `{"data":{"k":"w"},"metadata":{"labels":{"x":"1"},"name":"a"}}`, false},
		{"json patch test fails", "application/json-patch+json", `[{"op":"test","path":"/data/k","value":"nope"}]`, "", true},
		{"merge patch", "application/merge-patch+json", `{"metadata":{"labels":{"x":null,"y":"2"}}}`, `{"data":{"k":"v"},"metadata":{"labels":{"y":"2"},"name":"a"}}`, false},
		{"bad media", "text/plain", `{}`, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := patchJSON(tc.pt, cur, []byte(tc.patch), nil)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && !sameJSON(t, out, []byte(tc.want)) {
				t.Fatalf("got %s, want %s", out, tc.want)
			}
		})
	}
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}
