// Package authn authenticates API requests the way kube-apiserver does:
// x509 client certificates (CN user, O groups) verified against the client
// CA, static bearer tokens from a CSV file, ServiceAccount JWTs signed by
// the cluster's signing key, the apiserver's own loopback token and,
// when enabled, anonymous requests. Every authenticated user also gets the
// group system:authenticated.
//
// It also serves the authentication.k8s.io create-only resources
// (TokenReview, SelfSubjectReview) and the serviceaccounts/token
// subresource (TokenRequest); see Creates.
package authn

import (
	"context"
	"crypto/subtle"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/google/uuid"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/union"
	"k8s.io/apiserver/pkg/authentication/request/websocket"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	"k8s.io/apiserver/pkg/authentication/token/tokenfile"
	tokenunion "k8s.io/apiserver/pkg/authentication/token/union"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// Identity of the apiserver's own loopback clients.
const (
	LoopbackUser = "system:apiserver"
	// InsecureUser is who every request is with --insecure-http.
	InsecureUser = "system:unsecured"
)

// Options configures an Authenticator.
type Options struct {
	// ClientCAs verifies client certificates (nil disables x509).
	ClientCAs *x509.CertPool
	// TokenFile is a kube-apiserver static token CSV file
	// (token,user,uid,"group1,group2"); empty disables it.
	TokenFile string
	// ServiceAccounts validates ServiceAccount JWTs (nil disables them).
	ServiceAccounts *ServiceAccounts
	// LoopbackToken authenticates as system:apiserver in system:masters
	// (the apiserver's own clients); empty disables it.
	LoopbackToken string
	// APIAudiences are the audiences a token must be meant for to be
	// accepted by this API (the default audiences of ServiceAccount tokens).
	APIAudiences []string
	// Anonymous lets requests without credentials through as
	// system:anonymous in group system:unauthenticated.
	Anonymous bool
	// Insecure authenticates every request as system:unsecured in
	// system:masters (plain HTTP debugging mode; nothing else is checked).
	Insecure bool
	// Logger receives authentication failures at debug level (never
	// credentials).
	Logger *slog.Logger
}

// Authenticator authenticates requests and tokens.
type Authenticator struct {
	opts    Options
	request authenticator.Request
	token   authenticator.Token // for TokenReview
	log     *slog.Logger
}

// New builds an Authenticator.
func New(opts Options) (*Authenticator, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	a := &Authenticator{opts: opts, log: opts.Logger}
	if opts.Insecure {
		a.request = authenticator.RequestFunc(func(*http.Request) (*authenticator.Response, bool, error) {
			return &authenticator.Response{User: &user.DefaultInfo{Name: InsecureUser,
				Groups: []string{user.SystemPrivilegedGroup, user.AllAuthenticated}}}, true, nil
		})
		a.token = authenticator.TokenFunc(func(context.Context, string) (*authenticator.Response, bool, error) {
			return nil, false, nil
		})
		return a, nil
	}
	auds := authenticator.Audiences(opts.APIAudiences)
	var audAgnostic []authenticator.Token
	if opts.LoopbackToken != "" {
		audAgnostic = append(audAgnostic, loopback(opts.LoopbackToken))
	}
	if opts.TokenFile != "" {
		tf, err := tokenfile.NewCSV(opts.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-auth-file: %w", err)
		}
		audAgnostic = append(audAgnostic, tf)
	}
	var tokens []authenticator.Token
	if len(audAgnostic) > 0 {
		tokens = append(tokens, authenticator.WrapAudienceAgnosticToken(auds, tokenunion.New(audAgnostic...)))
	}
	if opts.ServiceAccounts != nil {
		tokens = append(tokens, opts.ServiceAccounts)
	}
	var reqs []authenticator.Request
	if opts.ClientCAs != nil {
		vo := x509request.DefaultVerifyOptions()
		vo.Roots = opts.ClientCAs
		reqs = append(reqs, authenticator.WrapAudienceAgnosticRequest(auds, newCachedX509(x509request.New(vo, x509request.CommonNameUserConversion))))
	}
	if len(tokens) > 0 {
		tok := tokenunion.New(tokens...)
		a.token = tok
		reqs = append(reqs, bearertoken.New(tok), websocket.NewProtocolAuthenticator(tok))
	} else {
		a.token = authenticator.TokenFunc(func(context.Context, string) (*authenticator.Response, bool, error) {
			return nil, false, nil
		})
	}
	a.request = group.NewAuthenticatedGroupAdder(union.New(reqs...))
	if opts.Anonymous {
		a.request = union.NewFailOnError(a.request, anonymous())
	}
	return a, nil
}

// AuthenticateRequest implements authenticator.Request.
func (a *Authenticator) AuthenticateRequest(r *http.Request) (*authenticator.Response, bool, error) {
	return a.request.AuthenticateRequest(r)
}

// AuthenticateToken authenticates a bearer token for TokenReview: the
// audiences wanted come from the context (authenticator.WithAudiences),
// else the API audiences. Loopback and static tokens count as tokens for
// the API audiences only.
func (a *Authenticator) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	if _, ok := authenticator.AudiencesFrom(ctx); !ok {
		ctx = authenticator.WithAudiences(ctx, a.opts.APIAudiences)
	}
	resp, ok, err := a.token.AuthenticateToken(ctx, token)
	if !ok || err != nil {
		return resp, ok, err
	}
	return withAuthenticated(resp), true, nil
}

// Wrap authenticates every request before next: the user goes into the
// context (request.WithUser) and the credentials headers are removed; a
// request that fails gets a 401 Unauthorized Status from writeError.
func (a *Authenticator) Wrap(next http.Handler, writeError func(http.ResponseWriter, *http.Request, error)) http.Handler {
	return a.WrapWithContext(next, writeError, nil)
}

// WrapWithContext is Wrap with a hook for the filters after it that only
// add values to the request context: then (unless nil) gets the context of
// an authenticated request, holding its user, and returns the context the
// request goes on with, or an error that writeError sends instead. The
// request is then copied once for all of them, not once per filter.
func (a *Authenticator) WrapWithContext(next http.Handler, writeError func(http.ResponseWriter, *http.Request, error), then func(ctx context.Context, r *http.Request) (context.Context, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := authenticator.WithAudiences(r.Context(), a.opts.APIAudiences)
		r = r.WithContext(ctx)
		resp, ok, err := a.request.AuthenticateRequest(r)
		if err != nil || !ok {
			if err != nil {
				a.log.Debug("unauthorized request", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			writeError(w, r, apierrors.NewUnauthorized("Unauthorized"))
			return
		}
		r.Header.Del("Authorization")
		ctx = request.WithUser(ctx, resp.User)
		if then != nil {
			next, err := then(ctx, r)
			if err != nil {
				writeError(w, r.WithContext(ctx), err)
				return
			}
			ctx = next
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// loopback authenticates the apiserver's in-memory loopback token.
func loopback(token string) authenticator.Token {
	info := &user.DefaultInfo{Name: LoopbackUser, UID: uuid.NewString(), Groups: []string{user.SystemPrivilegedGroup}}
	want := []byte(token)
	return authenticator.TokenFunc(func(_ context.Context, got string) (*authenticator.Response, bool, error) {
		if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			return nil, false, nil
		}
		return &authenticator.Response{User: info}, true, nil
	})
}

// anonymous lets any request in as system:anonymous.
func anonymous() authenticator.Request {
	return authenticator.RequestFunc(func(*http.Request) (*authenticator.Response, bool, error) {
		return &authenticator.Response{User: &user.DefaultInfo{Name: user.Anonymous, Groups: []string{user.AllUnauthenticated}}}, true, nil
	})
}

// withAuthenticated adds system:authenticated to a response's user.
func withAuthenticated(resp *authenticator.Response) *authenticator.Response {
	u := resp.User
	for _, g := range u.GetGroups() {
		if g == user.AllAuthenticated {
			return resp
		}
	}
	out := *resp
	out.User = &user.DefaultInfo{Name: u.GetName(), UID: u.GetUID(), Extra: u.GetExtra(),
		Groups: append(append([]string(nil), u.GetGroups()...), user.AllAuthenticated)}
	return &out
}
