package apiserver_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/api/pki"
	"skiff.dev/apiserver"
)

// clusterCA is the shared server's generated CA.
func clusterCA(t *testing.T) *pki.CA {
	t.Helper()
	ca, err := pki.LoadOrCreateCA(shared.pkiDir)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// userClient returns a clientset for user in groups (x509, signed by the
// cluster CA).
func userClient(t *testing.T, e *env, ca *pki.CA, user string, groups ...string) kubernetes.Interface {
	t.Helper()
	cert, key, err := ca.NewClient(user, groups)
	if err != nil {
		t.Fatal(err)
	}
	return clientFor(t, &rest.Config{Host: e.url, TLSClientConfig: rest.TLSClientConfig{CAData: ca.CertPEM, CertData: cert, KeyData: key}})
}

func tokenClient(t *testing.T, e *env, caPEM []byte, token string) kubernetes.Interface {
	t.Helper()
	return clientFor(t, &rest.Config{Host: e.url, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: caPEM}})
}

func clientFor(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func whoami(ctx context.Context, c kubernetes.Interface) (authenticationv1.UserInfo, error) {
	r, err := c.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return authenticationv1.UserInfo{}, err
	}
	return r.Status.UserInfo, nil
}

// TestUnauthenticatedRequestsRefused walks discovery and sends a request
// without credentials to every collection, object and subresource URL and
// to the non-resource endpoints: each must answer a 401 Status.
func TestUnauthenticatedRequestsRefused(t *testing.T) {
	ca := clusterCA(t)
	_, lists, err := shared.client.Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	type probe struct{ method, path string }
	probes := []probe{}
	for _, p := range []string{"/", "/api", "/api/v1", "/apis", "/apis/apps/v1", "/version", "/healthz", "/livez", "/readyz",
		"/metrics", "/openapi/v2", "/openapi/v3", "/openapi/v3/api/v1", "/plugins/admission/stats", "/no/such/path"} {
		probes = append(probes, probe{"GET", p})
	}
	resources := 0
	for _, l := range lists {
		base := "/apis/" + l.GroupVersion
		if l.GroupVersion == "v1" {
			base = "/api/v1"
		}
		for _, r := range l.APIResources {
			name, sub, isSub := strings.Cut(r.Name, "/")
			scope := base
			if r.Namespaced {
				scope = base + "/namespaces/default"
			}
			method := "GET"
			if slices.Equal(r.Verbs, []string{"create"}) {
				method = "POST"
			}
			if isSub {
				probes = append(probes, probe{method, scope + "/" + name + "/x/" + sub})
				continue
			}
			resources++
			probes = append(probes, probe{method, scope + "/" + name}, probe{"GET", scope + "/" + name + "/x"},
				probe{"GET", scope + "/" + name + "?watch=1"}, probe{"DELETE", scope + "/" + name + "/x"})
			if r.Namespaced {
				probes = append(probes, probe{"GET", base + "/" + name})
			}
		}
	}
	if resources < 30 {
		t.Fatalf("discovery lists only %d resources", resources)
	}
	foreign, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fcert, fkey, err := foreign.NewClient("admin", []string{"system:masters"})
	if err != nil {
		t.Fatal(err)
	}
	fpair, err := tls.X509KeyPair(fcert, fkey)
	if err != nil {
		t.Fatal(err)
	}
	clients := []struct {
		name   string
		tls    *tls.Config
		header string
		every  int // probe every n-th URL
	}{
		{name: "no credentials", tls: &tls.Config{RootCAs: ca.Pool()}, every: 1},
		{name: "certificate from another CA", tls: &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{fpair}}, every: 7},
		{name: "unknown bearer token", tls: &tls.Config{RootCAs: ca.Pool()}, header: "Bearer not-a-token", every: 7},
		{name: "malformed JWT", tls: &tls.Config{RootCAs: ca.Pool()}, header: "Bearer a.b.c", every: 11},
	}
	for _, c := range clients {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: c.tls}, Timeout: 10 * time.Second}
		for i, p := range probes {
			if i%c.every != 0 {
				continue
			}
			req, _ := http.NewRequest(p.method, shared.url+p.path, strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			if c.header != "" {
				req.Header.Set("Authorization", c.header)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatalf("%s: %s %s: %v", c.name, p.method, p.path, err)
			}
			var st metav1.Status
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || json.Unmarshal(b, &st) != nil || st.Reason != metav1.StatusReasonUnauthorized || st.Code != 401 {
				t.Errorf("%s: %s %s = %d %s, want a 401 Unauthorized Status", c.name, p.method, p.path, resp.StatusCode, b)
			}
		}
	}
	t.Logf("%d URLs probed (%d resources)", len(probes), resources)
}

func TestX509UserAndForbidden(t *testing.T) {
	ctx, ns := ctxT(t), namespace(t)
	alice := userClient(t, shared, clusterCA(t), "alice", "devs", "qa")
	u, err := whoami(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(u.Groups) // O values form a DER SET: their order is not kept
	if u.Username != "alice" || !slices.Equal(u.Groups, []string{"devs", "qa", "system:authenticated"}) {
		t.Fatalf("whoami = %+v", u)
	}
	_, err = alice.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	want := `pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "` + ns + `"`
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
		t.Fatalf("list pods as alice: %v, want 403 %q", err, want)
	}
	_, err = alice.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	want = `nodes "n1" is forbidden: User "alice" cannot get resource "nodes" in API group "" at the cluster scope`
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
		t.Fatalf("get node as alice: %v, want 403 %q", err, want)
	}
}

// saToken signs ServiceAccount token claims like the apiserver does.
func saToken(t *testing.T, key any, sa *corev1.ServiceAccount, aud string, exp time.Time) string {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": apiserver.DefaultServiceAccountIssuer,
		"sub": "system:serviceaccount:" + sa.Namespace + ":" + sa.Name,
		"aud": []string{aud},
		"exp": exp.Unix(), "iat": now.Add(-2 * time.Hour).Unix(), "nbf": now.Add(-2 * time.Hour).Unix(),
		"kubernetes.io": map[string]any{"namespace": sa.Namespace,
			"serviceaccount": map[string]any{"name": sa.Name, "uid": string(sa.UID)}},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestServiceAccountTokens(t *testing.T) {
	ctx, ns := ctxT(t), namespace(t)
	ca := clusterCA(t)
	sa, err := shared.client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "bot"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := shared.client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "bot", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Status.Token == "" || *tr.Spec.ExpirationSeconds != 3600 || !slices.Equal(tr.Spec.Audiences, []string{apiserver.DefaultServiceAccountIssuer}) {
		t.Fatalf("token request = %+v", tr)
	}
	if d := time.Until(tr.Status.ExpirationTimestamp.Time); d < 59*time.Minute || d > 61*time.Minute {
		t.Fatalf("expirationTimestamp is %s away", d)
	}
	token := tr.Status.Token
	u, err := whoami(ctx, tokenClient(t, shared, ca.CertPEM, token))
	if err != nil {
		t.Fatal(err)
	}
	if u.Username != "system:serviceaccount:"+ns+":bot" || u.UID != string(sa.UID) ||
		!slices.Equal(u.Groups, []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}) {
		t.Fatalf("whoami with the token = %+v", u)
	}

	short := int64(60)
	_, err = shared.client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "bot", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &short}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("60s token: %v, want 422 Invalid", err)
	}
	_, err = shared.client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "nobody", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("token for a missing ServiceAccount: %v, want 404", err)
	}
	_, err = shared.client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "bot", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "missing"}}}, metav1.CreateOptions{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("token bound to a missing pod: %v, want 404", err)
	}

	vault, err := shared.client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "bot", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	signing, err := pki.ReadKey(filepath.Join(shared.pkiDir, "sa.key"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	aud := apiserver.DefaultServiceAccountIssuer
	refused := map[string]string{
		"forged (other key)":   saToken(t, other, sa, aud, time.Now().Add(time.Hour)),
		"expired":              saToken(t, signing, sa, aud, time.Now().Add(-5*time.Minute)),
		"wrong audience":       vault.Status.Token,
		"tampered payload":     tamper(token),
		"garbage":              "x",
		"signature stripped":   token[:strings.LastIndex(token, ".")+1],
		"hand-made, wrong aud": saToken(t, signing, sa, "https://elsewhere", time.Now().Add(time.Hour)),
	}
	// Control: the same hand-made claims with the real key and audience work.
	if _, err := whoami(ctx, tokenClient(t, shared, ca.CertPEM, saToken(t, signing, sa, aud, time.Now().Add(time.Hour)))); err != nil {
		t.Fatalf("hand-made token with the real key: %v", err)
	}
	for name, tok := range refused {
		if _, err := whoami(ctx, tokenClient(t, shared, ca.CertPEM, tok)); !apierrors.IsUnauthorized(err) {
			t.Errorf("%s token: %v, want 401", name, err)
		}
	}

	// TokenReview: the API's audience by default, or the one asked for.
	reviews := shared.client.AuthenticationV1().TokenReviews()
	for _, tc := range []struct {
		name, token string
		audiences   []string
		want        bool
	}{
		{"api token", token, nil, true},
		{"vault token", vault.Status.Token, nil, false},
		{"vault token for vault", vault.Status.Token, []string{"vault"}, true},
		{"garbage", "nope", nil, false},
	} {
		r, err := reviews.Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: tc.token, Audiences: tc.audiences}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if r.Status.Authenticated != tc.want {
			t.Errorf("%s: authenticated = %v (%s), want %v", tc.name, r.Status.Authenticated, r.Status.Error, tc.want)
		}
		if r.Spec.Token != "" {
			t.Errorf("%s: the review echoed the token", tc.name)
		}
		if tc.want && r.Status.User.Username != "system:serviceaccount:"+ns+":bot" {
			t.Errorf("%s: user = %+v", tc.name, r.Status.User)
		}
	}

	// A token bound to a pod dies with the pod; every token of a deleted
	// ServiceAccount dies with it.
	pod, err := shared.client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.PodSpec{ServiceAccountName: "bot", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bound, err := shared.client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "bot", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "web", UID: pod.UID}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bu, err := whoami(ctx, tokenClient(t, shared, ca.CertPEM, bound.Status.Token))
	if err != nil || !slices.Equal(bu.Extra["authentication.kubernetes.io/pod-name"], []string{"web"}) {
		t.Fatalf("pod-bound token: %+v %v", bu, err)
	}
	zero := int64(0)
	if err := shared.client.CoreV1().Pods(ns).Delete(ctx, "web", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	waitUnauthorized(t, ctx, tokenClient(t, shared, ca.CertPEM, bound.Status.Token), "pod-bound token after the pod was deleted")
	if err := shared.client.CoreV1().ServiceAccounts(ns).Delete(ctx, "bot", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUnauthorized(t, ctx, tokenClient(t, shared, ca.CertPEM, token), "token after its ServiceAccount was deleted")
}

func tamper(token string) string {
	parts := strings.Split(token, ".")
	b := []byte(parts[1])
	b[len(b)/2] ^= 1
	parts[1] = string(b)
	return strings.Join(parts, ".")
}

func waitUnauthorized(t *testing.T, ctx context.Context, c kubernetes.Interface, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := whoami(ctx, c)
		if apierrors.IsUnauthorized(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v, want 401", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTokenFileAnonymousAndAudit runs a server with a static token file,
// anonymous requests enabled and an audit log.
func TestTokenFileAnonymousAndAudit(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte("tok-alice-123,alice,1001,\"devs,ops\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	auditLog := filepath.Join(dir, "audit", "audit.log")
	e, stop, err := startServerWith(context.Background(), apiserver.Options{DataDir: filepath.Join(dir, "data"),
		TokenAuthFile: tokens, AnonymousAuth: true, AuditLogPath: auditLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	ctx := ctxT(t)
	caPEM, err := os.ReadFile(filepath.Join(dir, "data", "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}

	alice := tokenClient(t, e, caPEM, "tok-alice-123")
	u, err := whoami(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if u.Username != "alice" || u.UID != "1001" || !slices.Equal(u.Groups, []string{"devs", "ops", "system:authenticated"}) {
		t.Fatalf("whoami = %+v", u)
	}

	// Anonymous: public info is readable, the rest is forbidden (not 401).
	pool := &tls.Config{RootCAs: mustPool(t, caPEM)}
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: pool}, Timeout: 10 * time.Second}
	for path, want := range map[string]int{"/version": 200, "/healthz": 200, "/api/v1/namespaces/default/pods": 403} {
		resp, err := anon.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("anonymous GET %s = %d %s, want %d", path, resp.StatusCode, b, want)
		}
		if want == 403 && !strings.Contains(string(b), `User \"system:anonymous\" cannot list resource \"pods\"`) {
			t.Errorf("anonymous 403 message: %s", b)
		}
	}
	req, _ := http.NewRequest("GET", e.url+"/version", nil)
	req.Header.Set("Authorization", "Bearer wrong")
	if resp, err := anon.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("bad token with anonymous enabled: %v %v, want 401", resp, err)
	}

	// Audit: writes are recorded (allowed or not), reads are not.
	cms := e.client.CoreV1().ConfigMaps("default")
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "audited"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(ctx, "audited", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "nope"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("alice create: %v, want 403", err)
	}
	if err := cms.Delete(ctx, "audited", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(auditLog)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "tok-alice-123") {
		t.Fatal("the audit log contains a bearer token")
	}
	type event struct {
		Kind, APIVersion, AuditID, Stage, Verb, RequestURI, UserAgent string
		User                                                          struct{ Username string }
		SourceIPs                                                     []string
		ObjectRef                                                     *struct{ Resource, Namespace, Name, APIVersion string }
		ResponseStatus                                                struct{ Code int }
		RequestReceivedTimestamp, StageTimestamp                      string
	}
	var got []string
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		if ev.Kind != "Event" || ev.APIVersion != "audit.k8s.io/v1" || ev.AuditID == "" || ev.Stage != "ResponseComplete" ||
			len(ev.SourceIPs) == 0 || ev.RequestReceivedTimestamp == "" || ev.StageTimestamp == "" || ev.UserAgent == "" {
			t.Errorf("incomplete audit event: %s", sc.Text())
		}
		if ev.Verb == "get" || ev.Verb == "list" || ev.Verb == "watch" {
			t.Errorf("a read was audited: %s", sc.Text())
		}
		if ev.ObjectRef != nil && ev.ObjectRef.Resource == "configmaps" {
			got = append(got, strings.Join([]string{ev.Verb, ev.User.Username, ev.ObjectRef.Name, http.StatusText(ev.ResponseStatus.Code)}, " "))
		}
	}
	want := []string{"create admin audited Created", "create alice  Forbidden", "delete admin audited OK"}
	if !slices.Equal(got, want) {
		t.Fatalf("configmap audit events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func mustPool(t *testing.T, caPEM []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA certificate")
	}
	return p
}

func TestInsecureHTTP(t *testing.T) {
	e, stop, err := startServerWith(context.Background(), apiserver.Options{DataDir: t.TempDir(), InsecureHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	if !strings.HasPrefix(e.url, "http://") {
		t.Fatalf("URL = %s, want plain http", e.url)
	}
	resp, err := http.Get(e.url + "/api/v1/namespaces")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("plain GET = %d", resp.StatusCode)
	}
	u, err := whoami(ctxT(t), e.client)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(u.Groups, "system:masters") {
		t.Fatalf("insecure user = %+v, want a system:masters member", u)
	}
}
