package apiserver

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/filters/impersonation"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/rest"

	"skiff.dev/api/pki"
	"skiff.dev/apiserver/internal/audit"
	"skiff.dev/apiserver/internal/authn"
	"skiff.dev/apiserver/internal/proxy"
	"skiff.dev/apiserver/internal/registry"
	"skiff.dev/apiserver/internal/storage"
)

// security is what New prepares for TLS and authentication: certificates
// are generated (or loaded) before the server listens, so that URL, CA and
// kubeconfig are known early.
type security struct {
	tls           *tls.Config // nil: plain HTTP
	caPEM         []byte      // what clients trust for the serving cert
	caFile        string      // generated cluster CA ("" when not generated)
	serverName    string      // loopback TLS server name override ("" = host)
	loopbackToken string
	adminCert     string // generated admin client cert/key ("" when not generated)
	adminKey      string
	saSigner      crypto.Signer
	saVerify      []crypto.PublicKey
	kubeletRT     http.RoundTripper // nil: the proxy's default
}

// setupSecurity generates or loads the PKI files and credentials.
func setupSecurity(o *Options) (*security, error) {
	sec := &security{}
	if o.InsecureHTTP {
		return sec, nil
	}
	tok := make([]byte, 32)
	if _, err := rand.Read(tok); err != nil {
		return nil, fmt.Errorf("loopback token: %w", err)
	}
	sec.loopbackToken = base64.RawURLEncoding.EncodeToString(tok)

	certFile, keyFile := o.TLSCertFile, o.TLSKeyFile
	if o.generatesPKI() {
		ca, err := pki.LoadOrCreateCA(o.PKIDir)
		if err != nil {
			return nil, err
		}
		sec.caPEM, sec.caFile = ca.CertPEM, filepath.Join(o.PKIDir, "ca.crt")
		if certFile, keyFile, err = ca.IssueServing(o.PKIDir, "apiserver", servingHosts(o)); err != nil {
			return nil, fmt.Errorf("serving certificate: %w", err)
		}
		if sec.adminCert, sec.adminKey, err = ca.IssueClient(o.PKIDir, "admin", "admin", []string{"system:masters"}); err != nil {
			return nil, fmt.Errorf("admin certificate: %w", err)
		}
		if _, _, err = ca.IssueClient(o.PKIDir, "kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}); err != nil {
			return nil, fmt.Errorf("kubelet client certificate: %w", err)
		}
	} else {
		// A user-supplied certificate: the loopback client trusts exactly
		// that certificate (chain), under one of its own names.
		b, err := os.ReadFile(certFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert-file: %w", err)
		}
		c, err := pki.ParseCertificate(b)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert-file: %w", err)
		}
		sec.caPEM = b
		if c.VerifyHostname("127.0.0.1") != nil {
			switch {
			case len(c.DNSNames) > 0:
				sec.serverName = c.DNSNames[0]
			case len(c.IPAddresses) > 0:
				sec.serverName = c.IPAddresses[0].String()
			}
		}
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	sec.tls = &tls.Config{
		Certificates: []tls.Certificate{pair},
		// Client certificates are verified by the x509 authenticator, so
		// that a bad one gets a 401 Status rather than a handshake error.
		ClientAuth: tls.RequestClientCert,
		MinVersion: tls.VersionTLS12,
	}

	if err := pki.LoadOrCreateSigningKey(o.ServiceAccountSigningKeyFile); err != nil {
		return nil, fmt.Errorf("--service-account-signing-key-file: %w", err)
	}
	if sec.saSigner, err = pki.ReadKey(o.ServiceAccountSigningKeyFile); err != nil {
		return nil, fmt.Errorf("--service-account-signing-key-file: %w", err)
	}
	for _, f := range o.ServiceAccountKeyFiles {
		keys, err := authn.ReadPublicKeys(f)
		if err != nil {
			return nil, fmt.Errorf("--service-account-key-file: %w", err)
		}
		sec.saVerify = append(sec.saVerify, keys...)
	}
	if sec.kubeletRT, err = kubeletTransport(o); err != nil {
		return nil, err
	}
	return sec, nil
}

// servingHosts are the names the generated serving certificate covers.
func servingHosts(o *Options) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1",
		"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	if p, err := netip.ParsePrefix(o.ServiceClusterIPRange); err == nil {
		hosts = append(hosts, p.Masked().Addr().Next().String())
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	ip := net.ParseIP(o.BindAddress)
	switch {
	case ip != nil && ip.IsUnspecified():
		// Every local address may be how nodes reach us.
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok && !n.IP.IsLinkLocalUnicast() {
					hosts = append(hosts, n.IP.String())
				}
			}
		}
	case ip != nil:
		hosts = append(hosts, ip.String())
	}
	slices.Sort(hosts)
	return slices.Compact(hosts)
}

// kubeletTransport dials kubelets with the kubelet client certificate,
// verifying them with the kubelet CA when one is configured (otherwise
// without verification, as kube-apiserver does).
func kubeletTransport(o *Options) (http.RoundTripper, error) {
	if o.KubeletClientCertificate == "" && o.KubeletCertificateAuthority == "" {
		return nil, nil
	}
	t := proxy.DefaultTransport()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.KubeletClientCertificate != "" {
		pair, err := tls.LoadX509KeyPair(o.KubeletClientCertificate, o.KubeletClientKey)
		if err != nil {
			return nil, fmt.Errorf("kubelet client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if o.KubeletCertificateAuthority != "" {
		b, err := os.ReadFile(o.KubeletCertificateAuthority)
		if err != nil {
			return nil, fmt.Errorf("--kubelet-certificate-authority: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--kubelet-certificate-authority %s: no certificates", o.KubeletCertificateAuthority)
		}
		cfg.RootCAs = pool
	} else {
		cfg.InsecureSkipVerify = true //nolint:gosec // kube-apiserver's behaviour without a kubelet CA
	}
	t.TLSClientConfig = cfg
	return t, nil
}

// loopbackConfig is a client config for the server's own API,
// authenticated as system:apiserver (system:masters) with a token that
// lives only in this process.
func (s *Server) loopbackConfig() *rest.Config {
	cfg := &rest.Config{Host: s.url, QPS: 100, Burst: 200, UserAgent: "skiff-apiserver-loopback"}
	if s.sec.tls != nil {
		cfg.BearerToken = s.sec.loopbackToken
		cfg.TLSClientConfig = rest.TLSClientConfig{CAData: s.sec.caPEM, ServerName: s.sec.serverName}
	}
	return cfg
}

// newAuthenticator builds the request authenticator over the stores.
func (s *Server) newAuthenticator(reg *registry.Registry, stores map[schema.GroupVersionResource]storage.Interface) (*authn.Authenticator, *authn.ServiceAccounts, error) {
	if s.opts.InsecureHTTP {
		a, err := authn.New(authn.Options{Insecure: true, Logger: s.log})
		return a, nil, err
	}
	sa, err := authn.NewServiceAccounts(authn.ServiceAccountOptions{
		Issuer:       s.opts.ServiceAccountIssuer,
		APIAudiences: s.opts.APIAudiences,
		SigningKey:   s.sec.saSigner,
		VerifyKeys:   s.sec.saVerify,
		GetServiceAccount: func(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
			var o corev1.ServiceAccount
			return &o, getObject(ctx, reg, stores, "serviceaccounts", ns, name, &o)
		},
		GetPod: func(ctx context.Context, ns, name string) (*corev1.Pod, error) {
			var o corev1.Pod
			return &o, getObject(ctx, reg, stores, "pods", ns, name, &o)
		},
		GetSecret: func(ctx context.Context, ns, name string) (*corev1.Secret, error) {
			var o corev1.Secret
			return &o, getObject(ctx, reg, stores, "secrets", ns, name, &o)
		},
	})
	if err != nil {
		return nil, nil, err
	}
	var cas *x509.CertPool
	if s.opts.ClientCAFile != "" {
		b, err := os.ReadFile(s.opts.ClientCAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--client-ca-file: %w", err)
		}
		cas = x509.NewCertPool()
		if !cas.AppendCertsFromPEM(b) {
			return nil, nil, fmt.Errorf("--client-ca-file %s: no certificates", s.opts.ClientCAFile)
		}
	}
	a, err := authn.New(authn.Options{
		ClientCAs:       cas,
		TokenFile:       s.opts.TokenAuthFile,
		ServiceAccounts: sa,
		LoopbackToken:   s.sec.loopbackToken,
		APIAudiences:    s.opts.APIAudiences,
		Anonymous:       s.opts.AnonymousAuth,
		Logger:          s.log.With("component", "authn"),
	})
	return a, sa, err
}

// getObject reads a core/v1 object from its store (the watch cache).
func getObject(ctx context.Context, reg *registry.Registry, stores map[schema.GroupVersionResource]storage.Interface, resource, ns, name string, out runtime.Object) error {
	gvr := corev1.SchemeGroupVersion.WithResource(resource)
	res, ok := reg.Lookup(gvr)
	if !ok || stores[gvr] == nil {
		return fmt.Errorf("no store for %s", gvr)
	}
	return stores[gvr].Get(ctx, res.Key(ns, name), "0", out)
}

// filters are the security filters in front of the router.
type filters struct {
	authn      *authn.Authenticator
	authz      authorizer.Authorizer // nil: allow all (insecure or AlwaysAllow)
	audit      *audit.Log            // nil: no audit log
	info       *request.RequestInfoFactory
	writeError func(http.ResponseWriter, *http.Request, error)
	log        *slog.Logger
	// codecs encode the Status errors of the impersonation filter.
	codecs runtime.NegotiatedSerializer
}

// wrap builds authentication → request info → audit → authorization →
// next. Audit comes before authorization so that refused writes are
// recorded too.
func (f *filters) wrap(next http.Handler) http.Handler {
	h := f.authorize(next)
	if f.audit != nil {
		h = f.audit.Wrap(h)
	}
	h = f.impersonate(h)
	if f.audit != nil {
		h = audit.RememberUser(h)
	}
	// The request info is added to the context by authentication's hook,
	// saving a copy of the request.
	return withPanicRecovery(f.authn.WrapWithContext(h, f.writeError, f.requestInfo), f.writeError, f.log)
}

// withPanicRecovery turns a panic in a handler into a 500 InternalError
// Status (and a log line) instead of a dropped connection. http.ErrAbortHandler
// is re-raised: it is how a handler aborts a response on purpose.
func withPanicRecovery(next http.Handler, writeError func(http.ResponseWriter, *http.Request, error), log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			writeError(w, r, apierrors.NewInternalError(fmt.Errorf("the server could not complete the request")))
		}()
		next.ServeHTTP(w, r)
	})
}

// impersonate honours Impersonate-User/-Group/-Uid/-Extra-* headers (kubectl
// --as/--as-group) when the authenticated user may "impersonate" the
// named users, groups, ServiceAccounts and extras; the request then runs as
// the impersonated user. Without an authorizer (insecure or AlwaysAllow)
// every caller may impersonate.
func (f *filters) impersonate(next http.Handler) http.Handler {
	var a authorizer.UnconditionalAuthorizer = f.authz
	if a == nil {
		a = authorizer.AuthorizerFunc(func(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
			return authorizer.DecisionAllow, "", nil
		})
	}
	return impersonation.WithImpersonation(next, a, f.codecs)
}

func newRequestInfoFactory() *request.RequestInfoFactory {
	return &request.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}
}

// requestInfo adds the request info (request.WithRequestInfo) to the
// context of an authenticated request.
func (f *filters) requestInfo(ctx context.Context, r *http.Request) (context.Context, error) {
	info, err := f.info.NewRequestInfo(r)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("unable to determine request info: %v", err))
	}
	return request.WithRequestInfo(ctx, info), nil
}

func (f *filters) authorize(next http.Handler) http.Handler {
	if f.authz == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attrs := attributes(r)
		decision, reason, err := f.authz.Authorize(r.Context(), attrs)
		if decision == authorizer.DecisionAllow {
			next.ServeHTTP(w, r)
			return
		}
		if err != nil {
			f.writeError(w, r, apierrors.NewInternalError(fmt.Errorf("authorize: %w", err)))
			return
		}
		f.writeError(w, r, forbidden(attrs, reason))
	})
}

// attributes are the authorizer attributes of a request (user and
// request info from the context).
func attributes(r *http.Request) authorizer.AttributesRecord {
	a := authorizer.AttributesRecord{Path: r.URL.Path}
	if u, ok := request.UserFrom(r.Context()); ok {
		a.User = u
	}
	if info, ok := request.RequestInfoFrom(r.Context()); ok {
		a.Verb = info.Verb
		a.ResourceRequest = info.IsResourceRequest
		a.APIGroup, a.APIVersion = info.APIGroup, info.APIVersion
		a.Resource, a.Subresource = info.Resource, info.Subresource
		a.Namespace, a.Name = info.Namespace, info.Name
	}
	return a
}

// forbidden is the 403 Kubernetes sends, e.g. `pods is forbidden: User
// "alice" cannot create resource "pods" in API group "" in the namespace
// "default"`.
func forbidden(a authorizer.Attributes, reason string) error {
	name := ""
	if u := a.GetUser(); u != nil {
		name = u.GetName()
	}
	var msg string
	switch {
	case !a.IsResourceRequest():
		msg = fmt.Sprintf("User %q cannot %s path %q", name, a.GetVerb(), a.GetPath())
	default:
		res := a.GetResource()
		if sub := a.GetSubresource(); sub != "" {
			res += "/" + sub
		}
		if ns := a.GetNamespace(); ns != "" {
			msg = fmt.Sprintf("User %q cannot %s resource %q in API group %q in the namespace %q", name, a.GetVerb(), res, a.GetAPIGroup(), ns)
		} else {
			msg = fmt.Sprintf("User %q cannot %s resource %q in API group %q at the cluster scope", name, a.GetVerb(), res, a.GetAPIGroup())
		}
	}
	if reason != "" {
		msg += ": " + reason
	}
	return apierrors.NewForbidden(schema.GroupResource{Group: a.GetAPIGroup(), Resource: a.GetResource()}, a.GetName(), errors.New(msg))
}

// alwaysAllow reports whether authorization is off.
func alwaysAllow(modes []string) bool {
	return slices.Contains(modes, "AlwaysAllow")
}

// writeKubeconfig writes the admin kubeconfig: the generated admin client
// certificate and CA embedded, or no credentials with InsecureHTTP.
func (s *Server) writeKubeconfig(path string) error {
	switch {
	case s.sec.tls == nil:
		return WriteKubeconfig(path, s.url)
	case s.sec.adminCert != "":
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		return pki.WriteKubeconfig(path, s.url, s.sec.caPEM, s.sec.adminCert, s.sec.adminKey)
	default:
		return errors.New("no admin credentials: the PKI is not generated (--tls-cert-file given)")
	}
}
