package pod

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	critest "k8s.io/cri-api/pkg/apis/testing"
)

// slowRuntime is the fake runtime with a RunPodSandbox that takes a while
// and records how many ran at once.
type slowRuntime struct {
	*critest.FakeRuntimeService
	mu            sync.Mutex
	running, peak int
}

func (r *slowRuntime) RunPodSandbox(ctx context.Context, cfg *runtimeapi.PodSandboxConfig, handler string) (string, error) {
	r.mu.Lock()
	r.running++
	r.peak = max(r.peak, r.running)
	r.mu.Unlock()
	time.Sleep(30 * time.Millisecond)
	r.mu.Lock()
	r.running--
	r.mu.Unlock()
	return r.FakeRuntimeService.RunPodSandbox(ctx, cfg, handler)
}

func TestMaxParallelStartsAndRemove(t *testing.T) {
	for _, tc := range []struct {
		name     string
		parallel int
		wantPeak int // upper bound
	}{
		{"bounded", 2, 2},
		{"one", 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := &slowRuntime{FakeRuntimeService: critest.NewFakeRuntimeService()}
			client := fake.NewClientset()
			m := New(Options{Client: client, Runtime: rt, Images: critest.NewFakeImageService(), NodeName: "n1", RootDir: t.TempDir(),
				CgroupRoot: "/skiff-unit", Relist: 50 * time.Millisecond, MaxParallelStarts: tc.parallel, Log: quiet()})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { _ = m.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			const pods = 6
			for i := 0; i < pods; i++ {
				p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i), Namespace: "default", UID: types.UID(fmt.Sprint("uid-", i))},
					Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "a", Image: "busybox"}}}}
				if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, func() bool {
				list, _ := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
				n := 0
				for _, p := range list.Items {
					if p.Status.Phase == corev1.PodRunning {
						n++
					}
				}
				return n == pods
			})
			rt.mu.Lock()
			peak := rt.peak
			rt.mu.Unlock()
			if peak > tc.wantPeak || peak == 0 {
				t.Fatalf("%d RunPodSandbox calls at once, want 1..%d", peak, tc.wantPeak)
			}
			// Deleting removes sandboxes with RemovePodSandbox alone.
			before := len(rt.GetCalls())
			for i := 0; i < pods; i++ {
				if err := client.CoreV1().Pods("default").Delete(ctx, fmt.Sprintf("p%d", i), metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, func() bool {
				sbs, _ := rt.ListPodSandbox(ctx, nil)
				return len(sbs) == 0
			})
			for _, c := range rt.GetCalls()[before:] {
				if c == "StopPodSandbox" {
					t.Fatalf("StopPodSandbox called although RemovePodSandbox succeeded: %v", rt.GetCalls())
				}
			}
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
