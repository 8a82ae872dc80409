package audit

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/util/sets"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/kubernetes/scheme"
)

func TestObjectName(t *testing.T) {
	t.Parallel()
	cm := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{Kind: "ConfigMap", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "ns", UID: "u-1", Labels: map[string]string{"a": "b"}},
		Data:       map[string]string{"big": strings.Repeat("x", 4000)}}
	js, err := json.Marshal(cm)
	if err != nil {
		t.Fatal(err)
	}
	var pb bytes.Buffer
	if err := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme).Encode(cm, &pb); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		body     []byte
		wantName string
		wantUID  string
	}{
		{"json", js, "cfg", "u-1"},
		{"json cut off", js[:headBytes], "cfg", "u-1"},
		{"protobuf", pb.Bytes(), "cfg", "u-1"},
		{"protobuf cut off", pb.Bytes()[:headBytes], "cfg", "u-1"},
		{"protobuf cut inside the name", pb.Bytes()[:30], "", ""},
		{"not an object", []byte("[1,2]"), "", ""},
		{"empty", nil, "", ""},
		{"garbage", []byte("k8s\x00\xff\xff\xff"), "", ""},
	}
	for _, tc := range tests {
		name, uid := objectName(tc.body)
		if name != tc.wantName || string(uid) != tc.wantUID {
			t.Errorf("%s: got %q %q, want %q %q", tc.name, name, uid, tc.wantName, tc.wantUID)
		}
	}
}

func TestWrapRecordsWritesOnly(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a", "audit.log")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	info := &request.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}
	h := l.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"made","namespace":"ns"}}`))
		}
	}))
	for _, m := range []string{"GET", "POST", "DELETE"} {
		path := "/api/v1/namespaces/ns/configmaps"
		if m == "DELETE" {
			path += "/gone"
		}
		req := httptest.NewRequest(m, path, nil)
		req.Header.Set("Authorization", "Bearer very-secret")
		ri, err := info.NewRequestInfo(req)
		if err != nil {
			t.Fatal(err)
		}
		ctx := request.WithRequestInfo(request.WithUser(req.Context(), &user.DefaultInfo{Name: "alice", Groups: []string{"devs"}}), ri)
		h.ServeHTTP(httptest.NewRecorder(), req.WithContext(ctx))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode %v, want 0600", fi.Mode().Perm())
	}
	if bytes.Contains(raw, []byte("very-secret")) {
		t.Fatal("the audit log holds a token")
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d audit lines, want 2 (create, delete):\n%s", len(lines), raw)
	}
	want := []struct {
		verb, name string
		code       int32
	}{{"create", "made", 201}, {"delete", "gone", 200}}
	for i, line := range lines {
		var ev auditv1.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Verb != want[i].verb || ev.ObjectRef == nil || ev.ObjectRef.Name != want[i].name || ev.ResponseStatus.Code != want[i].code ||
			ev.User.Username != "alice" || ev.ObjectRef.Resource != "configmaps" || ev.ObjectRef.Namespace != "ns" || ev.Level != auditv1.LevelMetadata {
			t.Errorf("event %d: %s", i, line)
		}
	}
}

func TestImpersonatedUser(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	admin := &user.DefaultInfo{Name: "admin", Groups: []string{"system:masters"}}
	bob := &user.DefaultInfo{Name: "bob"}
	// authentication → RememberUser → (impersonation swaps the user) → audit
	h := RememberUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })).
			ServeHTTP(w, r.WithContext(request.WithUser(r.Context(), bob)))
	}))
	req := httptest.NewRequest(http.MethodDelete, "/api/v1/namespaces/ns/configmaps/x", nil)
	h.ServeHTTP(httptest.NewRecorder(), req.WithContext(request.WithUser(req.Context(), admin)))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ev auditv1.Event
	if err := json.Unmarshal(bytes.TrimSpace(raw), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.User.Username != "admin" || ev.ImpersonatedUser == nil || ev.ImpersonatedUser.Username != "bob" {
		t.Fatalf("user %q impersonated %+v; want admin acting as bob", ev.User.Username, ev.ImpersonatedUser)
	}
}
