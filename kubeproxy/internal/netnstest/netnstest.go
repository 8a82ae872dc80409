// Package netnstest builds small throwaway network topologies for tests and
// benchmarks: named network namespaces joined by veth pairs, iptables
// wrappers that run inside a namespace, and busybox httpd backends. Nothing
// touches the host's own tables or links; everything is removed with
// t.Cleanup (processes by PID).
package netnstest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var seq atomic.Int64

// Available reports why netns tests cannot run here, or "" if they can.
func Available() string {
	if os.Geteuid() != 0 {
		return "needs root"
	}
	for _, bin := range []string{"ip", "iptables", "iptables-restore", "iptables-save", "busybox", "curl"} {
		if _, err := exec.LookPath(bin); err != nil {
			return bin + " not installed"
		}
	}
	return ""
}

// Skip skips t when netns tests cannot run.
func Skip(t testing.TB) {
	t.Helper()
	if why := Available(); why != "" {
		t.Skip("netns test: " + why)
	}
}

// Run runs a command and fails t with its output on error.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// NS is a network namespace created for one test.
type NS struct {
	Name string
}

// New creates a namespace with lo up, deleted at cleanup. It first removes
// namespaces left behind by test processes that were killed.
func New(t testing.TB, role string) *NS {
	t.Helper()
	sweep()
	name := fmt.Sprintf("skp%d-%d-%s", os.Getpid(), seq.Add(1), role)
	Run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	Run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return &NS{Name: name}
}

// Path is the namespace's bind-mount path (for setns and netlink handles).
func (n *NS) Path() string { return "/run/netns/" + n.Name }

// Exec runs a command inside the namespace and returns its combined output.
func (n *NS) Exec(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...).CombinedOutput()
	return string(out), err
}

// MustExec is Exec that fails t on error.
func (n *NS) MustExec(t testing.TB, name string, args ...string) string {
	t.Helper()
	return Run(t, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Link joins n and peer with a veth pair: n gets localIP on ifName, peer
// gets peerIP (both with the given prefix length) on peerIf.
func (n *NS) Link(t testing.TB, ifName, localIP string, peer *NS, peerIf, peerIP string, bits int) {
	t.Helper()
	Run(t, "ip", "-n", n.Name, "link", "add", ifName, "type", "veth", "peer", "name", peerIf, "netns", peer.Name)
	Run(t, "ip", "-n", n.Name, "addr", "add", fmt.Sprintf("%s/%d", localIP, bits), "dev", ifName)
	Run(t, "ip", "-n", peer.Name, "addr", "add", fmt.Sprintf("%s/%d", peerIP, bits), "dev", peerIf)
	Run(t, "ip", "-n", n.Name, "link", "set", ifName, "up")
	Run(t, "ip", "-n", peer.Name, "link", "set", peerIf, "up")
}

// IPTablesDir writes iptables, iptables-save and iptables-restore wrappers
// that run the real (nft) binaries inside n, and returns their directory.
func (n *NS) IPTablesDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, bin := range []string{"iptables", "iptables-save", "iptables-restore"} {
		real, err := exec.LookPath(bin)
		if err != nil {
			t.Fatal(err)
		}
		script := fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n", n.Name, real)
		if err := os.WriteFile(filepath.Join(dir, bin), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// HTTPD starts busybox httpd on port inside n serving body at "/", and
// waits until it accepts connections.
func (n *NS) HTTPD(t testing.TB, port int, body string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", n.Name, "busybox", "httpd", "-f", "-p", fmt.Sprint(port), "-h", dir)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start httpd: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		out, err := n.Exec(ctx, "curl", "-sf", "-o", "/dev/null", "--max-time", "2", fmt.Sprintf("http://127.0.0.1:%d/", port))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("httpd in %s never listened: %v %s", n.Name, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Poll calls cond until it returns true or timeout passes.
func Poll(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %s", what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sweep deletes "skp<pid>-…" namespaces whose creating process is gone.
func sweep() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		pid, _, ok := strings.Cut(strings.TrimPrefix(name, "skp"), "-")
		if !strings.HasPrefix(name, "skp") || !ok || pid == "" {
			continue
		}
		if _, err := strconv.Atoi(pid); err != nil {
			continue
		}
		if _, err := os.Stat("/proc/" + pid); os.IsNotExist(err) {
			_ = exec.Command("ip", "netns", "del", name).Run()
		}
	}
}
