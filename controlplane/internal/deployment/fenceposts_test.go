package deployment

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestFenceposts(t *testing.T) {
	pct := func(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
	num := func(n int32) *intstr.IntOrString { v := intstr.FromInt32(n); return &v }
	tests := []struct {
		name                string
		replicas            int32
		surge, unavailable  *intstr.IntOrString
		wantSurge, wantUnav int32
	}{
		{"defaults 25% of 10", 10, nil, nil, 3, 2},
		{"defaults 25% of 1", 1, nil, nil, 1, 0},
		{"both zero becomes unavailable 1", 5, num(0), num(0), 0, 1},
		{"percent rounds surge up, unavailable down", 3, pct("50%"), pct("50%"), 2, 1},
		{"absolute", 20, num(5), num(0), 5, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: &tc.replicas, Strategy: appsv1.DeploymentStrategy{
				Type:          appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: tc.surge, MaxUnavailable: tc.unavailable},
			}}}
			s, u := fenceposts(d)
			if s != tc.wantSurge || u != tc.wantUnav {
				t.Fatalf("fenceposts = %d, %d; want %d, %d", s, u, tc.wantSurge, tc.wantUnav)
			}
		})
	}
}

func TestEqualIgnoreHash(t *testing.T) {
	a := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x", appsv1.DefaultDeploymentUniqueLabelKey: "abc"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i:1"}}}}
	b := *a.DeepCopy()
	delete(b.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	if !equalIgnoreHash(&a, &b) {
		t.Fatal("templates differing only in pod-template-hash compare unequal")
	}
	b.Spec.Containers[0].Image = "i:2"
	if equalIgnoreHash(&a, &b) {
		t.Fatal("templates with different images compare equal")
	}
	if TemplateHash(&a, nil) == TemplateHash(&a, new(int32(1))) {
		t.Fatal("collision count does not change the hash")
	}
}
