package authn

import (
	"context"
	"fmt"
	"net/http"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"

	"skiff.dev/apiserver/internal/rest"
)

// TokenRequest limits, as in Kubernetes.
const (
	DefaultTokenExpiration = time.Hour
	MinTokenExpiration     = 10 * time.Minute
	MaxTokenExpiration     = 1 << 32 * time.Second
)

// Creates returns the create handlers for serviceaccounts/token,
// tokenreviews and selfsubjectreviews, keyed as rest.Options.Creates
// wants. sa may be nil (no TokenRequest).
func Creates(a *Authenticator, sa *ServiceAccounts) map[string]rest.CreateHandler {
	gv := authenticationv1.SchemeGroupVersion
	m := map[string]rest.CreateHandler{
		rest.CreateKey(gv.WithResource("tokenreviews").GroupResource(), ""): {
			GVK:    gv.WithKind("TokenReview"),
			New:    func() runtime.Object { return &authenticationv1.TokenReview{} },
			Create: a.tokenReview,
		},
		rest.CreateKey(gv.WithResource("selfsubjectreviews").GroupResource(), ""): {
			GVK:    gv.WithKind("SelfSubjectReview"),
			New:    func() runtime.Object { return &authenticationv1.SelfSubjectReview{} },
			Create: selfSubjectReview,
		},
	}
	if sa != nil {
		m[rest.CreateKey(corev1.SchemeGroupVersion.WithResource("serviceaccounts").GroupResource(), "token")] = rest.CreateHandler{
			GVK:    gv.WithKind("TokenRequest"),
			New:    func() runtime.Object { return &authenticationv1.TokenRequest{} },
			Create: sa.tokenRequest,
		}
	}
	return m
}

// tokenReview answers whether spec.token authenticates, and as whom.
func (a *Authenticator) tokenReview(ctx context.Context, _ *http.Request, _, _ string, obj runtime.Object) (runtime.Object, error) {
	tr := obj.(*authenticationv1.TokenReview)
	if tr.Spec.Token == "" {
		return nil, apierrors.NewBadRequest("token is required for TokenReview in authentication")
	}
	actx := context.WithoutCancel(ctx)
	if len(tr.Spec.Audiences) > 0 {
		actx = authenticator.WithAudiences(actx, tr.Spec.Audiences)
	} else {
		actx = authenticator.WithAudiences(actx, a.opts.APIAudiences)
	}
	resp, ok, err := a.AuthenticateToken(actx, tr.Spec.Token)
	out := &authenticationv1.TokenReview{
		TypeMeta:   metav1.TypeMeta{APIVersion: authenticationv1.SchemeGroupVersion.String(), Kind: "TokenReview"},
		ObjectMeta: metav1.ObjectMeta{Name: tr.Name, CreationTimestamp: metav1.Now()},
		Spec:       authenticationv1.TokenReviewSpec{Audiences: tr.Spec.Audiences}, // never echo the token
	}
	switch {
	case err != nil:
		a.log.Debug("token review: token refused", "err", err)
		out.Status.Error = "[invalid bearer token, " + err.Error() + "]"
	case !ok:
		out.Status.Error = "[invalid bearer token]"
	default:
		out.Status.Authenticated = true
		out.Status.User = userInfo(resp.User)
		if len(tr.Spec.Audiences) > 0 {
			out.Status.Audiences = resp.Audiences
			if len(out.Status.Audiences) == 0 {
				out.Status.Audiences = tr.Spec.Audiences // audience-agnostic authenticators
			}
		}
	}
	return out, nil
}

// selfSubjectReview tells the caller who they are (kubectl auth whoami).
func selfSubjectReview(ctx context.Context, _ *http.Request, _, _ string, _ runtime.Object) (runtime.Object, error) {
	u, ok := request.UserFrom(ctx)
	if !ok {
		return nil, apierrors.NewUnauthorized("no user in the request")
	}
	return &authenticationv1.SelfSubjectReview{
		TypeMeta:   metav1.TypeMeta{APIVersion: authenticationv1.SchemeGroupVersion.String(), Kind: "SelfSubjectReview"},
		ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.Now()},
		Status:     authenticationv1.SelfSubjectReviewStatus{UserInfo: userInfo(u)},
	}, nil
}

// tokenRequest mints a token for serviceaccounts/<name>/token.
func (s *ServiceAccounts) tokenRequest(ctx context.Context, _ *http.Request, namespace, name string, obj runtime.Object) (runtime.Object, error) {
	tr := obj.(*authenticationv1.TokenRequest)
	gk := schema.GroupKind{Group: authenticationv1.GroupName, Kind: "TokenRequest"}
	if tr.Name != "" && tr.Name != name {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("metadata.name %q does not match the ServiceAccount %q in the URL", tr.Name, name))
	}
	if tr.Spec.ExpirationSeconds == nil {
		sec := int64(DefaultTokenExpiration / time.Second)
		tr.Spec.ExpirationSeconds = &sec
	}
	if len(tr.Spec.Audiences) == 0 {
		tr.Spec.Audiences = append([]string(nil), s.opts.APIAudiences...)
	}
	var errs field.ErrorList
	exp := time.Duration(*tr.Spec.ExpirationSeconds) * time.Second
	if exp < MinTokenExpiration {
		errs = append(errs, field.Invalid(field.NewPath("spec", "expirationSeconds"), *tr.Spec.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
	}
	if exp > MaxTokenExpiration {
		errs = append(errs, field.TooLong(field.NewPath("spec", "expirationSeconds"), *tr.Spec.ExpirationSeconds, int(MaxTokenExpiration/time.Second)))
	}
	var bound *authenticationv1.BoundObjectReference
	if b := tr.Spec.BoundObjectRef; b != nil {
		bound = b
		p := field.NewPath("spec", "boundObjectRef")
		if b.Kind != "Pod" && b.Kind != "Secret" {
			errs = append(errs, field.NotSupported(p.Child("kind"), b.Kind, []string{"Pod", "Secret"}))
		}
		if b.APIVersion != "" && b.APIVersion != "v1" {
			errs = append(errs, field.NotSupported(p.Child("apiVersion"), b.APIVersion, []string{"v1"}))
		}
		if b.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(gk, name, errs)
	}
	sa, err := s.opts.GetServiceAccount(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	t := Token{ServiceAccount: sa, Audiences: tr.Spec.Audiences, Expiration: exp}
	if bound != nil {
		var uid string
		switch bound.Kind {
		case "Pod":
			pod, err := s.opts.GetPod(ctx, namespace, bound.Name)
			if err != nil {
				return nil, err
			}
			if pod.Spec.ServiceAccountName != "" && pod.Spec.ServiceAccountName != name {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", name))
			}
			t.Pod, uid = pod, string(pod.UID)
		case "Secret":
			sec, err := s.opts.GetSecret(ctx, namespace, bound.Name)
			if err != nil {
				return nil, err
			}
			t.Secret, uid = sec, string(sec.UID)
		}
		if bound.UID != "" && string(bound.UID) != uid {
			return nil, apierrors.NewConflict(schema.GroupResource{Resource: "serviceaccounts"}, name,
				fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", bound.UID))
		}
	}
	token, expiry, err := s.Issue(t)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return &authenticationv1.TokenRequest{
		TypeMeta:   metav1.TypeMeta{APIVersion: authenticationv1.SchemeGroupVersion.String(), Kind: "TokenRequest"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, CreationTimestamp: metav1.Now()},
		Spec:       tr.Spec,
		Status:     authenticationv1.TokenRequestStatus{Token: token, ExpirationTimestamp: metav1.NewTime(expiry)},
	}, nil
}

func userInfo(u user.Info) authenticationv1.UserInfo {
	out := authenticationv1.UserInfo{Username: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups()}
	if extra := u.GetExtra(); len(extra) > 0 {
		out.Extra = map[string]authenticationv1.ExtraValue{}
		for k, v := range extra {
			out.Extra[k] = v
		}
	}
	return out
}
