package dashboard_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff.dev/api/testenv"
	"skiff.dev/dashboard/internal/cdp"
)

// startCluster runs `skiff up` (apiserver, controllers, scheduler, a
// kubelet on containerd) in its own data dir, CIDR and CNI bridge.
func startCluster(t *testing.T) *testenv.Env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containerd")
	}
	if _, err := exec.LookPath("containerd"); err != nil {
		t.Skip("containerd not installed")
	}
	bin := testenv.SkiffBinary(t)
	dir := t.TempDir()
	port, kport := testenv.FreePort(t), testenv.FreePort(t)
	logPath := filepath.Join(dir, "up.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "up", "--data-dir", filepath.Join(dir, "data"), "--port", strconv.Itoa(port),
		"--kubelet-port", strconv.Itoa(kport), "--kube-proxy=false", "--dns=false", "--dashboard=",
		"--cluster-cidr", "10.250.0.0/16", "--cni-bridge", "skiffdash0")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		logFile.Close()
		// `skiff up` leaves its CNI bridge behind; remove it so the host
		// is as we found it (best effort).
		_ = exec.Command("ip", "link", "del", "skiffdash0").Run()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 4096 {
				b = b[len(b)-4096:]
			}
			t.Logf("skiff up log (tail):\n%s", b)
		}
	})
	// skiff up writes an admin kubeconfig (client certificate, cluster CA)
	// once its apiserver has generated the PKI.
	env := &testenv.Env{DataDir: dir, Kubeconfig: filepath.Join(dir, "data", "admin.kubeconfig")}
	if err := testenv.Poll(90*time.Second, func() (bool, error) {
		if _, err := os.Stat(env.Kubeconfig); err != nil {
			return false, nil
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
		if err != nil {
			return false, nil
		}
		hc, err := rest.HTTPClientFor(cfg)
		if err != nil {
			return false, err
		}
		if err := testenv.WaitHTTPClient(hc, cfg.Host+"/readyz", 2*time.Second); err != nil {
			return false, nil
		}
		env.Config, env.URL = cfg, cfg.Host
		return true, nil
	}); err != nil {
		t.Fatalf("cluster apiserver: %v", err)
	}
	env.Client, err = kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// TestBrowserLogsAndExec follows a real container's logs and runs a
// command in it through the dashboard's terminal, on a real node.
func TestBrowserLogsAndExec(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		t.Skip("chromium not installed")
	}
	env := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "ticker", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "main", Image: "busybox",
			Command: []string{"sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done"},
		}}},
	}
	// The default ServiceAccount and namespace may take a moment to exist.
	if err := testenv.Poll(60*time.Second, func() (bool, error) {
		_, err := env.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		return err == nil, nil
	}); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	if err := testenv.Poll(90*time.Second, func() (bool, error) {
		p, err := env.Client.CoreV1().Pods("default").Get(ctx, "ticker", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, nil
	}); err != nil {
		t.Fatalf("pod not running: %v", err)
	}
	url := startDashboard(t, env)
	artefacts := os.Getenv("SKIFF_ARTEFACTS")
	if artefacts == "" {
		artefacts = t.TempDir()
	}
	b, err := cdp.Start(ctx, cdp.Options{UserDataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	shot := func(name string) {
		if err := b.Screenshot(ctx, filepath.Join(artefacts, name+".png")); err != nil {
			t.Errorf("screenshot: %v", err)
		}
	}
	wait := func(what, expr string) {
		t.Helper()
		if err := b.WaitTrue(ctx, expr, 60*time.Second); err != nil {
			shot("failed-" + strings.ReplaceAll(what, " ", "-"))
			t.Fatalf("%s: %v\nbrowser log: %s", what, err, strings.Join(b.Logs(), "\n"))
		}
	}
	if err := b.Navigate(ctx, url+"/#/overview"); err != nil {
		t.Fatal(err)
	}
	wait("overview", `document.querySelector('.node-row')`)
	shot("cluster-overview")

	// The pod's detail page shows its conditions and its Events, live.
	if err := b.Eval(ctx, `location.hash = '#/obj/core/v1/pods/default/ticker/overview'`, nil); err != nil {
		t.Fatal(err)
	}
	wait("pod conditions", `/Ready/.test(document.querySelector('#tab').textContent) && /Running/.test(document.querySelector('#tab').textContent)`)
	shot("pod-detail")
	if err := b.Eval(ctx, `location.hash = '#/obj/core/v1/pods/default/ticker/events'`, nil); err != nil {
		t.Fatal(err)
	}
	wait("pod events", `/Started/.test(document.querySelector('#ev').textContent)`)
	shot("pod-events")

	if err := b.Eval(ctx, `location.hash = '#/logs/default/ticker'`, nil); err != nil {
		t.Fatal(err)
	}
	// Follow: a tick that is printed after the page opened must show up.
	var first string
	wait("first log line", `/tick \d+/.test(document.querySelector('#lg').textContent)`)
	_ = b.Eval(ctx, `document.querySelector('#lg').textContent.trim().split('\n').pop()`, &first)
	n, _ := strconv.Atoi(strings.TrimPrefix(first, "tick "))
	wait("followed log line", fmt.Sprintf(`document.querySelector('#lg').textContent.includes('tick %d')`, n+2))
	shot("pod-logs")

	if err := b.Eval(ctx, `location.hash = '#/exec/default/ticker'`, nil); err != nil {
		t.Fatal(err)
	}
	wait("exec connected", `/connected/.test(document.querySelector('#ex-state').textContent)`)
	if err := b.Eval(ctx, `(() => { const t = document.querySelector('#term');
		for (const k of 'echo dash-$((6*7))') t.dispatchEvent(new KeyboardEvent('keydown', {key: k, bubbles: true}));
		t.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true})); })()`, nil); err != nil {
		t.Fatal(err)
	}
	wait("exec output", `document.querySelector('#term').textContent.includes('dash-42')`)
	shot("pod-exec")
	for _, l := range b.Logs() {
		if strings.HasPrefix(l, "Runtime.exceptionThrown") {
			t.Errorf("uncaught exception in the UI: %s", l)
		}
	}
}
