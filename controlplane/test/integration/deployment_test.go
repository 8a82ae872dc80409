package integration

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"skiff.dev/controlplane/internal/hollow"
)

func TestDeploymentRollout(t *testing.T) {
	c := newCluster(t, 3)
	c.startCM(t, nil)
	ctx := context.Background()
	ns(t, c, "roll")
	if _, err := c.client.AppsV1().Deployments("roll").Create(ctx, deploymentObj("web", 6, "img:1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, 60*time.Second, "first rollout", func() (bool, error) { return rolledOut(ctx, c.client, "roll", "web") })
	d, err := c.client.AppsV1().Deployments("roll").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = "img:2"
	if _, err := c.client.AppsV1().Deployments("roll").Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, 60*time.Second, "second rollout", func() (bool, error) { return rolledOut(ctx, c.client, "roll", "web") })
	poll(t, 30*time.Second, "old pods gone", func() (bool, error) {
		total, _ := countPods(ctx, t, c.client, "roll", "app=web")
		return total == 6, nil
	})
}

// TestScaleMidRollout scales a Deployment while a rollout is stuck half-way:
// the new replicas are spread over the old and new ReplicaSets in proportion
// (never above replicas+maxSurge), and the rollout then completes at the new size.
func TestScaleMidRollout(t *testing.T) {
	c := newCluster(t, 3)
	c.startCM(t, nil)
	ctx := context.Background()
	ns(t, c, "scale")
	if _, err := c.client.AppsV1().Deployments("scale").Create(ctx, deploymentObj("web", 10, "img:1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, 60*time.Second, "first rollout", func() (bool, error) { return rolledOut(ctx, c.client, "scale", "web") })
	// Start a rollout whose pods never become ready: it stalls with both ReplicaSets active.
	update := func(mut func(d *appsv1.Deployment)) {
		t.Helper()
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			d, err := c.client.AppsV1().Deployments("scale").Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			mut(d)
			_, err = c.client.AppsV1().Deployments("scale").Update(ctx, d, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	update(func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[0].Image = "img:2"
		d.Spec.Template.Annotations = map[string]string{hollow.NotReadyAnnotation: "true"}
	})
	specs := func() (old, cur int32) {
		rsl, err := c.client.AppsV1().ReplicaSets("scale").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, rs := range rsl.Items {
			if rs.Spec.Template.Spec.Containers[0].Image == "img:2" {
				cur += *rs.Spec.Replicas
			} else {
				old += *rs.Spec.Replicas
			}
		}
		return old, cur
	}
	poll(t, 60*time.Second, "stalled rollout", func() (bool, error) {
		old, cur := specs()
		return cur > 0 && old > 0 && old+cur == 13, nil // 10 + maxSurge 3
	})
	update(func(d *appsv1.Deployment) { twenty := int32(20); d.Spec.Replicas = &twenty })
	poll(t, 60*time.Second, "proportional scale-up", func() (bool, error) {
		old, cur := specs()
		return old+cur == 25 && old > 7 && cur > 3, nil // 20 + maxSurge 5, both sets grew
	})
	update(func(d *appsv1.Deployment) { d.Spec.Template.Annotations = nil })
	poll(t, 90*time.Second, "rollout at the new size", func() (bool, error) { return rolledOut(ctx, c.client, "scale", "web") })
	if old, cur := specs(); old != 0 || cur != 20 {
		t.Fatalf("after the rollout: old=%d new=%d, want 0 and 20", old, cur)
	}
}
