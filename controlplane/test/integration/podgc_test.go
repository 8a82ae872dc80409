package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/controlplane"
	"skiff.dev/controlplane/internal/hollow"
)

func TestPodGC(t *testing.T) {
	c := newCluster(t, 1)
	c.startCM(t, func(o *controlplane.Options) {
		o.PodGCPeriod = 200 * time.Millisecond
		o.TerminatedPodGCThreshold = 2
	})
	ctx := context.Background()
	ns(t, c, "gc")
	mk := func(name, node string, exit bool) {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{NodeName: node, RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "i"}}},
		}
		if exit {
			p.Annotations = map[string]string{hollow.ExitCodeAnnotation: "0"}
		}
		if _, err := c.client.CoreV1().Pods("gc").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk("ghost", "no-such-node", false)
	for i := range 4 {
		mk(fmt.Sprintf("done-%d", i), c.nodes.NodeName(0), true)
		time.Sleep(1100 * time.Millisecond) // distinct creation timestamps (second precision)
	}
	gone := func(name string) bool {
		_, err := c.client.CoreV1().Pods("gc").Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}
	poll(t, 30*time.Second, "pod on a deleted node collected", func() (bool, error) { return gone("ghost"), nil })
	poll(t, 30*time.Second, "oldest terminated pods collected", func() (bool, error) {
		return gone("done-0") && gone("done-1"), nil
	})
	if gone("done-2") || gone("done-3") {
		t.Fatal("newest terminated pods were collected too")
	}
}
