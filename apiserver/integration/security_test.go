package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/api/testenv"
)

// TestTLSEnvironments checks testenv's TLS support against real
// processes: two apiservers sharing one PKI directory, kubectl as a
// minted user, and --insecure-http.
func TestTLSEnvironments(t *testing.T) {
	t.Parallel()
	pkiDir := t.TempDir()
	a := testenv.StartAPIServer(t, testenv.Options{PKIDir: pkiDir})
	b := testenv.StartAPIServer(t, testenv.Options{PKIDir: pkiDir})
	if !bytes.Equal(a.CA.CertPEM, b.CA.CertPEM) || !strings.HasPrefix(a.URL, "https://") {
		t.Fatalf("apiservers on one --pki-dir: URL %s, same CA %v", a.URL, bytes.Equal(a.CA.CertPEM, b.CA.CertPEM))
	}
	// A user certificate minted once works against both.
	kc := a.UserKubeconfig(t, "alice", "devs")
	for _, env := range []*testenv.Env{a, b} {
		out, err := env.KubectlWith(t, kc, "--server", env.URL, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
		if err != nil || out != "alice" {
			t.Fatalf("kubectl auth whoami as alice on %s: %q %v", env.URL, out, err)
		}
	}
	if out, err := a.Kubectl(t, "get", "ns", "default", "-o", "name"); err != nil || strings.TrimSpace(out) != "namespace/default" {
		t.Fatalf("kubectl as admin: %q %v", out, err)
	}
	// Without credentials: 401, even for /readyz; the admin client gets in.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(a.CA.CertPEM)
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for client, want := range map[*http.Client]int{anon: 401, a.HTTPClient(): 200} {
		resp, err := client.Get(a.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET /readyz = %d, want %d", resp.StatusCode, want)
		}
	}

	insecure := testenv.StartAPIServer(t, testenv.Options{InsecureHTTP: true})
	if !strings.HasPrefix(insecure.URL, "http://") || insecure.CA != nil {
		t.Fatalf("insecure env URL %s", insecure.URL)
	}
	if _, err := insecure.Client.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
}
