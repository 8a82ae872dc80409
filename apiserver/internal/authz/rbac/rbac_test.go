package rbac

import (
	"context"
	"fmt"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

func clusterRole(name string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
}

func crb(name, role string, subjects ...rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}, Subjects: subjects}
}

func rb(ns, name, kind, role string, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: role}, Subjects: subjects}
}

func userS(n string) rbacv1.Subject  { return rbacv1.Subject{Kind: rbacv1.UserKind, Name: n} }
func groupS(n string) rbacv1.Subject { return rbacv1.Subject{Kind: rbacv1.GroupKind, Name: n} }
func saS(ns, n string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: n}
}

func who(name string, groups ...string) *user.DefaultInfo {
	return &user.DefaultInfo{Name: name, Groups: groups}
}

func TestAuthorize(t *testing.T) {
	idx := NewIndex()
	read := rbacv1.PolicyRule{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}}
	idx.Set(clusterRole("view", read))
	idx.Set(clusterRole("secrets", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"secrets"}}))
	idx.Set(clusterRole("health", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}))
	idx.Set(&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "cm-writer"},
		Rules: []rbacv1.PolicyRule{{Verbs: []string{"create"}, APIGroups: []string{""}, Resources: []string{"configmaps"}}}})
	idx.Set(rb("team", "alice-view", "ClusterRole", "view", userS("alice")))
	idx.Set(rb("team", "devs-cm", "Role", "cm-writer", groupS("devs")))
	idx.Set(crb("ops-secrets", "secrets", groupS("ops")))
	idx.Set(crb("all-health", "health", groupS("system:authenticated")))
	idx.Set(rb("team", "robot", "ClusterRole", "view", saS("", "robot")))
	idx.Set(rb("team", "dangling", "Role", "missing", userS("carol")))
	a := New(idx)

	cases := []struct {
		name   string
		attrs  authorizer.AttributesRecord
		want   authorizer.Decision
		reason string
	}{
		{"rolebinding in its namespace", withUser(res("list", "", "pods", "", "team", ""), who("alice")), authorizer.DecisionAllow, `RoleBinding "alice-view" of ClusterRole "view" to User "alice" in namespace "team"`},
		{"subresource pods/log", withUser(res("get", "", "pods", "log", "team", "p"), who("alice")), authorizer.DecisionAllow, ""},
		{"rolebinding elsewhere", withUser(res("list", "", "pods", "", "other", ""), who("alice")), authorizer.DecisionNoOpinion, ""},
		{"rolebinding not cluster-wide", withUser(res("list", "", "pods", "", "", ""), who("alice")), authorizer.DecisionNoOpinion, ""},
		{"view cannot create", withUser(res("create", "", "pods", "", "team", ""), who("alice")), authorizer.DecisionNoOpinion, ""},
		{"view cannot read secrets", withUser(res("get", "", "secrets", "", "team", "s"), who("alice")), authorizer.DecisionNoOpinion, ""},
		{"group with Role", withUser(res("create", "", "configmaps", "", "team", ""), who("bob", "devs")), authorizer.DecisionAllow, `Role "cm-writer" to Group "devs"`},
		{"clusterrolebinding any namespace", withUser(res("get", "", "secrets", "", "x", "s"), who("eve", "ops")), authorizer.DecisionAllow, ""},
		{"non-resource", withUser(path("get", "/healthz"), who("z", "system:authenticated")), authorizer.DecisionAllow, ""},
		{"non-resource other path", withUser(path("get", "/metrics"), who("z", "system:authenticated")), authorizer.DecisionNoOpinion, ""},
		{"service account", withUser(res("watch", "", "pods", "", "team", ""), who("system:serviceaccount:team:robot", "system:serviceaccounts")), authorizer.DecisionAllow, `ServiceAccount "team/robot"`},
		{"other service account", withUser(res("watch", "", "pods", "", "team", ""), who("system:serviceaccount:other:robot")), authorizer.DecisionNoOpinion, ""},
		{"missing role is the reason", withUser(res("get", "", "pods", "", "team", "p"), who("carol")), authorizer.DecisionNoOpinion, `RBAC: role.rbac.authorization.k8s.io "missing" not found`},
		{"nobody", withUser(res("get", "", "pods", "", "team", "p"), who("mallory")), authorizer.DecisionNoOpinion, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, reason, err := a.Authorize(context.Background(), tc.attrs)
			if err != nil || d != tc.want {
				t.Fatalf("Authorize = %v, %q, %v; want %v", d, reason, err, tc.want)
			}
			if tc.reason != "" && !strings.Contains(reason, tc.reason) {
				t.Errorf("reason %q lacks %q", reason, tc.reason)
			}
		})
	}
}

func withUser(a authorizer.AttributesRecord, u user.Info) authorizer.AttributesRecord {
	a.User = u
	return a
}

func TestIndexUpdates(t *testing.T) {
	idx := NewIndex()
	a := New(idx)
	get := withUser(res("get", "", "pods", "", "ns", "p"), who("alice"))
	allowed := func() bool {
		d, _, _ := a.Authorize(context.Background(), get)
		return d == authorizer.DecisionAllow
	}
	idx.Set(clusterRole("view", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}))
	b := crb("b", "view", userS("alice"))
	idx.Set(b)
	if !allowed() {
		t.Fatal("not allowed after binding")
	}
	// Changing the subjects drops the old ones from the index.
	idx.Set(crb("b", "view", userS("bob")))
	if allowed() {
		t.Fatal("still allowed after the binding moved to bob")
	}
	idx.Set(b)
	idx.Delete(clusterRole("view"))
	if allowed() {
		t.Fatal("allowed without the role")
	}
	idx.Set(clusterRole("view", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}))
	idx.Delete(b)
	if allowed() {
		t.Fatal("allowed after the binding was deleted")
	}
	// Replace resets one kind.
	idx.Replace(&rbacv1.ClusterRoleBinding{}, []any{b})
	if !allowed() {
		t.Fatal("not allowed after Replace")
	}
	idx.Replace(&rbacv1.ClusterRoleBinding{}, nil)
	if allowed() {
		t.Fatal("allowed after Replace with nothing")
	}
}

func TestAggregation(t *testing.T) {
	idx := NewIndex()
	a := New(idx)
	agg := clusterRole("monitoring")
	agg.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"agg": "monitoring"}}}}
	idx.Set(agg)
	idx.Set(crb("m", "monitoring", userS("alice")))
	get := withUser(res("get", "", "endpoints", "", "ns", "e"), who("alice"))
	if d, _, _ := a.Authorize(context.Background(), get); d == authorizer.DecisionAllow {
		t.Fatal("allowed before any role is aggregated")
	}
	part := clusterRole("endpoints-reader", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"endpoints"}})
	part.Labels = map[string]string{"agg": "monitoring"}
	idx.Set(part)
	if d, r, _ := a.Authorize(context.Background(), get); d != authorizer.DecisionAllow {
		t.Fatalf("not allowed through the aggregated role: %v %q", d, r)
	}
	rules, _ := a.RulesFor(who("alice"), "ns")
	if len(rules) != 1 || rules[0].Resources[0] != "endpoints" {
		t.Errorf("RulesFor = %+v", rules)
	}
}

// BenchmarkAuthorize measures a decision with 200 ClusterRoleBindings and
// 200 RoleBindings in the index; the user is allowed through one of its
// groups (the common case for ServiceAccounts and kubelets).
func BenchmarkAuthorize(b *testing.B) {
	idx := NewIndex()
	idx.Set(clusterRole("view", rbacv1.PolicyRule{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{"", "apps"},
		Resources: []string{"pods", "services", "configmaps", "deployments"}}))
	idx.Set(clusterRole("edit", rbacv1.PolicyRule{Verbs: []string{"create", "update", "delete"}, APIGroups: []string{""}, Resources: []string{"configmaps"}}))
	for i := 0; i < 200; i++ {
		idx.Set(crb(fmt.Sprintf("crb-%d", i), "edit", userS(fmt.Sprintf("user-%d", i)), groupS(fmt.Sprintf("group-%d", i%20))))
		idx.Set(rb(fmt.Sprintf("ns-%d", i%10), fmt.Sprintf("rb-%d", i), "ClusterRole", "view", userS(fmt.Sprintf("user-%d", i)), groupS("team")))
	}
	a := New(idx)
	cases := map[string]authorizer.AttributesRecord{
		"allow-group": withUser(res("list", "apps", "deployments", "", "ns-3", ""), who("someone", "system:authenticated", "team")),
		"allow-user":  withUser(res("update", "", "configmaps", "", "ns-3", "c"), who("user-7", "system:authenticated")),
		"no-opinion":  withUser(res("delete", "", "secrets", "", "ns-3", "s"), who("user-7", "system:authenticated", "group-7", "team")),
	}
	for name, attrs := range cases {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				_, _, _ = a.Authorize(ctx, attrs)
			}
		})
	}
}
