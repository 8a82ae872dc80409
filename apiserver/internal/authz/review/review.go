// Package review answers authorization.k8s.io/v1 reviews with the
// apiserver's own authorizer: SubjectAccessReview (any user, asked by a
// privileged caller), SelfSubjectAccessReview (the caller; what `kubectl
// auth can-i` sends), LocalSubjectAccessReview (one namespace) and
// SelfSubjectRulesReview (`kubectl auth can-i --list`). The reviews are
// never stored: the request comes back with its status filled in.
package review

import (
	"context"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// RulesResolver lists the rules that apply to a user in a namespace.
type RulesResolver interface {
	RulesFor(u user.Info, namespace string) (rules []rbacv1.PolicyRule, incomplete bool, errs []string)
}

// Reviewer answers reviews.
type Reviewer struct {
	Authorizer authorizer.Authorizer
	Rules      RulesResolver
}

func kind(k string) schema.GroupKind {
	return schema.GroupKind{Group: authorizationv1.GroupName, Kind: k}
}

func requester(ctx context.Context) (user.Info, error) {
	u, ok := request.UserFrom(ctx)
	if !ok || u == nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("no user on the request"))
	}
	return u, nil
}

// validateAttrs checks that exactly one of the attribute kinds is set.
func validateAttrs(spec *authorizationv1.SubjectAccessReviewSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case spec.ResourceAttributes != nil && spec.NonResourceAttributes != nil:
		errs = append(errs, field.Invalid(p.Child("nonResourceAttributes"), spec.NonResourceAttributes, `cannot be specified in combination with resourceAttributes`))
	case spec.ResourceAttributes == nil && spec.NonResourceAttributes == nil:
		errs = append(errs, field.Invalid(p.Child("resourceAttributes"), spec.NonResourceAttributes, `exactly one of nonResourceAttributes or resourceAttributes must be specified`))
	}
	return errs
}

// attributes builds the authorizer's view of a review's spec for u.
func attributes(u user.Info, ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes) authorizer.AttributesRecord {
	if ra != nil {
		return authorizer.AttributesRecord{User: u, Verb: ra.Verb, Namespace: ra.Namespace, APIGroup: ra.Group,
			APIVersion: ra.Version, Resource: ra.Resource, Subresource: ra.Subresource, Name: ra.Name, ResourceRequest: true}
	}
	return authorizer.AttributesRecord{User: u, Verb: nra.Verb, Path: nra.Path}
}

func (rv *Reviewer) decide(ctx context.Context, attrs authorizer.Attributes) authorizationv1.SubjectAccessReviewStatus {
	d, reason, err := rv.Authorizer.Authorize(ctx, attrs)
	st := authorizationv1.SubjectAccessReviewStatus{
		Allowed: d == authorizer.DecisionAllow,
		Denied:  d == authorizer.DecisionDeny,
		Reason:  reason,
	}
	if err != nil {
		st.EvaluationError = err.Error()
	}
	return st
}

func extra(e map[string]authorizationv1.ExtraValue) map[string][]string {
	if len(e) == 0 {
		return nil
	}
	out := make(map[string][]string, len(e))
	for k, v := range e {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// SubjectAccessReview answers whether spec.user/groups may do what the
// spec describes.
func (rv *Reviewer) SubjectAccessReview(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
	sar, ok := obj.(*authorizationv1.SubjectAccessReview)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a SubjectAccessReview: %T", obj))
	}
	p := field.NewPath("spec")
	errs := validateAttrs(&sar.Spec, p)
	if sar.Spec.User == "" && len(sar.Spec.Groups) == 0 {
		errs = append(errs, field.Invalid(p.Child("user"), sar.Spec.User, `at least one of user or group must be specified`))
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(kind("SubjectAccessReview"), sar.Name, errs)
	}
	u := &user.DefaultInfo{Name: sar.Spec.User, UID: sar.Spec.UID, Groups: sar.Spec.Groups, Extra: extra(sar.Spec.Extra)}
	out := sar.DeepCopy()
	out.Status = rv.decide(ctx, attributes(u, sar.Spec.ResourceAttributes, sar.Spec.NonResourceAttributes))
	return out, nil
}

// SelfSubjectAccessReview answers whether the caller may do what the spec
// describes.
func (rv *Reviewer) SelfSubjectAccessReview(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
	ssar, ok := obj.(*authorizationv1.SelfSubjectAccessReview)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a SelfSubjectAccessReview: %T", obj))
	}
	spec := authorizationv1.SubjectAccessReviewSpec{ResourceAttributes: ssar.Spec.ResourceAttributes, NonResourceAttributes: ssar.Spec.NonResourceAttributes}
	if errs := validateAttrs(&spec, field.NewPath("spec")); len(errs) > 0 {
		return nil, apierrors.NewInvalid(kind("SelfSubjectAccessReview"), ssar.Name, errs)
	}
	u, err := requester(ctx)
	if err != nil {
		return nil, err
	}
	out := ssar.DeepCopy()
	out.Status = rv.decide(ctx, attributes(u, ssar.Spec.ResourceAttributes, ssar.Spec.NonResourceAttributes))
	return out, nil
}

// LocalSubjectAccessReview is a SubjectAccessReview confined to the
// namespace in the URL.
func (rv *Reviewer) LocalSubjectAccessReview(ctx context.Context, namespace string, obj runtime.Object) (runtime.Object, error) {
	lsar, ok := obj.(*authorizationv1.LocalSubjectAccessReview)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a LocalSubjectAccessReview: %T", obj))
	}
	if lsar.Namespace == "" {
		lsar.Namespace = namespace
	}
	if lsar.Namespace != namespace {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the namespace of the object (%s) does not match the namespace on the request (%s)", lsar.Namespace, namespace))
	}
	p := field.NewPath("spec")
	var errs field.ErrorList
	switch {
	case lsar.Spec.NonResourceAttributes != nil:
		errs = append(errs, field.Invalid(p.Child("nonResourceAttributes"), lsar.Spec.NonResourceAttributes, `disallowed on this kind of request`))
	case lsar.Spec.ResourceAttributes == nil:
		errs = append(errs, field.Required(p.Child("resourceAttributes"), ""))
	case lsar.Spec.ResourceAttributes.Namespace != lsar.Namespace:
		errs = append(errs, field.Invalid(p.Child("resourceAttributes", "namespace"), lsar.Spec.ResourceAttributes.Namespace, `must match metadata.namespace`))
	}
	if lsar.Spec.User == "" && len(lsar.Spec.Groups) == 0 {
		errs = append(errs, field.Invalid(p.Child("user"), lsar.Spec.User, `at least one of user or group must be specified`))
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(kind("LocalSubjectAccessReview"), lsar.Name, errs)
	}
	u := &user.DefaultInfo{Name: lsar.Spec.User, UID: lsar.Spec.UID, Groups: lsar.Spec.Groups, Extra: extra(lsar.Spec.Extra)}
	out := lsar.DeepCopy()
	out.Status = rv.decide(ctx, attributes(u, lsar.Spec.ResourceAttributes, nil))
	return out, nil
}

// SelfSubjectRulesReview lists what the caller may do in spec.namespace.
func (rv *Reviewer) SelfSubjectRulesReview(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
	ssrr, ok := obj.(*authorizationv1.SelfSubjectRulesReview)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a SelfSubjectRulesReview: %T", obj))
	}
	u, err := requester(ctx)
	if err != nil {
		return nil, err
	}
	rules, incomplete, errs := rv.Rules.RulesFor(u, ssrr.Spec.Namespace)
	out := ssrr.DeepCopy()
	st := authorizationv1.SubjectRulesReviewStatus{
		ResourceRules:    []authorizationv1.ResourceRule{},
		NonResourceRules: []authorizationv1.NonResourceRule{},
		Incomplete:       incomplete,
	}
	for _, r := range rules {
		if len(r.Resources) > 0 || len(r.APIGroups) > 0 {
			st.ResourceRules = append(st.ResourceRules, authorizationv1.ResourceRule{Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames})
		}
		if len(r.NonResourceURLs) > 0 {
			st.NonResourceRules = append(st.NonResourceRules, authorizationv1.NonResourceRule{Verbs: r.Verbs, NonResourceURLs: r.NonResourceURLs})
		}
	}
	if len(errs) > 0 {
		st.EvaluationError = fmt.Sprint(errs)
	}
	out.Status = st
	return out, nil
}
