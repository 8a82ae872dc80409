// Package ha holds the high-availability fault tests: a 3-member etcd
// cluster of `skiff etcd` processes under several `skiff apiserver`
// processes, clients spread over the apiservers with skiff.dev/api/failover,
// and replicated schedulers and controller-managers with Lease leader
// election. Each test kills a real process with SIGKILL mid-run and checks
// what clients observed: no acknowledged write lost, no watch event missed
// or duplicated, no pod bound twice. Everything runs on loopback with free
// ports and temporary directories; processes are killed by PID on cleanup.
//
// This file has the process helpers; the tests are in *_test.go. The
// figures they log are recorded in docs/reliability.md.
package ha

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"skiff.dev/api/testenv"
)

// Process is a `skiff <subcommand>` child process with its log in a file.
type Process struct {
	// Name labels the process in logs.
	Name string
	// Log is the path of its combined stdout/stderr.
	Log string

	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// StartProcess runs `skiff args...` in its own process group. The process
// is stopped (SIGTERM, then SIGKILL after 10s) when the test ends, and its
// log tail is printed if the test failed.
func StartProcess(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	bin := testenv.SkiffBinary(t)
	p := &Process{Name: name, Log: filepath.Join(t.TempDir(), name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.Log)
	if err != nil {
		t.Fatalf("%s: create log: %v", name, err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("%s: start: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			if b, err := os.ReadFile(p.Log); err == nil {
				if len(b) > 3000 {
					b = b[len(b)-3000:]
				}
				t.Logf("%s log (tail):\n%s", name, b)
			}
		}
	})
	return p
}

// PID returns the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill sends SIGKILL to the process (by PID, and its group) and waits for
// it to be gone, as a crash or `kill -9` would.
func (p *Process) Kill() {
	pid := p.PID()
	_ = syscall.Kill(pid, syscall.SIGKILL)
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-p.done
}

// Stop asks the process to exit with SIGTERM and kills it after 10s.
func (p *Process) Stop() {
	if p.Exited() {
		return
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.Kill()
	}
}

// EtcdMember is one `skiff etcd` process of an EtcdCluster.
type EtcdMember struct {
	*Process
	ClientURL, PeerURL string
}

// EtcdCluster is a cluster of `skiff etcd` members on loopback.
type EtcdCluster struct {
	Members []*EtcdMember
}

// StartEtcdCluster starts n `skiff etcd` members that bootstrap one
// cluster (plain HTTP on 127.0.0.1, free ports) and waits until every
// member reports healthy, which requires an elected leader.
func StartEtcdCluster(t testing.TB, n int) *EtcdCluster {
	t.Helper()
	c := &EtcdCluster{}
	var initial []string
	for i := range n {
		m := &EtcdMember{
			ClientURL: "http://127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)),
			PeerURL:   "http://127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)),
		}
		c.Members = append(c.Members, m)
		initial = append(initial, fmt.Sprintf("etcd%d=%s", i, m.PeerURL))
	}
	dir := t.TempDir()
	token := fmt.Sprintf("ha-%d", time.Now().UnixNano())
	for i, m := range c.Members {
		name := fmt.Sprintf("etcd%d", i)
		m.Process = StartProcess(t, name, "etcd",
			"--name", name,
			"--data-dir", filepath.Join(dir, name),
			"--listen-client-urls", m.ClientURL,
			"--listen-peer-urls", m.PeerURL,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-token", token,
		)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	err := testenv.Poll(60*time.Second, func() (bool, error) {
		for _, m := range c.Members {
			if m.Exited() {
				return false, fmt.Errorf("%s exited: %v", m.Name, m.err)
			}
			resp, err := client.Get(m.ClientURL + "/health")
			if err != nil {
				return false, nil
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("etcd cluster not healthy: %v", err)
	}
	return c
}

// ClientURLs returns every member's client URL.
func (c *EtcdCluster) ClientURLs() []string {
	out := make([]string, len(c.Members))
	for i, m := range c.Members {
		out[i] = m.ClientURL
	}
	return out
}

// Leader returns the member that reports itself leader (etcd's
// etcd_server_is_leader metric), waiting up to timeout for one.
func (c *EtcdCluster) Leader(timeout time.Duration) (*EtcdMember, error) {
	var leader *EtcdMember
	err := testenv.Poll(timeout, func() (bool, error) {
		for _, m := range c.Members {
			if m.Exited() {
				continue
			}
			if ok, err := m.IsLeader(); err == nil && ok {
				leader = m
				return true, nil
			}
		}
		return false, nil
	})
	return leader, err
}

// IsLeader reads the member's etcd_server_is_leader metric.
func (m *EtcdMember) IsLeader() (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.ClientURL+"/metrics", nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("%s metrics: %w", m.Name, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "etcd_server_is_leader "); ok {
			return strings.TrimSpace(v) == "1", nil
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("%s metrics: %w", m.Name, err)
	}
	return false, fmt.Errorf("%s metrics: no etcd_server_is_leader", m.Name)
}

// StartAPIServers starts n `skiff apiserver` processes on the given etcd
// cluster. They share one PKI directory, so one CA, one serving
// certificate's names and one ServiceAccount signing key, as the apiservers
// of one cluster must.
func StartAPIServers(t testing.TB, n int, etcdServers []string) []*testenv.Env {
	t.Helper()
	pkiDir := filepath.Join(t.TempDir(), "pki")
	envs := make([]*testenv.Env, n)
	for i := range n {
		envs[i] = testenv.StartAPIServer(t, testenv.Options{EtcdServers: etcdServers, PKIDir: pkiDir})
	}
	return envs
}
