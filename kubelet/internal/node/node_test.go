package node

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestRegisterLeaseAndReadiness(t *testing.T) {
	client := fake.NewClientset()
	healthy := make(chan bool, 1)
	healthy <- false
	state := false
	m := New(Options{
		Client: client, Name: "n1", Labels: map[string]string{"kubernetes.io/hostname": "n1"},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.10"}},
		Port:      10250,
		Capacity:  corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourcePods: resource.MustParse("110")},
		Info:      corev1.NodeSystemInfo{ContainerRuntimeVersion: "containerd://1.6.20"},
		Health: func(context.Context) (bool, string, string) {
			select {
			case state = <-healthy:
			default:
			}
			if state {
				return true, "KubeletReady", "ok"
			}
			return false, "KubeletNotReady", "runtime down"
		},
		HealthInterval: 20 * time.Millisecond,
		Pressure:       func() (bool, bool, bool) { return false, true, false },
		Log:            slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	ready := func() corev1.ConditionStatus {
		n, err := client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		if err != nil {
			return ""
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status
			}
		}
		return ""
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: timed out", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("registered not ready", func() bool { return ready() == corev1.ConditionFalse })
	n, _ := client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	if n.Status.DaemonEndpoints.KubeletEndpoint.Port != 10250 || n.Status.Addresses[0].Address != "192.0.2.10" || n.Labels["kubernetes.io/hostname"] != "n1" {
		t.Fatalf("node = %+v", n)
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeDiskPressure && (c.Status != corev1.ConditionTrue || c.Reason != "KubeletHasDiskPressure") {
			t.Fatalf("disk pressure condition = %+v", c)
		}
	}
	healthy <- true
	waitFor("ready", func() bool { return ready() == corev1.ConditionTrue })
	waitFor("lease", func() bool {
		l, err := client.CoordinationV1().Leases(LeaseNamespace).Get(ctx, "n1", metav1.GetOptions{})
		return err == nil && *l.Spec.HolderIdentity == "n1" && l.Spec.RenewTime != nil
	})
	// A deleted Node is registered again.
	if err := client.CoreV1().Nodes().Delete(ctx, "n1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	healthy <- false
	waitFor("re-registered", func() bool { return ready() == corev1.ConditionFalse })
}
