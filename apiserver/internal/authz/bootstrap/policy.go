// Package bootstrap holds skiff's default RBAC policy — the user-facing
// ClusterRoles (cluster-admin, admin, edit, view), the system roles
// Kubernetes clients expect (basic-user, discovery, public-info-viewer,
// auth-delegator) and one least-privilege role per component, derived from
// the API calls the component's code makes — and reconciles it into the
// stores when an apiserver starts.
package bootstrap

import (
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// LabelBootstrapping marks default policy objects.
	LabelBootstrapping = "kubernetes.io/bootstrapping"
	// LabelValue is LabelBootstrapping's value.
	LabelValue = "rbac-defaults"
	// AnnotationAutoupdate set to "false" stops reconciliation of an object.
	AnnotationAutoupdate = "rbac.authorization.kubernetes.io/autoupdate"
)

// Users and groups the default policy binds.
const (
	GroupMasters         = "system:masters"
	GroupAuthenticated   = "system:authenticated"
	GroupUnauthenticated = "system:unauthenticated"
	GroupNodes           = "system:nodes"
	UserScheduler        = "system:kube-scheduler"
	UserControllerMgr    = "system:kube-controller-manager"
	UserKubeProxy        = "system:kube-proxy"
	UserDNS              = "system:skiff:dns"
	UserIngress          = "system:skiff:ingress"
	UserDashboard        = "system:skiff:dashboard"
)

const (
	read  = "get list watch"
	write = "create update patch delete deletecollection"
)

// r builds a resource rule: space-separated verbs, API groups ("core" is
// the core group "") and resources.
func r(verbs, groups, resources string) rbacv1.PolicyRule {
	g := strings.Fields(groups)
	for i := range g {
		if g[i] == "core" {
			g[i] = ""
		}
	}
	return rbacv1.PolicyRule{Verbs: strings.Fields(verbs), APIGroups: g, Resources: strings.Fields(resources)}
}

// nonResource builds a non-resource URL rule.
func nonResource(verbs string, urls ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: strings.Fields(verbs), NonResourceURLs: urls}
}

func meta(name, namespace string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: namespace,
		Labels:      map[string]string{LabelBootstrapping: LabelValue},
		Annotations: map[string]string{AnnotationAutoupdate: "true"}}
}

func clusterRole(name string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: meta(name, ""), Rules: rules}
}

func clusterRoleBinding(name, role string, subjects ...rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{ObjectMeta: meta(name, ""),
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}, Subjects: subjects}
}

func userSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
}

func groupSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: name}
}

// eventWriter lets a component record Events (core and events.k8s.io).
var eventWriter = r("create patch update", "core events.k8s.io", "events")

// viewRules read everything in a namespace except Secrets, like
// Kubernetes' view role.
func viewRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		r(read, "core", "pods pods/log pods/status configmaps endpoints persistentvolumeclaims persistentvolumeclaims/status "+
			"replicationcontrollers replicationcontrollers/scale replicationcontrollers/status serviceaccounts services services/status "+
			"bindings events limitranges resourcequotas resourcequotas/status namespaces namespaces/status"),
		r(read, "apps", "controllerrevisions daemonsets daemonsets/status deployments deployments/scale deployments/status "+
			"replicasets replicasets/scale replicasets/status statefulsets statefulsets/scale statefulsets/status"),
		r(read, "autoscaling", "horizontalpodautoscalers horizontalpodautoscalers/status"),
		r(read, "batch", "cronjobs cronjobs/status jobs jobs/status"),
		r(read, "discovery.k8s.io", "endpointslices"),
		r(read, "events.k8s.io", "events"),
		r(read, "networking.k8s.io", "ingresses ingresses/status networkpolicies"),
		r(read, "policy", "poddisruptionbudgets poddisruptionbudgets/status"),
		r(read, "coordination.k8s.io", "leases"),
		r(read, "metrics.k8s.io", "pods nodes"),
		r(read, "plugins.skiff.dev", "wasmmodules admissionpolicies schedulerplugins"),
	}
}

// editRules add writes of workloads, Services, ConfigMaps and Secrets
// (and reading Secrets), like Kubernetes' edit role, but no RBAC.
func editRules() []rbacv1.PolicyRule {
	return append(viewRules(),
		r(write, "core", "pods pods/attach pods/exec pods/portforward pods/proxy configmaps endpoints persistentvolumeclaims "+
			"replicationcontrollers replicationcontrollers/scale secrets serviceaccounts services services/proxy"),
		r(read, "core", "pods/attach pods/exec pods/portforward pods/proxy secrets services/proxy"),
		r("create", "core", "pods/eviction serviceaccounts/token"),
		r(write, "apps", "daemonsets deployments deployments/rollback deployments/scale replicasets replicasets/scale statefulsets statefulsets/scale"),
		r(write, "autoscaling", "horizontalpodautoscalers"),
		r(write, "batch", "cronjobs jobs"),
		r(write, "discovery.k8s.io", "endpointslices"),
		r(write, "networking.k8s.io", "ingresses networkpolicies"),
		r(write, "policy", "poddisruptionbudgets"),
		r(write, "coordination.k8s.io", "leases"),
	)
}

// adminRules add managing Roles and RoleBindings in the namespace and
// checking others' access there.
func adminRules() []rbacv1.PolicyRule {
	return append(editRules(),
		r(read+" "+write, "rbac.authorization.k8s.io", "roles rolebindings"),
		r("create", "authorization.k8s.io", "localsubjectaccessreviews"),
	)
}

// ClusterRoles returns the default ClusterRoles.
func ClusterRoles() []*rbacv1.ClusterRole {
	return []*rbacv1.ClusterRole{
		clusterRole("cluster-admin", r("*", "*", "*"), nonResource("*", "*")),
		clusterRole("admin", adminRules()...),
		clusterRole("edit", editRules()...),
		clusterRole("view", viewRules()...),
		clusterRole("system:basic-user",
			r("create", "authorization.k8s.io", "selfsubjectaccessreviews selfsubjectrulesreviews"),
			r("create", "authentication.k8s.io", "selfsubjectreviews")),
		clusterRole("system:discovery", nonResource("get", "/api", "/api/*", "/apis", "/apis/*", "/version", "/version/",
			"/openapi", "/openapi/*", "/healthz", "/livez", "/readyz")),
		clusterRole("system:public-info-viewer", nonResource("get", "/healthz", "/livez", "/readyz", "/version", "/version/")),
		clusterRole("system:auth-delegator",
			r("create", "authentication.k8s.io", "tokenreviews"),
			r("create", "authorization.k8s.io", "subjectaccessreviews")),
		// scheduler/: informers on pods, nodes and namespaces; binding,
		// pod status (PodScheduled condition, nominatedNodeName),
		// preemption deletes; SchedulerPlugins and their WasmModules'
		// content; leader election Lease; FailedScheduling/Scheduled events.
		clusterRole("system:kube-scheduler",
			r(read+" delete", "core", "pods"),
			r("create", "core", "pods/binding bindings"),
			r("update patch", "core", "pods/status"),
			r(read, "core", "nodes namespaces"),
			r(read, "plugins.skiff.dev", "schedulerplugins"),
			r("update patch", "plugins.skiff.dev", "schedulerplugins/status"),
			r("get", "plugins.skiff.dev", "wasmmodules wasmmodules/content"),
			r("get create update", "coordination.k8s.io", "leases"),
			eventWriter),
		// controlplane/: the garbage collector and the namespace controller
		// work on every resource through the dynamic client (list, watch,
		// get, patch owner references and finalizers, delete, delete
		// collections), so reads and updates/deletes are granted on all
		// resources, like Kubernetes' generic-garbage-collector and
		// namespace-controller roles together; creation is limited to what
		// the workload, endpoints, service account, root CA publisher
		// (kube-root-ca.crt ConfigMaps) and leader election code creates.
		clusterRole("system:kube-controller-manager",
			r(read+" update patch delete deletecollection", "*", "*"),
			r("create", "core", "pods endpoints serviceaccounts persistentvolumeclaims namespaces events configmaps"),
			r("create", "apps", "replicasets controllerrevisions"),
			r("create", "batch", "jobs"),
			r("create", "discovery.k8s.io", "endpointslices"),
			r("create", "coordination.k8s.io", "leases"),
			r("create", "events.k8s.io", "events")),
		// kubelet/: its Node (create, update, status), Lease, pods bound to
		// it (watch by spec.nodeName, status, final delete), Services (for
		// the containers' service-link variables), the Secrets,
		// ConfigMaps and claims they use, projected tokens, events. The
		// Node authorizer narrows every write and read of these to the
		// node's own objects.
		clusterRole("system:node",
			r(read+" create update patch", "core", "nodes"),
			r("update patch", "core", "nodes/status"),
			r(read+" delete", "core", "pods"),
			r("update patch", "core", "pods/status"),
			// Service links (KUBERNETES_SERVICE_HOST…) in containers' env.
			r(read, "core", "services"),
			r("get", "core", "secrets configmaps persistentvolumeclaims"),
			r("create", "core", "serviceaccounts/token"),
			r("get create update patch delete", "coordination.k8s.io", "leases"),
			// The kubelet API delegates authentication and authorization.
			r("create", "authentication.k8s.io", "tokenreviews"),
			r("create", "authorization.k8s.io", "subjectaccessreviews localsubjectaccessreviews"),
			eventWriter),
		// kubeproxy/: informers on Services and EndpointSlices.
		clusterRole("system:node-proxier",
			r(read, "core", "services endpoints nodes"),
			r(read, "discovery.k8s.io", "endpointslices"),
			eventWriter),
		// addons/dns: informers on Services and EndpointSlices; it
		// registers kube-system/kube-dns (see the Role in kube-system) and
		// makes sure kube-system exists.
		clusterRole("system:skiff:dns",
			r(read, "core", "services"),
			r(read, "discovery.k8s.io", "endpointslices"),
			r("create", "core", "namespaces")),
		// addons/ingress: informers on Ingresses, IngressClasses, Services,
		// EndpointSlices and Secrets (TLS certificates); creates its
		// IngressClass and writes Ingress status.
		clusterRole("system:skiff:ingress",
			r(read, "networking.k8s.io", "ingresses ingressclasses"),
			r("create", "networking.k8s.io", "ingressclasses"),
			r("update patch", "networking.k8s.io", "ingresses/status"),
			r(read, "core", "services secrets"),
			r(read, "discovery.k8s.io", "endpointslices"),
			eventWriter),
	}
}

// ClusterRoleBindings returns the default ClusterRoleBindings.
func ClusterRoleBindings() []*rbacv1.ClusterRoleBinding {
	return []*rbacv1.ClusterRoleBinding{
		clusterRoleBinding("cluster-admin", "cluster-admin", groupSubject(GroupMasters)),
		clusterRoleBinding("system:basic-user", "system:basic-user", groupSubject(GroupAuthenticated)),
		clusterRoleBinding("system:discovery", "system:discovery", groupSubject(GroupAuthenticated)),
		clusterRoleBinding("system:public-info-viewer", "system:public-info-viewer",
			groupSubject(GroupAuthenticated), groupSubject(GroupUnauthenticated)),
		// Kubelets review the tokens and the access of callers of their API.
		clusterRoleBinding("system:auth-delegator", "system:auth-delegator", groupSubject(GroupNodes)),
		clusterRoleBinding("system:kube-scheduler", "system:kube-scheduler", userSubject(UserScheduler)),
		clusterRoleBinding("system:kube-controller-manager", "system:kube-controller-manager", userSubject(UserControllerMgr)),
		clusterRoleBinding("system:node", "system:node", groupSubject(GroupNodes)),
		clusterRoleBinding("system:node-proxier", "system:node-proxier", userSubject(UserKubeProxy)),
		clusterRoleBinding("system:skiff:dns", "system:skiff:dns", userSubject(UserDNS)),
		clusterRoleBinding("system:skiff:ingress", "system:skiff:ingress", userSubject(UserIngress)),
		// The dashboard is a loopback-only admin UI whose job is to show
		// everything and apply arbitrary YAML on behalf of its operator:
		// any narrower role would break it, so it is bound to cluster-admin
		// and must only ever listen on loopback.
		clusterRoleBinding("system:skiff:dashboard", "cluster-admin", userSubject(UserDashboard)),
	}
}

// Roles returns the default namespaced Roles.
func Roles() []*rbacv1.Role {
	return []*rbacv1.Role{
		// addons/dns registers the kube-dns Service and its EndpointSlice.
		{ObjectMeta: meta("system:skiff:dns", metav1.NamespaceSystem), Rules: []rbacv1.PolicyRule{
			r("get create", "core", "services"),
			r("get create update", "discovery.k8s.io", "endpointslices"),
		}},
	}
}

// RoleBindings returns the default namespaced RoleBindings.
func RoleBindings() []*rbacv1.RoleBinding {
	return []*rbacv1.RoleBinding{
		{ObjectMeta: meta("system:skiff:dns", metav1.NamespaceSystem),
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "system:skiff:dns"},
			Subjects: []rbacv1.Subject{userSubject(UserDNS)}},
	}
}
