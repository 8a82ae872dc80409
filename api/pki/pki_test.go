package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func TestLoadOrCreateCAReuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca1, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	ca2, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ca1.CertPEM, ca2.CertPEM) {
		t.Fatal("second LoadOrCreateCA made a new CA")
	}
	if !ca1.Cert.IsCA {
		t.Fatal("CA certificate is not a CA")
	}
	assertMode(t, filepath.Join(dir, "ca.key"), 0o600)
}

func TestLoadOrCreateCAConcurrent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var wg sync.WaitGroup
	pems := make([][]byte, 4)
	for i := range pems {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ca, err := LoadOrCreateCA(dir)
			if err != nil {
				t.Error(err)
				return
			}
			pems[i] = ca.CertPEM
		}()
	}
	wg.Wait()
	for _, p := range pems[1:] {
		if !bytes.Equal(p, pems[0]) {
			t.Fatal("concurrent LoadOrCreateCA calls made different CAs")
		}
	}
}

func TestIssueServing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	hosts := []string{"localhost", "127.0.0.1", "::1", "kubernetes.default.svc"}
	certFile, keyFile, err := ca.IssueServing(dir, "apiserver", hosts)
	if err != nil {
		t.Fatal(err)
	}
	assertMode(t, keyFile, 0o600)
	first := read(t, certFile)
	cert, err := ParseCertificate(first)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if err := cert.VerifyHostname(h); err != nil {
			t.Errorf("host %s: %v", h, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatalf("verify: %v", err)
	}

	tests := []struct {
		name   string
		ca     func() *CA
		hosts  []string
		reused bool
	}{
		{name: "same hosts", ca: func() *CA { return ca }, hosts: hosts, reused: true},
		{name: "subset of hosts", ca: func() *CA { return ca }, hosts: hosts[:2], reused: true},
		{name: "new host", ca: func() *CA { return ca }, hosts: append(slices.Clone(hosts), "10.0.0.7"), reused: false},
		{name: "other CA", ca: func() *CA {
			other, err := LoadOrCreateCA(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return other
		}, hosts: hosts, reused: false},
	}
	for _, tc := range tests {
		before := read(t, certFile)
		c := tc.ca()
		if _, _, err := c.IssueServing(dir, "apiserver", tc.hosts); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		after := read(t, certFile)
		if got := bytes.Equal(before, after); got != tc.reused {
			t.Errorf("%s: reused = %v, want %v", tc.name, got, tc.reused)
		}
	}
}

func TestIssueClient(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	certFile, _, err := ca.IssueClient(dir, "admin", "admin", []string{"system:masters"})
	if err != nil {
		t.Fatal(err)
	}
	first := read(t, certFile)
	cert, _ := ParseCertificate(first)
	if cert.Subject.CommonName != "admin" || !slices.Equal(cert.Subject.Organization, []string{"system:masters"}) {
		t.Fatalf("subject = %v", cert.Subject)
	}
	if _, _, err := ca.IssueClient(dir, "admin", "admin", []string{"system:masters"}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, read(t, certFile)) {
		t.Error("same user and groups: certificate was reissued")
	}
	if _, _, err := ca.IssueClient(dir, "admin", "admin", []string{"other"}); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(first, read(t, certFile)) {
		t.Error("other groups: certificate was reused")
	}
}

func TestLoadOrCreateSigningKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pki", "sa.key")
	if err := LoadOrCreateSigningKey(path); err != nil {
		t.Fatal(err)
	}
	first := read(t, path)
	assertMode(t, path, 0o600)
	if err := LoadOrCreateSigningKey(path); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, read(t, path)) {
		t.Fatal("signing key was replaced")
	}
	if _, err := ParseKey(first); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.key")
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := LoadOrCreateSigningKey(bad); err == nil {
		t.Fatal("a file without a key was accepted")
	}
}

// TestKubeconfigTLS checks that a written kubeconfig gets a client through
// a TLS server that requires a client certificate from the CA.
func TestKubeconfigTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	sc, sk, err := ca.IssueServing(dir, "server", []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(sc, sk)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.TLS.PeerCertificates[0].Subject.CommonName))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	defer srv.Close()

	cc, ck, err := ca.IssueClient(dir, "alice", "alice", []string{"devs"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sub", "alice.kubeconfig")
	if err := WriteKubeconfig(path, srv.URL, ca.CertPEM, cc, ck); err != nil {
		t.Fatal(err)
	}
	assertMode(t, path, 0o600)
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	if buf.String() != "alice" {
		t.Fatalf("server saw %q, want alice", buf.String())
	}

	// In-memory client certificates from NewClient work too.
	cp, kp, err := ca.NewClient("bob", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(cp, kp); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s mode = %v, want %v", path, fi.Mode().Perm(), want)
	}
}
