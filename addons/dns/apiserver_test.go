package dns

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/api/testenv"
)

// TestRunAgainstAPIServer serves DNS from a real skiff apiserver's
// Services and EndpointSlices and queries it with dig.
func TestRunAgainstAPIServer(t *testing.T) {
	if _, err := exec.LookPath("dig"); err != nil {
		t.Skip("dig not installed")
	}
	env := testenv.StartAPIServer(t, testenv.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := env.Client
	svc, err := c.CoreV1().Services("default").Create(ctx, &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       v1.ServiceSpec{Ports: []v1.ServicePort{{Name: "http", Port: 80}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Services("default").Create(ctx, &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec:       v1.ServiceSpec{ClusterIP: v1.ClusterIPNone, Ports: []v1.ServicePort{{Name: "sql", Port: 5432}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DiscoveryV1().EndpointSlices("default").Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "db-1", Labels: map[string]string{discoveryv1.LabelServiceName: "db"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("sql"), Protocol: ptr(v1.ProtocolTCP), Port: ptr(int32(5432))}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.5"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	runCtx, stop := context.WithCancel(ctx)
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	o := Options{RESTConfig: env.Config, Listen: "127.0.0.1:0", Upstreams: []string{upstream(t)},
		ServiceIP: "10.96.0.10", AdvertiseAddress: "127.0.0.1",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- serve(runCtx, o, env.Client, func(a string) { addrc <- a }) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("dns did not start")
	}
	for _, tc := range []struct{ name, typ, want string }{
		{"web.default.svc.cluster.local", "A", "[A " + svc.Spec.ClusterIP + "]"},
		{"db.default.svc.cluster.local", "A", "[A 10.244.1.5]"},
		{"_sql._tcp.db.default.svc.cluster.local", "SRV", "[SRV 0 100 5432 10-244-1-5.db.default.svc.cluster.local.]"},
		{"kubernetes.default.svc.cluster.local", "A", ""}, // the apiserver's own Service, when it exists
		{"example.com", "A", "[A 192.0.2.1]"},
	} {
		status, got := dig(t, addr, tc.name, tc.typ)
		if tc.want == "" {
			t.Logf("%s: %s %v", tc.name, status, got)
			continue
		}
		if status != "NOERROR" || fmt.Sprint(got) != tc.want {
			t.Errorf("%s %s: %s %v, want %s", tc.name, tc.typ, status, got, tc.want)
		}
	}
	// Registered behind its fixed ClusterIP.
	dnsSvc, err := c.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil || dnsSvc.Spec.ClusterIP != "10.96.0.10" {
		t.Fatalf("kube-dns service: %v %v", err, dnsSvc)
	}
	if status, got := dig(t, addr, "kube-dns.kube-system.svc.cluster.local", "A"); fmt.Sprint(got) != "[A 10.96.0.10]" {
		t.Errorf("kube-dns A: %s %v", status, got)
	}
	sl, err := c.DiscoveryV1().EndpointSlices("kube-system").Get(ctx, "kube-dns-skiff", metav1.GetOptions{})
	if err != nil || len(sl.Endpoints) != 1 || sl.Endpoints[0].Addresses[0] != "127.0.0.1" || *sl.Ports[0].Port != int32(mustPort(t, addr)) {
		t.Fatalf("kube-dns endpointslice: %v %+v", err, sl)
	}

	if err := c.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if status, _ := dig(t, addr, "web.default.svc.cluster.local", "A"); status == "NXDOMAIN" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("deleted service still resolves")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mustPort(t *testing.T, addr string) int {
	_, p, _ := strings.Cut(addr, ":")
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
