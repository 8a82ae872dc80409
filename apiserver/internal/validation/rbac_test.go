package validation

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestRBACValidation(t *testing.T) {
	get := rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}
	user := rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "alice"}
	nsMeta := metav1.ObjectMeta{Namespace: "ns", Name: "x"}
	cases := []struct {
		name string
		obj  runtime.Object
		ok   bool
	}{
		{"role", &rbacv1.Role{ObjectMeta: nsMeta, Rules: []rbacv1.PolicyRule{get}}, true},
		{"colon in name", &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "system:node"}, Rules: []rbacv1.PolicyRule{get}}, true},
		{"slash in name", &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "a/b"}}, false},
		{"no verbs", &rbacv1.Role{ObjectMeta: nsMeta, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}}}}, false},
		{"no api groups", &rbacv1.Role{ObjectMeta: nsMeta, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, Resources: []string{"pods"}}}}, false},
		{"url in role", &rbacv1.Role{ObjectMeta: nsMeta, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/x"}}}}, false},
		{"url in clusterrole", &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/x"}}}}, true},
		{"url and resources", &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/x"}, Resources: []string{"pods"}}}}, false},
		{"empty aggregation", &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "x"}, AggregationRule: &rbacv1.AggregationRule{}}, false},
		{"binding", &rbacv1.RoleBinding{ObjectMeta: nsMeta, RoleRef: ref, Subjects: []rbacv1.Subject{user, {Kind: rbacv1.ServiceAccountKind, Name: "sa"}}}, true},
		{"binding bad kind", &rbacv1.RoleBinding{ObjectMeta: nsMeta, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Pod", Name: "x"}}, false},
		{"binding no role name", &rbacv1.RoleBinding{ObjectMeta: nsMeta, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role"}}, false},
		{"binding bad subject kind", &rbacv1.RoleBinding{ObjectMeta: nsMeta, RoleRef: ref, Subjects: []rbacv1.Subject{{Kind: "Robot", Name: "r"}}}, false},
		{"user subject without group", &rbacv1.RoleBinding{ObjectMeta: nsMeta, RoleRef: ref, Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "u"}}}, false},
		{"cluster binding to Role", &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "x"}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "r"}}, false},
		{"cluster binding SA without namespace", &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "x"}, RoleRef: ref, Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "sa"}}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := ValidateCreate(tc.obj)
			if (len(errs) == 0) != tc.ok {
				t.Errorf("errors = %v, want ok=%v", errs, tc.ok)
			}
		})
	}
	old := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "x", ResourceVersion: "1"}, RoleRef: ref}
	upd := old.DeepCopy()
	upd.RoleRef.Name = "edit"
	if errs := ValidateUpdate(upd, old); len(errs) == 0 {
		t.Error("roleRef change accepted")
	}
	upd = old.DeepCopy()
	upd.Subjects = []rbacv1.Subject{user}
	if errs := ValidateUpdate(upd, old); len(errs) != 0 {
		t.Errorf("subject change refused: %v", errs)
	}
}
