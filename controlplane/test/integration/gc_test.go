package integration

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
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

// TestRestartMidRollout stops the controller-manager in the middle of a
// rollout and starts a new one: the rollout completes, exactly one pod per
// replica per revision is ever created (no extra pods), and the ReplicaSets'
// replicas never sum past replicas+maxSurge.
func TestRestartMidRollout(t *testing.T) {
	c := newCluster(t, 3)
	stop := c.startCM(t, nil)
	ctx := context.Background()
	ns(t, c, "restart")
	const replicas = 20

	w, err := c.client.CoreV1().Pods("restart").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created := map[types.UID]bool{}
	var mu sync.Mutex
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type == watch.Added {
				mu.Lock()
				created[p.UID] = true
				mu.Unlock()
			}
		}
	}()
	maxSpec := int32(0)
	specCtx, stopSpec := context.WithCancel(ctx)
	specDone := make(chan struct{})
	go func() {
		defer close(specDone)
		for specCtx.Err() == nil {
			rsl, err := c.client.AppsV1().ReplicaSets("restart").List(ctx, metav1.ListOptions{})
			if err == nil {
				var sum int32
				for _, rs := range rsl.Items {
					sum += *rs.Spec.Replicas
				}
				maxSpec = max(maxSpec, sum)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()

	if _, err := c.client.AppsV1().Deployments("restart").Create(ctx, deploymentObj("web", replicas, "img:1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, 60*time.Second, "first rollout", func() (bool, error) { return rolledOut(ctx, c.client, "restart", "web") })
	d, err := c.client.AppsV1().Deployments("restart").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = "img:2"
	if _, err := c.client.AppsV1().Deployments("restart").Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, 60*time.Second, "rollout to start", func() (bool, error) {
		d, err := c.client.AppsV1().Deployments("restart").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && d.Status.UpdatedReplicas > 0, err
	})
	stop()
	c.startCM(t, nil)
	poll(t, 90*time.Second, "rollout after restart", func() (bool, error) { return rolledOut(ctx, c.client, "restart", "web") })
	poll(t, 30*time.Second, "old pods gone", func() (bool, error) {
		total, _ := countPods(ctx, t, c.client, "restart", "app=web")
		return total == replicas, nil
	})
	stopSpec()
	<-specDone
	w.Stop()
	<-watched
	if len(created) != 2*replicas {
		t.Errorf("%d pods were created over two revisions of %d replicas, want exactly %d", len(created), replicas, 2*replicas)
	}
	// Default maxSurge is 25% of 20 = 5.
	if maxSpec > replicas+5 {
		t.Errorf("replicasets summed to %d replicas, more than replicas+maxSurge = %d", maxSpec, replicas+5)
	}
	rsl, err := c.client.AppsV1().ReplicaSets("restart").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rsl.Items) != 2 {
		t.Fatalf("want 2 replicasets, got %d", len(rsl.Items))
	}
}

func dumpRollout(ctx context.Context, t *testing.T, c *cluster, ns string) {
	rsl, _ := c.client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	for _, rs := range rsl.Items {
		t.Logf("rs %s spec=%d status=%+v", rs.Name, *rs.Spec.Replicas, rs.Status)
	}
	pods, _ := c.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	by := map[string]int{}
	for _, p := range pods.Items {
		k := "none"
		if len(p.OwnerReferences) > 0 {
			k = p.OwnerReferences[0].Name
		}
		k += "/" + string(p.Status.Phase)
		if p.DeletionTimestamp != nil {
			k += "/deleting"
		}
		by[k]++
	}
	t.Logf("pods: %v", by)
}
