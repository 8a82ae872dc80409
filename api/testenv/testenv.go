// Package testenv starts real skiff processes for integration tests in any
// module: it builds (or reuses, via $SKIFF_BIN) the skiff binary, runs
// `skiff apiserver` with embedded etcd on free ports in a temp dir, waits
// for /readyz, and hands back a kubeconfig, a rest.Config and a clientset.
// Everything is torn down with t.Cleanup, processes by PID.
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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
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
}

// Env is a running apiserver.
type Env struct {
	// URL is the apiserver's base URL, e.g. http://127.0.0.1:40123.
	URL string
	// Kubeconfig is the path of an admin kubeconfig for kubectl.
	Kubeconfig string
	// DataDir holds etcd data and logs.
	DataDir string
	// Config is a client-go config for URL.
	Config *rest.Config
	// Client is a typed clientset for URL.
	Client kubernetes.Interface
	// Log is the path of the apiserver's combined stdout/stderr.
	Log string

	cmd *exec.Cmd
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
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
	if len(opts.EtcdServers) > 0 {
		args = append(args, "--etcd-servers", strings.Join(opts.EtcdServers, ","))
	}
	args = append(args, opts.ExtraArgs...)
	logPath := filepath.Join(dir, "apiserver.log")
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
	env := &Env{
		URL:     fmt.Sprintf("http://127.0.0.1:%d", port),
		DataDir: dir,
		Log:     logPath,
		cmd:     cmd,
	}
	t.Cleanup(func() {
		env.Stop()
		logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("apiserver log (last 4 KiB):\n%s", tail(b, 4096))
			}
		}
	})
	timeout := opts.ReadyTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	if err := WaitHTTP(env.URL+"/readyz", timeout); err != nil {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("apiserver not ready: %v\n%s", err, tail(b, 4096))
	}
	env.Kubeconfig = filepath.Join(dir, "admin.kubeconfig")
	if err := WriteKubeconfig(env.Kubeconfig, env.URL); err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	env.Config = &rest.Config{Host: env.URL, QPS: 1000, Burst: 2000}
	env.Client, err = kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatalf("clientset: %v", err)
	}
	return env
}

// Stop kills the apiserver (SIGTERM, then SIGKILL after 10s) and waits for it.
func (e *Env) Stop() {
	if e.cmd == nil || e.cmd.Process == nil || e.cmd.ProcessState != nil {
		return
	}
	_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = e.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
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

// Kubectl runs the installed kubectl against the environment and returns
// its combined output. The test is skipped when kubectl is not installed.
func (e *Env) Kubectl(t testing.TB, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed: skipping a test that drives the real kubectl binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append([]string{"--kubeconfig", e.Kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

// WaitHTTP polls url until it answers 200 or the timeout passes.
func WaitHTTP(url string, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	return Poll(timeout, func() (bool, error) {
		resp, err := client.Get(url)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
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

// WriteKubeconfig writes a kubeconfig for an unauthenticated HTTP server.
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
