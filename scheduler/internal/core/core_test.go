package core

import (
	"context"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"skiff.dev/scheduler/internal/fixture"
)

// fakeCluster is a fake clientset whose pods/binding subresource sets
// spec.nodeName, refusing (409) to bind a bound pod, as the apiserver does.
func fakeCluster(objs ...runtime.Object) *fake.Clientset {
	c := fake.NewClientset(objs...)
	c.PrependReactor("create", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		ca, ok := a.(clienttesting.CreateAction)
		if !ok || ca.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := ca.GetObject().(*v1.Binding)
		obj, err := c.Tracker().Get(v1.SchemeGroupVersion.WithResource("pods"), b.Namespace, b.Name)
		if err != nil {
			return true, nil, err
		}
		pod := obj.(*v1.Pod).DeepCopy()
		if pod.Spec.NodeName != "" {
			return true, nil, conflict(pod.Name)
		}
		pod.Spec.NodeName = b.Target.Name
		return true, b, c.Tracker().Update(v1.SchemeGroupVersion.WithResource("pods"), pod, pod.Namespace)
	})
	return c
}

func TestSchedulerWithFakeClient(t *testing.T) {
	client := fakeCluster(
		fixture.Node("a").Capacity("1", "4Gi", "110").Obj(),
		fixture.Node("b").Capacity("1", "4Gi", "110").Obj(),
	)
	s, err := New(Options{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	pods := client.CoreV1().Pods("default")
	for _, p := range []*v1.Pod{
		fixture.Pod("first").Req("600m", "").Obj(),
		fixture.Pod("second").Req("600m", "").Obj(),
		fixture.Pod("too-big").Req("2", "").Obj(),
		fixture.Pod("other-scheduler").Req("100m", "").Scheduler("someone-else").Obj(),
	} {
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	var first, second *v1.Pod
	var cond *v1.PodCondition
	for time.Now().Before(deadline) {
		first, _ = pods.Get(ctx, "first", metav1.GetOptions{})
		second, _ = pods.Get(ctx, "second", metav1.GetOptions{})
		big, _ := pods.Get(ctx, "too-big", metav1.GetOptions{})
		cond = nil
		for i := range big.Status.Conditions {
			if big.Status.Conditions[i].Type == v1.PodScheduled {
				cond = &big.Status.Conditions[i]
			}
		}
		if first.Spec.NodeName != "" && second.Spec.NodeName != "" && cond != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if first.Spec.NodeName == "" || second.Spec.NodeName == "" {
		t.Fatalf("not bound: first=%q second=%q", first.Spec.NodeName, second.Spec.NodeName)
	}
	// The second cycle must see the first pod assumed on its node.
	if first.Spec.NodeName == second.Spec.NodeName {
		t.Fatalf("both 600m pods on %s (1 CPU): assumed pod not accounted", first.Spec.NodeName)
	}
	if cond == nil || cond.Status != v1.ConditionFalse || cond.Reason != v1.PodReasonUnschedulable ||
		cond.Message != "0/2 nodes are available: 2 Insufficient cpu." {
		t.Fatalf("too-big condition %+v", cond)
	}
	if p, _ := pods.Get(ctx, "other-scheduler", metav1.GetOptions{}); p.Spec.NodeName != "" {
		t.Fatal("scheduled a pod of another scheduler")
	}
}
