// Package authz authorizes API requests: members of system:masters are
// allowed outright, then the Node authorizer (package node) decides what
// kubelets may touch, then RBAC (package rbac) decides the rest. Both read
// in-memory indexes fed by the apiserver's own watches (package feed).
// Package bootstrap holds the default policy; package review answers
// SubjectAccessReviews and their kin with the same authorizer.
package authz

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"skiff.dev/apiserver/internal/authz/feed"
	"skiff.dev/apiserver/internal/authz/node"
	"skiff.dev/apiserver/internal/authz/rbac"
	"skiff.dev/apiserver/internal/storage"
)

// Source is a resource's store and etcd key prefix.
type Source struct {
	Store  storage.Interface
	Prefix string
}

// Options name the stores the authorizer reads.
type Options struct {
	ClusterRoles, ClusterRoleBindings, Roles, RoleBindings, Pods Source
	Logger                                                       *slog.Logger
}

// Authorizer is skiff's request authorizer. Create it with New, start its
// feeds with Run and wait for WaitSynced before serving.
type Authorizer struct {
	index *rbac.Index
	rbac  *rbac.Authorizer
	node  *node.Authorizer
	feeds []*feed.Feed
}

var _ authorizer.Authorizer = (*Authorizer)(nil)

// New builds the authorizer.
func New(o Options) *Authorizer {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	idx := rbac.NewIndex()
	graph := node.NewGraph()
	a := &Authorizer{
		index: idx,
		rbac:  rbac.New(idx),
		node:  node.New(node.Options{Graph: graph, Pods: o.Pods.Store, PodsPrefix: o.Pods.Prefix}),
	}
	add := func(name string, src Source, newList func() runtime.Object, sink feed.Sink) {
		a.feeds = append(a.feeds, feed.New(feed.Options{Name: name, Store: src.Store, Key: src.Prefix,
			NewList: newList, Sink: sink, Logger: o.Logger}))
	}
	add("clusterroles", o.ClusterRoles, func() runtime.Object { return &rbacv1.ClusterRoleList{} }, rbac.Sink{Index: idx, Kind: &rbacv1.ClusterRole{}})
	add("clusterrolebindings", o.ClusterRoleBindings, func() runtime.Object { return &rbacv1.ClusterRoleBindingList{} }, rbac.Sink{Index: idx, Kind: &rbacv1.ClusterRoleBinding{}})
	add("roles", o.Roles, func() runtime.Object { return &rbacv1.RoleList{} }, rbac.Sink{Index: idx, Kind: &rbacv1.Role{}})
	add("rolebindings", o.RoleBindings, func() runtime.Object { return &rbacv1.RoleBindingList{} }, rbac.Sink{Index: idx, Kind: &rbacv1.RoleBinding{}})
	add("pods", o.Pods, func() runtime.Object { return &corev1.PodList{} }, graph)
	return a
}

// Guard wraps an RBAC resource's store so that writes through it cannot
// escalate privileges (see rbac.Guard).
func (a *Authorizer) Guard(st storage.Interface) storage.Interface {
	return &rbac.Guard{Interface: st, Authorizer: a, Index: a.index}
}

// Run starts the feeds; they stop when ctx ends.
func (a *Authorizer) Run(ctx context.Context) {
	for _, f := range a.feeds {
		go f.Run(ctx)
	}
}

// WaitSynced waits until every feed has loaded its first list.
func (a *Authorizer) WaitSynced(ctx context.Context) error {
	for _, f := range a.feeds {
		select {
		case <-f.Synced():
		case <-ctx.Done():
			return fmt.Errorf("authorization indexes not synced: %w", ctx.Err())
		}
	}
	return nil
}

// Authorize implements authorizer.Authorizer.
func (a *Authorizer) Authorize(ctx context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	u := attrs.GetUser()
	if u == nil {
		return authorizer.DecisionNoOpinion, "no user on the request", nil
	}
	for _, g := range u.GetGroups() {
		if g == user.SystemPrivilegedGroup {
			return authorizer.DecisionAllow, "", nil
		}
	}
	d, reason, err := a.node.Authorize(ctx, attrs)
	if d != authorizer.DecisionNoOpinion || err != nil {
		return d, reason, err
	}
	return a.rbac.Authorize(ctx, attrs)
}

// ConditionsAwareAuthorize is Authorize as a ConditionsAwareDecision.
func (a *Authorizer) ConditionsAwareAuthorize(ctx context.Context, attrs authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return authorizer.ConditionsAwareDecisionFromParts(a.Authorize(ctx, attrs))
}

// EvaluateConditions is not supported: every decision is unconditional.
func (a *Authorizer) EvaluateConditions(context.Context, authorizer.ConditionsAwareDecision, authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return authorizer.DecisionDeny, "", authorizer.ErrorConditionEvaluationNotSupported
}

// RulesFor returns the RBAC rules that apply to u in namespace. incomplete
// is true when another authorizer may change the answer (the Node
// authorizer for kubelets), with the reason in errs.
func (a *Authorizer) RulesFor(u user.Info, namespace string) (rules []rbacv1.PolicyRule, incomplete bool, errs []string) {
	rules, errs = a.rbac.RulesFor(u, namespace)
	if _, isNode := node.Identity(u); isNode {
		return rules, true, append(errs, "node authorizer does not support user rule resolution")
	}
	return rules, false, errs
}
