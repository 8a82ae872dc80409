package apiserver

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff.dev/apiserver/internal/authz"
	"skiff.dev/apiserver/internal/authz/bootstrap"
	"skiff.dev/apiserver/internal/authz/review"
	"skiff.dev/apiserver/internal/registry"
	"skiff.dev/apiserver/internal/rest"
	"skiff.dev/apiserver/internal/storage"
)

// authorization is the request authorizer (system:masters, then the Node
// authorizer, then RBAC) and the handlers of the access reviews that ask it.
type authorization struct {
	authorizer *authz.Authorizer
	creates    map[string]rest.CreateHandler
}

// newAuthorizer reconciles the default RBAC policy into the stores, starts
// the authorizer's watch-fed indexes (they stop with ctx) and waits until
// they hold the current state. It replaces the four RBAC stores in stores
// with guards against privilege escalation, so call it before the REST
// handler is built.
func newAuthorizer(ctx context.Context, reg *registry.Registry, stores map[schema.GroupVersionResource]storage.Interface, log *slog.Logger) (*authorization, error) {
	src := func(gvr schema.GroupVersionResource) (authz.Source, error) {
		res, ok := reg.Lookup(gvr)
		if !ok || stores[gvr] == nil {
			return authz.Source{}, fmt.Errorf("resource %s is not served", gvr)
		}
		return authz.Source{Store: stores[gvr], Prefix: res.Prefix()}, nil
	}
	rbacGVR := func(r string) schema.GroupVersionResource { return rbacv1.SchemeGroupVersion.WithResource(r) }
	var o authz.Options
	for _, s := range []struct {
		to  *authz.Source
		gvr schema.GroupVersionResource
	}{
		{&o.ClusterRoles, rbacGVR("clusterroles")}, {&o.ClusterRoleBindings, rbacGVR("clusterrolebindings")},
		{&o.Roles, rbacGVR("roles")}, {&o.RoleBindings, rbacGVR("rolebindings")},
		{&o.Pods, corev1.SchemeGroupVersion.WithResource("pods")},
	} {
		v, err := src(s.gvr)
		if err != nil {
			return nil, err
		}
		*s.to = v
	}
	o.Logger = log

	store := func(s authz.Source) bootstrap.Store { return bootstrap.Store{Interface: s.Store, Prefix: s.Prefix} }
	started := time.Now()
	if err := bootstrap.Reconcile(ctx, bootstrap.Options{
		ClusterRoles: store(o.ClusterRoles), ClusterRoleBindings: store(o.ClusterRoleBindings),
		Roles: store(o.Roles), RoleBindings: store(o.RoleBindings), Logger: log,
	}); err != nil {
		return nil, fmt.Errorf("reconcile the default RBAC policy: %w", err)
	}
	a := authz.New(o)
	// The REST layer writes RBAC objects through guards that refuse
	// privilege escalation; the feeds and the bootstrap use the stores.
	for _, r := range []string{"clusterroles", "clusterrolebindings", "roles", "rolebindings"} {
		stores[rbacGVR(r)] = a.Guard(stores[rbacGVR(r)])
	}
	a.Run(ctx)
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := a.WaitSynced(wctx); err != nil {
		return nil, err
	}
	log.Info("authorization ready (default RBAC policy reconciled, indexes synced)", "took", time.Since(started).Round(time.Millisecond))
	return &authorization{authorizer: a, creates: accessReviews(a)}, nil
}

// accessReviews returns the create handlers of the authorization.k8s.io
// reviews, keyed for rest.Options.Creates.
func accessReviews(a *authz.Authorizer) map[string]rest.CreateHandler {
	rv := &review.Reviewer{Authorizer: a, Rules: a}
	gv := authorizationv1.SchemeGroupVersion
	key := func(r string) string { return rest.CreateKey(gv.WithResource(r).GroupResource(), "") }
	global := func(f func(context.Context, runtime.Object) (runtime.Object, error)) func(context.Context, *http.Request, string, string, runtime.Object) (runtime.Object, error) {
		return func(ctx context.Context, _ *http.Request, _, _ string, obj runtime.Object) (runtime.Object, error) {
			return f(ctx, obj)
		}
	}
	return map[string]rest.CreateHandler{
		key("subjectaccessreviews"): {GVK: gv.WithKind("SubjectAccessReview"),
			New: func() runtime.Object { return &authorizationv1.SubjectAccessReview{} }, Create: global(rv.SubjectAccessReview)},
		key("selfsubjectaccessreviews"): {GVK: gv.WithKind("SelfSubjectAccessReview"),
			New: func() runtime.Object { return &authorizationv1.SelfSubjectAccessReview{} }, Create: global(rv.SelfSubjectAccessReview)},
		key("selfsubjectrulesreviews"): {GVK: gv.WithKind("SelfSubjectRulesReview"),
			New: func() runtime.Object { return &authorizationv1.SelfSubjectRulesReview{} }, Create: global(rv.SelfSubjectRulesReview)},
		key("localsubjectaccessreviews"): {GVK: gv.WithKind("LocalSubjectAccessReview"),
			New: func() runtime.Object { return &authorizationv1.LocalSubjectAccessReview{} },
			Create: func(ctx context.Context, _ *http.Request, namespace, _ string, obj runtime.Object) (runtime.Object, error) {
				return rv.LocalSubjectAccessReview(ctx, namespace, obj)
			}},
	}
}
