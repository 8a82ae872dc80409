package nodelifecycle

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestEvictionTime(t *testing.T) {
	added := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	taint := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &metav1.Time{Time: added}}
	other := corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoExecute, TimeAdded: &metav1.Time{Time: added}}
	secs := func(n int64) *int64 { return &n }
	tests := []struct {
		name        string
		taints      []corev1.Taint
		tolerations []corev1.Toleration
		want        time.Duration
		evict       bool
	}{
		{"no toleration: default seconds", []corev1.Taint{taint}, nil, 300 * time.Second, true},
		{"toleration seconds", []corev1.Taint{taint}, []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs(30)}}, 30 * time.Second, true},
		{"tolerated forever", []corev1.Taint{taint}, []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, 0, false},
		{"untolerated custom taint: now", []corev1.Taint{other}, nil, 0, true},
		{"earliest of several", []corev1.Taint{taint, other}, []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs(10)}}, 10 * time.Second, true},
	}
	c := &Controller{o: Options{DefaultTolerationSeconds: 300}, now: func() time.Time { return added }}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &corev1.Pod{Spec: corev1.PodSpec{Tolerations: tc.tolerations}}
			at, ok := c.evictionTime(p, tc.taints)
			if ok != tc.evict || (ok && at.Sub(added) != tc.want) {
				t.Fatalf("evictionTime = %v after, %v; want %v, %v", at.Sub(added), ok, tc.want, tc.evict)
			}
		})
	}
}
