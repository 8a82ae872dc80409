package endpoints

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func pod(name, ip string, ready bool, gates ...corev1.PodConditionType) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
		}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
	for _, g := range gates {
		p.Spec.ReadinessGates = append(p.Spec.ReadinessGates, corev1.PodReadinessGate{ConditionType: g})
	}
	return p
}

func TestSubsets(t *testing.T) {
	named := &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "web", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}}}}
	numbered := &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(9090), Protocol: corev1.ProtocolTCP}}}}
	gated := pod("gated", "10.0.0.4", true, "example.com/lb")
	finished := pod("done", "10.0.0.5", false)
	finished.Status.Phase = corev1.PodSucceeded
	deleting := pod("bye", "10.0.0.6", true)
	deleting.DeletionTimestamp = &metav1.Time{}
	tests := []struct {
		name            string
		svc             *corev1.Service
		pods            []*corev1.Pod
		ready, notReady []string
		port            int32
	}{
		{"named target port", named, []*corev1.Pod{pod("b", "10.0.0.2", true), pod("a", "10.0.0.1", true)}, []string{"10.0.0.1", "10.0.0.2"}, nil, 8080},
		{"numbered target port", numbered, []*corev1.Pod{pod("a", "10.0.0.1", true)}, []string{"10.0.0.1"}, nil, 9090},
		{"not ready", named, []*corev1.Pod{pod("a", "10.0.0.1", false)}, nil, []string{"10.0.0.1"}, 8080},
		{"readiness gate unmet", named, []*corev1.Pod{gated}, nil, []string{"10.0.0.4"}, 8080},
		{"no IP, finished or deleting pods are left out", named, []*corev1.Pod{pod("noip", "", true), finished, deleting}, nil, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ss := Subsets(tc.svc, tc.pods)
			var ready, notReady []string
			for _, s := range ss {
				for _, a := range s.Addresses {
					ready = append(ready, a.IP)
				}
				for _, a := range s.NotReadyAddresses {
					notReady = append(notReady, a.IP)
				}
				if s.Ports[0].Port != tc.port {
					t.Fatalf("port = %d, want %d", s.Ports[0].Port, tc.port)
				}
			}
			if len(ss) == 0 && tc.port != 0 {
				t.Fatal("no subsets")
			}
			if fmtList(ready) != fmtList(tc.ready) || fmtList(notReady) != fmtList(tc.notReady) {
				t.Fatalf("ready=%v notReady=%v, want %v %v", ready, notReady, tc.ready, tc.notReady)
			}
		})
	}
}

func fmtList(s []string) string {
	out := ""
	for _, x := range s {
		out += x + ","
	}
	return out
}
