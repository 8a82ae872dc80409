package validation

import (
	"fmt"
	"math/rand"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/randfill"

	pluginsv1alpha1 "skiff.dev/api/plugins/v1alpha1"
	"skiff.dev/apiserver/internal/defaults"
)

// TestRandomObjectsNeverPanic feeds randomly filled objects of every kind
// through Default and all three validators: bad input must become field
// errors, never a panic.
func TestRandomObjectsNeverPanic(t *testing.T) {
	kinds := []func() runtime.Object{
		func() runtime.Object { return &corev1.Namespace{} },
		func() runtime.Object { return &corev1.Pod{} },
		func() runtime.Object { return &corev1.Node{} },
		func() runtime.Object { return &corev1.Service{} },
		func() runtime.Object { return &corev1.Endpoints{} },
		func() runtime.Object { return &corev1.ConfigMap{} },
		func() runtime.Object { return &corev1.Secret{} },
		func() runtime.Object { return &corev1.Event{} },
		func() runtime.Object { return &corev1.ServiceAccount{} },
		func() runtime.Object { return &corev1.Binding{} },
		func() runtime.Object { return &appsv1.Deployment{} },
		func() runtime.Object { return &appsv1.ReplicaSet{} },
		func() runtime.Object { return &appsv1.DaemonSet{} },
		func() runtime.Object { return &appsv1.StatefulSet{} },
		func() runtime.Object { return &appsv1.ControllerRevision{} },
		func() runtime.Object { return &batchv1.Job{} },
		func() runtime.Object { return &batchv1.CronJob{} },
		func() runtime.Object { return &discoveryv1.EndpointSlice{} },
		func() runtime.Object { return &networkingv1.Ingress{} },
		func() runtime.Object { return &networkingv1.IngressClass{} },
		func() runtime.Object { return &coordinationv1.Lease{} },
		func() runtime.Object { return &eventsv1.Event{} },
		func() runtime.Object { return &autoscalingv1.Scale{} },
		func() runtime.Object { return &policyv1.Eviction{} },
		func() runtime.Object { return &pluginsv1alpha1.WasmModule{} },
		func() runtime.Object { return &pluginsv1alpha1.AdmissionPolicy{} },
		func() runtime.Object { return &pluginsv1alpha1.SchedulerPlugin{} },
	}
	strs := []string{"", "a", "Bad_Name", "x/y", "*", "None", "10.0.0.1", "Always", "TCP", "@hourly", "1-2/3", "sha256-", "ab.c"}
	f := randfill.NewWithSeed(1).NilChance(0.3).NumElements(0, 3).MaxDepth(12).Funcs(
		func(q *resource.Quantity, c randfill.Continue) {
			*q = resource.MustParse(fmt.Sprintf("%d", c.Intn(2000)-1000))
		},
		func(v *intstr.IntOrString, c randfill.Continue) {
			if c.Bool() {
				*v = intstr.FromInt32(int32(c.Intn(70000) - 10))
			} else {
				*v = intstr.FromString(strs[c.Intn(len(strs))])
			}
		},
		func(r *runtime.RawExtension, c randfill.Continue) {
			if c.Bool() {
				r.Raw = []byte(`{"a":1}`)
			}
		},
		func(s *string, c randfill.Continue) { *s = strs[c.Intn(len(strs))] },
		func(tm *metav1.Time, c randfill.Continue) {
			if c.Bool() {
				*tm = metav1.Unix(int64(c.Intn(1<<30)), 0)
			}
		},
		func(tm *metav1.MicroTime, c randfill.Continue) {
			if c.Bool() {
				*tm = metav1.NewMicroTime(metav1.Unix(int64(c.Intn(1<<30)), 0).Time)
			}
		},
		func(m *metav1.ManagedFieldsEntry, c randfill.Continue) {},
	)
	rounds := 100
	if testing.Short() {
		rounds = 30
	}
	rng := rand.New(rand.NewSource(2))
	for _, newObj := range kinds {
		name := fmt.Sprintf("%T", newObj())
		t.Run(name, func(t *testing.T) {
			for i := 0; i < rounds; i++ {
				obj, old := newObj(), newObj()
				f.Fill(obj)
				f.Fill(old)
				if rng.Intn(2) == 0 {
					defaults.Default(obj)
					defaults.Default(old)
				}
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Fatalf("round %d: panic: %v\nobject: %+v", i, r, obj)
						}
					}()
					_ = ValidateCreate(obj)
					_ = ValidateUpdate(obj, old)
					_ = ValidateStatusUpdate(obj, old)
				}()
			}
		})
	}
}
