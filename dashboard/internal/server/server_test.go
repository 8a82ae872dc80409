package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"skiff.dev/api/testenv"
)

func newServer(t *testing.T, cfg *rest.Config, requireToken bool) *httptest.Server {
	t.Helper()
	s, err := New(Options{RESTConfig: cfg, RequireToken: requireToken, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() { s.Close(); srv.Close() })
	return srv
}

type status struct {
	Kind    string `json:"kind"`
	Code    int    `json:"code"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

func do(t *testing.T, method, url string, hdr map[string]string, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestActsWithUserToken checks the proxy forwards the user's token (header
// or cookie) instead of the dashboard's own credentials, uses those only
// for tokenless requests on an open (loopback) server, and applies the
// token requirement and cross-site protections.
func TestActsWithUserToken(t *testing.T) {
	var mu sync.Mutex
	var seen http.Header
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}`)
	}))
	defer up.Close()
	cfg := &rest.Config{Host: up.URL, BearerToken: "dashboard-own-secret"}
	open := newServer(t, cfg, false)
	strict := newServer(t, cfg, true)

	cases := []struct {
		name     string
		srv      *httptest.Server
		method   string
		hdr      map[string]string
		wantCode int
		wantAuth string
	}{
		{"header token", open, "GET", map[string]string{"Authorization": "Bearer alice"}, 200, "Bearer alice"},
		{"cookie token", open, "GET", map[string]string{"Cookie": "skiff_token=bob%20token"}, 200, "Bearer bob token"},
		{"dashboard's identity on loopback", open, "GET", nil, 200, "Bearer dashboard-own-secret"},
		{"token required", strict, "GET", nil, 401, ""},
		{"spoofed lowercase bearer", open, "GET", map[string]string{"Authorization": "bearer carol"}, 200, "Bearer carol"},
		{"token given when required", strict, "GET", map[string]string{"Authorization": "Bearer alice"}, 200, "Bearer alice"},
		{"cookie write without csrf header", open, "POST", map[string]string{"Cookie": "skiff_token=bob"}, 403, ""},
		{"cookie write with csrf header", open, "POST", map[string]string{"Cookie": "skiff_token=bob", csrfHeader: "1"}, 200, "Bearer bob"},
		{"cross-origin", open, "GET", map[string]string{"Origin": "http://evil.example", "Cookie": "skiff_token=bob"}, 403, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			code, _, body := do(t, tc.method, tc.srv.URL+"/api/v1/pods", tc.hdr, "")
			if code != tc.wantCode {
				t.Fatalf("code %d, want %d: %s", code, tc.wantCode, body)
			}
			mu.Lock()
			defer mu.Unlock()
			if code != 200 {
				var st status
				if err := json.Unmarshal([]byte(body), &st); err != nil || st.Kind != "Status" || st.Code != code {
					t.Fatalf("error body is not a Status: %s", body)
				}
				if seen != nil {
					t.Fatal("refused request reached the apiserver")
				}
				return
			}
			if got := seen.Get("Authorization"); got != tc.wantAuth {
				t.Fatalf("apiserver saw Authorization %q, want %q", got, tc.wantAuth)
			}
			if seen.Get("Cookie") != "" || seen.Get(csrfHeader) != "" {
				t.Fatalf("browser-only headers leaked upstream: %v", seen)
			}
		})
	}
}

func TestStatic(t *testing.T) {
	srv := newServer(t, &rest.Config{Host: "http://127.0.0.1:1"}, false)
	code, hdr, body := do(t, "GET", srv.URL+"/", nil, "")
	if code != 200 || !strings.Contains(body, "app.js") {
		t.Fatalf("GET / = %d %q", code, body)
	}
	if !strings.Contains(hdr.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("no CSP: %v", hdr)
	}
	for _, p := range []string{"/app.js", "/app.css", "/logo.svg"} {
		if code, _, _ := do(t, "GET", srv.URL+p, nil, ""); code != 200 {
			t.Errorf("GET %s = %d", p, code)
		}
	}
	if code, _, _ := do(t, "POST", srv.URL+"/", map[string]string{csrfHeader: "1"}, ""); code != http.StatusMethodNotAllowed {
		t.Errorf("POST / = %d", code)
	}
	// An unreachable apiserver is a 502 Status, not a hang or a panic.
	code, _, body = do(t, "GET", srv.URL+"/api/v1/pods", nil, "")
	var st status
	if code != http.StatusBadGateway || json.Unmarshal([]byte(body), &st) != nil || st.Kind != "Status" {
		t.Fatalf("unreachable apiserver: %d %s", code, body)
	}
}

// TestYAMLAndWasmOnRealAPIServer exercises the YAML gateway and the module
// upload against a real skiff apiserver.
func TestYAMLAndWasmOnRealAPIServer(t *testing.T) {
	env := testenv.StartAPIServer(t, testenv.Options{})
	srv := newServer(t, env.Config, false)
	ctx := context.Background()
	if _, err := env.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"a": "1"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w := map[string]string{csrfHeader: "1"}
	obj := "/dashboard/yaml?path=/api/v1/namespaces/default/configmaps/cfg"
	coll := "/dashboard/yaml?path=/api/v1/namespaces/default/configmaps"

	code, hdr, y := do(t, "GET", srv.URL+obj, nil, "")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/yaml") || !strings.Contains(y, "kind: ConfigMap") || strings.Contains(y, "managedFields") {
		t.Fatalf("GET yaml = %d %s\n%s", code, hdr.Get("Content-Type"), y)
	}

	cases := []struct {
		name     string
		method   string
		url      string
		body     string
		wantCode int
		want     string
	}{
		{"edit", "PUT", obj, strings.Replace(y, `a: "1"`, `a: "2"`, 1), 200, `"a":"2"`},
		{"invalid yaml", "PUT", obj, "data: [", 400, "invalid YAML"},
		{"not a mapping", "PUT", obj, "- a\n- b\n", 400, "single object"},
		{"validation error passes through", "POST", coll, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n", 422, "Bad_Name"},
		{"dry run", "POST", coll + "&dryRun=All", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dry\n", 201, `"name":"dry"`},
		{"bad path", "GET", "/dashboard/yaml?path=/etc/passwd", "", 400, "must start with"},
		{"missing object", "GET", "/dashboard/yaml?path=/api/v1/namespaces/default/configmaps/nope", "", 404, "not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := do(t, tc.method, srv.URL+tc.url, w, tc.body)
			if code != tc.wantCode || !strings.Contains(body, tc.want) {
				t.Fatalf("%s %s = %d %s; want %d containing %q", tc.method, tc.url, code, body, tc.wantCode, tc.want)
			}
		})
	}
	if _, err := env.Client.CoreV1().ConfigMaps("default").Get(ctx, "dry", metav1.GetOptions{}); err == nil {
		t.Fatal("dry run stored the object")
	}

	// Module upload.
	if code, _, body := do(t, "POST", srv.URL+"/dashboard/wasm", w, "not wasm at all"); code != 400 || !strings.Contains(body, "WebAssembly") {
		t.Fatalf("upload garbage = %d %s", code, body)
	}
	module := "\x00asm\x01\x00\x00\x00" // the smallest valid module
	code, _, body := do(t, "POST", srv.URL+"/dashboard/wasm?description=empty", w, module)
	if code != 200 {
		t.Fatalf("upload = %d %s", code, body)
	}
	var mod struct {
		Metadata struct{ Name string } `json:"metadata"`
		Spec     struct {
			SHA256 string `json:"sha256"`
			Size   int    `json:"size"`
		} `json:"spec"`
	}
	if err := json.Unmarshal([]byte(body), &mod); err != nil {
		t.Fatal(err)
	}
	if mod.Metadata.Name != "sha256-"+mod.Spec.SHA256 || mod.Spec.Size != 8 {
		t.Fatalf("module = %+v", mod)
	}
	// Uploading the same bytes again is idempotent.
	if code, _, body := do(t, "POST", srv.URL+"/dashboard/wasm", w, module); code != 200 {
		t.Fatalf("second upload = %d %s", code, body)
	}
}

// TestIdentityOnTLSAPIServer runs against a real TLS apiserver: a request
// without a token acts as the dashboard (here the admin), one with a user
// token acts as that user only — the dashboard's client certificate is not
// presented with it — and a bad token is refused by the apiserver.
func TestIdentityOnTLSAPIServer(t *testing.T) {
	tokens := filepath.Join(t.TempDir(), "tokens.csv")
	if err := os.WriteFile(tokens, []byte("alice-token,alice,alice-uid,\"team-a\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := testenv.StartAPIServer(t, testenv.Options{ExtraArgs: []string{"--token-auth-file", tokens}})
	if !strings.HasPrefix(env.URL, "https://") {
		t.Fatalf("testenv URL %s is not TLS", env.URL)
	}
	open := newServer(t, env.Config, false)
	strict := newServer(t, env.Config, true)
	whoami := `{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`
	const review = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
	cases := []struct {
		name     string
		srv      *httptest.Server
		method   string
		path     string
		hdr      map[string]string
		body     string
		wantCode int
		want     string
	}{
		{"tokenless acts as the dashboard", open, "POST", review, map[string]string{csrfHeader: "1", "Content-Type": "application/json"}, whoami, 201, `"username":"admin"`},
		{"tokenless list", open, "GET", "/api/v1/namespaces/default/configmaps", nil, "", 200, `"kind":"ConfigMapList"`},
		{"user token acts as the user", open, "POST", review, map[string]string{"Authorization": "Bearer alice-token", "Content-Type": "application/json"}, whoami, 201, `"username":"alice"`},
		{"user without rights is forbidden", open, "GET", "/api/v1/namespaces/default/configmaps", map[string]string{"Authorization": "Bearer alice-token"}, "", 403, `User \"alice\" cannot list`},
		{"cookie token", open, "GET", "/api/v1/namespaces/default/configmaps", map[string]string{"Cookie": "skiff_token=alice-token"}, "", 403, "alice"},
		{"bad token is refused upstream", open, "GET", "/api/v1/namespaces/default/configmaps", map[string]string{"Authorization": "Bearer forged"}, "", 401, "Unauthorized"},
		{"yaml gateway acts as the user", open, "GET", "/dashboard/yaml?path=/api/v1/namespaces/default/configmaps", map[string]string{"Authorization": "Bearer alice-token"}, "", 403, "alice"},
		{"strict server wants a token", strict, "GET", "/api/v1/namespaces/default/configmaps", nil, "", 401, "log in"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := do(t, tc.method, tc.srv.URL+tc.path, tc.hdr, tc.body)
			if code != tc.wantCode || !strings.Contains(body, tc.want) {
				t.Fatalf("%s %s = %d %s; want %d containing %q", tc.method, tc.path, code, body, tc.wantCode, tc.want)
			}
		})
	}
}
