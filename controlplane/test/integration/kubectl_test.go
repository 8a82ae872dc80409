package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/controlplane/internal/hollow"
)

// TestKubectlWorkflow drives the controllers with the installed kubectl:
// create deployment, scale, set image, rollout status/history/undo, delete namespace.
func TestKubectlWorkflow(t *testing.T) {
	c := newCluster(t, 3)
	c.startCM(t, nil)
	ctx := context.Background()
	kubectl := func(args ...string) string {
		t.Helper()
		out, err := c.env.Kubectl(t, args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	kubectl("create", "namespace", "shop")
	kubectl("-n", "shop", "create", "deployment", "web", "--image=web:1", "--replicas=3")
	kubectl("-n", "shop", "rollout", "status", "deployment/web", "--timeout=60s")

	kubectl("-n", "shop", "scale", "deployment/web", "--replicas=5")
	kubectl("-n", "shop", "rollout", "status", "deployment/web", "--timeout=60s")
	if _, active := countPods(ctx, t, c.client, "shop", "app=web"); active != 5 {
		t.Fatalf("after scale: %d active pods, want 5", active)
	}

	kubectl("-n", "shop", "set", "image", "deployment/web", "web=web:2")
	out := kubectl("-n", "shop", "rollout", "status", "deployment/web", "--timeout=60s")
	if !strings.Contains(out, "successfully rolled out") {
		t.Fatalf("rollout status: %s", out)
	}
	hist := kubectl("-n", "shop", "rollout", "history", "deployment/web")
	if !strings.Contains(hist, "1 ") || !strings.Contains(hist, "2 ") {
		t.Fatalf("rollout history lacks revisions 1 and 2:\n%s", hist)
	}

	kubectl("-n", "shop", "rollout", "undo", "deployment/web")
	kubectl("-n", "shop", "rollout", "status", "deployment/web", "--timeout=60s")
	img := kubectl("-n", "shop", "get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.metadata.annotations.deployment\\.kubernetes\\.io/revision}")
	if img != "web:1 3" {
		t.Fatalf("after undo: image and revision = %q, want \"web:1 3\"", img)
	}
	poll(t, 30*time.Second, "only web:1 pods", func() (bool, error) {
		pods, err := c.client.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if p.Spec.Containers[0].Image != "web:1" {
				return false, nil
			}
		}
		return len(pods.Items) == 5, nil
	})

	// kubectl delete deployment cascades (background) to ReplicaSets and pods.
	kubectl("-n", "shop", "create", "deployment", "api", "--image=api:1", "--replicas=2")
	kubectl("-n", "shop", "rollout", "status", "deployment/api", "--timeout=60s")
	kubectl("-n", "shop", "delete", "deployment", "api")
	poll(t, 60*time.Second, "api replicasets and pods collected", func() (bool, error) {
		rsl, err := c.client.AppsV1().ReplicaSets("shop").List(ctx, metav1.ListOptions{LabelSelector: "app=api"})
		if err != nil {
			return false, err
		}
		total, _ := countPods(ctx, t, c.client, "shop", "app=api")
		return len(rsl.Items) == 0 && total == 0, nil
	})

	kubectl("delete", "namespace", "shop", "--timeout=90s")
	_, err := c.client.CoreV1().Namespaces().Get(ctx, "shop", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("namespace still there after kubectl delete: %v", err)
	}
}

// TestPauseAndProgressDeadline covers paused rollouts and the progress
// deadline: a rollout whose new pods never become ready ends with
// Progressing=False/ProgressDeadlineExceeded and `kubectl rollout status`
// fails; undo brings the deployment back.
func TestPauseAndProgressDeadline(t *testing.T) {
	c := newCluster(t, 2)
	c.startCM(t, nil)
	ctx := context.Background()
	kubectl := func(args ...string) (string, error) {
		t.Helper()
		return c.env.Kubectl(t, args...)
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := kubectl(args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	must("create", "namespace", "pd")
	must("-n", "pd", "create", "deployment", "web", "--image=web:1", "--replicas=4")
	must("-n", "pd", "rollout", "status", "deployment/web", "--timeout=60s")

	// Paused: a template change starts no rollout until resumed.
	must("-n", "pd", "rollout", "pause", "deployment/web")
	must("-n", "pd", "set", "image", "deployment/web", "web=web:2")
	time.Sleep(time.Second)
	if rsl, err := c.client.AppsV1().ReplicaSets("pd").List(ctx, metav1.ListOptions{}); err != nil || len(rsl.Items) != 1 {
		t.Fatalf("paused deployment created a new replicaset (%d, %v)", len(rsl.Items), err)
	}
	must("-n", "pd", "rollout", "resume", "deployment/web")
	must("-n", "pd", "rollout", "status", "deployment/web", "--timeout=60s")

	// A rollout whose pods never become ready times out.
	must("-n", "pd", "patch", "deployment/web", "-p",
		`{"spec":{"progressDeadlineSeconds":3,"template":{"metadata":{"annotations":{"`+hollow.NotReadyAnnotation+`":"true"}}}}}`)
	out, err := kubectl("-n", "pd", "rollout", "status", "deployment/web", "--timeout=60s")
	if err == nil || !strings.Contains(out, "exceeded its progress deadline") {
		t.Fatalf("rollout status of a stuck rollout: err=%v\n%s", err, out)
	}
	// The old pods kept serving: maxUnavailable (25% of 4 = 1) bounds the damage.
	d, err := c.client.AppsV1().Deployments("pd").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status.AvailableReplicas < 3 {
		t.Fatalf("available replicas fell to %d during a stuck rollout", d.Status.AvailableReplicas)
	}
	must("-n", "pd", "rollout", "undo", "deployment/web")
	must("-n", "pd", "rollout", "status", "deployment/web", "--timeout=60s")
}
