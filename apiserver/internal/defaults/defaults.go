// Package defaults fills in the fields kube-apiserver defaults before an
// object is validated and stored: the behaviour of upstream's SetDefaults_*
// functions for the v1 API packages skiff serves and for skiff's plugin
// resources. Because skiff has no internal API version, it also does the two
// normalisations upstream does on the way in: a Secret's write-only
// stringData is folded into data, and a Job without manualSelector gets the
// selector and pod labels generated from its UID (so the UID must be set
// before Default runs on create).
//
// Default mutates the object in place, is idempotent, and ignores kinds it
// does not know. The REST layer calls it on create and update (after decoding
// and before admission and validation).
package defaults

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"

	pluginsv1alpha1 "skiff.dev/api/plugins/v1alpha1"
)

// Default applies the defaults for obj's kind.
func Default(obj runtime.Object) {
	switch o := obj.(type) {
	case *corev1.Namespace:
		namespace(o)
	case *corev1.Pod:
		pod(o)
	case *corev1.PodTemplate:
		podTemplateSpec(&o.Template)
	case *corev1.Node:
		node(o)
	case *corev1.Service:
		service(o)
	case *corev1.Endpoints:
		endpoints(o)
	case *corev1.Secret:
		secret(o)
	case *appsv1.Deployment:
		deployment(o)
	case *appsv1.ReplicaSet:
		setInt32(&o.Spec.Replicas, 1)
		podTemplateSpec(&o.Spec.Template)
	case *appsv1.DaemonSet:
		daemonSet(o)
	case *appsv1.StatefulSet:
		statefulSet(o)
	case *batchv1.Job:
		job(o)
	case *batchv1.CronJob:
		cronJob(o)
	case *discoveryv1.EndpointSlice:
		endpointSlice(o)
	case *networkingv1.IngressClass:
		if p := o.Spec.Parameters; p != nil && p.Scope == nil {
			p.Scope = ptr(networkingv1.IngressClassParametersReferenceScopeCluster)
		}
	case *pluginsv1alpha1.AdmissionPolicy:
		admissionPolicy(o)
	case *pluginsv1alpha1.SchedulerPlugin:
		schedulerPlugin(o)
	}
}

func ptr[T any](v T) *T { return &v }

func setInt32(p **int32, v int32) {
	if *p == nil {
		*p = ptr(v)
	}
}

func setInt64(p **int64, v int64) {
	if *p == nil {
		*p = ptr(v)
	}
}

func setBool(p **bool, v bool) {
	if *p == nil {
		*p = ptr(v)
	}
}
