package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/api/testenv"
	"skiff.dev/e2e/cluster"
)

// TestWorkloads drives one real single-node cluster (`skiff up` on its own
// containerd) with the installed kubectl, as a user would: a Deployment of
// busybox httpd reachable from the host, logs, exec, a Job, a crash loop, a
// failing readiness probe, deletion down to containerd, and a clean Ctrl-C.
func TestWorkloads(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Index: 1})
	ctx := context.Background()
	pods := c.Client.CoreV1().Pods("default")

	podsWith := func(selector string, want int, ok func(*corev1.Pod) bool) []corev1.Pod {
		t.Helper()
		var got []corev1.Pod
		err := testenv.Poll(90*time.Second, func() (bool, error) {
			list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				return false, nil
			}
			got = got[:0]
			for i := range list.Items {
				if ok(&list.Items[i]) {
					got = append(got, list.Items[i])
				}
			}
			return len(got) == want && len(list.Items) == want, nil
		})
		if err != nil {
			out, _ := c.Kubectl(t, "get", "pods", "-o", "wide", "-l", selector)
			t.Fatalf("pods %s: %v\n%s", selector, err, out)
		}
		return got
	}

	t.Run("deployment serves from pod IPs", func(t *testing.T) {
		c.MustKubectl(t, "create", "deployment", "web", "--image=busybox", "--replicas=2", "--", "httpd", "-f", "-p", "8080", "-h", "/etc")
		c.MustKubectl(t, "rollout", "status", "deployment/web", "--timeout=90s")
		running := podsWith("app=web", 2, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" })
		client := &http.Client{Timeout: 5 * time.Second}
		for _, p := range running {
			url := fmt.Sprintf("http://%s:8080/hostname", p.Status.PodIP)
			var body string
			err := testenv.Poll(30*time.Second, func() (bool, error) {
				resp, err := client.Get(url)
				if err != nil {
					return false, nil
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				body = string(b)
				return resp.StatusCode == 200, nil
			})
			if err != nil {
				t.Fatalf("GET %s: %v", url, err)
			}
			if strings.TrimSpace(body) != p.Name {
				t.Errorf("pod %s answered hostname %q", p.Name, body)
			}
		}
	})

	t.Run("exec", func(t *testing.T) {
		out := c.MustKubectl(t, "exec", "deploy/web", "--", "echo", "ok")
		if strings.TrimSpace(out) != "ok" {
			t.Fatalf("kubectl exec printed %q", out)
		}
	})

	t.Run("logs", func(t *testing.T) {
		c.MustKubectl(t, "run", "talker", "--image=busybox", "--restart=Never", "--", "sh", "-c", "echo hello from skiff; sleep 3600")
		podsWith("run=talker", 1, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		err := testenv.Poll(30*time.Second, func() (bool, error) {
			out, err := c.Kubectl(t, "logs", "talker")
			return err == nil && strings.Contains(out, "hello from skiff"), nil
		})
		if err != nil {
			out, _ := c.Kubectl(t, "logs", "talker")
			t.Fatalf("kubectl logs: %v: %s", err, out)
		}
	})

	t.Run("kubectl top", func(t *testing.T) {
		var out string
		err := testenv.Poll(60*time.Second, func() (bool, error) {
			nodes, err := c.Kubectl(t, "top", "nodes")
			if err != nil {
				out = nodes
				return false, nil
			}
			pods, err := c.Kubectl(t, "top", "pods", "-l", "app=web")
			out = nodes + pods
			return err == nil && strings.Contains(nodes, "MEMORY(bytes)") && strings.Count(pods, "web-") == 2, nil
		})
		if err != nil {
			t.Fatalf("kubectl top: %v\n%s", err, out)
		}
	})

	t.Run("job completes", func(t *testing.T) {
		c.MustKubectl(t, "create", "job", "once", "--image=busybox", "--", "sh", "-c", "echo done")
		c.MustKubectl(t, "wait", "--for=condition=complete", "job/once", "--timeout=90s")
	})

	t.Run("crashing container backs off", func(t *testing.T) {
		c.MustKubectl(t, "run", "crasher", "--image=busybox", "--restart=Always", "--", "sh", "-c", "exit 3")
		podsWith("run=crasher", 1, func(p *corev1.Pod) bool {
			for _, s := range p.Status.ContainerStatuses {
				if s.RestartCount >= 1 && s.State.Waiting != nil && s.State.Waiting.Reason == "CrashLoopBackOff" &&
					s.LastTerminationState.Terminated != nil && s.LastTerminationState.Terminated.ExitCode == 3 {
					return true
				}
			}
			return false
		})
		out := c.MustKubectl(t, "get", "pod", "crasher")
		if !strings.Contains(out, "CrashLoopBackOff") {
			t.Errorf("kubectl get pod does not show CrashLoopBackOff:\n%s", out)
		}
	})

	t.Run("failing readiness probe keeps pod not ready", func(t *testing.T) {
		manifest := `apiVersion: v1
kind: Pod
metadata:
  name: unready
  labels: {app: unready}
spec:
  containers:
  - name: app
    image: busybox
    command: ["sleep", "3600"]
    readinessProbe:
      exec: {command: ["false"]}
      periodSeconds: 1
`
		cmd := exec.Command("kubectl", "--kubeconfig", c.Kubeconfig, "apply", "-f", "-")
		cmd.Stdin = strings.NewReader(manifest)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kubectl apply: %v\n%s", err, out)
		}
		podsWith("app=unready", 1, func(p *corev1.Pod) bool {
			if p.Status.Phase != corev1.PodRunning {
				return false
			}
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady {
					return cond.Status == corev1.ConditionFalse
				}
			}
			return false
		})
	})

	t.Run("rollout, scale, undo and namespace deletion", func(t *testing.T) {
		c.MustKubectl(t, "create", "namespace", "shop")
		// A shell that exits on SIGTERM, so deletion needs no grace period.
		c.MustKubectl(t, "-n", "shop", "create", "deployment", "app", "--image=busybox", "--replicas=2", "--",
			"sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait")
		c.MustKubectl(t, "-n", "shop", "rollout", "status", "deployment/app", "--timeout=90s")
		c.MustKubectl(t, "-n", "shop", "scale", "deployment/app", "--replicas=3")
		c.MustKubectl(t, "-n", "shop", "rollout", "status", "deployment/app", "--timeout=90s")
		c.MustKubectl(t, "-n", "shop", "set", "image", "deployment/app", "busybox=docker.io/library/busybox:latest")
		c.MustKubectl(t, "-n", "shop", "rollout", "status", "deployment/app", "--timeout=120s")
		if out := c.MustKubectl(t, "-n", "shop", "rollout", "history", "deployment/app"); !strings.Contains(out, "1 ") || !strings.Contains(out, "2 ") {
			t.Errorf("rollout history lacks revisions 1 and 2:\n%s", out)
		}
		c.MustKubectl(t, "-n", "shop", "rollout", "undo", "deployment/app")
		c.MustKubectl(t, "-n", "shop", "rollout", "status", "deployment/app", "--timeout=120s")
		img := c.MustKubectl(t, "-n", "shop", "get", "deployment/app", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.status.readyReplicas}")
		if img != "busybox 3" {
			t.Errorf("after undo: image and ready replicas %q, want \"busybox 3\"", img)
		}
		c.MustKubectl(t, "delete", "namespace", "shop", "--timeout=120s")
		if out, err := c.Kubectl(t, "get", "namespace", "shop"); err == nil {
			t.Errorf("namespace still there after delete:\n%s", out)
		}
	})

	t.Run("delete removes containers", func(t *testing.T) {
		c.MustKubectl(t, "delete", "deployment", "web", "--wait=false")
		c.MustKubectl(t, "delete", "pod", "talker", "crasher", "unready", "--grace-period=1", "--wait=false")
		c.MustKubectl(t, "delete", "job", "once", "--cascade=foreground", "--wait=false")
		err := testenv.Poll(120*time.Second, func() (bool, error) {
			list, err := pods.List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, nil
			}
			if len(list.Items) > 0 {
				return false, nil
			}
			out, err := c.Ctr("containers", "ls", "-q")
			return err == nil && strings.TrimSpace(out) == "", nil
		})
		if err != nil {
			out, _ := c.Kubectl(t, "get", "pods", "-A", "-o", "wide")
			ctr, _ := c.Ctr("containers", "ls")
			t.Fatalf("pods or containers left after delete: %v\n%s\n%s", err, out, ctr)
		}
	})

	t.Run("ctrl-c stops everything", func(t *testing.T) {
		c.MustKubectl(t, "run", "leftover", "--image=busybox", "--restart=Never", "--", "sleep", "3600")
		podsWith("run=leftover", 1, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		if err := c.Stop(); err != nil {
			t.Fatal(err)
		}
		out, _ := exec.Command("pgrep", "-f", c.DataDir).CombinedOutput()
		if s := strings.TrimSpace(string(out)); s != "" {
			ps, _ := exec.Command("ps", "-o", "pid,args", "-p", strings.ReplaceAll(s, "\n", ",")).CombinedOutput()
			t.Fatalf("processes outlived skiff up:\n%s", ps)
		}
	})
}
