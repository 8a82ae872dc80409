// Package crienv starts a real, private containerd for tests: its own
// state dir and socket, skiff's images imported, a CNI bridge network of
// its own (unique bridge name and subnet), and a cleanup that stops every
// sandbox, kills containerd by PID and removes the bridge. containerd (with
// its shims, OCI runtime and CNI plugin processes) and the pods' cgroups
// share one cpuacct cgroup, so Env.CPU measures the runtime's CPU time.
package crienv

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"skiff.dev/kubelet/containerd"
	"skiff.dev/kubelet/images"
	"skiff.dev/kubelet/internal/cni"
	"skiff.dev/kubelet/internal/cri"
)

// Env is a running containerd for one test.
type Env struct {
	Containerd *containerd.Containerd
	Client     *cri.Client
	Dir        string
	Bridge     string
	PodCIDR    string
	CgroupRoot string
}

// Options tune the runtime under test; the zero value is the default node.
type Options struct {
	// OCIRuntime is passed to containerd.Options.OCIRuntime; empty uses
	// $SKIFF_TEST_OCI_RUNTIME, then containerd's default (auto).
	OCIRuntime string
	// NoPortMap leaves the portmap plugin out of the CNI conflist.
	NoPortMap bool
	// IPMasq sets the bridge plugin's ipMasq (per-pod iptables rules).
	IPMasq bool
	// CNIBinDir overrides the CNI plugin directory (default /usr/lib/cni).
	CNIBinDir string
}

// Skip reports why real-runtime tests cannot run here ("" when they can).
func Skip() string {
	if os.Geteuid() != 0 {
		return "needs root"
	}
	for _, b := range []string{"containerd", "runc", "ctr"} {
		if _, err := exec.LookPath(b); err != nil {
			return b + " not installed"
		}
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		return "CNI plugins not installed"
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		return "busybox-static not installed"
	}
	return ""
}

func rnd() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint32(b[:])
}

// Start starts containerd with default Options.
func Start(t testing.TB) *Env {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith starts containerd, imports the images and writes the CNI config.
func StartWith(t testing.TB, o Options) *Env {
	t.Helper()
	if o.OCIRuntime == "" {
		o.OCIRuntime = os.Getenv("SKIFF_TEST_OCI_RUNTIME")
	}
	if why := Skip(); why != "" {
		t.Skip("real containerd test skipped: " + why)
	}
	// Keep the path short: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "skc")
	if err != nil {
		t.Fatal(err)
	}
	r := rnd()
	e := &Env{
		Dir:        dir,
		Bridge:     fmt.Sprintf("skt%x", r&0xfffff),
		PodCIDR:    fmt.Sprintf("10.%d.%d.0/24", 160+(r>>20)%60, (r>>8)&0xff),
		CgroupRoot: fmt.Sprintf("/skiff-test-%x", r),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := containerd.Start(ctx, containerd.Options{StateDir: filepath.Join(dir, "c"), OCIRuntime: o.OCIRuntime, CNIBinDir: o.CNIBinDir})
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("start containerd: %v", err)
	}
	e.Containerd = c
	t.Cleanup(e.stop)
	// Account containerd and everything it starts under CgroupRoot, where
	// the pods' cgroups go too (cgroup v1 cpuacct only; CPU reports an
	// error elsewhere).
	if acct := e.cpuacctDir(); acct != "" {
		rt := filepath.Join(acct, "runtime")
		if err := os.MkdirAll(rt, 0o755); err == nil {
			_ = os.WriteFile(filepath.Join(rt, "cgroup.procs"), []byte(fmt.Sprint(c.Pid())), 0o644)
		}
	}
	if err := images.BuildAndImport(ctx, c.Socket, dir); err != nil {
		t.Fatalf("import images: %v", err)
	}
	if _, err := cni.Write(cni.Options{ConfDir: c.CNIConfDir, PodCIDR: e.PodCIDR, Bridge: e.Bridge, DataDir: filepath.Join(dir, "ipam"), NoPortMap: o.NoPortMap, IPMasq: o.IPMasq}); err != nil {
		t.Fatalf("cni: %v", err)
	}
	e.Client, err = cri.Dial(ctx, c.Endpoint)
	if err != nil {
		t.Fatalf("dial CRI: %v", err)
	}
	// Wait for CRI to see the CNI config (NetworkReady).
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := e.Client.Status(ctx, false)
		ready := err == nil
		for _, cond := range st.GetStatus().GetConditions() {
			if !cond.Status {
				ready = false
			}
		}
		if ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runtime not ready: %v %v", err, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return e
}

// cpuacctDir is the cgroup v1 cpuacct directory of CgroupRoot ("" when
// there is no cpuacct hierarchy).
func (e *Env) cpuacctDir() string {
	for _, d := range []string{"/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct"} {
		if _, err := os.Stat(filepath.Join(d, "cpuacct.usage")); err == nil {
			return filepath.Join(d, e.CgroupRoot)
		}
	}
	return ""
}

// CPU is the CPU time used so far by containerd, its shims, the OCI runtime,
// CNI plugins and the pods' processes (cgroup v1 cpuacct).
func (e *Env) CPU() (time.Duration, error) {
	d := e.cpuacctDir()
	if d == "" {
		return 0, errors.New("crienv: no cgroup v1 cpuacct hierarchy")
	}
	b, err := os.ReadFile(filepath.Join(d, "cpuacct.usage"))
	if err != nil {
		return 0, fmt.Errorf("crienv: %w", err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("crienv: cpuacct.usage: %w", err)
	}
	return time.Duration(ns), nil
}

func (e *Env) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if e.Client != nil {
		if sbs, err := e.Client.ListPodSandbox(ctx, nil); err == nil {
			for _, sb := range sbs {
				if e.Client.RemovePodSandbox(ctx, sb.Id) != nil {
					_ = e.Client.StopPodSandbox(ctx, sb.Id)
					_ = e.Client.RemovePodSandbox(ctx, sb.Id)
				}
			}
		}
		e.Client.Close()
	}
	e.Containerd.Stop()
	_ = exec.Command("ip", "link", "del", e.Bridge).Run()
	removeTree("/sys/fs/cgroup", e.CgroupRoot)
	// Mounts under the state dir (rootfs, netns, shm) must go before the dir.
	_ = exec.Command("sh", "-c", fmt.Sprintf("grep -o ' %s[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l", e.Dir)).Run()
	_ = os.RemoveAll(e.Dir)
}

func removeTree(root, rel string) {
	ents, _ := os.ReadDir(root)
	for _, en := range ents {
		dir := filepath.Join(root, en.Name(), rel)
		rmdirs(dir)
	}
	rmdirs(filepath.Join(root, rel))
}

func rmdirs(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, en := range ents {
		if en.IsDir() {
			rmdirs(filepath.Join(dir, en.Name()))
		}
	}
	_ = os.Remove(dir)
}

// Containers lists the runtime's containers with the given label selector.
func (e *Env) Containers(ctx context.Context, labels map[string]string) ([]*runtimeapi.Container, error) {
	return e.Client.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: labels})
}
