package registry

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	pluginsv1alpha1 "skiff.dev/api/plugins/v1alpha1"
)

// NewScheme returns a scheme holding every served type plus the meta types
// (Status, WatchEvent, Table, DeleteOptions…) and autoscaling/v1 Scale.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme,
		discoveryv1.AddToScheme, networkingv1.AddToScheme, coordinationv1.AddToScheme,
		eventsv1.AddToScheme, autoscalingv1.AddToScheme, policyv1.AddToScheme,
		authenticationv1.AddToScheme, authorizationv1.AddToScheme, rbacv1.AddToScheme, pluginsv1alpha1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("build scheme: %w", err)
		}
	}
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	return s, nil
}

func gvr(group, version, resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: group, Version: version, Resource: resource}
}

// Default returns the resource table skiff serves.
func Default() []*Resource {
	all := []string{"all"}
	return []*Resource{
		// core/v1
		{GVR: gvr("", "v1", "namespaces"), Kind: "Namespace", ShortNames: []string{"ns"}, Status: true,
			New: func() runtime.Object { return &corev1.Namespace{} }, NewList: func() runtime.Object { return &corev1.NamespaceList{} },
			Fields: func(o runtime.Object) fields.Set {
				return fields.Set{"status.phase": string(o.(*corev1.Namespace).Status.Phase)}
			}, FieldNames: []string{"status.phase"},
			Subresources: []Subresource{{Name: "finalize", Kind: "Namespace", Verbs: []string{"update"}}}},
		{GVR: gvr("", "v1", "pods"), Kind: "Pod", Namespaced: true, ShortNames: []string{"po"}, Categories: all, Status: true,
			New: func() runtime.Object { return &corev1.Pod{} }, NewList: func() runtime.Object { return &corev1.PodList{} },
			Fields: podFields, FieldNames: []string{"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"},
			Subresources: []Subresource{
				{Name: "binding", Kind: "Binding", Verbs: []string{"create"}},
				{Name: "eviction", Kind: "Eviction", Group: "policy", Ver: "v1", Verbs: []string{"create"}},
				{Name: "log", Kind: "Pod", Verbs: []string{"get"}},
				{Name: "exec", Kind: "PodExecOptions", Verbs: []string{"create", "get"}},
				{Name: "attach", Kind: "PodAttachOptions", Verbs: []string{"create", "get"}},
				{Name: "portforward", Kind: "PodPortForwardOptions", Verbs: []string{"create", "get"}},
			}},
		{GVR: gvr("", "v1", "nodes"), Kind: "Node", ShortNames: []string{"no"}, Status: true,
			New: func() runtime.Object { return &corev1.Node{} }, NewList: func() runtime.Object { return &corev1.NodeList{} },
			Fields: func(o runtime.Object) fields.Set {
				return fields.Set{"spec.unschedulable": strconv.FormatBool(o.(*corev1.Node).Spec.Unschedulable)}
			}, FieldNames: []string{"spec.unschedulable"},
			Subresources: []Subresource{{Name: "proxy", Kind: "NodeProxyOptions", Verbs: []string{"create", "delete", "get", "patch", "update"}}}},
		{GVR: gvr("", "v1", "services"), Kind: "Service", Namespaced: true, ShortNames: []string{"svc"}, Categories: all, Status: true,
			New: func() runtime.Object { return &corev1.Service{} }, NewList: func() runtime.Object { return &corev1.ServiceList{} },
			Fields: func(o runtime.Object) fields.Set {
				s := o.(*corev1.Service)
				return fields.Set{"spec.clusterIP": s.Spec.ClusterIP, "spec.type": string(s.Spec.Type)}
			}, FieldNames: []string{"spec.clusterIP", "spec.type"}},
		{GVR: gvr("", "v1", "endpoints"), Kind: "Endpoints", Namespaced: true, ShortNames: []string{"ep"}, AllowCreateOnUpdate: true,
			New: func() runtime.Object { return &corev1.Endpoints{} }, NewList: func() runtime.Object { return &corev1.EndpointsList{} }},
		{GVR: gvr("", "v1", "configmaps"), Kind: "ConfigMap", Namespaced: true, ShortNames: []string{"cm"},
			New: func() runtime.Object { return &corev1.ConfigMap{} }, NewList: func() runtime.Object { return &corev1.ConfigMapList{} }},
		{GVR: gvr("", "v1", "secrets"), Kind: "Secret", Namespaced: true,
			New: func() runtime.Object { return &corev1.Secret{} }, NewList: func() runtime.Object { return &corev1.SecretList{} },
			Fields: func(o runtime.Object) fields.Set {
				return fields.Set{"type": string(o.(*corev1.Secret).Type)}
			}, FieldNames: []string{"type"}},
		{GVR: gvr("", "v1", "events"), Kind: "Event", Namespaced: true, ShortNames: []string{"ev"}, AllowCreateOnUpdate: true,
			New: func() runtime.Object { return &corev1.Event{} }, NewList: func() runtime.Object { return &corev1.EventList{} },
			Fields: coreEventFields, FieldNames: []string{"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"}},
		{GVR: gvr("", "v1", "serviceaccounts"), Kind: "ServiceAccount", Namespaced: true, ShortNames: []string{"sa"},
			New: func() runtime.Object { return &corev1.ServiceAccount{} }, NewList: func() runtime.Object { return &corev1.ServiceAccountList{} },
			Subresources: []Subresource{{Name: "token", Kind: "TokenRequest", Group: "authentication.k8s.io", Ver: "v1", Verbs: []string{"create"}}}},
		// apps/v1
		{GVR: gvr("apps", "v1", "deployments"), Kind: "Deployment", Namespaced: true, ShortNames: []string{"deploy"}, Categories: all, Status: true, Scale: true,
			New: func() runtime.Object { return &appsv1.Deployment{} }, NewList: func() runtime.Object { return &appsv1.DeploymentList{} }},
		{GVR: gvr("apps", "v1", "replicasets"), Kind: "ReplicaSet", Namespaced: true, ShortNames: []string{"rs"}, Categories: all, Status: true, Scale: true,
			New: func() runtime.Object { return &appsv1.ReplicaSet{} }, NewList: func() runtime.Object { return &appsv1.ReplicaSetList{} },
			Fields: func(o runtime.Object) fields.Set {
				return fields.Set{"status.replicas": strconv.Itoa(int(o.(*appsv1.ReplicaSet).Status.Replicas))}
			}, FieldNames: []string{"status.replicas"}},
		{GVR: gvr("apps", "v1", "daemonsets"), Kind: "DaemonSet", Namespaced: true, ShortNames: []string{"ds"}, Categories: all, Status: true,
			New: func() runtime.Object { return &appsv1.DaemonSet{} }, NewList: func() runtime.Object { return &appsv1.DaemonSetList{} }},
		{GVR: gvr("apps", "v1", "statefulsets"), Kind: "StatefulSet", Namespaced: true, ShortNames: []string{"sts"}, Categories: all, Status: true, Scale: true,
			New: func() runtime.Object { return &appsv1.StatefulSet{} }, NewList: func() runtime.Object { return &appsv1.StatefulSetList{} }},
		{GVR: gvr("apps", "v1", "controllerrevisions"), Kind: "ControllerRevision", Namespaced: true,
			New: func() runtime.Object { return &appsv1.ControllerRevision{} }, NewList: func() runtime.Object { return &appsv1.ControllerRevisionList{} }},
		// batch/v1
		{GVR: gvr("batch", "v1", "jobs"), Kind: "Job", Namespaced: true, Categories: all, Status: true,
			New: func() runtime.Object { return &batchv1.Job{} }, NewList: func() runtime.Object { return &batchv1.JobList{} },
			Fields: func(o runtime.Object) fields.Set {
				return fields.Set{"status.successful": strconv.Itoa(int(o.(*batchv1.Job).Status.Succeeded))}
			}, FieldNames: []string{"status.successful"}},
		{GVR: gvr("batch", "v1", "cronjobs"), Kind: "CronJob", Namespaced: true, ShortNames: []string{"cj"}, Categories: all, Status: true,
			New: func() runtime.Object { return &batchv1.CronJob{} }, NewList: func() runtime.Object { return &batchv1.CronJobList{} }},
		// discovery.k8s.io/v1
		{GVR: gvr("discovery.k8s.io", "v1", "endpointslices"), Kind: "EndpointSlice", Namespaced: true,
			New: func() runtime.Object { return &discoveryv1.EndpointSlice{} }, NewList: func() runtime.Object { return &discoveryv1.EndpointSliceList{} },
			Fields: func(o runtime.Object) fields.Set {
				return fields.Set{"addressType": string(o.(*discoveryv1.EndpointSlice).AddressType)}
			}, FieldNames: []string{"addressType"}},
		// networking.k8s.io/v1
		{GVR: gvr("networking.k8s.io", "v1", "ingresses"), Kind: "Ingress", Namespaced: true, ShortNames: []string{"ing"}, Status: true,
			New: func() runtime.Object { return &networkingv1.Ingress{} }, NewList: func() runtime.Object { return &networkingv1.IngressList{} }},
		{GVR: gvr("networking.k8s.io", "v1", "ingressclasses"), Kind: "IngressClass",
			New: func() runtime.Object { return &networkingv1.IngressClass{} }, NewList: func() runtime.Object { return &networkingv1.IngressClassList{} }},
		// coordination.k8s.io/v1
		{GVR: gvr("coordination.k8s.io", "v1", "leases"), Kind: "Lease", Namespaced: true,
			New: func() runtime.Object { return &coordinationv1.Lease{} }, NewList: func() runtime.Object { return &coordinationv1.LeaseList{} }},
		// events.k8s.io/v1
		{GVR: gvr("events.k8s.io", "v1", "events"), Kind: "Event", Namespaced: true, ShortNames: []string{"ev"}, StoragePrefix: "/registry/events/", AllowCreateOnUpdate: true,
			New: func() runtime.Object { return &eventsv1.Event{} }, NewList: func() runtime.Object { return &eventsv1.EventList{} },
			Fields: func(o runtime.Object) fields.Set {
				e := o.(*eventsv1.Event)
				return fields.Set{"regarding.kind": e.Regarding.Kind, "regarding.namespace": e.Regarding.Namespace,
					"regarding.name": e.Regarding.Name, "regarding.uid": string(e.Regarding.UID),
					"reason": e.Reason, "reportingController": e.ReportingController, "type": e.Type}
			}, FieldNames: []string{"regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid", "reason", "reportingController", "type"}},
		// authentication.k8s.io/v1 and authorization.k8s.io/v1: create-only reviews
		{GVR: gvr("authentication.k8s.io", "v1", "tokenreviews"), Kind: "TokenReview", Virtual: true,
			New: func() runtime.Object { return &authenticationv1.TokenReview{} }},
		{GVR: gvr("authentication.k8s.io", "v1", "selfsubjectreviews"), Kind: "SelfSubjectReview", Virtual: true,
			New: func() runtime.Object { return &authenticationv1.SelfSubjectReview{} }},
		{GVR: gvr("authorization.k8s.io", "v1", "subjectaccessreviews"), Kind: "SubjectAccessReview", Virtual: true,
			New: func() runtime.Object { return &authorizationv1.SubjectAccessReview{} }},
		{GVR: gvr("authorization.k8s.io", "v1", "selfsubjectaccessreviews"), Kind: "SelfSubjectAccessReview", Virtual: true,
			New: func() runtime.Object { return &authorizationv1.SelfSubjectAccessReview{} }},
		{GVR: gvr("authorization.k8s.io", "v1", "localsubjectaccessreviews"), Kind: "LocalSubjectAccessReview", Namespaced: true, Virtual: true,
			New: func() runtime.Object { return &authorizationv1.LocalSubjectAccessReview{} }},
		{GVR: gvr("authorization.k8s.io", "v1", "selfsubjectrulesreviews"), Kind: "SelfSubjectRulesReview", Virtual: true,
			New: func() runtime.Object { return &authorizationv1.SelfSubjectRulesReview{} }},
		// rbac.authorization.k8s.io/v1
		{GVR: gvr("rbac.authorization.k8s.io", "v1", "roles"), Kind: "Role", Namespaced: true,
			New: func() runtime.Object { return &rbacv1.Role{} }, NewList: func() runtime.Object { return &rbacv1.RoleList{} }},
		{GVR: gvr("rbac.authorization.k8s.io", "v1", "rolebindings"), Kind: "RoleBinding", Namespaced: true,
			New: func() runtime.Object { return &rbacv1.RoleBinding{} }, NewList: func() runtime.Object { return &rbacv1.RoleBindingList{} }},
		{GVR: gvr("rbac.authorization.k8s.io", "v1", "clusterroles"), Kind: "ClusterRole",
			New: func() runtime.Object { return &rbacv1.ClusterRole{} }, NewList: func() runtime.Object { return &rbacv1.ClusterRoleList{} }},
		{GVR: gvr("rbac.authorization.k8s.io", "v1", "clusterrolebindings"), Kind: "ClusterRoleBinding",
			New: func() runtime.Object { return &rbacv1.ClusterRoleBinding{} }, NewList: func() runtime.Object { return &rbacv1.ClusterRoleBindingList{} }},
		// plugins.skiff.dev/v1alpha1
		{GVR: pluginsv1alpha1.SchemeGroupVersion.WithResource(pluginsv1alpha1.ResourceWasmModules), Kind: "WasmModule", ShortNames: []string{"wm"}, Categories: []string{"skiff"}, Status: true,
			New: func() runtime.Object { return &pluginsv1alpha1.WasmModule{} }, NewList: func() runtime.Object { return &pluginsv1alpha1.WasmModuleList{} },
			Subresources: []Subresource{{Name: pluginsv1alpha1.SubresourceContent, Kind: "WasmModule", Verbs: []string{"get", "update"}}}},
		{GVR: pluginsv1alpha1.SchemeGroupVersion.WithResource(pluginsv1alpha1.ResourceAdmissionPolicies), Kind: "AdmissionPolicy", ShortNames: []string{"ap"}, Categories: []string{"skiff"}, Status: true,
			New: func() runtime.Object { return &pluginsv1alpha1.AdmissionPolicy{} }, NewList: func() runtime.Object { return &pluginsv1alpha1.AdmissionPolicyList{} }},
		{GVR: pluginsv1alpha1.SchemeGroupVersion.WithResource(pluginsv1alpha1.ResourceSchedulerPlugins), Kind: "SchedulerPlugin", ShortNames: []string{"sp"}, Categories: []string{"skiff"}, Status: true,
			New: func() runtime.Object { return &pluginsv1alpha1.SchedulerPlugin{} }, NewList: func() runtime.Object { return &pluginsv1alpha1.SchedulerPluginList{} }},
	}
}

// Complete fills derived fields (ListKind, Singular) of resources.
func Complete(rs []*Resource) []*Resource {
	for _, r := range rs {
		if r.ListKind == "" {
			r.ListKind = r.Kind + "List"
		}
		if r.Singular == "" {
			r.Singular = lower(r.Kind)
		}
		if r.Status {
			r.Subresources = append([]Subresource{{Name: "status", Kind: r.Kind, Verbs: []string{"get", "patch", "update"}}}, r.Subresources...)
		}
		if r.Scale {
			r.Subresources = append(r.Subresources, Subresource{Name: "scale", Kind: "Scale", Group: "autoscaling", Ver: "v1", Verbs: []string{"get", "patch", "update"}})
		}
	}
	return rs
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func podFields(o runtime.Object) fields.Set {
	p := o.(*corev1.Pod)
	return fields.Set{
		"spec.nodeName":            p.Spec.NodeName,
		"spec.restartPolicy":       string(p.Spec.RestartPolicy),
		"spec.schedulerName":       p.Spec.SchedulerName,
		"spec.serviceAccountName":  p.Spec.ServiceAccountName,
		"spec.hostNetwork":         strconv.FormatBool(p.Spec.HostNetwork),
		"status.phase":             string(p.Status.Phase),
		"status.podIP":             p.Status.PodIP,
		"status.nominatedNodeName": p.Status.NominatedNodeName,
	}
}

func coreEventFields(o runtime.Object) fields.Set {
	e := o.(*corev1.Event)
	source := e.Source.Component
	if source == "" {
		source = e.ReportingController
	}
	return fields.Set{
		"involvedObject.kind":            e.InvolvedObject.Kind,
		"involvedObject.namespace":       e.InvolvedObject.Namespace,
		"involvedObject.name":            e.InvolvedObject.Name,
		"involvedObject.uid":             string(e.InvolvedObject.UID),
		"involvedObject.apiVersion":      e.InvolvedObject.APIVersion,
		"involvedObject.resourceVersion": e.InvolvedObject.ResourceVersion,
		"involvedObject.fieldPath":       e.InvolvedObject.FieldPath,
		"reason":                         e.Reason,
		"reportingComponent":             e.ReportingController,
		"source":                         source,
		"type":                           e.Type,
	}
}

func metaOf(obj runtime.Object) (metav1.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, fmt.Errorf("object %T has no metadata: %w", obj, err)
	}
	return m, nil
}
