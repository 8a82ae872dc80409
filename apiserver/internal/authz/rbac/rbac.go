// Package rbac authorizes requests with rbac.authorization.k8s.io/v1 Roles,
// ClusterRoles, RoleBindings and ClusterRoleBindings, like Kubernetes' RBAC
// authorizer. The objects live in an in-memory Index fed by the four
// resources' watches (see package feed), so Authorize never reads etcd:
// it looks up the bindings whose subjects name the user or one of its
// groups, resolves their roles and checks the rules.
package rbac

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// subjectKey identifies a user or a group in the subject index, with the
// namespace of the RoleBinding ("" for ClusterRoleBindings) so that a
// request only looks at bindings that can apply to it. ServiceAccount
// subjects are indexed as their user name.
type subjectKey struct {
	group     bool
	name      string
	namespace string
}

// binding is the part of a RoleBinding or ClusterRoleBinding the
// authorizer needs.
type binding struct {
	kind      string // "RoleBinding" or "ClusterRoleBinding"
	namespace string // "" for ClusterRoleBindings
	name      string
	roleRef   rbacv1.RoleRef
	subjects  []rbacv1.Subject
}

type nsName struct{ namespace, name string }

// Index holds the RBAC objects. The zero value is not usable; use NewIndex.
// It is safe for concurrent use.
type Index struct {
	mu           sync.RWMutex
	clusterRoles map[string]*rbacv1.ClusterRole
	roles        map[nsName]*rbacv1.Role
	crbs         map[string]*binding
	rbs          map[nsName]*binding
	bySubject    map[subjectKey][]*binding
	// aggregated holds the rules of ClusterRoles with an aggregationRule:
	// the union of the rules of the ClusterRoles their selectors match.
	aggregated map[string][]rbacv1.PolicyRule
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{
		clusterRoles: map[string]*rbacv1.ClusterRole{},
		roles:        map[nsName]*rbacv1.Role{},
		crbs:         map[string]*binding{},
		rbs:          map[nsName]*binding{},
		bySubject:    map[subjectKey][]*binding{},
		aggregated:   map[string][]rbacv1.PolicyRule{},
	}
}

// Set adds or replaces an RBAC object (*rbacv1.Role, ClusterRole,
// RoleBinding or ClusterRoleBinding). The index keeps the pointer: the
// object must not be changed afterwards.
func (x *Index) Set(obj any) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.set(obj)
}

// Delete removes an RBAC object.
func (x *Index) Delete(obj any) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.delete(obj)
}

// Replace drops every object of obj's kind (one of the four RBAC kinds,
// given as an empty value such as &rbacv1.Role{}) and adds items, used
// when a watch (re)starts from a full list.
func (x *Index) Replace(kind any, items []any) {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch kind.(type) {
	case *rbacv1.ClusterRole:
		x.clusterRoles = map[string]*rbacv1.ClusterRole{}
	case *rbacv1.Role:
		x.roles = map[nsName]*rbacv1.Role{}
	case *rbacv1.ClusterRoleBinding:
		for _, b := range x.crbs {
			x.unindex(b)
		}
		x.crbs = map[string]*binding{}
	case *rbacv1.RoleBinding:
		for _, b := range x.rbs {
			x.unindex(b)
		}
		x.rbs = map[nsName]*binding{}
	}
	for _, it := range items {
		x.set(it)
	}
	if _, ok := kind.(*rbacv1.ClusterRole); ok {
		x.reaggregate()
	}
}

func (x *Index) set(obj any) {
	switch o := obj.(type) {
	case *rbacv1.ClusterRole:
		x.clusterRoles[o.Name] = o
		x.reaggregate()
	case *rbacv1.Role:
		x.roles[nsName{o.Namespace, o.Name}] = o
	case *rbacv1.ClusterRoleBinding:
		if old := x.crbs[o.Name]; old != nil {
			x.unindex(old)
		}
		b := &binding{kind: "ClusterRoleBinding", name: o.Name, roleRef: o.RoleRef, subjects: o.Subjects}
		x.crbs[o.Name] = b
		x.index(b)
	case *rbacv1.RoleBinding:
		k := nsName{o.Namespace, o.Name}
		if old := x.rbs[k]; old != nil {
			x.unindex(old)
		}
		b := &binding{kind: "RoleBinding", namespace: o.Namespace, name: o.Name, roleRef: o.RoleRef, subjects: o.Subjects}
		x.rbs[k] = b
		x.index(b)
	}
}

func (x *Index) delete(obj any) {
	switch o := obj.(type) {
	case *rbacv1.ClusterRole:
		delete(x.clusterRoles, o.Name)
		x.reaggregate()
	case *rbacv1.Role:
		delete(x.roles, nsName{o.Namespace, o.Name})
	case *rbacv1.ClusterRoleBinding:
		if old := x.crbs[o.Name]; old != nil {
			x.unindex(old)
			delete(x.crbs, o.Name)
		}
	case *rbacv1.RoleBinding:
		k := nsName{o.Namespace, o.Name}
		if old := x.rbs[k]; old != nil {
			x.unindex(old)
			delete(x.rbs, k)
		}
	}
}

// subjectKeyOf returns the index key of a binding subject; ok is false for
// subjects that can never match (unknown kind, ServiceAccount without a
// namespace).
func subjectKeyOf(s rbacv1.Subject, bindingNamespace string) (subjectKey, bool) {
	switch s.Kind {
	case rbacv1.UserKind:
		return subjectKey{name: s.Name, namespace: bindingNamespace}, s.Name != ""
	case rbacv1.GroupKind:
		return subjectKey{group: true, name: s.Name, namespace: bindingNamespace}, s.Name != ""
	case rbacv1.ServiceAccountKind:
		ns := s.Namespace
		if ns == "" {
			ns = bindingNamespace
		}
		if ns == "" || s.Name == "" {
			return subjectKey{}, false
		}
		return subjectKey{name: serviceaccount.MakeUsername(ns, s.Name), namespace: bindingNamespace}, true
	}
	return subjectKey{}, false
}

func (x *Index) index(b *binding) {
	for _, s := range b.subjects {
		if k, ok := subjectKeyOf(s, b.namespace); ok && !contains(x.bySubject[k], b) {
			x.bySubject[k] = append(x.bySubject[k], b)
		}
	}
}

func (x *Index) unindex(b *binding) {
	for _, s := range b.subjects {
		k, ok := subjectKeyOf(s, b.namespace)
		if !ok {
			continue
		}
		list := x.bySubject[k]
		out := list[:0]
		for _, e := range list {
			if e != b {
				out = append(out, e)
			}
		}
		if len(out) == 0 {
			delete(x.bySubject, k)
		} else {
			x.bySubject[k] = out
		}
	}
}

func contains(list []*binding, b *binding) bool {
	for _, e := range list {
		if e == b {
			return true
		}
	}
	return false
}

// reaggregate recomputes the rules of aggregated ClusterRoles. ClusterRoles
// change rarely, so doing it on every ClusterRole change is cheap enough.
func (x *Index) reaggregate() {
	agg := map[string][]rbacv1.PolicyRule{}
	names := make([]string, 0, len(x.clusterRoles))
	for n := range x.clusterRoles {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		cr := x.clusterRoles[n]
		if cr.AggregationRule == nil {
			continue
		}
		var sels []labels.Selector
		for i := range cr.AggregationRule.ClusterRoleSelectors {
			if s, err := metav1LabelSelector(&cr.AggregationRule.ClusterRoleSelectors[i]); err == nil {
				sels = append(sels, s)
			}
		}
		rules := append([]rbacv1.PolicyRule(nil), cr.Rules...)
		for _, m := range names {
			other := x.clusterRoles[m]
			if m == n || other.AggregationRule != nil {
				continue
			}
			for _, s := range sels {
				if s.Matches(labels.Set(other.Labels)) {
					rules = append(rules, other.Rules...)
					break
				}
			}
		}
		agg[n] = rules
	}
	x.aggregated = agg
}

// rulesOf returns the rules of b's role, or an error text when the role is
// missing. The caller holds the read lock.
func (x *Index) rulesOf(b *binding) ([]rbacv1.PolicyRule, string) {
	switch b.roleRef.Kind {
	case "ClusterRole":
		if r, ok := x.aggregated[b.roleRef.Name]; ok {
			return r, ""
		}
		if cr := x.clusterRoles[b.roleRef.Name]; cr != nil {
			return cr.Rules, ""
		}
		return nil, fmt.Sprintf("clusterrole.rbac.authorization.k8s.io %q not found", b.roleRef.Name)
	case "Role":
		if r := x.roles[nsName{b.namespace, b.roleRef.Name}]; r != nil {
			return r.Rules, ""
		}
		return nil, fmt.Sprintf("role.rbac.authorization.k8s.io %q not found", b.roleRef.Name)
	}
	return nil, fmt.Sprintf("unknown roleRef kind %q", b.roleRef.Kind)
}

// visit calls f for every binding that applies to u in namespace (""
// means cluster-scoped: only ClusterRoleBindings), until f returns false.
// The caller holds the read lock.
func (x *Index) visit(u user.Info, namespace string, f func(b *binding, k subjectKey) bool) {
	try := func(k subjectKey) bool {
		for _, b := range x.bySubject[k] {
			if !f(b, k) {
				return false
			}
		}
		return true
	}
	all := func(ns string) bool {
		if !try(subjectKey{name: u.GetName(), namespace: ns}) {
			return false
		}
		for _, g := range u.GetGroups() {
			if !try(subjectKey{group: true, name: g, namespace: ns}) {
				return false
			}
		}
		return true
	}
	// ClusterRoleBindings first, then the RoleBindings of the namespace.
	if all("") && namespace != "" {
		all(namespace)
	}
}

func matchingSubject(b *binding, k subjectKey) rbacv1.Subject {
	for _, s := range b.subjects {
		if sk, ok := subjectKeyOf(s, b.namespace); ok && sk == k {
			return s
		}
	}
	return rbacv1.Subject{}
}

// Authorizer is the RBAC authorizer over an Index.
type Authorizer struct {
	idx *Index
}

// New returns an authorizer reading idx.
func New(idx *Index) *Authorizer { return &Authorizer{idx: idx} }

var _ authorizer.Authorizer = (*Authorizer)(nil)

// Authorize allows the request when a rule of a role bound to the user
// (directly, through a group or as a ServiceAccount) grants it; otherwise
// it has no opinion, with the missing roles (if any) as the reason, like
// Kubernetes.
func (a *Authorizer) Authorize(_ context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	u := attrs.GetUser()
	if u == nil {
		return authorizer.DecisionNoOpinion, "no user on the request", nil
	}
	x := a.idx
	x.mu.RLock()
	defer x.mu.RUnlock()
	var (
		allowed *binding
		key     subjectKey
		errs    []string
	)
	x.visit(u, attrs.GetNamespace(), func(b *binding, k subjectKey) bool {
		rules, errText := x.rulesOf(b)
		if errText != "" {
			errs = append(errs, errText)
			return true
		}
		for i := range rules {
			if RuleAllows(attrs, &rules[i]) {
				allowed, key = b, k
				return false
			}
		}
		return true
	})
	if allowed != nil {
		return authorizer.DecisionAllow, describeAllow(allowed, matchingSubject(allowed, key)), nil
	}
	if len(errs) > 0 {
		return authorizer.DecisionNoOpinion, "RBAC: " + strings.Join(errs, ", "), nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

// describeAllow is the reason of an allowed decision, built with one
// allocation (names are RBAC names and user names: no quoting needed
// beyond the surrounding quotes).
func describeAllow(b *binding, s rbacv1.Subject) string {
	who := s.Name
	if s.Kind == rbacv1.ServiceAccountKind {
		ns := s.Namespace
		if ns == "" {
			ns = b.namespace
		}
		who = ns + "/" + s.Name
	}
	if b.namespace != "" {
		return "RBAC: allowed by " + b.kind + ` "` + b.name + `" of ` + b.roleRef.Kind + ` "` + b.roleRef.Name + `" to ` +
			s.Kind + ` "` + who + `" in namespace "` + b.namespace + `"`
	}
	return "RBAC: allowed by " + b.kind + ` "` + b.name + `" of ` + b.roleRef.Kind + ` "` + b.roleRef.Name + `" to ` +
		s.Kind + ` "` + who + `"`
}

// ConditionsAwareAuthorize is Authorize as a ConditionsAwareDecision.
func (a *Authorizer) ConditionsAwareAuthorize(ctx context.Context, attrs authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return authorizer.ConditionsAwareDecisionFromParts(a.Authorize(ctx, attrs))
}

// EvaluateConditions is not supported: RBAC decisions are unconditional.
func (a *Authorizer) EvaluateConditions(context.Context, authorizer.ConditionsAwareDecision, authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return authorizer.DecisionDeny, "", authorizer.ErrorConditionEvaluationNotSupported
}

// RulesFor returns the rules that apply to u in namespace (cluster-wide
// rules included; namespace "" gives only those), and the texts of
// bindings whose roles are missing.
func (a *Authorizer) RulesFor(u user.Info, namespace string) ([]rbacv1.PolicyRule, []string) {
	x := a.idx
	x.mu.RLock()
	defer x.mu.RUnlock()
	var rules []rbacv1.PolicyRule
	var errs []string
	x.visit(u, namespace, func(b *binding, _ subjectKey) bool {
		r, errText := x.rulesOf(b)
		if errText != "" {
			errs = append(errs, errText)
			return true
		}
		for i := range r {
			rules = append(rules, *r[i].DeepCopy())
		}
		return true
	})
	return rules, errs
}
