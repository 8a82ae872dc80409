package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/apiserver/internal/defaults"
	"skiff.dev/apiserver/internal/registry"
	"skiff.dev/apiserver/internal/validation"
)

// Fuzz targets for everything a client controls in a request: method, path,
// query, content type and body, through the real Handler (decoding,
// fieldValidation, dryRun, patches, list/delete options, strategies,
// defaulting and validation) on an in-memory store. A panic, a 5xx or an
// error that is not a proper metav1.Status fails the target.
//
//	go test -run '^$' -fuzz '^FuzzHandler$' -fuzztime 1m ./internal/rest

var fuzzMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead, http.MethodOptions}

var fuzzMedia = []string{
	"application/json", "application/yaml", "application/vnd.kubernetes.protobuf",
	"application/merge-patch+json", "application/strategic-merge-patch+json", "application/json-patch+json",
	"application/apply-patch+yaml", "", "text/plain", "application/wasm", "application/json; charset=utf-8", "*/*",
}

// memContent is an in-memory ContentStore.
type memContent struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (c *memContent) Put(_ context.Context, name string, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[name] = append([]byte(nil), data...)
	return nil
}

func (c *memContent) Get(_ context.Context, name string) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.m[name]
	return d, ok, nil
}

func (c *memContent) Delete(_ context.Context, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, name)
	return nil
}

// fuzzServer is a Handler on memory stores with the apiserver's real
// defaulting and validation.
type fuzzServer struct {
	h      *Handler
	stores *memStores
}

func newFuzzServer(t testing.TB) *fuzzServer {
	t.Helper()
	scheme, err := registry.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(registry.Complete(registry.Default()))
	if err != nil {
		t.Fatal(err)
	}
	s := &fuzzServer{stores: newMemStores(reg)}
	review := CreateHandler{
		GVK: authenticationv1.SchemeGroupVersion.WithKind("TokenReview"),
		New: func() runtime.Object { return &authenticationv1.TokenReview{} },
		Create: func(_ context.Context, _ *http.Request, _, _ string, obj runtime.Object) (runtime.Object, error) {
			tr := obj.(*authenticationv1.TokenReview)
			tr.Status.Authenticated = false
			return tr, nil
		},
	}
	s.h, err = New(Options{
		Registry:             reg,
		Scheme:               scheme,
		Stores:               s.stores.stores,
		Default:              defaults.Default,
		ValidateCreate:       validation.ValidateCreate,
		ValidateUpdate:       validation.ValidateUpdate,
		ValidateStatusUpdate: validation.ValidateStatusUpdate,
		Content:              &memContent{m: map[string][]byte{}},
		Creates:              map[string]CreateHandler{CreateKey(authenticationv1.SchemeGroupVersion.WithResource("tokenreviews").GroupResource(), ""): review},
		Logger:               slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	s.reset(t)
	return s
}

// reset empties the stores and recreates the usual namespaces and a few
// objects for requests to find.
func (s *fuzzServer) reset(t testing.TB) {
	for _, ms := range s.stores.byRes {
		s.stores.mu.Lock()
		ms.objs = map[string]runtime.Object{}
		s.stores.mu.Unlock()
	}
	for _, ns := range []string{"default", "kube-system"} {
		if err := s.h.EnsureNamespace(context.Background(), ns); err != nil {
			t.Fatal(err)
		}
	}
	for _, seed := range fuzzObjects {
		code, body := s.do(http.MethodPost, seed.collection, "", "application/json", []byte(seed.body))
		if code != http.StatusCreated {
			t.Fatalf("seed %s: %d %s", seed.collection, code, body)
		}
	}
}

func (s *fuzzServer) do(method, path, rawQuery, media string, body []byte) (int, []byte) {
	req := &http.Request{
		Method:        method,
		URL:           &url.URL{Path: path, RawQuery: rawQuery},
		Header:        http.Header{},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Host:          "fuzz",
	}
	if media != "" {
		req.Header.Set("Content-Type", media)
	}
	req = req.WithContext(context.Background())
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// fuzzObjects are created before fuzzing so gets, updates, patches and
// deletes hit real objects.
var fuzzObjects = []struct{ collection, body string }{
	{"/api/v1/namespaces/default/pods", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"busybox","ports":[{"containerPort":80}]}]}}`},
	{"/api/v1/namespaces/default/configmaps", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"},"data":{"a":"1"}}`},
	{"/api/v1/namespaces/default/secrets", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"stringData":{"p":"x"}}`},
	{"/api/v1/namespaces/default/services", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"svc"},"spec":{"clusterIP":"10.96.0.10","selector":{"app":"web"},"ports":[{"port":80}]}}`},
	{"/apis/apps/v1/namespaces/default/deployments", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"d"}},"template":{"metadata":{"labels":{"app":"d"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}`},
	{"/api/v1/nodes", `{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1","labels":{"kubernetes.io/hostname":"n1"}}}`},
	{"/apis/plugins.skiff.dev/v1alpha1/wasmmodules", `{"apiVersion":"plugins.skiff.dev/v1alpha1","kind":"WasmModule","metadata":{"name":"sha256-2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"},"spec":{"sha256":"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824","size":5}}`},
}

type fuzzRequest struct {
	method uint8
	path   string
	query  string
	media  uint8
	body   string
}

// handlerSeeds are realistic requests (what kubectl and client-go send).
var handlerSeeds = []fuzzRequest{
	{0, "/api/v1/namespaces/default/pods", "labelSelector=app%3Dweb&limit=500", 0, ""},
	{0, "/api/v1/pods", "fieldSelector=spec.nodeName%3Dn1%2Cstatus.phase%21%3DFailed&resourceVersion=0", 0, ""},
	{0, "/api/v1/namespaces/default/pods", "watch=true&resourceVersion=5&allowWatchBookmarks=true&timeoutSeconds=1", 0, ""},
	{0, "/api/v1/watch/namespaces/default/pods/web", "sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true", 0, ""},
	{0, "/apis/apps/v1/namespaces/default/deployments/d/scale", "", 0, ""},
	{0, "/api/v1/namespaces/default/pods/web", "resourceVersion=0", 0, ""},
	{1, "/api/v1/namespaces/default/configmaps", "fieldValidation=Strict&fieldManager=kubectl-create", 0, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","labels":{"a":"b"}},"data":{"k":"v"},"bogus":1}`},
	{1, "/api/v1/namespaces/default/configmaps", "dryRun=All", 1, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: x-\ndata:\n  k: v\n"},
	{1, "/api/v1/namespaces/default/pods", "", 0, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p2"},"spec":{"containers":[{"name":"c","image":"busybox","resources":{"limits":{"cpu":"100m","memory":"64Mi"}}}],"tolerations":[{"key":"k","operator":"Exists"}]}}`},
	{1, "/apis/apps/v1/namespaces/default/deployments", "fieldValidation=Warn", 0, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d2"},"spec":{"selector":{"matchLabels":{"a":"b"}},"strategy":{"rollingUpdate":{"maxSurge":"25%"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}`},
	{1, "/api/v1/namespaces/default/pods/web/binding", "", 0, `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"web"},"target":{"kind":"Node","name":"n1"}}`},
	{1, "/apis/authentication.k8s.io/v1/tokenreviews", "", 0, `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"abc"}}`},
	{2, "/api/v1/namespaces/default/configmaps/cm", "", 0, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm","resourceVersion":"3"},"data":{"a":"2"}}`},
	{2, "/apis/apps/v1/namespaces/default/deployments/d/scale", "", 0, `{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"d","namespace":"default"},"spec":{"replicas":3}}`},
	{2, "/api/v1/namespaces/default/finalize", "", 0, `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"},"spec":{"finalizers":[]}}`},
	{2, "/api/v1/nodes/n1/status", "", 0, `{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"},"status":{"conditions":[{"type":"Ready","status":"True"}],"capacity":{"cpu":"2","pods":"110"}}}`},
	{2, "/apis/plugins.skiff.dev/v1alpha1/wasmmodules/sha256-2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824/content", "", 9, "hello"},
	{3, "/api/v1/namespaces/default/pods/web", "", 4, `{"metadata":{"labels":{"tier":"front"}},"spec":{"containers":[{"name":"c","image":"busybox:2"}]}}`},
	{3, "/api/v1/namespaces/default/pods/web", "", 4, `{"spec":{"containers":[{"$patch":"delete","name":"c"}],"$setElementOrder/containers":[{"name":"c"}]}}`},
	{3, "/api/v1/namespaces/default/configmaps/cm", "", 3, `{"data":{"a":null,"b":"2"},"metadata":{"annotations":{"x":"y"}}}`},
	{3, "/api/v1/namespaces/default/configmaps/cm", "", 5, `[{"op":"add","path":"/data/c","value":"3"},{"op":"test","path":"/data/a","value":"1"},{"op":"copy","from":"/data","path":"/metadata/labels"},{"op":"move","from":"/data/c","path":"/data/d"},{"op":"remove","path":"/data/a"}]`},
	{3, "/apis/apps/v1/namespaces/default/deployments/d/scale", "", 3, `{"spec":{"replicas":5}}`},
	{3, "/api/v1/namespaces/default/pods/web/status", "", 4, `{"status":{"conditions":[{"type":"Ready","status":"True"}],"podIP":"10.0.0.5"}}`},
	{3, "/api/v1/namespaces/default/configmaps/applied", "fieldManager=kubectl&force=true", 6, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  k: v\n"},
	{4, "/api/v1/namespaces/default/pods/web", "gracePeriodSeconds=0&propagationPolicy=Background", 0, ""},
	{4, "/api/v1/namespaces/default/configmaps/cm", "", 0, `{"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"resourceVersion":"3"},"propagationPolicy":"Foreground"}`},
	{4, "/api/v1/namespaces/default/configmaps", "labelSelector=a%20in%20(b%2Cc)&dryRun=All", 0, ""},
	{4, "/api/v1/namespaces/kube-system", "", 0, ""},
	{1, "/api/v1/namespaces/default/pods/web/eviction", "", 0, `{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"web","namespace":"default"},"deleteOptions":{"gracePeriodSeconds":0}}`},
	{5, "/api/v1/nodes", "", 0, ""},
	{6, "/api/v1/namespaces/default/pods", "", 0, ""},
}

func FuzzHandler(f *testing.F) {
	for _, s := range handlerSeeds {
		f.Add(s.method, s.path, s.query, s.media, []byte(s.body))
	}
	srv := newFuzzServer(f)
	var pb bytes.Buffer
	zero := int64(0)
	if err := srv.h.codecs.metaProto.Encode(&metav1.DeleteOptions{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "DeleteOptions"}, GracePeriodSeconds: &zero}, &pb); err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(4), "/apis/apps/v1/namespaces/default/deployments/d", "orphanDependents=true", uint8(2), pb.Bytes())
	var mu sync.Mutex // the stores are shared; requests run one at a time
	f.Fuzz(func(t *testing.T, method uint8, path, query string, media uint8, body []byte) {
		mu.Lock()
		defer mu.Unlock()
		if srv.stores.size() > 2000 {
			srv.reset(t)
		}
		m := fuzzMethods[int(method)%len(fuzzMethods)]
		mt := fuzzMedia[int(media)%len(fuzzMedia)]
		code, out := srv.do(m, path, query, mt, body)
		checkResponse(t, code, out)
	})
}

// checkResponse fails on a 5xx and on an error response that is not a
// Status with the same code.
func checkResponse(t *testing.T, code int, out []byte) {
	t.Helper()
	if code >= 500 {
		t.Fatalf("server error %d: %s", code, out)
	}
	if code < 400 {
		return
	}
	var st metav1.Status
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("error %d is not a Status: %v: %q", code, err, out)
	}
	if st.Kind != "Status" || int(st.Code) != code || st.Status != metav1.StatusFailure || st.Reason == "" && code != http.StatusNotFound {
		t.Fatalf("error %d: bad Status %+v", code, st)
	}
}

// TestHandlerSeeds runs the seed requests once as a plain test, so the
// harness and the seeds stay working without -fuzz.
func TestHandlerSeeds(t *testing.T) {
	srv := newFuzzServer(t)
	for _, s := range handlerSeeds {
		code, out := srv.do(fuzzMethods[int(s.method)%len(fuzzMethods)], s.path, s.query, fuzzMedia[int(s.media)%len(fuzzMedia)], []byte(s.body))
		t.Logf("%s %s?%s: %d", fuzzMethods[int(s.method)%len(fuzzMethods)], s.path, s.query, code)
		checkResponse(t, code, out)
	}
}
