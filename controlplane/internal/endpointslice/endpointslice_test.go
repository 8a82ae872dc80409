package endpointslice

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestDesired(t *testing.T) {
	svc := &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}}}}
	pods := func(n int, ready bool) []*corev1.Pod {
		var out []*corev1.Pod
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		for i := range n {
			out = append(out, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i)},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.0.%d.%d", i/250, i%250+1),
					Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
			})
		}
		return out
	}
	tests := []struct {
		name       string
		pods       []*corev1.Pod
		wantSlices []int
		wantReady  bool
	}{
		{"empty service keeps one empty slice", nil, []int{0}, false},
		{"three ready", pods(3, true), []int{3}, true},
		{"not ready pods are listed not ready", pods(2, false), []int{2}, false},
		{"chunks at MaxEndpoints", pods(250, true), []int{100, 100, 50}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Desired(svc, tc.pods)
			var sizes []int
			for _, s := range got {
				sizes = append(sizes, len(s.endpoints))
				for _, e := range s.endpoints {
					if *e.Conditions.Ready != tc.wantReady {
						t.Fatalf("endpoint %v ready = %v, want %v", e.Addresses, *e.Conditions.Ready, tc.wantReady)
					}
				}
			}
			if fmt.Sprint(sizes) != fmt.Sprint(tc.wantSlices) {
				t.Fatalf("slice sizes = %v, want %v", sizes, tc.wantSlices)
			}
		})
	}
}
