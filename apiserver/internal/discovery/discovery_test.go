package discovery

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/apiserver/internal/registry"
)

func TestWantsAggregated(t *testing.T) {
	tests := []struct {
		accept string
		want   bool
	}{
		{"application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json", true},
		{"application/json", false},
		{"", false},
		{"application/json, application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", false},
		{"application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json", false},
	}
	for _, tc := range tests {
		if got := wantsAggregated(tc.accept); got != tc.want {
			t.Errorf("%q: got %v, want %v", tc.accept, got, tc.want)
		}
	}
}

func TestDocuments(t *testing.T) {
	reg, err := registry.New(registry.Complete(registry.Default()))
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(reg, "127.0.0.1:6443")
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, accept string) (string, []byte) {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Accept", accept)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Header().Get("Content-Type"), w.Body.Bytes()
	}
	_, b := get("/apis/apps/v1", "application/json")
	var list metav1.APIResourceList
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	found := map[string]metav1.APIResource{}
	for _, r := range list.APIResources {
		found[r.Name] = r
	}
	if d := found["deployments"]; !d.Namespaced || d.Kind != "Deployment" || len(d.ShortNames) == 0 || d.ShortNames[0] != "deploy" {
		t.Fatalf("deployments: %+v", d)
	}
	if s := found["deployments/scale"]; s.Group != "autoscaling" || s.Version != "v1" || s.Kind != "Scale" {
		t.Fatalf("deployments/scale: %+v", s)
	}
	ct, b := get("/apis", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")
	if ct != aggregatedV2 {
		t.Fatalf("content type %q", ct)
	}
	var agg apidiscoveryv2.APIGroupDiscoveryList
	if err := json.Unmarshal(b, &agg); err != nil || len(agg.Items) < 6 {
		t.Fatalf("aggregated: %d groups, %v", len(agg.Items), err)
	}
	if _, b := get("/apis/nope/v1", "application/json"); !json.Valid(b) {
		t.Fatalf("404 body %q", b)
	}
}
