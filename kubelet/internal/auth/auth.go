// Package auth guards the kubelet API the way the Kubernetes kubelet does:
// requests are authenticated by an x509 client certificate (verified
// against the client CA; CN is the user, O the groups) or a bearer token
// (checked with a TokenReview against the API server), and authorized by
// a SubjectAccessReview for the node: /stats/* is nodes/stats, /metrics*
// nodes/metrics, /logs/* nodes/log and everything else nodes/proxy, with
// the verb taken from the HTTP method. Token reviews and decisions are
// cached so that a busy client costs the API server little.
package auth

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/anonymous"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/union"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	tokencache "k8s.io/apiserver/pkg/authentication/token/cache"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	tokenwebhook "k8s.io/apiserver/plugin/pkg/authenticator/token/webhook"
	"k8s.io/client-go/kubernetes"
)

// Authorization modes.
const (
	ModeWebhook     = "Webhook"
	ModeAlwaysAllow = "AlwaysAllow"
)

// Defaults of Options.
const (
	DefaultTokenTTL      = 2 * time.Minute
	DefaultAllowCacheTTL = 5 * time.Minute
	DefaultDenyCacheTTL  = 30 * time.Second
)

// Options configure the kubelet API's authentication and authorization.
type Options struct {
	// NodeName is the name of the node the kubelet serves (the resource
	// name of every authorization check).
	NodeName string
	// ClientCAs verify client certificates; nil disables x509 authentication.
	ClientCAs *x509.CertPool
	// Client reaches the API server for TokenReviews and
	// SubjectAccessReviews; nil disables token authentication (and
	// rejects Webhook authorization at New).
	Client kubernetes.Interface
	// Anonymous lets requests without credentials in as system:anonymous
	// (group system:unauthenticated); they are still authorized.
	Anonymous bool
	// Mode is ModeWebhook (default) or ModeAlwaysAllow.
	Mode string
	// TokenTTL caches successful token reviews (default 2m; failures 10s).
	TokenTTL time.Duration
	// AllowTTL and DenyTTL cache authorization decisions (default 5m, 30s).
	AllowTTL, DenyTTL time.Duration
	// Log gets denials at debug level (default slog.Default()).
	Log *slog.Logger
}

// Auth authenticates and authorizes kubelet API requests.
type Auth struct {
	authn authenticator.Request
	authz authorizer.Authorizer
	node  string
	log   *slog.Logger
}

// New builds the authenticator and authorizer chain.
func New(opts Options) (*Auth, error) {
	if opts.NodeName == "" {
		return nil, errors.New("kubelet auth: node name is required")
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.TokenTTL == 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.AllowTTL == 0 {
		opts.AllowTTL = DefaultAllowCacheTTL
	}
	if opts.DenyTTL == 0 {
		opts.DenyTTL = DefaultDenyCacheTTL
	}
	var reqs []authenticator.Request
	if opts.ClientCAs != nil {
		pool := opts.ClientCAs
		reqs = append(reqs, x509request.NewDynamic(func() (x509.VerifyOptions, bool) {
			return x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, true
		}, x509request.CommonNameUserConversion))
	}
	if opts.Client != nil {
		noop := tokenwebhook.AuthenticatorMetrics{
			RecordRequestTotal:   func(context.Context, string) {},
			RecordRequestLatency: func(context.Context, string, float64) {},
		}
		tr, err := tokenwebhook.NewFromInterface(opts.Client.AuthenticationV1(), nil, retryBackoff(), 10*time.Second, noop)
		if err != nil {
			return nil, fmt.Errorf("kubelet auth: token review authenticator: %w", err)
		}
		reqs = append(reqs, bearertoken.New(tokencache.New(tr, false, opts.TokenTTL, 10*time.Second)))
	}
	var authn authenticator.Request = group.NewAuthenticatedGroupAdder(union.New(reqs...))
	if opts.Anonymous {
		authn = union.New(authn, anonymous.NewAuthenticator(nil))
	}
	var authz authorizer.Authorizer
	switch opts.Mode {
	case "", ModeWebhook:
		if opts.Client == nil {
			return nil, errors.New("kubelet auth: Webhook authorization needs an API server client")
		}
		authz = authorizer.AuthorizerFunc(newSARAuthorizer(opts.Client.AuthorizationV1(), opts.AllowTTL, opts.DenyTTL).Authorize)
	case ModeAlwaysAllow:
		authz = authorizer.AuthorizerFunc(alwaysAllow)
	default:
		return nil, fmt.Errorf("kubelet auth: unknown authorization mode %q (want %s or %s)", opts.Mode, ModeWebhook, ModeAlwaysAllow)
	}
	return &Auth{authn: authn, authz: authz, node: opts.NodeName, log: opts.Log}, nil
}

// Wrap returns next guarded by authentication and authorization: no or
// bad credentials answer 401, a denied request 403, both as a
// metav1.Status.
func (a *Auth) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, ok, err := a.authn.AuthenticateRequest(r)
		if err != nil || !ok {
			if err != nil {
				a.log.Debug("kubelet API authentication failed", slog.String("path", r.URL.Path), slog.Any("err", err))
			}
			writeStatus(w, apierrors.NewUnauthorized("Unauthorized"))
			return
		}
		// Credentials end here: the handlers never see them.
		r.Header.Del("Authorization")
		attrs := Attributes(resp.User, r, a.node)
		decision, reason, err := a.authz.Authorize(r.Context(), attrs)
		if err != nil || decision != authorizer.DecisionAllow {
			msg := fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=%s, subresource=%s)",
				attrs.GetUser().GetName(), attrs.GetVerb(), attrs.GetResource(), attrs.GetSubresource())
			if err != nil {
				a.log.Warn("kubelet API authorization failed", slog.String("user", attrs.GetUser().GetName()), slog.Any("err", err))
			}
			if reason != "" {
				msg += ": " + reason
			}
			writeStatus(w, apierrors.NewForbidden(corev1.Resource("nodes/"+attrs.GetSubresource()), a.node, errors.New(msg)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Attributes maps a kubelet API request to the authorization check the
// Kubernetes kubelet makes: a verb on nodes/<subresource> named node.
func Attributes(u user.Info, r *http.Request, node string) authorizer.Attributes {
	verb := "get"
	switch r.Method {
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
	case http.MethodDelete:
		verb = "delete"
	}
	sub := "proxy"
	switch p := r.URL.Path; {
	case under(p, "/stats"):
		sub = "stats"
	case under(p, "/metrics"):
		sub = "metrics"
	case under(p, "/logs"):
		sub = "log"
	}
	return authorizer.AttributesRecord{
		User:            u,
		Verb:            verb,
		APIVersion:      "v1",
		Resource:        "nodes",
		Subresource:     sub,
		Name:            node,
		ResourceRequest: true,
		Path:            r.URL.Path,
	}
}

// under reports whether path is root or below it.
func under(path, root string) bool {
	return path == root || strings.HasPrefix(path, root+"/")
}

func retryBackoff() wait.Backoff {
	return wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}
}

func writeStatus(w http.ResponseWriter, err *apierrors.StatusError) {
	st := err.Status()
	st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	_ = json.NewEncoder(w).Encode(st)
}
