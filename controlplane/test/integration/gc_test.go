package integration

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestGarbageCollection(t *testing.T) {
	c := newCluster(t, 2)
	c.startCM(t, nil)
	ctx := context.Background()
	tests := []struct {
		name   string
		policy metav1.DeletionPropagation
		// orphaned: the ReplicaSet and pods survive the Deployment.
		orphaned bool
	}{
		{"background", metav1.DeletePropagationBackground, false},
		{"foreground", metav1.DeletePropagationForeground, false},
		{"orphan", metav1.DeletePropagationOrphan, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := "gc-" + tc.name
			ns(t, c, n)
			if _, err := c.client.AppsV1().Deployments(n).Create(ctx, deploymentObj("web", 3, "img:1"), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			poll(t, 60*time.Second, "rollout", func() (bool, error) { return rolledOut(ctx, c.client, n, "web") })
			policy := tc.policy
			if err := c.client.AppsV1().Deployments(n).Delete(ctx, "web", metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
				t.Fatal(err)
			}
			poll(t, 60*time.Second, "deployment gone", func() (bool, error) {
				_, err := c.client.AppsV1().Deployments(n).Get(ctx, "web", metav1.GetOptions{})
				if tc.policy == metav1.DeletePropagationForeground && err == nil {
					// While the owner waits, its dependents must be going away first.
					return false, nil
				}
				return apierrors.IsNotFound(err), nil
			})
			if tc.orphaned {
				// Give the collector time to (wrongly) act, then check nothing was deleted.
				time.Sleep(2 * time.Second)
				rsl, err := c.client.AppsV1().ReplicaSets(n).List(ctx, metav1.ListOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if len(rsl.Items) != 1 || len(rsl.Items[0].OwnerReferences) != 0 {
					t.Fatalf("want one orphaned replicaset without owner references, got %d", len(rsl.Items))
				}
				if _, active := countPods(ctx, t, c.client, n, "app=web"); active != 3 {
					t.Fatalf("orphaned pods: want 3 active, got %d", active)
				}
				return
			}
			poll(t, 60*time.Second, "replicasets and pods collected", func() (bool, error) {
				rsl, err := c.client.AppsV1().ReplicaSets(n).List(ctx, metav1.ListOptions{})
				if err != nil {
					return false, err
				}
				total, _ := countPods(ctx, t, c.client, n, "app=web")
				return len(rsl.Items) == 0 && total == 0, nil
			})
		})
	}
}

func TestNamespaceDeletion(t *testing.T) {
	c := newCluster(t, 2)
	c.startCM(t, nil)
	ctx := context.Background()
	ns(t, c, "doomed")
	if _, err := c.client.AppsV1().Deployments("doomed").Create(ctx, deploymentObj("web", 3, "img:1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, 60*time.Second, "rollout", func() (bool, error) { return rolledOut(ctx, c.client, "doomed", "web") })
	poll(t, 30*time.Second, "default serviceaccount", func() (bool, error) {
		_, err := c.client.CoreV1().ServiceAccounts("doomed").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err := c.client.CoreV1().Namespaces().Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, 90*time.Second, "namespace gone", func() (bool, error) {
		_, err := c.client.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	pods, err := c.client.CoreV1().Pods("doomed").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 0 {
		t.Fatalf("%d pods left in a deleted namespace", len(pods.Items))
	}
}
