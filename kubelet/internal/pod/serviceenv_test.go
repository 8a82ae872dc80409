package pod

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

func TestServiceEnv(t *testing.T) {
	svc := func(ns, name, ip string, ports ...corev1.ServicePort) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{ClusterIP: ip, Ports: ports}}
	}
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, s := range []*corev1.Service{
		svc("default", "kubernetes", "10.96.0.1", corev1.ServicePort{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}),
		svc("web", "my-svc", "10.96.0.20", corev1.ServicePort{Port: 80, Protocol: corev1.ProtocolTCP}, corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}),
		svc("web", "headless", corev1.ClusterIPNone),
		svc("other", "elsewhere", "10.96.0.30", corev1.ServicePort{Port: 80}),
	} {
		if err := idx.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	m := &Manager{services: corelisters.NewServiceLister(idx)}
	no := false
	tests := []struct {
		name  string
		pod   *corev1.Pod
		want  map[string]string
		unset []string
	}{
		{"links on", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "web"}},
			map[string]string{
				"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443", "KUBERNETES_SERVICE_PORT_HTTPS": "443",
				"KUBERNETES_PORT": "tcp://10.96.0.1:443", "KUBERNETES_PORT_443_TCP_ADDR": "10.96.0.1",
				"MY_SVC_SERVICE_HOST": "10.96.0.20", "MY_SVC_SERVICE_PORT": "80", "MY_SVC_SERVICE_PORT_DNS": "53",
				"MY_SVC_PORT": "tcp://10.96.0.20:80", "MY_SVC_PORT_53_UDP": "udp://10.96.0.20:53", "MY_SVC_PORT_53_UDP_PROTO": "udp",
			}, []string{"HEADLESS_SERVICE_HOST", "ELSEWHERE_SERVICE_HOST"}},
		{"links off keeps the master service", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "web"}, Spec: corev1.PodSpec{EnableServiceLinks: &no}},
			map[string]string{"KUBERNETES_SERVICE_HOST": "10.96.0.1"}, []string{"MY_SVC_SERVICE_HOST"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order, vars, err := m.serviceEnv(tt.pod)
			if err != nil {
				t.Fatal(err)
			}
			if len(order) != len(vars) {
				t.Fatalf("order has %d names, vars %d", len(order), len(vars))
			}
			for k, v := range tt.want {
				if vars[k] != v {
					t.Errorf("%s = %q, want %q", k, vars[k], v)
				}
			}
			for _, k := range tt.unset {
				if _, ok := vars[k]; ok {
					t.Errorf("%s is set", k)
				}
			}
		})
	}
}
