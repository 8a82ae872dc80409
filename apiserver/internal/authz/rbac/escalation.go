package rbac

import (
	"context"
	"fmt"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"

	"skiff.dev/apiserver/internal/storage"
)

// Guard wraps one RBAC resource's store and refuses privilege escalation,
// as Kubernetes does: a user may only create or change a Role or
// ClusterRole whose rules they already hold in that namespace (or with the
// "escalate" verb on it), only bind a role whose rules they hold (or with
// the "bind" verb on it), and only use an aggregationRule with "escalate".
// Writes without a user in the context (the apiserver's own bootstrap) are
// not checked.
type Guard struct {
	storage.Interface
	// Authorizer is the full request authorizer (system:masters included),
	// asked about the escalate and bind verbs.
	Authorizer authorizer.Authorizer
	// Index resolves the roles bindings refer to and the user's rules.
	Index *Index
}

// Create checks obj before storing it.
func (g *Guard) Create(ctx context.Context, key string, obj, out runtime.Object) error {
	if err := g.check(ctx, obj, nil); err != nil {
		return err
	}
	return g.Interface.Create(ctx, key, obj, out)
}

// GuaranteedUpdate checks the updated object before it is written.
func (g *Guard) GuaranteedUpdate(ctx context.Context, key string, out runtime.Object, ignoreNotFound bool, pre *storage.Preconditions, tryUpdate storage.UpdateFunc) error {
	return g.Interface.GuaranteedUpdate(ctx, key, out, ignoreNotFound, pre, func(current runtime.Object) (runtime.Object, error) {
		upd, err := tryUpdate(current)
		if err != nil {
			return nil, err
		}
		if err := g.check(ctx, upd, current); err != nil {
			return nil, err
		}
		return upd, nil
	})
}

func (g *Guard) allowed(ctx context.Context, u user.Info, verb, resource, ns, name string) bool {
	d, _, err := g.Authorizer.Authorize(ctx, authorizer.AttributesRecord{User: u, Verb: verb, APIGroup: rbacv1.GroupName,
		APIVersion: "v1", Resource: resource, Namespace: ns, Name: name, ResourceRequest: true})
	return err == nil && d == authorizer.DecisionAllow
}

// check refuses obj when writing it would grant u more than u holds. old
// is the stored object on updates (nil on create): an update that leaves
// the rules, aggregation rule and roleRef as they were is not checked.
func (g *Guard) check(ctx context.Context, obj, old runtime.Object) error {
	u, ok := request.UserFrom(ctx)
	if !ok || u == nil {
		return nil
	}
	switch o := obj.(type) {
	case *rbacv1.ClusterRole:
		if p, ok := old.(*rbacv1.ClusterRole); ok && sameRules(p.Rules, o.Rules) && (p.AggregationRule == nil) == (o.AggregationRule == nil) {
			return nil
		}
		if g.allowed(ctx, u, "escalate", "clusterroles", "", o.Name) {
			return nil
		}
		if o.AggregationRule != nil {
			return forbidden("clusterroles", o.Name, fmt.Sprintf("user %q must have the escalate verb on clusterroles (or cluster-admin privileges) to use an aggregationRule", u.GetName()))
		}
		return g.covered(u, "", "clusterroles", o.Name, o.Rules)
	case *rbacv1.Role:
		if p, ok := old.(*rbacv1.Role); ok && sameRules(p.Rules, o.Rules) {
			return nil
		}
		if g.allowed(ctx, u, "escalate", "roles", o.Namespace, o.Name) {
			return nil
		}
		return g.covered(u, o.Namespace, "roles", o.Name, o.Rules)
	case *rbacv1.RoleBinding:
		if p, ok := old.(*rbacv1.RoleBinding); ok && p.RoleRef == o.RoleRef && sameSubjects(p.Subjects, o.Subjects) {
			return nil
		}
		return g.bind(ctx, u, o.Namespace, "rolebindings", o.Name, o.RoleRef)
	case *rbacv1.ClusterRoleBinding:
		if p, ok := old.(*rbacv1.ClusterRoleBinding); ok && p.RoleRef == o.RoleRef && sameSubjects(p.Subjects, o.Subjects) {
			return nil
		}
		return g.bind(ctx, u, "", "clusterrolebindings", o.Name, o.RoleRef)
	}
	return nil
}

func (g *Guard) bind(ctx context.Context, u user.Info, ns, resource, name string, ref rbacv1.RoleRef) error {
	refResource := "clusterroles"
	if ref.Kind == "Role" {
		refResource = "roles"
	}
	if g.allowed(ctx, u, "bind", refResource, ns, ref.Name) {
		return nil
	}
	g.Index.mu.RLock()
	rules, errText := g.Index.rulesOf(&binding{namespace: ns, roleRef: ref})
	rules = append([]rbacv1.PolicyRule(nil), rules...)
	g.Index.mu.RUnlock()
	if errText != "" {
		return forbidden(resource, name, fmt.Sprintf("user %q cannot bind %s: %s", u.GetName(), ref.Name, errText))
	}
	return g.covered(u, ns, resource, name, rules)
}

// superuser reports whether u may do anything (every verb on every
// resource and every path), e.g. system:masters or cluster-admin.
func (g *Guard) superuser(u user.Info) bool {
	ctx := context.Background()
	d1, _, _ := g.Authorizer.Authorize(ctx, authorizer.AttributesRecord{User: u, Verb: "*", APIGroup: "*", Resource: "*", ResourceRequest: true})
	d2, _, _ := g.Authorizer.Authorize(ctx, authorizer.AttributesRecord{User: u, Verb: "*", Path: "*"})
	return d1 == authorizer.DecisionAllow && d2 == authorizer.DecisionAllow
}

// covered refuses rules that u does not hold in ns.
func (g *Guard) covered(u user.Info, ns, resource, name string, rules []rbacv1.PolicyRule) error {
	if g.superuser(u) {
		return nil
	}
	a := New(g.Index)
	owner, _ := a.RulesFor(u, ns)
	var missing []string
	for _, r := range rules {
		for _, atom := range atoms(r) {
			if !coveredBy(owner, atom) {
				missing = append(missing, describe(atom))
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return forbidden(resource, name, fmt.Sprintf("user %q (groups=%q) is attempting to grant RBAC permissions not currently held:\n%s",
		u.GetName(), u.GetGroups(), strings.Join(missing, "\n")))
}

func forbidden(resource, name, msg string) error {
	return apierrors.NewForbidden(rbacv1.Resource(resource), name, fmt.Errorf("%s", msg))
}

// atoms splits a rule into rules of one verb, group, resource and name.
func atoms(r rbacv1.PolicyRule) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, v := range r.Verbs {
		if len(r.NonResourceURLs) > 0 {
			for _, u := range r.NonResourceURLs {
				out = append(out, rbacv1.PolicyRule{Verbs: []string{v}, NonResourceURLs: []string{u}})
			}
			continue
		}
		names := r.ResourceNames
		if len(names) == 0 {
			names = []string{""}
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, n := range names {
					a := rbacv1.PolicyRule{Verbs: []string{v}, APIGroups: []string{g}, Resources: []string{res}}
					if n != "" {
						a.ResourceNames = []string{n}
					}
					out = append(out, a)
				}
			}
		}
	}
	return out
}

// coveredBy reports whether some owner rule grants the atomic rule a,
// where "*" in a must be matched by "*" in the owner rule.
func coveredBy(owner []rbacv1.PolicyRule, a rbacv1.PolicyRule) bool {
	for i := range owner {
		o := &owner[i]
		if !verbMatches(o.Verbs, a.Verbs[0]) {
			continue
		}
		if len(a.NonResourceURLs) > 0 {
			if nonResourceURLMatches(o.NonResourceURLs, a.NonResourceURLs[0]) {
				return true
			}
			continue
		}
		res, sub, _ := strings.Cut(a.Resources[0], "/")
		name := ""
		if len(a.ResourceNames) > 0 {
			name = a.ResourceNames[0]
		}
		if !apiGroupMatches(o.APIGroups, a.APIGroups[0]) || !resourceMatches(o.Resources, res, sub) {
			continue
		}
		if len(o.ResourceNames) == 0 || (name != "" && resourceNameMatches(o.ResourceNames, name)) {
			return true
		}
	}
	return false
}

func describe(r rbacv1.PolicyRule) string {
	if len(r.NonResourceURLs) > 0 {
		return fmt.Sprintf("{NonResourceURLs:%q, Verbs:%q}", r.NonResourceURLs, r.Verbs)
	}
	s := fmt.Sprintf("{APIGroups:%q, Resources:%q", r.APIGroups, r.Resources)
	if len(r.ResourceNames) > 0 {
		s += fmt.Sprintf(", ResourceNames:%q", r.ResourceNames)
	}
	return s + fmt.Sprintf(", Verbs:%q}", r.Verbs)
}

func sameRules(a, b []rbacv1.PolicyRule) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if describe(a[i]) != describe(b[i]) {
			return false
		}
	}
	return true
}

func sameSubjects(a, b []rbacv1.Subject) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
