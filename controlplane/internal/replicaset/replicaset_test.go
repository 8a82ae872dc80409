package replicaset

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff.dev/controlplane/internal/fakeapi"
)

func TestPodsToDelete(t *testing.T) {
	now := time.Now()
	mk := func(name, node string, phase corev1.PodPhase, ready bool, readySince time.Duration, restarts int32) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))},
			Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
		if ready {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-readySince))}}
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{RestartCount: restarts}}
		return p
	}
	pods := []*corev1.Pod{
		mk("old-ready", "n", corev1.PodRunning, true, time.Hour, 0),
		mk("unscheduled", "", corev1.PodPending, false, 0, 0),
		mk("new-ready", "n", corev1.PodRunning, true, time.Minute, 0),
		mk("pending", "n", corev1.PodPending, false, 0, 0),
		mk("crashy", "n", corev1.PodRunning, false, 0, 5),
		mk("running-not-ready", "n", corev1.PodRunning, false, 0, 0),
	}
	want := []string{"unscheduled", "pending", "crashy", "running-not-ready", "new-ready", "old-ready"}
	got := PodsToDelete(pods, len(pods))
	for i := range want {
		if got[i].Name != want[i] {
			names := []string{}
			for _, p := range got {
				names = append(names, p.Name)
			}
			t.Fatalf("order = %v, want %v", names, want)
		}
	}
}

// TestNoOverCreate syncs twice before the informer has seen the first
// sync's pods: expectations must stop the second sync from creating more.
func TestNoOverCreate(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	three := int32(3)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "rs-uid"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &three,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}},
		},
	}
	client := fakeapi.NewClientset(rs)
	f := informers.NewSharedInformerFactory(client, 0)
	c := New(Options{Client: client, ReplicaSets: f.Apps().V1().ReplicaSets(), Pods: f.Core().V1().Pods(),
		Recorder: record.NewFakeRecorder(100), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	// Start only the ReplicaSet informer: the pod cache stays empty, as if
	// the creates were still in flight.
	rsInf := f.Apps().V1().ReplicaSets().Informer()
	go rsInf.Run(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), rsInf.HasSynced)
	for range 3 {
		if err := c.Sync(ctx, "default/web"); err != nil {
			t.Fatal(err)
		}
	}
	pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 3 {
		t.Fatalf("%d pods created, want 3", len(pods.Items))
	}
	for _, p := range pods.Items {
		if ref := metav1.GetControllerOf(&p); ref == nil || ref.UID != "rs-uid" {
			t.Fatalf("pod %s lacks its controller reference", p.Name)
		}
	}
}
