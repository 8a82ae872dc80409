package servingcert

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
)

func TestEnsure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	hosts := []string{"node-a", "10.0.0.5", "localhost", "127.0.0.1"}
	certFile, keyFile, err := Ensure(dir, "node-a", hosts)
	if err != nil {
		t.Fatal(err)
	}
	cert := load(t, certFile, keyFile)
	for _, h := range hosts {
		if err := cert.VerifyHostname(h); err != nil {
			t.Errorf("host %s: %v", h, err)
		}
	}
	if st, _ := os.Stat(keyFile); st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", st.Mode().Perm())
	}
	// Self-signed: the certificate verifies against itself as a root.
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "node-a", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("verify against itself: %v", err)
	}

	cases := []struct {
		name   string
		hosts  []string
		reused bool
	}{
		{"same hosts reuse", hosts, true},
		{"subset reuses", []string{"node-a"}, true},
		{"new address reissues", []string{"node-a", "10.0.0.6"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := load(t, certFile, keyFile)
			if _, _, err := Ensure(dir, "node-a", tc.hosts); err != nil {
				t.Fatal(err)
			}
			after := load(t, certFile, keyFile)
			if reused := before.SerialNumber.Cmp(after.SerialNumber) == 0; reused != tc.reused {
				t.Fatalf("reused = %v, want %v", reused, tc.reused)
			}
		})
	}
	// A corrupt pair is replaced.
	if err := os.WriteFile(certFile, []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Ensure(dir, "node-a", hosts); err != nil {
		t.Fatal(err)
	}
	load(t, certFile, keyFile)
}

func load(t *testing.T, certFile, keyFile string) *x509.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
