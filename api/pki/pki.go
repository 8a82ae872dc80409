// Package pki creates and reuses the files a TLS-secured skiff cluster
// needs: a cluster CA, serving and client certificates signed by it, the
// ServiceAccount token signing key and kubeconfigs with embedded
// credentials. Everything is idempotent: existing files that are still
// good (signed by the CA, not about to expire, covering the right names)
// are reused, so several processes given the same directory share one CA.
//
// Keys are ECDSA P-256; the CA lives 10 years, leaf certificates 1 year.
// Private keys are written with mode 0600. Writers take an flock on
// <dir>/.lock so that processes starting together do not race.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	// renewBefore is how close to expiry a certificate is reissued.
	renewBefore = 30 * 24 * time.Hour
	// clockSkew backdates NotBefore so that slightly slow clocks accept
	// fresh certificates.
	clockSkew = 5 * time.Minute
)

// CA is a certificate authority that signs serving and client certificates.
type CA struct {
	// Cert is the CA certificate.
	Cert *x509.Certificate
	// Key is the CA's private key.
	Key crypto.Signer
	// CertPEM is Cert, PEM-encoded (what goes into kubeconfigs and
	// --client-ca-file).
	CertPEM []byte
}

// LoadOrCreateCA loads dir/ca.crt and dir/ca.key, creating both (and dir)
// when ca.crt is missing.
func LoadOrCreateCA(dir string) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create pki dir: %w", err)
	}
	unlock, err := lock(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	certFile, keyFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	if _, err := os.Stat(certFile); err == nil {
		return LoadCA(certFile, keyFile)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("stat %s: %w", certFile, err)
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "skiff-ca"},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	if err := writePair(certFile, keyFile, der, key); err != nil {
		return nil, err
	}
	return LoadCA(certFile, keyFile)
}

// LoadCA reads an existing CA certificate and key.
func LoadCA(certFile, keyFile string) (*CA, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	cert, err := ParseCertificate(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%s is not a CA certificate", certFile)
	}
	key, err := ReadKey(keyFile)
	if err != nil {
		return nil, err
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("%s does not match %s", keyFile, certFile)
	}
	return &CA{Cert: cert, Key: key, CertPEM: certPEM}, nil
}

// Pool returns a cert pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// IssueServing returns dir/name.crt and dir/name.key, a serving
// certificate for hosts (DNS names and IP addresses), reusing them when
// they are signed by this CA, valid for 30 more days and cover hosts.
func (ca *CA) IssueServing(dir, name string, hosts []string) (certFile, keyFile string, err error) {
	var dns []string
	var ips []net.IP
	for _, h := range hosts {
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else if !slices.Contains(dns, h) {
			dns = append(dns, h)
		}
	}
	cn := name
	if len(dns) > 0 {
		cn = dns[0]
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		DNSNames:    dns,
		IPAddresses: ips,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	good := func(c *x509.Certificate) bool {
		for _, h := range hosts {
			if h != "" && c.VerifyHostname(h) != nil {
				return false
			}
		}
		return slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	return ca.issue(dir, name, tmpl, good)
}

// IssueClient returns dir/name.crt and dir/name.key, a client certificate
// for user (CN) in groups (O), reusing them when they are signed by this
// CA, valid for 30 more days and name the same user and groups.
func (ca *CA) IssueClient(dir, name, user string, groups []string) (certFile, keyFile string, err error) {
	tmpl := clientTemplate(user, groups)
	good := func(c *x509.Certificate) bool {
		return c.Subject.CommonName == user && slices.Equal(c.Subject.Organization, tmpl.Subject.Organization) &&
			slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	return ca.issue(dir, name, tmpl, good)
}

// NewClient signs a fresh client certificate for user in groups without
// touching the disk, returning PEM-encoded certificate and key.
func (ca *CA) NewClient(user string, groups []string) (certPEM, keyPEM []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	der, err := ca.sign(clientTemplate(user, groups), key)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

func clientTemplate(user string, groups []string) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: user, Organization: slices.Clone(groups)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

// issue reuses dir/name.{crt,key} when good and signed by ca, else writes
// a new pair from tmpl.
func (ca *CA) issue(dir, name string, tmpl *x509.Certificate, good func(*x509.Certificate) bool) (string, string, error) {
	certFile, keyFile := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("create %s: %w", dir, err)
	}
	unlock, err := lock(dir)
	if err != nil {
		return "", "", err
	}
	defer unlock()
	if ca.reusable(certFile, keyFile, good) {
		return certFile, keyFile, nil
	}
	key, err := newKey()
	if err != nil {
		return "", "", err
	}
	der, err := ca.sign(tmpl, key)
	if err != nil {
		return "", "", fmt.Errorf("sign %s: %w", name, err)
	}
	if err := writePair(certFile, keyFile, der, key); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

func (ca *CA) sign(tmpl *x509.Certificate, key crypto.Signer) ([]byte, error) {
	now := time.Now()
	t := *tmpl
	t.SerialNumber = serial()
	t.NotBefore = now.Add(-clockSkew)
	t.NotAfter = now.Add(leafValidity)
	if t.NotAfter.After(ca.Cert.NotAfter) {
		t.NotAfter = ca.Cert.NotAfter
	}
	return x509.CreateCertificate(rand.Reader, &t, ca.Cert, key.Public(), ca.Key)
}

// reusable reports whether an existing pair is signed by ca, matches its
// key, does not expire within renewBefore and passes good.
func (ca *CA) reusable(certFile, keyFile string, good func(*x509.Certificate) bool) bool {
	b, err := os.ReadFile(certFile)
	if err != nil {
		return false
	}
	cert, err := ParseCertificate(b)
	if err != nil {
		return false
	}
	key, err := ReadKey(keyFile)
	if err != nil || !publicKeysEqual(cert.PublicKey, key.Public()) {
		return false
	}
	if cert.CheckSignatureFrom(ca.Cert) != nil || !bytes.Equal(cert.RawIssuer, ca.Cert.RawSubject) {
		return false
	}
	if time.Until(cert.NotAfter) < renewBefore || time.Now().Before(cert.NotBefore) {
		return false
	}
	return good(cert)
}

// LoadOrCreateSigningKey makes sure path holds an ECDSA P-256 private key
// in PEM (the ServiceAccount token signing key), creating it when missing.
func LoadOrCreateSigningKey(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	unlock, err := lock(dir)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Stat(path); err == nil {
		_, err := ReadKey(path)
		return err
	}
	key, err := newKey()
	if err != nil {
		return err
	}
	b, err := encodeKey(key)
	if err != nil {
		return err
	}
	return writeFile(path, b, 0o600)
}

// ParseCertificate decodes the first CERTIFICATE block of PEM data.
func ParseCertificate(pemData []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, pemData = pem.Decode(pemData)
		if block == nil {
			return nil, errors.New("no PEM CERTIFICATE block")
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// ReadKey reads a PEM private key (EC, PKCS#8 or PKCS#1).
func ReadKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ParseKey decodes the first private key block of PEM data.
func ParseKey(pemData []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, pemData = pem.Decode(pemData)
		if block == nil {
			return nil, errors.New("no PEM private key block")
		}
		switch block.Type {
		case "EC PRIVATE KEY":
			return x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			return x509.ParsePKCS1PrivateKey(block.Bytes)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, err
			}
			s, ok := k.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("unsupported private key type %T", k)
			}
			return s, nil
		}
	}
}

func newKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand does not fail on supported platforms.
		return big.NewInt(time.Now().UnixNano())
	}
	return n.Add(n, big.NewInt(1))
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// writePair writes the certificate (0644) and key (0600), key first so a
// reader never sees a certificate without its key.
func writePair(certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) error {
	kb, err := encodeKey(key)
	if err != nil {
		return err
	}
	if err := writeFile(keyFile, kb, 0o600); err != nil {
		return err
	}
	return writeFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeFile writes atomically (temp file + rename) with mode perm.
func writeFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// lock takes an exclusive flock on dir/.lock until the returned func runs.
func lock(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
