package pki

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
)

// WriteKubeconfig writes a kubeconfig for server that trusts caPEM and
// authenticates with the client certificate in certFile/keyFile. The
// certificate, key and CA are embedded, so the file stands alone (mode
// 0600, parent directories created).
func WriteKubeconfig(path, server string, caPEM []byte, certFile, keyFile string) error {
	cert, err := os.ReadFile(certFile)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	return writeFile(path, Kubeconfig(server, caPEM, cert, key), 0o600)
}

// Kubeconfig renders a kubeconfig with embedded CA, client certificate and
// key (all PEM). The cluster, user and context are named "skiff" and the
// context's namespace is default.
func Kubeconfig(server string, caPEM, certPEM, keyPEM []byte) []byte {
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: skiff
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: skiff
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: skiff
  context:
    cluster: skiff
    user: skiff
    namespace: default
current-context: skiff
`, server, b64(caPEM), b64(certPEM), b64(keyPEM))
}
