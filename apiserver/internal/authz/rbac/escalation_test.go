package rbac

import (
	"context"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"

	"skiff.dev/apiserver/internal/storage"
)

type recordingStore struct {
	storage.Interface
	created int
}

func (s *recordingStore) Create(context.Context, string, runtime.Object, runtime.Object) error {
	s.created++
	return nil
}

func (s *recordingStore) GuaranteedUpdate(_ context.Context, _ string, _ runtime.Object, _ bool, _ *storage.Preconditions, f storage.UpdateFunc) error {
	_, err := f(&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "r"},
		Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}}})
	return err
}

func TestGuard(t *testing.T) {
	idx := NewIndex()
	rule := func(verbs []string, group string, resources []string, names ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{Verbs: verbs, APIGroups: []string{group}, Resources: resources, ResourceNames: names}
	}
	idx.Set(clusterRole("cluster-admin", rbacv1.PolicyRule{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
		rbacv1.PolicyRule{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}))
	idx.Set(clusterRole("view", rule([]string{"get", "list", "watch"}, "", []string{"pods", "configmaps"})))
	idx.Set(clusterRole("ns-admin", rule([]string{"get", "list", "watch"}, "", []string{"pods", "configmaps"}),
		rule([]string{"create", "update"}, "rbac.authorization.k8s.io", []string{"roles", "rolebindings"})))
	idx.Set(clusterRole("binder", rule([]string{"bind"}, "rbac.authorization.k8s.io", []string{"clusterroles"}, "cluster-admin")))
	idx.Set(rb("team", "alice-admin", "ClusterRole", "ns-admin", userS("alice")))
	idx.Set(rb("team", "bob-admin", "ClusterRole", "ns-admin", userS("bob")))
	idx.Set(rb("team", "bob-binder", "ClusterRole", "binder", userS("bob")))
	authz := authorizer.AuthorizerFunc(func(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		for _, g := range a.GetUser().GetGroups() {
			if g == user.SystemPrivilegedGroup {
				return authorizer.DecisionAllow, "", nil
			}
		}
		return New(idx).Authorize(ctx, a)
	})
	roleWith := func(rules ...rbacv1.PolicyRule) *rbacv1.Role {
		return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "r"}, Rules: rules}
	}
	as := func(name string, groups ...string) context.Context {
		return request.WithUser(context.Background(), &user.DefaultInfo{Name: name, Groups: groups})
	}
	agg := clusterRole("sneaky")
	agg.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"x": "y"}}}}
	cases := []struct {
		name string
		ctx  context.Context
		obj  runtime.Object
		ok   bool
	}{
		{"role within own rules", as("alice"), roleWith(rule([]string{"get"}, "", []string{"pods"})), true},
		{"role with more verbs", as("alice"), roleWith(rule([]string{"delete"}, "", []string{"pods"})), false},
		{"role with secrets", as("alice"), roleWith(rule([]string{"get"}, "", []string{"secrets"})), false},
		{"role with star", as("alice"), roleWith(rule([]string{"*"}, "", []string{"pods"})), false},
		{"role with a resource name", as("alice"), roleWith(rule([]string{"get"}, "", []string{"configmaps"}, "settings")), true},
		{"role with a subresource", as("alice"), roleWith(rule([]string{"get"}, "", []string{"pods/log"})), false},
		{"bind view in team", as("alice"), rb("team", "x", "ClusterRole", "view", userS("eve")), true},
		{"bind cluster-admin", as("alice"), rb("team", "x", "ClusterRole", "cluster-admin", userS("alice")), false},
		{"bind cluster-admin with bind verb", as("bob"), rb("team", "x", "ClusterRole", "cluster-admin", userS("eve")), true},
		{"bind a missing role", as("alice"), rb("team", "x", "Role", "missing", userS("eve")), false},
		{"cluster binding", as("alice"), crb("x", "view", userS("eve")), false},
		{"aggregation", as("alice"), agg, false},
		{"masters", as("root", user.SystemPrivilegedGroup), crb("x", "cluster-admin", userS("eve")), true},
		{"masters aggregation", as("root", user.SystemPrivilegedGroup), agg, true},
		{"no user: bootstrap", context.Background(), crb("x", "cluster-admin", userS("eve")), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := &recordingStore{}
			g := &Guard{Interface: st, Authorizer: authz, Index: idx}
			err := g.Create(tc.ctx, "k", tc.obj, nil)
			if tc.ok && (err != nil || st.created != 1) {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && (!apierrors.IsForbidden(err) || st.created != 0) {
				t.Fatalf("err = %v, want 403", err)
			}
		})
	}
	// An update that keeps the rules is not checked; one that adds rules is.
	g := &Guard{Interface: &recordingStore{}, Authorizer: authz, Index: idx}
	keep := func(cur runtime.Object) (runtime.Object, error) {
		r := cur.(*rbacv1.Role).DeepCopy()
		r.Labels = map[string]string{"a": "b"}
		return r, nil
	}
	if err := g.GuaranteedUpdate(as("eve"), "k", nil, false, nil, keep); err != nil {
		t.Errorf("label-only update refused: %v", err)
	}
	grow := func(cur runtime.Object) (runtime.Object, error) {
		r := cur.(*rbacv1.Role).DeepCopy()
		r.Rules = append(r.Rules, rule([]string{"get"}, "", []string{"secrets"}))
		return r, nil
	}
	if err := g.GuaranteedUpdate(as("alice"), "k", nil, false, nil, grow); !apierrors.IsForbidden(err) {
		t.Errorf("escalating update: %v, want 403", err)
	}
}
