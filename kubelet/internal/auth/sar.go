package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
)

// sarAuthorizer asks the API server with a SubjectAccessReview and caches
// the answer: allowed for allowTTL, denied for denyTTL. Errors are not
// cached and deny.
type sarAuthorizer struct {
	client            authorizationv1client.SubjectAccessReviewInterface
	cache             *cache.LRUExpireCache
	allowTTL, denyTTL time.Duration
}

type decision struct {
	allowed bool
	reason  string
}

func newSARAuthorizer(c authorizationv1client.AuthorizationV1Interface, allowTTL, denyTTL time.Duration) *sarAuthorizer {
	return &sarAuthorizer{client: c.SubjectAccessReviews(), cache: cache.NewLRUExpireCache(8192), allowTTL: allowTTL, denyTTL: denyTTL}
}

// Authorize implements authorizer.Authorizer.
func (s *sarAuthorizer) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	spec := reviewSpec(a)
	keyBytes, err := json.Marshal(spec)
	if err != nil {
		return authorizer.DecisionDeny, "", fmt.Errorf("subject access review key: %w", err)
	}
	key := string(keyBytes)
	if v, ok := s.cache.Get(key); ok {
		d := v.(decision)
		return verdict(d), d.reason, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := s.client.Create(ctx, &authorizationv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		return authorizer.DecisionDeny, "", fmt.Errorf("subject access review for %s: %w", a.GetUser().GetName(), err)
	}
	d := decision{allowed: res.Status.Allowed && !res.Status.Denied, reason: res.Status.Reason}
	ttl := s.denyTTL
	if d.allowed {
		ttl = s.allowTTL
	}
	s.cache.Add(key, d, ttl)
	return verdict(d), d.reason, nil
}

func verdict(d decision) authorizer.Decision {
	if d.allowed {
		return authorizer.DecisionAllow
	}
	return authorizer.DecisionDeny
}

// reviewSpec is the SubjectAccessReview of a kubelet API request.
func reviewSpec(a authorizer.Attributes) authorizationv1.SubjectAccessReviewSpec {
	u := a.GetUser()
	spec := authorizationv1.SubjectAccessReviewSpec{
		User:   u.GetName(),
		UID:    u.GetUID(),
		Groups: u.GetGroups(),
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb:        a.GetVerb(),
			Group:       a.GetAPIGroup(),
			Version:     a.GetAPIVersion(),
			Resource:    a.GetResource(),
			Subresource: a.GetSubresource(),
			Name:        a.GetName(),
			Namespace:   a.GetNamespace(),
		},
	}
	if extra := u.GetExtra(); len(extra) > 0 {
		spec.Extra = make(map[string]authorizationv1.ExtraValue, len(extra))
		for k, v := range extra {
			spec.Extra[k] = authorizationv1.ExtraValue(v)
		}
	}
	return spec
}

// alwaysAllow is the AlwaysAllow authorization mode.
func alwaysAllow(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
	return authorizer.DecisionAllow, "", nil
}
