package defaults

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	pluginsv1alpha1 "skiff.dev/api/plugins/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestDefaultGolden defaults each fixture in testdata and compares the result
// with testdata/golden/<name>.
func TestDefaultGolden(t *testing.T) {
	tests := []struct {
		file string
		obj  runtime.Object
	}{
		{"pod.yaml", &corev1.Pod{}},
		{"hostnetwork-pod.yaml", &corev1.Pod{}},
		{"endpoints.yaml", &corev1.Endpoints{}},
		{"service.yaml", &corev1.Service{}},
		{"namespace.yaml", &corev1.Namespace{}},
		{"secret.yaml", &corev1.Secret{}},
		{"node.yaml", &corev1.Node{}},
		{"deployment.yaml", &appsv1.Deployment{}},
		{"daemonset.yaml", &appsv1.DaemonSet{}},
		{"statefulset.yaml", &appsv1.StatefulSet{}},
		{"job.yaml", &batchv1.Job{}},
		{"cronjob.yaml", &batchv1.CronJob{}},
		{"endpointslice.yaml", &discoveryv1.EndpointSlice{}},
		{"admissionpolicy.yaml", &pluginsv1alpha1.AdmissionPolicy{}},
		{"schedulerplugin.yaml", &pluginsv1alpha1.SchedulerPlugin{}},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".yaml"), func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if err := yaml.UnmarshalStrict(in, tt.obj); err != nil {
				t.Fatalf("decode: %v", err)
			}
			Default(tt.obj)
			got, err := yaml.Marshal(tt.obj)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", tt.file)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with -update to create): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("defaulted object differs from %s:\n%s", golden, got)
			}
			// Defaulting is idempotent.
			again := tt.obj.DeepCopyObject()
			Default(again)
			if !equality.Semantic.DeepEqual(again, tt.obj) {
				t.Errorf("second Default changed the object")
			}
		})
	}
}

func TestPullPolicy(t *testing.T) {
	tests := []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"nginx", corev1.PullAlways},
		{"nginx:latest", corev1.PullAlways},
		{"nginx:1.27", corev1.PullIfNotPresent},
		{"registry.local:5000/nginx", corev1.PullAlways},
		{"registry.local:5000/nginx:1.27", corev1.PullIfNotPresent},
		{"nginx@sha256:abcd", corev1.PullIfNotPresent},
		{"nginx:latest@sha256:abcd", corev1.PullAlways},
		{"localhost:5000/nginx@sha256:abcd", corev1.PullIfNotPresent},
	}
	for _, tt := range tests {
		if got := pullPolicy(tt.image); got != tt.want {
			t.Errorf("pullPolicy(%q) = %s, want %s", tt.image, got, tt.want)
		}
	}
}

func TestDefaultKeepsUserValues(t *testing.T) {
	d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr(int32(0)),
		Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
	}}
	Default(d)
	if *d.Spec.Replicas != 0 || d.Spec.Strategy.RollingUpdate != nil {
		t.Errorf("user values overwritten: replicas=%d rollingUpdate=%v", *d.Spec.Replicas, d.Spec.Strategy.RollingUpdate)
	}
	s := &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromString("http")}}}}
	Default(s)
	if s.Spec.Ports[0].TargetPort != intstr.FromString("http") {
		t.Errorf("targetPort overwritten: %v", s.Spec.Ports[0].TargetPort)
	}
	if s.Spec.ExternalTrafficPolicy != "" {
		t.Errorf("ClusterIP service got externalTrafficPolicy %q", s.Spec.ExternalTrafficPolicy)
	}
	j := &batchv1.Job{Spec: batchv1.JobSpec{Completions: ptr(int32(5))}}
	Default(j)
	if *j.Spec.Completions != 5 || *j.Spec.Parallelism != 1 || j.Spec.Selector != nil {
		t.Errorf("job defaults: completions=%d parallelism=%d selector=%v", *j.Spec.Completions, *j.Spec.Parallelism, j.Spec.Selector)
	}
	p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "a",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0.0001")}}}}}}
	Default(p)
	if got := p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; got.String() != "1m" {
		t.Errorf("cpu request = %s, want 1m (limit copied and rounded up to milli)", got.String())
	}
	Default(nil) // unknown kinds are ignored
	Default(&corev1.ConfigMap{})
}
