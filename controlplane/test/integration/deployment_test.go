package integration

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
