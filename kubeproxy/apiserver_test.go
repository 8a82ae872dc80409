package kubeproxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/api/testenv"
	"skiff.dev/kubeproxy/internal/netnstest"
)

// TestRunAgainstAPIServer runs the public Run against a real skiff
// apiserver; Services and EndpointSlices are created over the API and the
// ClusterIP (allocated by the apiserver) is curled from the node netns.
func TestRunAgainstAPIServer(t *testing.T) {
	netnstest.Skip(t)
	env := testenv.StartAPIServer(t, testenv.Options{})
	tp := newTopology(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	svc, err := env.Client.CoreV1().Services("default").Create(ctx,
		service("web", "", v1.ServiceTypeNodePort, 0, false), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service: %v", err)
	}
	ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil || !netip.MustParsePrefix("10.96.0.0/12").Contains(ip) {
		t.Skipf("apiserver did not allocate a ClusterIP in 10.96.0.0/12 (got %q); allocation is the apiserver's part", svc.Spec.ClusterIP)
	}
	nodePort := svc.Spec.Ports[0].NodePort
	if _, err := env.Client.DiscoveryV1().EndpointSlices("default").Create(ctx,
		slice("web", map[string]bool{"10.200.1.2": true, "10.200.2.2": true}), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create endpointslice: %v", err)
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- Run(runCtx, Options{
			RESTConfig: env.Config, IPTablesDir: tp.node.IPTablesDir(t), ConntrackNetNS: tp.node.Path(), ClusterCIDR: "10.244.0.0/16",
			MasqueradeBit: 14, MinSyncPeriod: 100 * time.Millisecond, SyncPeriod: 30 * time.Second,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := Run(context.Background(), Options{Cleanup: true, IPTablesDir: tp.node.IPTablesDir(t), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})

	url := fmt.Sprintf("http://%s/", ip)
	netnstest.Poll(t, 60*time.Second, "both backends via the allocated ClusterIP", func() (bool, string) {
		seen := backends(tp.node, url, 16)
		return seen["ep1"] > 0 && seen["ep2"] > 0 && len(seen) == 2, fmt.Sprint(seen)
	})
	if nodePort > 0 {
		url := fmt.Sprintf("http://10.200.3.1:%d/", nodePort)
		netnstest.Poll(t, 30*time.Second, "both backends via the allocated NodePort", func() (bool, string) {
			seen := backends(tp.client, url, 16)
			return seen["ep1"] > 0 && seen["ep2"] > 0 && len(seen) == 2, fmt.Sprint(seen)
		})
	} else {
		t.Log("apiserver allocated no NodePort; NodePort path not checked here")
	}

	if err := env.Client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	netnstest.Poll(t, 30*time.Second, "ClusterIP gone after delete", func() (bool, string) {
		body, code := curl(tp.node, url)
		return code != 0, fmt.Sprintf("still answering %q", body)
	})
}
