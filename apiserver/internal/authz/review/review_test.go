package review

import (
	"context"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// fake allows alice to get pods, denies eve everything, and has no
// opinion otherwise.
type fake struct{ authorizer.AuthorizerFunc }

func newFake() *fake {
	return &fake{AuthorizerFunc: func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		switch {
		case a.GetUser().GetName() == "eve":
			return authorizer.DecisionDeny, "eve is banned", nil
		case a.GetUser().GetName() == "alice" && a.GetVerb() == "get" && a.GetResource() == "pods":
			return authorizer.DecisionAllow, "ok", nil
		case a.GetUser().GetName() == "alice" && a.GetPath() == "/healthz":
			return authorizer.DecisionAllow, "ok", nil
		}
		return authorizer.DecisionNoOpinion, "", nil
	}}
}

func (f *fake) RulesFor(u user.Info, ns string) ([]rbacv1.PolicyRule, bool, []string) {
	return []rbacv1.PolicyRule{
		{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}},
		{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}},
	}, false, nil
}

func TestReviews(t *testing.T) {
	f := newFake()
	rv := &Reviewer{Authorizer: f, Rules: f}
	ctx := request.WithUser(context.Background(), &user.DefaultInfo{Name: "alice"})
	pods := &authorizationv1.ResourceAttributes{Namespace: "ns", Verb: "get", Resource: "pods"}

	cases := []struct {
		name          string
		call          func() (any, error)
		allowed, deny bool
		invalid       bool
	}{
		{"sar allowed", func() (any, error) {
			return rv.SubjectAccessReview(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: "alice", ResourceAttributes: pods}})
		}, true, false, false},
		{"sar denied", func() (any, error) {
			return rv.SubjectAccessReview(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: "eve", ResourceAttributes: pods}})
		}, false, true, false},
		{"sar no user", func() (any, error) {
			return rv.SubjectAccessReview(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{ResourceAttributes: pods}})
		}, false, false, true},
		{"sar both attributes", func() (any, error) {
			return rv.SubjectAccessReview(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: "alice",
				ResourceAttributes: pods, NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/x", Verb: "get"}}})
		}, false, false, true},
		{"ssar resource", func() (any, error) {
			return rv.SelfSubjectAccessReview(ctx, &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: pods}})
		}, true, false, false},
		{"ssar non-resource", func() (any, error) {
			return rv.SelfSubjectAccessReview(ctx, &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/healthz", Verb: "get"}}})
		}, true, false, false},
		{"ssar nothing", func() (any, error) {
			return rv.SelfSubjectAccessReview(ctx, &authorizationv1.SelfSubjectAccessReview{})
		}, false, false, true},
		{"lsar", func() (any, error) {
			return rv.LocalSubjectAccessReview(ctx, "ns", &authorizationv1.LocalSubjectAccessReview{
				Spec: authorizationv1.SubjectAccessReviewSpec{User: "alice", ResourceAttributes: pods}})
		}, true, false, false},
		{"lsar other namespace", func() (any, error) {
			return rv.LocalSubjectAccessReview(ctx, "other", &authorizationv1.LocalSubjectAccessReview{
				Spec: authorizationv1.SubjectAccessReviewSpec{User: "alice", ResourceAttributes: pods}})
		}, false, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.call()
			if tc.invalid {
				if !apierrors.IsInvalid(err) {
					t.Fatalf("err = %v, want 422 Invalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var st authorizationv1.SubjectAccessReviewStatus
			switch o := out.(type) {
			case *authorizationv1.SubjectAccessReview:
				st = o.Status
			case *authorizationv1.SelfSubjectAccessReview:
				st = o.Status
			case *authorizationv1.LocalSubjectAccessReview:
				st = o.Status
			}
			if st.Allowed != tc.allowed || st.Denied != tc.deny {
				t.Errorf("status = %+v", st)
			}
		})
	}

	out, err := rv.SelfSubjectRulesReview(ctx, &authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: "ns"}})
	if err != nil {
		t.Fatal(err)
	}
	st := out.(*authorizationv1.SelfSubjectRulesReview).Status
	if len(st.ResourceRules) != 1 || len(st.NonResourceRules) != 1 || st.Incomplete {
		t.Errorf("rules review status = %+v", st)
	}
	if _, err := rv.SelfSubjectAccessReview(context.Background(), &authorizationv1.SelfSubjectAccessReview{
		ObjectMeta: metav1.ObjectMeta{}, Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: pods}}); err == nil {
		t.Error("self review without a user on the request succeeded")
	}
}
