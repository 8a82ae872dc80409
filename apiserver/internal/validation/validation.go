// Package validation checks API objects the way kube-apiserver does before
// they are stored: object metadata (name format per kind, labels,
// annotations, owner references, finalizers), required fields, enums, ranges,
// cross-field rules and, on update, immutable fields.
//
// The REST layer calls ValidateCreate, ValidateUpdate or ValidateStatusUpdate
// after defaulting (package defaults) and turns a non-empty ErrorList into a
// 422 Invalid status with apierrors.NewInvalid. Field paths and messages
// follow upstream so kubectl shows the same errors. Kinds the package does not
// know validate as nil (nothing to report).
package validation

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	pluginsv1alpha1 "skiff.dev/api/plugins/v1alpha1"
)

// ValidateCreate validates an object that is about to be created. The object
// must already be defaulted and have its final name (generateName resolved).
func ValidateCreate(obj runtime.Object) field.ErrorList {
	switch o := obj.(type) {
	case *corev1.Namespace:
		return validateNamespace(o)
	case *corev1.Pod:
		return validatePod(o)
	case *corev1.Node:
		return validateNode(o)
	case *corev1.Service:
		return validateService(o)
	case *corev1.Endpoints:
		return validateEndpoints(o)
	case *corev1.ConfigMap:
		return validateConfigMap(o)
	case *corev1.Secret:
		return validateSecret(o)
	case *corev1.Event:
		return validateCoreEvent(o)
	case *corev1.ServiceAccount:
		return validateServiceAccount(o)
	case *corev1.Binding:
		return validateBinding(o)
	case *appsv1.Deployment:
		return validateDeployment(o)
	case *appsv1.ReplicaSet:
		return validateReplicaSet(o)
	case *appsv1.DaemonSet:
		return validateDaemonSet(o)
	case *appsv1.StatefulSet:
		return validateStatefulSet(o)
	case *appsv1.ControllerRevision:
		return validateControllerRevision(o)
	case *batchv1.Job:
		return validateJob(o)
	case *batchv1.CronJob:
		return validateCronJob(o, nil)
	case *discoveryv1.EndpointSlice:
		return validateEndpointSlice(o)
	case *networkingv1.Ingress:
		return validateIngress(o)
	case *networkingv1.IngressClass:
		return validateIngressClass(o)
	case *coordinationv1.Lease:
		return validateLease(o)
	case *eventsv1.Event:
		return validateEventsEvent(o)
	case *autoscalingv1.Scale:
		return validateScale(o)
	case *policyv1.Eviction:
		return validateEviction(o)
	case *pluginsv1alpha1.WasmModule:
		return validateWasmModule(o)
	case *pluginsv1alpha1.AdmissionPolicy:
		return validateAdmissionPolicy(o)
	case *pluginsv1alpha1.SchedulerPlugin:
		return validateSchedulerPlugin(o)
	case *rbacv1.Role:
		return validateRole(o)
	case *rbacv1.ClusterRole:
		return validateClusterRole(o)
	case *rbacv1.RoleBinding:
		return validateRoleBinding(o)
	case *rbacv1.ClusterRoleBinding:
		return validateClusterRoleBinding(o)
	}
	return nil
}

// ValidateUpdate validates obj as a replacement for old (same kind). It checks
// the new object like ValidateCreate does, the metadata update rules
// (resourceVersion present, name/namespace/uid unchanged, ...) and the
// kind's immutable fields. If the kinds differ it reports an internal error.
func ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	switch o := obj.(type) {
	case *corev1.Namespace:
		if p, ok := old.(*corev1.Namespace); ok {
			return validateNamespaceUpdate(o, p)
		}
	case *corev1.Pod:
		if p, ok := old.(*corev1.Pod); ok {
			return validatePodUpdate(o, p)
		}
	case *corev1.Node:
		if p, ok := old.(*corev1.Node); ok {
			return validateNodeUpdate(o, p)
		}
	case *corev1.Service:
		if p, ok := old.(*corev1.Service); ok {
			return validateServiceUpdate(o, p)
		}
	case *corev1.Endpoints:
		if p, ok := old.(*corev1.Endpoints); ok {
			return append(metaUpdate(&o.ObjectMeta, &p.ObjectMeta), validateEndpointsBody(o)...)
		}
	case *corev1.ConfigMap:
		if p, ok := old.(*corev1.ConfigMap); ok {
			return validateConfigMapUpdate(o, p)
		}
	case *corev1.Secret:
		if p, ok := old.(*corev1.Secret); ok {
			return validateSecretUpdate(o, p)
		}
	case *corev1.Event:
		if p, ok := old.(*corev1.Event); ok {
			return validateCoreEventUpdate(o, p)
		}
	case *corev1.ServiceAccount:
		if p, ok := old.(*corev1.ServiceAccount); ok {
			return append(metaUpdate(&o.ObjectMeta, &p.ObjectMeta), validateServiceAccountBody(o)...)
		}
	case *appsv1.Deployment:
		if p, ok := old.(*appsv1.Deployment); ok {
			return validateDeploymentUpdate(o, p)
		}
	case *appsv1.ReplicaSet:
		if p, ok := old.(*appsv1.ReplicaSet); ok {
			return validateReplicaSetUpdate(o, p)
		}
	case *appsv1.DaemonSet:
		if p, ok := old.(*appsv1.DaemonSet); ok {
			return validateDaemonSetUpdate(o, p)
		}
	case *appsv1.StatefulSet:
		if p, ok := old.(*appsv1.StatefulSet); ok {
			return validateStatefulSetUpdate(o, p)
		}
	case *appsv1.ControllerRevision:
		if p, ok := old.(*appsv1.ControllerRevision); ok {
			return validateControllerRevisionUpdate(o, p)
		}
	case *batchv1.Job:
		if p, ok := old.(*batchv1.Job); ok {
			return validateJobUpdate(o, p)
		}
	case *batchv1.CronJob:
		if p, ok := old.(*batchv1.CronJob); ok {
			return validateCronJobUpdate(o, p)
		}
	case *discoveryv1.EndpointSlice:
		if p, ok := old.(*discoveryv1.EndpointSlice); ok {
			return validateEndpointSliceUpdate(o, p)
		}
	case *networkingv1.Ingress:
		if p, ok := old.(*networkingv1.Ingress); ok {
			return append(metaUpdate(&o.ObjectMeta, &p.ObjectMeta), validateIngressSpec(&o.Spec, field.NewPath("spec"))...)
		}
	case *networkingv1.IngressClass:
		if p, ok := old.(*networkingv1.IngressClass); ok {
			return validateIngressClassUpdate(o, p)
		}
	case *coordinationv1.Lease:
		if p, ok := old.(*coordinationv1.Lease); ok {
			return append(metaUpdate(&o.ObjectMeta, &p.ObjectMeta), validateLeaseSpec(&o.Spec, field.NewPath("spec"))...)
		}
	case *eventsv1.Event:
		if p, ok := old.(*eventsv1.Event); ok {
			return validateEventsEventUpdate(o, p)
		}
	case *autoscalingv1.Scale:
		return validateScale(o)
	case *policyv1.Eviction:
		return validateEviction(o)
	case *corev1.Binding:
		return validateBinding(o)
	case *pluginsv1alpha1.WasmModule:
		if p, ok := old.(*pluginsv1alpha1.WasmModule); ok {
			return validateWasmModuleUpdate(o, p)
		}
	case *pluginsv1alpha1.AdmissionPolicy:
		if p, ok := old.(*pluginsv1alpha1.AdmissionPolicy); ok {
			return append(metaUpdate(&o.ObjectMeta, &p.ObjectMeta), validateAdmissionPolicySpec(&o.Spec, field.NewPath("spec"))...)
		}
	case *pluginsv1alpha1.SchedulerPlugin:
		if p, ok := old.(*pluginsv1alpha1.SchedulerPlugin); ok {
			return append(metaUpdate(&o.ObjectMeta, &p.ObjectMeta), validateSchedulerPluginSpec(&o.Spec, field.NewPath("spec"))...)
		}
	case *rbacv1.Role, *rbacv1.ClusterRole, *rbacv1.RoleBinding, *rbacv1.ClusterRoleBinding:
		if errs, ok := validateRBACUpdate(o, old); ok {
			return errs
		}
	default:
		return nil
	}
	return kindMismatch(obj, old)
}

// ValidateStatusUpdate validates an update through the status subresource:
// the metadata update rules and the new status. The spec is not checked (the
// REST layer keeps the stored spec on status updates).
func ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	switch o := obj.(type) {
	case *corev1.Namespace:
		if p, ok := old.(*corev1.Namespace); ok {
			return validateNamespaceStatusUpdate(o, p)
		}
	case *corev1.Pod:
		if p, ok := old.(*corev1.Pod); ok {
			return validatePodStatusUpdate(o, p)
		}
	case *corev1.Node:
		if p, ok := old.(*corev1.Node); ok {
			return validateNodeStatusUpdate(o, p)
		}
	case *corev1.Service:
		if p, ok := old.(*corev1.Service); ok {
			return validateServiceStatusUpdate(o, p)
		}
	case *appsv1.Deployment:
		if p, ok := old.(*appsv1.Deployment); ok {
			return append(metaUpdate(&o.ObjectMeta, &p.ObjectMeta), validateDeploymentStatus(&o.Status, field.NewPath("status"))...)
		}
	case *appsv1.ReplicaSet:
		if p, ok := old.(*appsv1.ReplicaSet); ok {
			return append(metaUpdate(&o.ObjectMeta, &p.ObjectMeta), validateReplicaSetStatus(&o.Status, field.NewPath("status"))...)
		}
	case *appsv1.DaemonSet:
		if p, ok := old.(*appsv1.DaemonSet); ok {
			return append(metaUpdate(&o.ObjectMeta, &p.ObjectMeta), validateDaemonSetStatus(&o.Status, field.NewPath("status"))...)
		}
	case *appsv1.StatefulSet:
		if p, ok := old.(*appsv1.StatefulSet); ok {
			return append(metaUpdate(&o.ObjectMeta, &p.ObjectMeta), validateStatefulSetStatus(&o.Status, field.NewPath("status"))...)
		}
	case *batchv1.Job:
		if p, ok := old.(*batchv1.Job); ok {
			return append(metaUpdate(&o.ObjectMeta, &p.ObjectMeta), validateJobStatus(&o.Status, field.NewPath("status"))...)
		}
	case *batchv1.CronJob:
		if p, ok := old.(*batchv1.CronJob); ok {
			return metaUpdate(&o.ObjectMeta, &p.ObjectMeta)
		}
	case *networkingv1.Ingress:
		if p, ok := old.(*networkingv1.Ingress); ok {
			return append(metaUpdate(&o.ObjectMeta, &p.ObjectMeta), validateIngressStatus(&o.Status, field.NewPath("status"))...)
		}
	case *pluginsv1alpha1.WasmModule:
		if p, ok := old.(*pluginsv1alpha1.WasmModule); ok {
			return metaUpdate(&o.ObjectMeta, &p.ObjectMeta)
		}
	case *pluginsv1alpha1.AdmissionPolicy:
		if p, ok := old.(*pluginsv1alpha1.AdmissionPolicy); ok {
			return append(metaUpdate(&o.ObjectMeta, &p.ObjectMeta), validatePluginConditions(o.Status.ObservedGeneration, o.Status.Conditions)...)
		}
	case *pluginsv1alpha1.SchedulerPlugin:
		if p, ok := old.(*pluginsv1alpha1.SchedulerPlugin); ok {
			return append(metaUpdate(&o.ObjectMeta, &p.ObjectMeta), validatePluginConditions(o.Status.ObservedGeneration, o.Status.Conditions)...)
		}
	default:
		// Kinds without a status subresource of their own: a status update
		// is an ordinary update.
		return ValidateUpdate(obj, old)
	}
	return kindMismatch(obj, old)
}

func kindMismatch(obj, old runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(field.NewPath("kind"), errKindMismatch{obj: obj, old: old})}
}

type errKindMismatch struct{ obj, old runtime.Object }

func (e errKindMismatch) Error() string {
	return "old object is a " + typeName(e.old) + ", new object is a " + typeName(e.obj)
}
