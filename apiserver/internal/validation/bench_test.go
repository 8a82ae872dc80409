package validation

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/apiserver/internal/defaults"
)

// The benchmarks measure the per-request cost of defaulting and validation;
// hack/bench.d/validation.sh runs them and prints a table.

func benchObject[T any, P objPtr[T]](b *testing.B, fixture string) P {
	b.Helper()
	t := &testing.T{}
	obj := load[T, P](t, fixture)
	if t.Failed() {
		b.Fatalf("load %s", fixture)
	}
	return obj
}

func BenchmarkDefaultPod(b *testing.B) {
	pod := benchObject[corev1.Pod](b, "pod.yaml")
	b.ReportAllocs()
	for b.Loop() {
		defaults.Default(pod.DeepCopy())
	}
}

func BenchmarkValidateCreatePod(b *testing.B) {
	benchValidateCreate(b, benchObject[corev1.Pod](b, "pod.yaml"))
}

func BenchmarkValidateCreateDeployment(b *testing.B) {
	benchValidateCreate(b, benchObject[appsv1.Deployment](b, "deployment.yaml"))
}

func BenchmarkValidateCreateConfigMap(b *testing.B) {
	benchValidateCreate(b, benchObject[corev1.ConfigMap](b, "configmap.yaml"))
}

func BenchmarkValidateCreateService(b *testing.B) {
	benchValidateCreate(b, benchObject[corev1.Service](b, "service.yaml"))
}

func BenchmarkValidateUpdatePod(b *testing.B) {
	old := benchObject[corev1.Pod](b, "pod.yaml")
	setRV(old)
	pod := old.DeepCopy()
	pod.Spec.Containers[0].Image = "nginx:1.28"
	b.ReportAllocs()
	for b.Loop() {
		if errs := ValidateUpdate(pod, old); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}

func BenchmarkValidateStatusUpdatePod(b *testing.B) {
	old := benchObject[corev1.Pod](b, "pod.yaml")
	setRV(old)
	pod := old.DeepCopy()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP = "10.244.1.5"
	pod.Status.PodIPs = []corev1.PodIP{{IP: "10.244.1.5"}}
	b.ReportAllocs()
	for b.Loop() {
		if errs := ValidateStatusUpdate(pod, old); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}

func benchValidateCreate(b *testing.B, obj runtime.Object) {
	b.ReportAllocs()
	for b.Loop() {
		if errs := ValidateCreate(obj); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}
