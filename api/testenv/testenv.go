// Package testenv starts real skiff processes for integration tests in any
// module: it builds (or reuses, via $SKIFF_BIN) the skiff binary, runs
// `skiff apiserver` with embedded etcd on free ports in a temp dir, waits
// for /readyz, and hands back a kubeconfig, a rest.Config and a clientset.
// Everything is torn down with t.Cleanup, processes by PID.
//
// The apiserver serves HTTPS with authentication (unless
// Options.InsecureHTTP): testenv creates the cluster CA and an admin
// client certificate (CN=admin, O=system:masters) in the PKI directory
// before starting it, so Config, Client, HTTPClient and Kubectl act as
// the admin, and UserConfig mints credentials for any other user.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff.dev/api/pki"
)

// Options configures an apiserver started by StartAPIServer.
type Options struct {
	// EtcdServers, when set, points the apiserver at an external etcd
	// cluster instead of the embedded one.
	EtcdServers []string
	// ExtraArgs are appended to the `skiff apiserver` command line.
	ExtraArgs []string
	// ReadyTimeout bounds the wait for /readyz (default 60s).
	ReadyTimeout time.Duration
	// PKIDir is the apiserver's --pki-dir (default: a fresh one per
	// Env). Give several apiservers the same PKIDir to share one CA and
	// ServiceAccount signing key (HA).
	PKIDir string
	// InsecureHTTP runs the apiserver with --insecure-http: plain HTTP,
	// no authentication or authorization.
	InsecureHTTP bool
	// ServiceAccountAdmission keeps ServiceAccount admission on. By
	// default it is off (--disable-admission-plugins=ServiceAccount), as
	// in Kubernetes' integration tests: without a controller-manager no
	// "default" ServiceAccount exists and pod creates would be refused.
	ServiceAccountAdmission bool
}

// Env is a running apiserver.
type Env struct {
	// URL is the apiserver's base URL, e.g. https://127.0.0.1:40123
	// (http:// with InsecureHTTP).
	URL string
	// Kubeconfig is the path of an admin kubeconfig for kubectl.
	Kubeconfig string
	// DataDir holds etcd data and logs.
	DataDir string
	// Config is a client-go config for URL with admin credentials.
	Config *rest.Config
	// Client is a typed clientset for URL.
	Client kubernetes.Interface
	// Log is the path of the apiserver's combined stdout/stderr.
	Log string
	// PKIDir is the apiserver's --pki-dir: ca.crt, ca.key, sa.key,
	// admin.crt, apiserver.crt… ("" with InsecureHTTP).
	PKIDir string
	// CAFile is the cluster CA certificate ("" with InsecureHTTP).
	CAFile string
	// CA is the cluster CA, for signing more client certificates (nil
	// with InsecureHTTP).
	CA *pki.CA

	cmd        *exec.Cmd
	httpClient *http.Client
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// SkiffBinary returns the path of a skiff binary: $SKIFF_BIN when set, else
// one built once per test process from the workspace.
func SkiffBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SKIFF_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		root, err := WorkspaceRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "skiff-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "skiff")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/skiff")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/skiff: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build skiff: %v", buildErr)
	}
	return buildPath
}

// WorkspaceRoot walks up from the working directory to the directory holding go.work.
func WorkspaceRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.work not found above the working directory")
		}
		dir = parent
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := PickPort()
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	return port
}

// PickPort is FreePort for programs without a testing.TB (the bench tools).
func PickPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartAPIServer runs `skiff apiserver` and waits until it is ready.
func StartAPIServer(t testing.TB, opts Options) *Env {
	t.Helper()
	bin := SkiffBinary(t)
	dir := t.TempDir()
	port := FreePort(t)
	args := []string{"apiserver",
		"--data-dir", filepath.Join(dir, "data"),
		"--bind-address", "127.0.0.1",
		"--port", strconv.Itoa(port),
	}
	insecure := opts.InsecureHTTP || slices.Contains(opts.ExtraArgs, "--insecure-http")
	env := &Env{DataDir: dir, Log: filepath.Join(dir, "apiserver.log"), Kubeconfig: filepath.Join(dir, "admin.kubeconfig")}
	var adminCert, adminKey string
	if insecure {
		if !slices.Contains(args, "--insecure-http") {
			args = append(args, "--insecure-http")
		}
		env.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
	} else {
		env.PKIDir = opts.PKIDir
		if env.PKIDir == "" {
			env.PKIDir = filepath.Join(dir, "pki")
		}
		ca, err := pki.LoadOrCreateCA(env.PKIDir)
		if err != nil {
			t.Fatalf("testenv CA: %v", err)
		}
		if adminCert, adminKey, err = ca.IssueClient(env.PKIDir, "admin", "admin", []string{"system:masters"}); err != nil {
			t.Fatalf("testenv admin certificate: %v", err)
		}
		env.CA, env.CAFile = ca, filepath.Join(env.PKIDir, "ca.crt")
		env.URL = fmt.Sprintf("https://127.0.0.1:%d", port)
		args = append(args, "--pki-dir", env.PKIDir)
	}
	if len(opts.EtcdServers) > 0 {
		args = append(args, "--etcd-servers", strings.Join(opts.EtcdServers, ","))
	}
	if !opts.ServiceAccountAdmission {
		args = append(args, "--disable-admission-plugins=ServiceAccount")
	}
	args = append(args, opts.ExtraArgs...)
	logPath := env.Log
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("create log: %v", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start apiserver: %v", err)
	}
	env.cmd = cmd
	t.Cleanup(func() {
		env.Stop()
		logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("apiserver log (last 4 KiB):\n%s", tail(b, 4096))
			}
		}
	})
	if insecure {
		env.Config = &rest.Config{Host: env.URL, QPS: 1000, Burst: 2000}
		err = WriteKubeconfig(env.Kubeconfig, env.URL)
	} else {
		env.Config = &rest.Config{Host: env.URL, QPS: 1000, Burst: 2000, TLSClientConfig: rest.TLSClientConfig{
			CAData: env.CA.CertPEM, CertFile: adminCert, KeyFile: adminKey}}
		err = pki.WriteKubeconfig(env.Kubeconfig, env.URL, env.CA.CertPEM, adminCert, adminKey)
	}
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	timeout := opts.ReadyTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	if env.httpClient, err = rest.HTTPClientFor(env.Config); err != nil {
		t.Fatalf("http client: %v", err)
	}
	if err := WaitHTTPClient(env.httpClient, env.URL+"/readyz", timeout); err != nil {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("apiserver not ready: %v\n%s", err, tail(b, 4096))
	}
	env.Client, err = kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatalf("clientset: %v", err)
	}
	return env
}

// HTTPClient returns an *http.Client that trusts the apiserver and
// authenticates as the admin (plain with InsecureHTTP).
func (e *Env) HTTPClient() *http.Client { return e.httpClient }

// UserConfig returns a client config that authenticates as user in groups
// with a fresh client certificate signed by the cluster CA (the apiserver
// adds system:authenticated). It fails the test with InsecureHTTP.
func (e *Env) UserConfig(t testing.TB, user string, groups ...string) *rest.Config {
	t.Helper()
	if e.CA == nil {
		t.Fatal("UserConfig needs TLS: the apiserver runs with --insecure-http")
	}
	cert, key, err := e.CA.NewClient(user, groups)
	if err != nil {
		t.Fatalf("client certificate for %s: %v", user, err)
	}
	return &rest.Config{Host: e.URL, QPS: 1000, Burst: 2000, TLSClientConfig: rest.TLSClientConfig{
		CAData: e.CA.CertPEM, CertData: cert, KeyData: key}}
}

// UserKubeconfig writes a kubeconfig for user in groups (see UserConfig)
// into a temp dir and returns its path, for kubectl --kubeconfig.
func (e *Env) UserKubeconfig(t testing.TB, user string, groups ...string) string {
	t.Helper()
	cfg := e.UserConfig(t, user, groups...)
	path := filepath.Join(t.TempDir(), "user.kubeconfig")
	if err := os.WriteFile(path, pki.Kubeconfig(e.URL, cfg.CAData, cfg.CertData, cfg.KeyData), 0o600); err != nil {
		t.Fatalf("user kubeconfig: %v", err)
	}
	return path
}

// Stop kills the apiserver (SIGTERM, then SIGKILL after 10s) and waits for it.
func (e *Env) Stop() {
	if e.cmd == nil || e.cmd.Process == nil || e.cmd.ProcessState != nil {
		return
	}
	StopGroup(e.cmd, 10*time.Second)
}

// StopGroup ends a started command that runs in its own process group
// (SysProcAttr.Setpgid): SIGTERM to the group, SIGKILL after grace, then
// waits for the command.
func StopGroup(cmd *exec.Cmd, grace time.Duration) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// Kill sends SIGKILL to the apiserver process group (for fault tests).
func (e *Env) Kill() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
	_ = e.cmd.Wait()
}

// Kubectl runs the installed kubectl against the environment as the
// admin and returns its combined output. The test is skipped when kubectl
// is not installed.
func (e *Env) Kubectl(t testing.TB, args ...string) (string, error) {
	t.Helper()
	return e.KubectlWith(t, e.Kubeconfig, args...)
}

// KubectlWith is Kubectl with another kubeconfig (e.g. UserKubeconfig).
func (e *Env) KubectlWith(t testing.TB, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed: skipping a test that drives the real kubectl binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

// WaitHTTP polls url without credentials until it answers 200 or the
// timeout passes (for plain HTTP endpoints; see WaitHTTPClient).
func WaitHTTP(url string, timeout time.Duration) error {
	return WaitHTTPClient(&http.Client{}, url, timeout)
}

// WaitHTTPClient polls url with client (e.g. Env.HTTPClient) until it
// answers 200 or the timeout passes. Each attempt is bounded to 2s.
func WaitHTTPClient(client *http.Client, url string, timeout time.Duration) error {
	c := *client
	c.Timeout = 2 * time.Second
	client = &c
	return Poll(timeout, func() (bool, error) {
		resp, err := client.Get(url)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

// WaitKubeconfig waits for a starting apiserver to write the kubeconfig at
// path (the admin kubeconfig `skiff apiserver` writes once serving), loads
// it and polls /readyz with its credentials; for programs such as the
// bench tools that start `skiff apiserver` without a testing.TB.
func WaitKubeconfig(path string, timeout time.Duration) (*rest.Config, error) {
	deadline := time.Now().Add(timeout)
	var cfg *rest.Config
	err := Poll(timeout, func() (bool, error) {
		if _, err := os.Stat(path); err != nil {
			return false, nil
		}
		c, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return false, nil // still being written
		}
		cfg = c
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("no kubeconfig at %s: %w", path, err)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("http client for %s: %w", path, err)
	}
	if err := WaitHTTPClient(hc, cfg.Host+"/readyz", time.Until(deadline)); err != nil {
		return nil, fmt.Errorf("apiserver %s not ready: %w", cfg.Host, err)
	}
	return cfg, nil
}

// Poll calls cond every 20ms (backing off to 200ms) until it returns true,
// returns an error, or the timeout passes.
func Poll(timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	delay := 20 * time.Millisecond
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("condition not met within %s", timeout)
		}
		time.Sleep(delay)
		if delay < 200*time.Millisecond {
			delay *= 2
		}
	}
}

// WriteKubeconfig writes a kubeconfig without credentials, for an
// apiserver run with --insecure-http. For a TLS apiserver use Env.Kubeconfig
// (admin) or Env.UserKubeconfig.
func WriteKubeconfig(path, server string) error {
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: skiff
  cluster:
    server: %s
users:
- name: admin
  user: {}
contexts:
- name: skiff
  context:
    cluster: skiff
    user: admin
current-context: skiff
`, server)
	return os.WriteFile(path, []byte(cfg), 0o600)
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
