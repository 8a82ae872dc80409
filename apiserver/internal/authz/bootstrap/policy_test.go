package bootstrap

import (
	"context"
	"testing"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"skiff.dev/apiserver/internal/authz/rbac"
	"skiff.dev/apiserver/internal/validation"
)

func TestPolicyValidates(t *testing.T) {
	for _, o := range ClusterRoles() {
		if errs := validation.ValidateCreate(o); len(errs) > 0 {
			t.Errorf("clusterrole %s: %v", o.Name, errs.ToAggregate())
		}
	}
	for _, o := range ClusterRoleBindings() {
		if errs := validation.ValidateCreate(o); len(errs) > 0 {
			t.Errorf("clusterrolebinding %s: %v", o.Name, errs.ToAggregate())
		}
	}
	for _, o := range Roles() {
		if errs := validation.ValidateCreate(o); len(errs) > 0 {
			t.Errorf("role %s: %v", o.Name, errs.ToAggregate())
		}
	}
	for _, o := range RoleBindings() {
		if errs := validation.ValidateCreate(o); len(errs) > 0 {
			t.Errorf("rolebinding %s: %v", o.Name, errs.ToAggregate())
		}
	}
}

// TestComponentRoles evaluates the default policy for requests the
// components' code makes (they must be allowed) and for a few they must
// not be able to make (least privilege).
func TestComponentRoles(t *testing.T) {
	idx := rbac.NewIndex()
	for _, o := range ClusterRoles() {
		idx.Set(o)
	}
	for _, o := range ClusterRoleBindings() {
		idx.Set(o)
	}
	for _, o := range Roles() {
		idx.Set(o)
	}
	for _, o := range RoleBindings() {
		idx.Set(o)
	}
	a := rbac.New(idx)
	as := func(name string, groups ...string) user.Info {
		return &user.DefaultInfo{Name: name, Groups: append(groups, GroupAuthenticated)}
	}
	sched, cm, proxy := as(UserScheduler), as(UserControllerMgr), as(UserKubeProxy)
	dns, ing, dash := as(UserDNS), as(UserIngress), as(UserDashboard)
	kubelet := as("system:node:n1", GroupNodes)
	alice := as("alice")
	anon := &user.DefaultInfo{Name: "system:anonymous", Groups: []string{GroupUnauthenticated}}
	req := func(u user.Info, verb, group, resource, sub, ns, name string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{User: u, Verb: verb, APIGroup: group, Resource: resource, Subresource: sub,
			Namespace: ns, Name: name, ResourceRequest: true}
	}
	url := func(u user.Info, verb, path string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{User: u, Verb: verb, Path: path}
	}
	cases := []struct {
		name  string
		attrs authorizer.AttributesRecord
		want  bool
	}{
		{"scheduler watches pods", req(sched, "watch", "", "pods", "", "", ""), true},
		{"scheduler binds", req(sched, "create", "", "pods", "binding", "ns", "p"), true},
		{"scheduler sets PodScheduled", req(sched, "update", "", "pods", "status", "ns", "p"), true},
		{"scheduler preempts", req(sched, "delete", "", "pods", "", "ns", "p"), true},
		{"scheduler lists namespaces", req(sched, "list", "", "namespaces", "", "", ""), true},
		{"scheduler leader election", req(sched, "update", "coordination.k8s.io", "leases", "", "kube-system", "skiff-scheduler"), true},
		{"scheduler events", req(sched, "create", "", "events", "", "ns", ""), true},
		{"scheduler plugin status", req(sched, "update", "plugins.skiff.dev", "schedulerplugins", "status", "", "x"), true},
		{"scheduler module content", req(sched, "get", "plugins.skiff.dev", "wasmmodules", "content", "", "m"), true},
		{"scheduler cannot read secrets", req(sched, "get", "", "secrets", "", "ns", "s"), false},
		{"scheduler cannot create pods", req(sched, "create", "", "pods", "", "ns", ""), false},
		{"controller-manager creates pods", req(cm, "create", "", "pods", "", "ns", ""), true},
		{"controller-manager creates replicasets", req(cm, "create", "apps", "replicasets", "", "ns", ""), true},
		{"controller-manager creates revisions", req(cm, "create", "apps", "controllerrevisions", "", "ns", ""), true},
		{"controller-manager creates jobs", req(cm, "create", "batch", "jobs", "", "ns", ""), true},
		{"controller-manager creates slices", req(cm, "create", "discovery.k8s.io", "endpointslices", "", "ns", ""), true},
		{"controller-manager publishes kube-root-ca.crt", req(cm, "create", "", "configmaps", "", "ns", ""), true},
		{"controller-manager creates claims", req(cm, "create", "", "persistentvolumeclaims", "", "ns", ""), true},
		{"controller-manager creates service accounts", req(cm, "create", "", "serviceaccounts", "", "ns", ""), true},
		{"controller-manager deployment status", req(cm, "update", "apps", "deployments", "status", "ns", "d"), true},
		{"controller-manager finalizes namespaces", req(cm, "update", "", "namespaces", "finalize", "", "ns"), true},
		{"controller-manager taints nodes", req(cm, "patch", "", "nodes", "", "", "n"), true},
		{"gc deletes anything", req(cm, "delete", "plugins.skiff.dev", "admissionpolicies", "", "", "x"), true},
		{"namespace controller deletes collections", req(cm, "deletecollection", "networking.k8s.io", "ingresses", "", "ns", ""), true},
		{"controller-manager cannot create roles", req(cm, "create", "rbac.authorization.k8s.io", "clusterroles", "", "", ""), false},
		{"controller-manager cannot exec", req(cm, "create", "", "pods", "exec", "ns", "p"), false},
		{"kubelet registers", req(kubelet, "create", "", "nodes", "", "", ""), true},
		{"kubelet heartbeats", req(kubelet, "update", "coordination.k8s.io", "leases", "", "kube-node-lease", "n1"), true},
		{"kubelet watches its pods", req(kubelet, "watch", "", "pods", "", "", ""), true},
		{"kubelet writes pod status", req(kubelet, "update", "", "pods", "status", "ns", "p"), true},
		{"kubelet gets tokens", req(kubelet, "create", "", "serviceaccounts", "token", "ns", "default"), true},
		{"kubelet reviews tokens", req(kubelet, "create", "authentication.k8s.io", "tokenreviews", "", "", ""), true},
		{"kubelet reviews access", req(kubelet, "create", "authorization.k8s.io", "subjectaccessreviews", "", "", ""), true},
		{"kubelet cannot create pods", req(kubelet, "create", "", "pods", "", "ns", ""), false},
		{"kubelet cannot list secrets", req(kubelet, "list", "", "secrets", "", "ns", ""), false},
		{"kube-proxy watches services", req(proxy, "watch", "", "services", "", "", ""), true},
		{"kube-proxy watches slices", req(proxy, "list", "discovery.k8s.io", "endpointslices", "", "", ""), true},
		{"kube-proxy cannot write services", req(proxy, "update", "", "services", "", "ns", "s"), false},
		{"dns creates kube-dns", req(dns, "create", "", "services", "", "kube-system", ""), true},
		{"dns updates its slice", req(dns, "update", "discovery.k8s.io", "endpointslices", "", "kube-system", "kube-dns-skiff"), true},
		{"dns cannot create services elsewhere", req(dns, "create", "", "services", "", "default", ""), false},
		{"ingress reads TLS secrets", req(ing, "list", "", "secrets", "", "", ""), true},
		{"ingress writes status", req(ing, "update", "networking.k8s.io", "ingresses", "status", "ns", "i"), true},
		{"ingress cannot write ingresses", req(ing, "update", "networking.k8s.io", "ingresses", "", "ns", "i"), false},
		{"dashboard is admin", req(dash, "create", "apps", "deployments", "", "ns", ""), true},
		{"anyone can-i", req(alice, "create", "authorization.k8s.io", "selfsubjectaccessreviews", "", "", ""), true},
		{"anyone rules review", req(alice, "create", "authorization.k8s.io", "selfsubjectrulesreviews", "", "", ""), true},
		{"anyone whoami", req(alice, "create", "authentication.k8s.io", "selfsubjectreviews", "", "", ""), true},
		{"anyone discovers", url(alice, "get", "/apis/apps/v1"), true},
		{"anyone openapi", url(alice, "get", "/openapi/v3"), true},
		{"anonymous healthz", url(anon, "get", "/healthz"), true},
		{"anonymous version", url(anon, "get", "/version"), true},
		{"anonymous cannot discover", url(anon, "get", "/api"), false},
		{"alice cannot read pods", req(alice, "get", "", "pods", "", "ns", "p"), false},
		{"alice cannot review others", req(alice, "create", "authorization.k8s.io", "subjectaccessreviews", "", "", ""), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, reason, err := a.Authorize(context.Background(), tc.attrs)
			if err != nil || (d == authorizer.DecisionAllow) != tc.want {
				t.Errorf("Authorize = %v (%q, %v), want allowed=%v", d, reason, err, tc.want)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	roles := ClusterRoles()
	view := roles[3]
	if view.Name != "view" {
		t.Fatalf("roles[3] = %s", view.Name)
	}
	cur := view.DeepCopy()
	cur.Rules = cur.Rules[:2]
	cur.Labels = nil
	if !both(mergeMeta(&cur.ObjectMeta, &view.ObjectMeta), mergeRules(&cur.Rules, view.Rules)) {
		t.Fatal("merge reported no change")
	}
	if len(cur.Rules) != len(view.Rules) || cur.Labels[LabelBootstrapping] != LabelValue {
		t.Fatalf("merged: %d rules, labels %v", len(cur.Rules), cur.Labels)
	}
	if both(mergeMeta(&cur.ObjectMeta, &view.ObjectMeta), mergeRules(&cur.Rules, view.Rules)) {
		t.Fatal("second merge changed something")
	}
}
