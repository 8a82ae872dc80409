package authn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
)

// Extra keys Kubernetes sets on ServiceAccount users.
const (
	ExtraPodName      = "authentication.kubernetes.io/pod-name"
	ExtraPodUID       = "authentication.kubernetes.io/pod-uid"
	ExtraCredentialID = "authentication.kubernetes.io/credential-id"
)

// leeway is the clock skew tolerated on exp, nbf and iat.
const leeway = time.Minute

// ServiceAccountOptions configures ServiceAccounts.
type ServiceAccountOptions struct {
	// Issuer is the iss claim of tokens minted here and the only issuer
	// accepted.
	Issuer string
	// APIAudiences are the default audiences of new tokens and those a
	// token must have one of to be accepted by the API.
	APIAudiences []string
	// SigningKey signs new tokens (ECDSA P-256 → ES256, RSA → RS256);
	// nil: TokenRequest is refused.
	SigningKey crypto.Signer
	// VerifyKeys verify tokens (default: the signing key's public key).
	VerifyKeys []crypto.PublicKey
	// GetServiceAccount, GetPod and GetSecret read objects (NotFound when
	// missing) so that tokens die with the objects they are bound to.
	GetServiceAccount func(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
	GetPod            func(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	GetSecret         func(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// ServiceAccounts mints and validates ServiceAccount JWTs.
type ServiceAccounts struct {
	opts   ServiceAccountOptions
	method jwt.SigningMethod
	kid    string
	keys   map[string]crypto.PublicKey // by key id
}

// NewServiceAccounts checks opts and builds a ServiceAccounts.
func NewServiceAccounts(opts ServiceAccountOptions) (*ServiceAccounts, error) {
	if opts.Issuer == "" {
		return nil, errors.New("service account issuer is required")
	}
	if opts.GetServiceAccount == nil || opts.GetPod == nil || opts.GetSecret == nil {
		return nil, errors.New("service account object getters are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &ServiceAccounts{opts: opts, keys: map[string]crypto.PublicKey{}}
	if opts.SigningKey != nil {
		switch k := opts.SigningKey.Public().(type) {
		case *ecdsa.PublicKey:
			if k.Curve != elliptic.P256() {
				return nil, errors.New("service account signing key: only P-256 ECDSA keys are supported")
			}
			s.method = jwt.SigningMethodES256
		case *rsa.PublicKey:
			s.method = jwt.SigningMethodRS256
		default:
			return nil, fmt.Errorf("service account signing key: unsupported key type %T", k)
		}
		kid, err := keyID(opts.SigningKey.Public())
		if err != nil {
			return nil, err
		}
		s.kid = kid
		if len(opts.VerifyKeys) == 0 {
			opts.VerifyKeys = []crypto.PublicKey{opts.SigningKey.Public()}
		}
	}
	if len(opts.VerifyKeys) == 0 {
		return nil, errors.New("no service account verification keys")
	}
	for _, k := range opts.VerifyKeys {
		kid, err := keyID(k)
		if err != nil {
			return nil, err
		}
		s.keys[kid] = k
	}
	s.opts = opts
	return s, nil
}

// claims are the JWT claims of a bound ServiceAccount token.
type claims struct {
	jwt.RegisteredClaims
	Kubernetes *kubernetesClaims `json:"kubernetes.io,omitempty"`
}

type kubernetesClaims struct {
	Namespace      string  `json:"namespace"`
	ServiceAccount ref     `json:"serviceaccount"`
	Pod            *ref    `json:"pod,omitempty"`
	Secret         *ref    `json:"secret,omitempty"`
	WarnAfter      float64 `json:"warnafter,omitempty"`
}

type ref struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// Token is the request for a new ServiceAccount token.
type Token struct {
	ServiceAccount *corev1.ServiceAccount
	Audiences      []string      // default: the API audiences
	Expiration     time.Duration // required
	Pod            *corev1.Pod   // bound object, optional
	Secret         *corev1.Secret
}

// Issue mints a signed token and returns it with its expiry.
func (s *ServiceAccounts) Issue(t Token) (string, time.Time, error) {
	if s.opts.SigningKey == nil {
		return "", time.Time{}, errors.New("no service account signing key configured")
	}
	now := s.opts.Now()
	exp := now.Add(t.Expiration)
	auds := t.Audiences
	if len(auds) == 0 {
		auds = s.opts.APIAudiences
	}
	sa := t.ServiceAccount
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.opts.Issuer,
			Subject:   serviceaccount.MakeUsername(sa.Namespace, sa.Name),
			Audience:  jwt.ClaimStrings(auds),
			ExpiresAt: jwt.NewNumericDate(exp),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        uuid.NewString(),
		},
		Kubernetes: &kubernetesClaims{
			Namespace:      sa.Namespace,
			ServiceAccount: ref{Name: sa.Name, UID: string(sa.UID)},
		},
	}
	if t.Pod != nil {
		c.Kubernetes.Pod = &ref{Name: t.Pod.Name, UID: string(t.Pod.UID)}
	}
	if t.Secret != nil {
		c.Kubernetes.Secret = &ref{Name: t.Secret.Name, UID: string(t.Secret.UID)}
	}
	tok := jwt.NewWithClaims(s.method, c)
	tok.Header["kid"] = s.kid
	signed, err := tok.SignedString(s.opts.SigningKey)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign service account token: %w", err)
	}
	return signed, exp.Truncate(time.Second), nil
}

// errNotOurs marks a JWT from another issuer (left to other authenticators).
var errNotOurs = errors.New("token from another issuer")

// AuthenticateToken implements authenticator.Token for ServiceAccount
// JWTs from this issuer: signature by a known key, times, audience (the
// context's audiences, else the API audiences), and that the
// ServiceAccount and bound object still exist with the same UIDs.
func (s *ServiceAccounts) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	if strings.Count(token, ".") != 2 {
		return nil, false, nil // not a JWT
	}
	var c claims
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{"ES256", "RS256"}),
		jwt.WithLeeway(leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(s.opts.Now),
	)
	_, err := parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if c.Issuer != s.opts.Issuer {
			return nil, errNotOurs
		}
		if kid, _ := t.Header["kid"].(string); kid != "" {
			if k, ok := s.keys[kid]; ok {
				return k, nil
			}
		}
		var set jwt.VerificationKeySet
		for _, k := range s.keys {
			set.Keys = append(set.Keys, k)
		}
		return set, nil
	})
	switch {
	case errors.Is(err, errNotOurs), errors.Is(err, jwt.ErrTokenMalformed):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("service account token: %w", err)
	}
	wanted, ok := authenticator.AudiencesFrom(ctx)
	if !ok || len(wanted) == 0 {
		wanted = s.opts.APIAudiences
	}
	auds := wanted.Intersect(authenticator.Audiences(c.Audience))
	if len(auds) == 0 {
		return nil, false, fmt.Errorf("service account token: audiences %q are not among the accepted %q", []string(c.Audience), []string(wanted))
	}
	k := c.Kubernetes
	if k == nil || k.Namespace == "" || k.ServiceAccount.Name == "" {
		return nil, false, errors.New("service account token: missing kubernetes.io claims")
	}
	if c.Subject != serviceaccount.MakeUsername(k.Namespace, k.ServiceAccount.Name) {
		return nil, false, errors.New("service account token: sub does not match the kubernetes.io claims")
	}
	sa, err := s.opts.GetServiceAccount(ctx, k.Namespace, k.ServiceAccount.Name)
	if err != nil {
		return nil, false, boundErr("serviceaccount", k.Namespace, k.ServiceAccount.Name, err)
	}
	if string(sa.UID) != k.ServiceAccount.UID {
		return nil, false, fmt.Errorf("service account token: serviceaccount %s/%s was recreated (uid %s, token for %s)", k.Namespace, sa.Name, sa.UID, k.ServiceAccount.UID)
	}
	extra := map[string][]string{}
	if c.ID != "" {
		extra[ExtraCredentialID] = []string{"JTI=" + c.ID}
	}
	if k.Pod != nil {
		pod, err := s.opts.GetPod(ctx, k.Namespace, k.Pod.Name)
		if err != nil {
			return nil, false, boundErr("pod", k.Namespace, k.Pod.Name, err)
		}
		if string(pod.UID) != k.Pod.UID {
			return nil, false, fmt.Errorf("service account token: bound pod %s/%s was recreated", k.Namespace, k.Pod.Name)
		}
		extra[ExtraPodName] = []string{pod.Name}
		extra[ExtraPodUID] = []string{string(pod.UID)}
	}
	if k.Secret != nil {
		sec, err := s.opts.GetSecret(ctx, k.Namespace, k.Secret.Name)
		if err != nil {
			return nil, false, boundErr("secret", k.Namespace, k.Secret.Name, err)
		}
		if string(sec.UID) != k.Secret.UID {
			return nil, false, fmt.Errorf("service account token: bound secret %s/%s was recreated", k.Namespace, k.Secret.Name)
		}
	}
	return &authenticator.Response{
		Audiences: auds,
		User: &user.DefaultInfo{
			Name:   c.Subject,
			UID:    string(sa.UID),
			Groups: append(serviceaccount.MakeGroupNames(k.Namespace), user.AllAuthenticated),
			Extra:  extra,
		},
	}, true, nil
}

func boundErr(kind, ns, name string, err error) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("service account token: %s %s/%s no longer exists", kind, ns, name)
	}
	return fmt.Errorf("service account token: read %s %s/%s: %w", kind, ns, name, err)
}

// keyID is the kid Kubernetes uses: base64url(sha256(DER public key)).
func keyID(k crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return "", fmt.Errorf("service account key: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// ReadPublicKeys reads every public key in a PEM file: PUBLIC KEY blocks,
// certificates and private keys (whose public half is used), as
// --service-account-key-file accepts.
func ReadPublicKeys(path string) ([]crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read service account key file: %w", err)
	}
	var keys []crypto.PublicKey
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		var k crypto.PublicKey
		switch block.Type {
		case "PUBLIC KEY":
			k, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			k, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(block.Bytes); err == nil {
				k = c.PublicKey
			}
		case "EC PRIVATE KEY":
			var p *ecdsa.PrivateKey
			if p, err = x509.ParseECPrivateKey(block.Bytes); err == nil {
				k = p.Public()
			}
		case "RSA PRIVATE KEY":
			var p *rsa.PrivateKey
			if p, err = x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
				k = p.Public()
			}
		case "PRIVATE KEY":
			var p any
			if p, err = x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
				s, ok := p.(crypto.Signer)
				if !ok {
					err = fmt.Errorf("unsupported private key %T", p)
				} else {
					k = s.Public()
				}
			}
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no keys found", path)
	}
	return slices.Clip(keys), nil
}
