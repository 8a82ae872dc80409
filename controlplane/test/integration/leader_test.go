package integration

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/controlplane"
)

// TestLeaderElection runs two controller-managers: one holds the Lease and
// works; when it stops, the other takes over and keeps reconciling.
func TestLeaderElection(t *testing.T) {
	c := newCluster(t, 2)
	elect := func(id string) func(*controlplane.Options) {
		return func(o *controlplane.Options) {
			o.LeaderElect = true
			o.Identity = id
			o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = 3*time.Second, 2*time.Second, 200*time.Millisecond
		}
	}
	ctx := context.Background()
	stopA := c.startCM(t, elect("cm-a"))
	poll(t, 30*time.Second, "cm-a to lead", func() (bool, error) {
		l, err := c.client.CoordinationV1().Leases("kube-system").Get(ctx, "kube-controller-manager", metav1.GetOptions{})
		return err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == "cm-a", nil
	})
	c.startCM(t, elect("cm-b"))
	ns(t, c, "le")
	if _, err := c.client.AppsV1().Deployments("le").Create(ctx, deploymentObj("web", 2, "img:1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, 60*time.Second, "rollout by cm-a", func() (bool, error) { return rolledOut(ctx, c.client, "le", "web") })

	stopA()
	poll(t, 30*time.Second, "cm-b to lead", func() (bool, error) {
		l, err := c.client.CoordinationV1().Leases("kube-system").Get(ctx, "kube-controller-manager", metav1.GetOptions{})
		return err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == "cm-b", nil
	})
	d, err := c.client.AppsV1().Deployments("le").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	four := int32(4)
	d.Spec.Replicas = &four
	if _, err := c.client.AppsV1().Deployments("le").Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, 60*time.Second, "scale by cm-b", func() (bool, error) { return rolledOut(ctx, c.client, "le", "web") })
}
