package rest

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	pluginsv1alpha1 "skiff.dev/api/plugins/v1alpha1"
	"skiff.dev/apiserver/internal/registry"
)

// Focused fuzz targets for the pieces of request handling that parse client
// input: the body decoder, the three patch formats, the URL parser and the
// list/delete/write query options. Every error they return must be an API
// status in the 4xx range: a panic or anything else fails the target.

func fuzzRegistry(t testing.TB) (*registry.Registry, *codecs) {
	t.Helper()
	scheme, err := registry.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(registry.Complete(registry.Default()))
	if err != nil {
		t.Fatal(err)
	}
	return reg, newCodecs(scheme)
}

// wantClientError fails unless err is nil or a 4xx API status.
func wantClientError(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		t.Fatalf("%s: not an API status: %T %v", what, err, err)
	}
	if c := st.Status().Code; c < 400 || c >= 500 {
		t.Fatalf("%s: code %d: %v", what, c, err)
	}
}

// decodeKinds are the kinds FuzzDecode decodes into, by resource.
var decodeKinds = []schema.GroupVersionResource{
	corev1.SchemeGroupVersion.WithResource("pods"),
	corev1.SchemeGroupVersion.WithResource("configmaps"),
	corev1.SchemeGroupVersion.WithResource("services"),
	corev1.SchemeGroupVersion.WithResource("secrets"),
	corev1.SchemeGroupVersion.WithResource("nodes"),
	appsv1.SchemeGroupVersion.WithResource("deployments"),
	appsv1.SchemeGroupVersion.WithResource("statefulsets"),
	pluginsv1alpha1.SchemeGroupVersion.WithResource("admissionpolicies"),
	pluginsv1alpha1.SchemeGroupVersion.WithResource("wasmmodules"),
}

var decodeMedia = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf", "application/apply-patch+yaml", "text/html"}

var fieldValidations = []fieldValidation{fieldValidationIgnore, fieldValidationWarn, fieldValidationStrict}

func FuzzDecode(f *testing.F) {
	reg, c := fuzzRegistry(f)
	for _, seed := range fuzzObjects {
		f.Add(uint8(0), uint8(0), uint8(2), []byte(seed.body))
	}
	f.Add(uint8(5), uint8(1), uint8(2), []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: 1\n  replicas: 2\n"))
	f.Add(uint8(7), uint8(0), uint8(1), []byte(`{"apiVersion":"plugins.skiff.dev/v1alpha1","kind":"AdmissionPolicy","metadata":{"name":"p"},"spec":{"module":"sha256-ab","rules":[{"operations":["CREATE"],"apiGroups":[""],"apiVersions":["v1"],"resources":["pods"]}],"settings":{"x":[1,2]}}}`))
	f.Add(uint8(0), uint8(0), uint8(0), []byte(`{"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"resources":{"limits":{"cpu":"1e999999999"}}}]}}`))
	// A real protobuf Pod.
	var pb bytes.Buffer
	pod := &corev1.Pod{}
	pod.Name, pod.Labels = "p", map[string]string{"a": "b"}
	pod.Spec.Containers = []corev1.Container{{Name: "c", Image: "busybox"}}
	pod.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Pod"))
	if err := c.proto.Encode(pod, &pb); err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(0), uint8(2), uint8(1), pb.Bytes())
	f.Fuzz(func(t *testing.T, kind, media, fv uint8, body []byte) {
		res, ok := reg.Lookup(decodeKinds[int(kind)%len(decodeKinds)])
		if !ok {
			t.Fatal("no resource")
		}
		obj, _, err := c.decode(body, decodeMedia[int(media)%len(decodeMedia)], res.GVK(), res.New(), fieldValidations[int(fv)%len(fieldValidations)])
		wantClientError(t, "decode", err)
		if err == nil {
			if obj == nil {
				t.Fatal("nil object without an error")
			}
			// What decodes must encode again (it is stored and served).
			if _, err := runtime.Encode(c.json, obj); err != nil {
				t.Fatalf("re-encode %T: %v", obj, err)
			}
		}
	})
}

var patchTypes = []string{"application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json"}

func FuzzPatch(f *testing.F) {
	reg, c := fuzzRegistry(f)
	f.Add(uint8(0), uint8(2), []byte(`{"metadata":{"labels":{"tier":"front"}},"spec":{"containers":[{"name":"c","image":"busybox:2"}]}}`))
	f.Add(uint8(0), uint8(2), []byte(`{"spec":{"containers":[{"$patch":"delete","name":"c"}],"$setElementOrder/containers":[{"name":"c"}]}}`))
	f.Add(uint8(0), uint8(2), []byte(`{"spec":{"$retainKeys":["containers"],"containers":[{"name":"d","image":"x"}]}}`))
	f.Add(uint8(0), uint8(2), []byte(`{"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}}`))
	f.Add(uint8(1), uint8(1), []byte(`{"data":{"a":null,"b":"2"}}`))
	f.Add(uint8(1), uint8(0), []byte(`[{"op":"add","path":"/data/c","value":"3"},{"op":"test","path":"/data/a","value":"1"},{"op":"copy","from":"/data","path":"/metadata/labels"},{"op":"move","from":"/data/c","path":"/data/d"},{"op":"remove","path":"/data/a"}]`))
	f.Add(uint8(2), uint8(0), []byte(`[{"op":"replace","path":"/spec/replicas","value":3},{"op":"add","path":"/spec/template/spec/containers/-","value":{"name":"e","image":"y"}},{"op":"remove","path":"/spec/template/spec/containers/-1"}]`))
	f.Add(uint8(2), uint8(2), []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"c","env":[{"name":"A","value":"1"}]}]}}}}`))
	f.Add(uint8(3), uint8(1), []byte(`{"spec":{"settings":{"a":1},"rules":null}}`))
	for _, seed := range fuzzObjects {
		f.Add(uint8(0), uint8(1), []byte(seed.body))
	}
	targets := []struct {
		gvr  schema.GroupVersionResource
		body string
	}{
		{corev1.SchemeGroupVersion.WithResource("pods"), fuzzObjects[0].body},
		{corev1.SchemeGroupVersion.WithResource("configmaps"), fuzzObjects[1].body},
		{appsv1.SchemeGroupVersion.WithResource("deployments"), fuzzObjects[4].body},
		{pluginsv1alpha1.SchemeGroupVersion.WithResource("admissionpolicies"), `{"apiVersion":"plugins.skiff.dev/v1alpha1","kind":"AdmissionPolicy","metadata":{"name":"p","finalizers":["a"]},"spec":{"module":"sha256-ab","rules":[{"operations":["CREATE"],"apiGroups":[""],"apiVersions":["v1"],"resources":["pods"]}]}}`},
	}
	type target struct {
		res     *registry.Resource
		current runtime.Object
	}
	var objs []target
	for _, tg := range targets {
		res, ok := reg.Lookup(tg.gvr)
		if !ok {
			f.Fatalf("no resource %s", tg.gvr)
		}
		obj, _, err := c.decode([]byte(tg.body), "application/json", res.GVK(), res.New(), fieldValidationStrict)
		if err != nil {
			f.Fatalf("decode %s: %v", tg.gvr, err)
		}
		objs = append(objs, target{res, obj})
	}
	h := &Handler{codecs: c}
	f.Fuzz(func(t *testing.T, which, pt uint8, patch []byte) {
		tg := objs[int(which)%len(objs)]
		out, err := h.applyPatch(patchTypes[int(pt)%len(patchTypes)], patch, tg.current.DeepCopyObject(), tg.res)
		wantClientError(t, "patch", err)
		if err != nil {
			return
		}
		if len(out) > MaxObjectBytes+len(patch)+(64<<10) {
			t.Fatalf("patched object grew to %d bytes", len(out))
		}
		// What the handler does next with the result.
		_, _, err = c.decode(out, "application/json", tg.res.GVK(), tg.res.New(), fieldValidationWarn)
		wantClientError(t, "decode patched", err)
	})
}

// TestJSONPatchCopyBomb: copy operations that double the document each time
// must not make the server build a huge object.
func TestJSONPatchCopyBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString(`[{"op":"add","path":"/data/x","value":"` + strings.Repeat("a", 1024) + `"},{"op":"add","path":"/metadata/annotations","value":{}}`)
	b.WriteString(`,{"op":"copy","from":"/data","path":"/metadata/annotations/d0"}`)
	for i := 1; i < 40; i++ {
		b.WriteString(`,{"op":"copy","from":"/metadata/annotations","path":"/metadata/annotations/d` + string(rune('0'+i%10)) + string(rune('a'+i/10)) + `"}`)
	}
	b.WriteString("]")
	_, err := patchJSON("application/json-patch+json", []byte(fuzzObjects[1].body), []byte(b.String()), &corev1.ConfigMap{})
	if err == nil {
		t.Fatal("a patch that doubles the object 40 times was applied")
	}
	wantClientError(t, "copy bomb", err)
	if !apierrors.IsRequestEntityTooLargeError(err) {
		t.Fatalf("want 413, got %v", err)
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range handlerSeeds {
		f.Add(s.method, s.path)
	}
	f.Add(uint8(0), "/apis/apps/v1/watch/namespaces/a/deployments/x")
	f.Add(uint8(0), "/api/v1/nodes/n1/proxy/metrics/cadvisor")
	f.Add(uint8(0), "//api//v1//namespaces//pods")
	f.Add(uint8(1), "/api/v1/namespaces/status/status")
	f.Fuzz(func(t *testing.T, method uint8, path string) {
		r := &http.Request{Method: fuzzMethods[int(method)%len(fuzzMethods)], URL: &url.URL{Path: path}}
		info, ok := parseRequest(r)
		if !ok {
			return
		}
		if info.Resource == "" {
			t.Fatalf("%q: ok without a resource: %+v", path, info)
		}
		if info.Subresource != "" && info.Name == "" {
			t.Fatalf("%q: subresource without a name: %+v", path, info)
		}
		if info.ProxyPath != "" && info.Subresource != "proxy" {
			t.Fatalf("%q: proxy path outside proxy: %+v", path, info)
		}
	})
}

// FuzzQueryOptions fuzzes the query parameters and bodies the list, watch,
// delete and write paths read: selectors, resourceVersion(Match), limit,
// continue, sendInitialEvents, DeleteOptions (JSON and protobuf body plus
// query), fieldValidation and dryRun.
func FuzzQueryOptions(f *testing.F) {
	reg, c := fuzzRegistry(f)
	seeds := []string{
		"labelSelector=app%3Dweb%2Ctier+notin+(a%2Cb)%2C%21legacy&limit=500&resourceVersion=0",
		"fieldSelector=spec.nodeName%3Dn1%2Cstatus.phase%21%3DFailed",
		"fieldSelector=metadata.name%3D%3Dx%2Cmetadata.namespace%3Ddefault",
		"watch=1&resourceVersion=10&resourceVersionMatch=NotOlderThan&sendInitialEvents=true&allowWatchBookmarks=true",
		"continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTAsInN0YXJ0IjoiYSJ9&limit=1",
		"gracePeriodSeconds=-5&propagationPolicy=Foreground&dryRun=All",
		"orphanDependents=true&propagationPolicy=Orphan",
		"fieldValidation=Strict&dryRun=All&dryRun=All",
		"fieldValidation=strict",
		"labelSelector=a+in+()&limit=-1",
	}
	for i, q := range seeds {
		f.Add(uint8(i), q, uint8(0), []byte(nil))
	}
	f.Add(uint8(0), "", uint8(0), []byte(`{"kind":"DeleteOptions","apiVersion":"v1","gracePeriodSeconds":30,"preconditions":{"uid":"u","resourceVersion":"1"},"dryRun":["All"]}`))
	f.Add(uint8(0), "dryRun=All", uint8(1), []byte("\n\x0ek8s\x00"))
	resources := []*registry.Resource{}
	for _, gvr := range decodeKinds {
		res, _ := reg.Lookup(gvr)
		resources = append(resources, res)
	}
	h := &Handler{codecs: c}
	f.Fuzz(func(t *testing.T, which uint8, query string, media uint8, body []byte) {
		res := resources[int(which)%len(resources)]
		mt := "application/json"
		if media%2 == 1 {
			mt = "application/vnd.kubernetes.protobuf"
		}
		for _, path := range []string{"/api/v1/pods", "/api/v1/watch/pods"} {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.URL = &url.URL{Path: path, RawQuery: query}
			_, err := listOptions(r, res)
			wantClientError(t, "listOptions", err)
		}
		r := httptest.NewRequest(http.MethodDelete, "/", bytes.NewReader(body))
		r.URL = &url.URL{Path: "/api/v1/namespaces/a/pods/p", RawQuery: query}
		r.Header.Set("Content-Type", mt)
		opts, err := h.deleteOptions(r)
		wantClientError(t, "deleteOptions", err)
		if err == nil && opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds < 0 {
			t.Fatalf("negative grace period %d survived", *opts.GracePeriodSeconds)
		}
		r = httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.URL = &url.URL{Path: "/api/v1/namespaces/a/pods", RawQuery: query}
		_, fv, _, err := readWrite(r)
		wantClientError(t, "readWrite", err)
		if err == nil && fv != fieldValidationIgnore && fv != fieldValidationWarn && fv != fieldValidationStrict {
			t.Fatalf("fieldValidation %q accepted", fv)
		}
	})
}

// TestMalformedPatchesAreBadRequests: inputs that made the patch libraries
// panic (found by FuzzPatch; the fuzz corpus in testdata/fuzz keeps them
// too) are 400s.
func TestMalformedPatchesAreBadRequests(t *testing.T) {
	tests := []struct {
		name, pt, patch string
	}{
		{"JSON patch replacing the document without a value", "application/json-patch+json", `[{"op":"replace","path":""}]`},
		{"JSON patch add without a value", "application/json-patch+json", `[{"op":"add","path":"/data/x"}]`},
		{"strategic merge key that is a list", "application/strategic-merge-patch+json", `{"spec":{"containers":[{"name":[]}]}}`},
		{"strategic merge key that is an object", "application/strategic-merge-patch+json", `{"spec":{"containers":[{"name":{"a":1}}]}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := patchJSON(tc.pt, []byte(fuzzObjects[0].body), []byte(tc.patch), &corev1.Pod{})
			if !apierrors.IsBadRequest(err) {
				t.Fatalf("got %v, want 400", err)
			}
		})
	}
}
