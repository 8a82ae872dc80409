package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"skiff.dev/api/testenv"
)

// startComponent runs `skiff <args>` as user (a client certificate from
// the env's CA) with its output in a file, stopped by PID at cleanup.
func startComponent(t *testing.T, env *testenv.Env, user string, groups []string, args ...string) (logPath string) {
	t.Helper()
	kc := env.UserKubeconfig(t, user, groups...)
	logPath = filepath.Join(t.TempDir(), args[0]+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.SkiffBinary(t), append(args, "--kubeconfig", kc)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		testenv.StopGroup(cmd, 10*time.Second)
		f.Close()
	})
	return logPath
}

// TestComponentsUnderRBAC runs the real controller-manager, scheduler and
// a hollow kubelet with their own identities (only the bootstrap policy
// and the Node authorizer grant them anything) and checks that a
// Deployment's pods are created, scheduled and reported Running, and that
// no component was refused anything on the way.
func TestComponentsUnderRBAC(t *testing.T) {
	t.Parallel()
	auditLog := filepath.Join(t.TempDir(), "audit.log")
	env := testenv.StartAPIServer(t, testenv.Options{ServiceAccountAdmission: true, ExtraArgs: []string{"--audit-log-path", auditLog}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	logs := map[string]string{
		"controller-manager": startComponent(t, env, "system:kube-controller-manager", nil, "controller-manager"),
		"scheduler":          startComponent(t, env, "system:kube-scheduler", nil, "scheduler"),
		"kubelet": startComponent(t, env, "system:node:hn-0", []string{"system:nodes"},
			"kubelet", "--hollow", "--hollow-nodes", "1", "--node-name", "hn", "--port", "0"),
		"dns": startComponent(t, env, "system:skiff:dns", nil, "dns", "--listen", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
			"--service-ip", "10.96.0.10", "--advertise-address", "127.0.0.1", "--upstream", "127.0.0.1:1"),
		"ingress": startComponent(t, env, "system:skiff:ingress", nil, "ingress", "--http-addr", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
			"--https-addr", "-", "--publish-address", "127.0.0.1"),
	}
	admin := env.Client
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	replicas := int32(2)
	labels := map[string]string{"app": "web"}
	if _, err := admin.AppsV1().Deployments("shop").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dump := func() {
		for name, p := range logs {
			b, _ := os.ReadFile(p)
			t.Logf("--- %s log:\n%s", name, tailLines(string(b), 30))
		}
	}
	err := testenv.Poll(90*time.Second, func() (bool, error) {
		pods, err := admin.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		running := 0
		for _, p := range pods.Items {
			if p.Spec.NodeName == "hn-0" && p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == 2, nil
	})
	if err != nil {
		dump()
		t.Fatalf("deployment pods not running on hn-0: %v", err)
	}
	if err := testenv.Poll(30*time.Second, func() (bool, error) {
		_, err := admin.CoreV1().ConfigMaps("shop").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		dump()
		t.Errorf("kube-root-ca.crt not published: %v", err)
	}
	// The add-ons registered what they own.
	if err := testenv.Poll(30*time.Second, func() (bool, error) {
		_, err1 := admin.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
		_, err2 := admin.NetworkingV1().IngressClasses().Get(ctx, "skiff", metav1.GetOptions{})
		return err1 == nil && err2 == nil, nil
	}); err != nil {
		dump()
		t.Errorf("kube-dns Service or the skiff IngressClass missing: %v", err)
	}
	if l, err := admin.CoordinationV1().Leases("kube-node-lease").Get(ctx, "hn-0", metav1.GetOptions{}); err != nil || l.Spec.RenewTime == nil {
		t.Errorf("node lease: %+v %v", l, err)
	}
	for name, p := range logs {
		b, _ := os.ReadFile(p)
		if s := strings.ToLower(string(b)); strings.Contains(s, "forbidden") {
			dump()
			t.Errorf("%s was refused a request", name)
		}
	}
	// Every write the components made is in the audit log: none was refused.
	b, err := os.ReadFile(auditLog)
	if err != nil {
		t.Fatal(err)
	}
	writes := 0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var ev auditv1.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if ev.User.Username == "admin" {
			continue
		}
		writes++
		if ev.ResponseStatus != nil && ev.ResponseStatus.Code == 403 {
			t.Errorf("refused: %s %s by %s", ev.Verb, ev.RequestURI, ev.User.Username)
		}
	}
	t.Logf("%d component writes audited, none refused", writes)
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
