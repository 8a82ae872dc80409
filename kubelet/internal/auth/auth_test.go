package auth

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/api/pki"
	"skiff.dev/kubelet/internal/servingcert"
)

// fakeAPIServer answers TokenReviews (one known token) and
// SubjectAccessReviews (a table of allowed user/verb/subresource) and
// counts the calls.
type fakeAPIServer struct {
	tokens  map[string]authenticationv1.UserInfo
	allowed map[string]bool // "user verb subresource"
	delay   time.Duration   // added to every review (API server round trip)

	tokenReviews, accessReviews atomic.Int64
	mu                          sync.Mutex
	lastSAR                     authorizationv1.SubjectAccessReviewSpec
}

func (f *fakeAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	time.Sleep(f.delay)
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/apis/authentication.k8s.io/v1/tokenreviews":
		f.tokenReviews.Add(1)
		var tr authenticationv1.TokenReview
		_ = json.NewDecoder(r.Body).Decode(&tr)
		if u, ok := f.tokens[tr.Spec.Token]; ok {
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: u}
		} else {
			tr.Status = authenticationv1.TokenReviewStatus{Error: "invalid bearer token"}
		}
		_ = json.NewEncoder(w).Encode(tr)
	case "/apis/authorization.k8s.io/v1/subjectaccessreviews":
		f.accessReviews.Add(1)
		var sar authorizationv1.SubjectAccessReview
		_ = json.NewDecoder(r.Body).Decode(&sar)
		f.mu.Lock()
		f.lastSAR = sar.Spec
		f.mu.Unlock()
		ra := sar.Spec.ResourceAttributes
		sar.Status.Allowed = ra != nil && ra.Resource == "nodes" && ra.Name == "n1" &&
			f.allowed[sar.Spec.User+" "+ra.Verb+" "+ra.Subresource]
		if !sar.Status.Allowed {
			sar.Status.Reason = "no RBAC policy matched"
		}
		_ = json.NewEncoder(w).Encode(sar)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

type harness struct {
	api     *fakeAPIServer
	url     string
	ca      *pki.CA
	otherCA *pki.CA
	dir     string
}

// start serves an "ok" handler guarded by Auth over TLS, as the kubelet does.
func start(t *testing.T, mode string, anonymous bool, delay time.Duration) *harness {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.LoadOrCreateCA(filepath.Join(dir, "other"))
	if err != nil {
		t.Fatal(err)
	}
	api := &fakeAPIServer{
		tokens: map[string]authenticationv1.UserInfo{"good-token": {Username: "system:serviceaccount:default:reader", Groups: []string{"system:serviceaccounts", "system:authenticated"}}},
		allowed: map[string]bool{
			"admin get proxy": true, "admin create proxy": true, "admin get stats": true,
			"system:serviceaccount:default:reader get stats": true,
			"system:anonymous get metrics":                   true,
		},
		delay: delay,
	}
	apiSrv := httptest.NewServer(api)
	t.Cleanup(apiSrv.Close)
	client, err := kubernetes.NewForConfig(&rest.Config{Host: apiSrv.URL, ContentConfig: rest.ContentConfig{ContentType: "application/json"}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{NodeName: "n1", ClientCAs: ca.Pool(), Client: client, Anonymous: anonymous, Mode: mode,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := servingcert.Ensure(filepath.Join(dir, "serving"), "n1", []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(a.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			t.Errorf("credentials reached the handler")
		}
		_, _ = io.WriteString(w, "ok")
	})))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &harness{api: api, url: srv.URL, ca: ca, otherCA: other, dir: dir}
}

// client returns an HTTPS client presenting a certificate for user from ca
// (no certificate when ca is nil).
func (h *harness) client(t testing.TB, ca *pki.CA, name string, groups ...string) *http.Client {
	t.Helper()
	conf := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // self-signed kubelet cert
	if ca != nil {
		certPEM, keyPEM, err := ca.NewClient(name, groups)
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: conf}, Timeout: 10 * time.Second}
}

func do(t testing.TB, c *http.Client, method, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestWrap(t *testing.T) {
	h := start(t, ModeWebhook, false, 0)
	anon := start(t, ModeWebhook, true, 0)
	allow := start(t, ModeAlwaysAllow, false, 0)
	cases := []struct {
		name     string
		h        *harness
		ca       func(*harness) *pki.CA
		user     string
		token    string
		method   string
		path     string
		code     int
		contains string
	}{
		{"no credentials", h, nil, "", "", "GET", "/containerLogs/default/p/c", 401, `"reason":"Unauthorized"`},
		{"cert from another CA", h, func(h *harness) *pki.CA { return h.otherCA }, "admin", "", "GET", "/containerLogs/default/p/c", 401, `"code":401`},
		{"bad token", h, nil, "", "bogus", "GET", "/stats/summary", 401, "Unauthorized"},
		{"admin cert reads logs", h, clusterCA, "admin", "", "GET", "/containerLogs/default/p/c", 200, "ok"},
		{"admin cert execs", h, clusterCA, "admin", "", "POST", "/exec/default/p/c", 200, "ok"},
		{"viewer cert denied logs", h, clusterCA, "viewer", "", "GET", "/containerLogs/default/p/c", 403, "Forbidden (user=viewer, verb=get, resource=nodes, subresource=proxy)"},
		{"viewer cert denied exec", h, clusterCA, "viewer", "", "GET", "/exec/default/p/c?command=ls", 403, `"reason":"Forbidden"`},
		{"token reads stats", h, nil, "", "good-token", "GET", "/stats/summary", 200, "ok"},
		{"token denied proxy", h, nil, "", "good-token", "GET", "/pods", 403, "system:serviceaccount:default:reader"},
		{"anonymous off", h, nil, "", "", "GET", "/metrics/resource", 401, "Unauthorized"},
		{"anonymous on, authorized", anon, nil, "", "", "GET", "/metrics/resource", 200, "ok"},
		{"anonymous on, still authorized", anon, nil, "", "", "GET", "/containerLogs/default/p/c", 403, "system:anonymous"},
		{"AlwaysAllow needs authentication", allow, nil, "", "", "GET", "/pods", 401, "Unauthorized"},
		{"AlwaysAllow lets any user in", allow, clusterCA, "viewer", "", "GET", "/pods", 200, "ok"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ca *pki.CA
			if tc.ca != nil {
				ca = tc.ca(tc.h)
			}
			code, body := do(t, tc.h.client(t, ca, tc.user), tc.method, tc.h.url+tc.path, tc.token)
			if code != tc.code || !strings.Contains(body, tc.contains) {
				t.Fatalf("got %d %s, want %d containing %q", code, body, tc.code, tc.contains)
			}
		})
	}
	// The SAR carries the certificate's groups plus system:authenticated.
	do(t, h.client(t, h.ca, "viewer", "team-a"), "GET", h.url+"/stats/summary", "")
	h.api.mu.Lock()
	spec := h.api.lastSAR
	h.api.mu.Unlock()
	if spec.User != "viewer" || !slices.Contains(spec.Groups, "team-a") || !slices.Contains(spec.Groups, "system:authenticated") ||
		spec.ResourceAttributes.Version != "v1" || spec.ResourceAttributes.Subresource != "stats" {
		t.Fatalf("last SubjectAccessReview: %+v %+v", spec, spec.ResourceAttributes)
	}
}

func clusterCA(h *harness) *pki.CA { return h.ca }

func TestAttributes(t *testing.T) {
	cases := []struct{ method, path, verb, sub string }{
		{"GET", "/stats/summary", "get", "stats"},
		{"GET", "/stats", "get", "stats"},
		{"GET", "/statsfoo", "get", "proxy"},
		{"GET", "/metrics", "get", "metrics"},
		{"GET", "/metrics/resource", "get", "metrics"},
		{"GET", "/metrics/cadvisor", "get", "metrics"},
		{"GET", "/logs/syslog", "get", "log"},
		{"GET", "/containerLogs/ns/p/c", "get", "proxy"},
		{"POST", "/exec/ns/p/c", "create", "proxy"},
		{"GET", "/exec/ns/p/c", "get", "proxy"},
		{"POST", "/attach/ns/p/c", "create", "proxy"},
		{"POST", "/portForward/ns/p", "create", "proxy"},
		{"POST", "/run/ns/p/c", "create", "proxy"},
		{"GET", "/pods", "get", "proxy"},
		{"GET", "/spec/", "get", "proxy"},
		{"GET", "/healthz", "get", "proxy"},
		{"PUT", "/pods", "update", "proxy"},
		{"PATCH", "/pods", "patch", "proxy"},
		{"DELETE", "/pods", "delete", "proxy"},
		{"HEAD", "/pods", "get", "proxy"},
	}
	u := &user.DefaultInfo{Name: "u"}
	for _, tc := range cases {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			a := Attributes(u, httptest.NewRequest(tc.method, tc.path, nil), "n1")
			if a.GetVerb() != tc.verb || a.GetSubresource() != tc.sub || a.GetResource() != "nodes" || a.GetName() != "n1" ||
				a.GetAPIGroup() != "" || a.GetAPIVersion() != "v1" || !a.IsResourceRequest() {
				t.Fatalf("got verb=%s resource=%s/%s name=%s", a.GetVerb(), a.GetResource(), a.GetSubresource(), a.GetName())
			}
		})
	}
}

// TestCaching checks that repeated requests cost one TokenReview and one
// SubjectAccessReview, and reports the latency with cold and warm caches
// when the API server takes 2ms per review.
func TestCaching(t *testing.T) {
	h := start(t, ModeWebhook, false, 2*time.Millisecond)
	tokenClient := h.client(t, nil, "")
	certClient := h.client(t, h.ca, "admin")
	// Warm the TLS connections so that handshakes do not count.
	do(t, tokenClient, "GET", h.url+"/healthz?warm", "bogus")
	do(t, certClient, "GET", h.url+"/stats/summary", "")
	measure := func(c *http.Client, token, path string) time.Duration {
		start := time.Now()
		if code, body := do(t, c, "GET", h.url+path, token); code != 200 {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		return time.Since(start)
	}
	trBefore, sarBefore := h.api.tokenReviews.Load(), h.api.accessReviews.Load()
	coldToken := measure(tokenClient, "good-token", "/stats/summary")
	coldCert := measure(certClient, "", "/containerLogs/ns/p/c")
	var warmToken, warmCert time.Duration
	const n = 50
	for i := 0; i < n; i++ {
		warmToken += measure(tokenClient, "good-token", "/stats/summary")
		warmCert += measure(certClient, "", "/containerLogs/ns/p/c")
	}
	if got := h.api.tokenReviews.Load() - trBefore; got != 1 {
		t.Errorf("token reviews = %d, want 1", got)
	}
	if got := h.api.accessReviews.Load() - sarBefore; got != 2 {
		t.Errorf("access reviews = %d, want 2 (token user and cert user)", got)
	}
	// Denials are cached too (30s).
	viewer := h.client(t, h.ca, "viewer")
	sarBefore = h.api.accessReviews.Load()
	for i := 0; i < 3; i++ {
		if code, _ := do(t, viewer, "GET", h.url+"/pods", ""); code != 403 {
			t.Fatalf("viewer: %d", code)
		}
	}
	if got := h.api.accessReviews.Load() - sarBefore; got != 1 {
		t.Errorf("access reviews for a denied user = %d, want 1", got)
	}
	t.Logf("kubelet API request latency, 2ms per review: token uncached %v, cached %v; client cert uncached %v, cached %v",
		coldToken.Round(time.Microsecond), (warmToken / n).Round(time.Microsecond),
		coldCert.Round(time.Microsecond), (warmCert / n).Round(time.Microsecond))
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{}, "node name"},
		{Options{NodeName: "n"}, "needs an API server client"},
		{Options{NodeName: "n", Mode: "RBAC"}, "unknown authorization mode"},
	} {
		if _, err := New(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.opts, err, tc.want)
		}
	}
}
