// Package cluster starts a whole skiff cluster for end-to-end tests: one
// `skiff up` process (its own containerd, embedded etcd, apiserver,
// controllers, scheduler and kubelet) on free ports and a private data dir,
// and drives it with the installed kubectl and client-go.
package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff.dev/api/testenv"
)

// Options configures a cluster.
type Options struct {
	// Index picks a distinct pod network (10.<200+Index>.0.0/16) and CNI
	// bridge so that clusters started by parallel tests don't collide.
	Index int
	// ExtraArgs are appended to `skiff up`.
	ExtraArgs []string
	// Netns, when set, is an existing network namespace to run `skiff up`
	// in (with its containerd, CNI bridge, iptables rules and conntrack),
	// so kube-proxy and DNS can run without touching the host's network.
	// The apiserver port is forwarded to the same port on the host's
	// 127.0.0.1, so Kubeconfig, Client and kubectl work unchanged.
	Netns string
}

// Cluster is a running `skiff up`.
type Cluster struct {
	// Kubeconfig is the admin kubeconfig `skiff up` writes: TLS with the
	// cluster CA and the admin's client certificate (system:masters).
	Kubeconfig string
	DataDir    string
	// Config is the admin client config read from Kubeconfig.
	Config *rest.Config
	// CAFile is the cluster CA certificate (<data-dir>/pki/ca.crt).
	CAFile  string
	Client  kubernetes.Interface
	Log     string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when skiff up has exited
	waitErr error         // its exit status, set before exited closes
	stopped atomic.Bool
}

// Requirements reports why a whole cluster can't run here ("" when it can).
func Requirements() string {
	if os.Geteuid() != 0 {
		return "end-to-end cluster tests need root (containerd, runc, CNI)"
	}
	for _, bin := range []string{"containerd", "runc", "ctr", "kubectl"} {
		if _, err := exec.LookPath(bin); err != nil {
			return bin + " is not installed (make test installs it)"
		}
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		return "CNI plugins are not installed (make test installs containernetworking-plugins)"
	}
	return ""
}

// Start runs `skiff up` and waits until its node is Ready.
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	if why := Requirements(); why != "" {
		t.Skip(why)
	}
	bin := testenv.SkiffBinary(t)
	dir, err := os.MkdirTemp("", "skiff-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	apiPort := testenv.FreePort(t)
	args := []string{"up",
		"--data-dir", dir,
		"--port", strconv.Itoa(apiPort),
		"--kubelet-port", strconv.Itoa(testenv.FreePort(t)),
		"--kube-proxy=false", "--dns=false", "--dashboard=",
		"--cluster-cidr", fmt.Sprintf("10.%d.0.0/16", 200+o.Index),
		"--cni-bridge", fmt.Sprintf("skiffe2e%d", o.Index),
	}
	args = append(args, o.ExtraArgs...)
	logPath := filepath.Join(dir, "up.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	if o.Netns != "" {
		// nsenter switches only the network namespace and execs skiff in
		// place (the PID stays skiff's); unlike `ip netns exec` it leaves
		// /sys, and with it the cgroup mounts runc needs, alone.
		cmd = exec.Command("nsenter", append([]string{"--net=/run/netns/" + o.Netns, "--", bin}, args...)...)
		forwardIntoNetns(t, o.Netns, apiPort)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start skiff up: %v", err)
	}
	c := &Cluster{Kubeconfig: filepath.Join(dir, "admin.kubeconfig"), CAFile: filepath.Join(dir, "pki", "ca.crt"), DataDir: dir, Log: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() { c.waitErr = cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop cluster: %v", err)
		}
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 8192 {
				b = b[len(b)-8192:]
			}
			t.Logf("skiff up log (tail):\n%s", b)
		}
		_ = exec.Command("ip", "link", "delete", fmt.Sprintf("skiffe2e%d", o.Index)).Run()
		_ = os.RemoveAll(dir)
	})
	err = testenv.Poll(90*time.Second, func() (bool, error) {
		select {
		case <-c.exited:
			return false, fmt.Errorf("skiff up exited: %v", c.waitErr)
		default:
		}
		if c.Client == nil {
			if _, err := os.Stat(c.Kubeconfig); err != nil {
				return false, nil
			}
			cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
			if err != nil {
				return false, nil
			}
			cfg.QPS, cfg.Burst = 100, 200
			if c.Client, err = kubernetes.NewForConfig(cfg); err != nil {
				return false, err
			}
			c.Config = cfg
		}
		nodes, err := c.Client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, n := range nodes.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					return true, nil
				}
			}
		}
		return false, nil
	})
	if err != nil {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("cluster not ready: %v\n%s", err, b)
	}
	return c
}

// Stop interrupts `skiff up` (as Ctrl-C does) and waits for it to exit.
func (c *Cluster) Stop() error {
	if c.stopped.Swap(true) || c.cmd.Process == nil {
		return nil
	}
	select {
	case <-c.exited:
		return nil // already gone; Start reported why
	default:
	}
	_ = c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.exited:
		return c.waitErr
	case <-time.After(60 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.exited
		return fmt.Errorf("skiff up did not stop within 60s of SIGINT")
	}
}

// Kubectl runs kubectl against the cluster and returns its combined output.
func (c *Cluster) Kubectl(t testing.TB, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// MustKubectl is Kubectl that fails the test on error.
func (c *Cluster) MustKubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := c.Kubectl(t, args...)
	if err != nil {
		t.Fatalf("kubectl %v: %v\n%s", args, err, out)
	}
	return out
}

// Ctr runs containerd's ctr against the cluster's private containerd.
func (c *Cluster) Ctr(args ...string) (string, error) {
	sock := filepath.Join(c.DataDir, "containerd", "containerd.sock")
	out, err := exec.Command("ctr", append([]string{"--address", sock, "--namespace", "k8s.io"}, args...)...).CombinedOutput()
	return string(out), err
}
