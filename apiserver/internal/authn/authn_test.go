package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// objects is an in-memory object source for the getters.
type objects struct {
	sas    map[string]*corev1.ServiceAccount
	pods   map[string]*corev1.Pod
	secret map[string]*corev1.Secret
}

func notFound(res, name string) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: res}, name)
}

func newServiceAccounts(t *testing.T, key *ecdsa.PrivateKey, o *objects, now func() time.Time) *ServiceAccounts {
	t.Helper()
	sa, err := NewServiceAccounts(ServiceAccountOptions{
		Issuer:       "https://issuer.test",
		APIAudiences: []string{"https://issuer.test"},
		SigningKey:   key,
		Now:          now,
		GetServiceAccount: func(_ context.Context, ns, name string) (*corev1.ServiceAccount, error) {
			if v, ok := o.sas[ns+"/"+name]; ok {
				return v, nil
			}
			return nil, notFound("serviceaccounts", name)
		},
		GetPod: func(_ context.Context, ns, name string) (*corev1.Pod, error) {
			if v, ok := o.pods[ns+"/"+name]; ok {
				return v, nil
			}
			return nil, notFound("pods", name)
		},
		GetSecret: func(_ context.Context, ns, name string) (*corev1.Secret, error) {
			if v, ok := o.secret[ns+"/"+name]; ok {
				return v, nil
			}
			return nil, notFound("secrets", name)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return sa
}

func key(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestServiceAccountTokens(t *testing.T) {
	t.Parallel()
	signing := key(t)
	bot := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "bot", UID: "sa-uid"}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "pod-uid"}}
	o := &objects{
		sas:  map[string]*corev1.ServiceAccount{"ns/bot": bot},
		pods: map[string]*corev1.Pod{"ns/web": pod},
	}
	now := time.Now()
	sa := newServiceAccounts(t, signing, o, func() time.Time { return now })
	issue := func(t *testing.T, tok Token) string {
		t.Helper()
		s, _, err := sa.Issue(tok)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := issue(t, Token{ServiceAccount: bot, Expiration: time.Hour})
	bound := issue(t, Token{ServiceAccount: bot, Expiration: time.Hour, Pod: pod})
	otherAud := issue(t, Token{ServiceAccount: bot, Expiration: time.Hour, Audiences: []string{"vault"}})
	forged := newServiceAccounts(t, key(t), o, func() time.Time { return now })
	forgedTok, _, _ := forged.Issue(Token{ServiceAccount: bot, Expiration: time.Hour})
	past := newServiceAccounts(t, signing, o, func() time.Time { return now.Add(-3 * time.Hour) })
	expired, _, _ := past.Issue(Token{ServiceAccount: bot, Expiration: time.Hour})
	otherIssuer, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.RegisteredClaims{Issuer: "https://elsewhere",
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}).SignedString(signing)
	if err != nil {
		t.Fatal(err)
	}
	noneAlg := strings.Join([]string{"eyJhbGciOiJub25lIn0", strings.Split(good, ".")[1], ""}, ".")

	tests := []struct {
		name      string
		token     string
		audiences []string
		setup     func() func()
		wantOK    bool
		wantErr   string
		wantPod   string
	}{
		{name: "valid", token: good, wantOK: true},
		{name: "bound to a pod", token: bound, wantOK: true, wantPod: "web"},
		{name: "not a JWT", token: "secret-token-alice"},
		{name: "other issuer is left to others", token: otherIssuer},
		{name: "forged signature", token: forgedTok, wantErr: "signature"},
		{name: "alg none", token: noneAlg, wantErr: "signing method"},
		{name: "expired", token: expired, wantErr: "expired"},
		{name: "wrong audience", token: otherAud, wantErr: "audiences"},
		{name: "audience asked for", token: otherAud, audiences: []string{"vault"}, wantOK: true},
		{name: "serviceaccount deleted", token: good, wantErr: "no longer exists", setup: func() func() {
			delete(o.sas, "ns/bot")
			return func() { o.sas["ns/bot"] = bot }
		}},
		{name: "serviceaccount recreated", token: good, wantErr: "recreated", setup: func() func() {
			o.sas["ns/bot"] = &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "bot", UID: "new"}}
			return func() { o.sas["ns/bot"] = bot }
		}},
		{name: "bound pod deleted", token: bound, wantErr: "no longer exists", setup: func() func() {
			delete(o.pods, "ns/web")
			return func() { o.pods["ns/web"] = pod }
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				defer tc.setup()()
			}
			ctx := context.Background()
			if tc.audiences != nil {
				ctx = authenticator.WithAudiences(ctx, tc.audiences)
			}
			resp, ok, err := sa.AuthenticateToken(ctx, tc.token)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if !ok {
				return
			}
			u := resp.User
			if u.GetName() != "system:serviceaccount:ns:bot" || u.GetUID() != "sa-uid" {
				t.Errorf("user = %s uid %s", u.GetName(), u.GetUID())
			}
			for _, g := range []string{"system:serviceaccounts", "system:serviceaccounts:ns", "system:authenticated"} {
				if !slices.Contains(u.GetGroups(), g) {
					t.Errorf("groups %v lack %s", u.GetGroups(), g)
				}
			}
			if got := u.GetExtra()[ExtraPodName]; tc.wantPod != "" && (len(got) != 1 || got[0] != tc.wantPod) {
				t.Errorf("pod-name extra = %v, want %s", got, tc.wantPod)
			}
		})
	}
}

func TestAuthenticatorRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		opts      Options
		header    string
		wantCode  int
		wantUser  string
		wantGroup []string
	}{
		{name: "no credentials", header: "", wantCode: 401},
		{name: "static token", header: "Bearer secret-token-alice", wantCode: 200, wantUser: "alice",
			wantGroup: []string{"devs", "ops", "system:authenticated"}},
		{name: "static token without groups", header: "Bearer secret-token-bob", wantCode: 200, wantUser: "bob",
			wantGroup: []string{"system:authenticated"}},
		{name: "unknown token", header: "Bearer nope", wantCode: 401},
		{name: "unknown token with anonymous on", opts: Options{Anonymous: true}, header: "Bearer nope", wantCode: 401},
		{name: "anonymous", opts: Options{Anonymous: true}, wantCode: 200, wantUser: "system:anonymous",
			wantGroup: []string{"system:unauthenticated"}},
		{name: "loopback", header: "Bearer loop", wantCode: 200, wantUser: LoopbackUser,
			wantGroup: []string{"system:masters", "system:authenticated"}},
		{name: "insecure", opts: Options{Insecure: true}, wantCode: 200, wantUser: InsecureUser,
			wantGroup: []string{"system:masters", "system:authenticated"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := tc.opts
			o.TokenFile, o.LoopbackToken, o.APIAudiences = "testdata/tokens.csv", "loop", []string{"api"}
			a, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			var seen string
			var groups []string
			h := a.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				u, _ := request.UserFrom(r.Context())
				seen, groups = u.GetName(), u.GetGroups()
				if r.Header.Get("Authorization") != "" {
					t.Error("the Authorization header reached the handler")
				}
			}), func(w http.ResponseWriter, _ *http.Request, err error) {
				var st apierrors.APIStatus
				if !errors.As(err, &st) || st.Status().Reason != metav1.StatusReasonUnauthorized {
					t.Errorf("error %v is not an Unauthorized status", err)
				}
				w.WriteHeader(int(st.Status().Code))
			})
			req := httptest.NewRequest("GET", "/api", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.wantCode {
				t.Fatalf("code = %d, want %d", rec.Code, tc.wantCode)
			}
			if seen != tc.wantUser || (tc.wantGroup != nil && !slices.Equal(groups, tc.wantGroup)) {
				t.Fatalf("user = %s %v, want %s %v", seen, groups, tc.wantUser, tc.wantGroup)
			}
		})
	}
}

// TestWrapWithContext: the hook runs only for authenticated requests, sees
// the user, and its context or error is what follows.
func TestWrapWithContext(t *testing.T) {
	t.Parallel()
	a, err := New(Options{TokenFile: "testdata/tokens.csv", APIAudiences: []string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	type key struct{}
	tests := []struct {
		name     string
		header   string
		hookErr  error
		wantCode int
		wantHook bool
	}{
		{name: "unauthenticated", header: "Bearer nope", wantCode: http.StatusUnauthorized},
		{name: "hook adds a value", header: "Bearer secret-token-alice", wantCode: http.StatusOK, wantHook: true},
		{name: "hook error", header: "Bearer secret-token-alice", hookErr: apierrors.NewBadRequest("bad path"), wantCode: http.StatusBadRequest, wantHook: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hooked := false
			h := a.WrapWithContext(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				u, _ := request.UserFrom(r.Context())
				if r.Context().Value(key{}) != "v" || u == nil || u.GetName() != "alice" {
					t.Errorf("handler context: value %v, user %v", r.Context().Value(key{}), u)
				}
			}), func(w http.ResponseWriter, _ *http.Request, err error) {
				var st apierrors.APIStatus
				if !errors.As(err, &st) {
					t.Fatalf("error %v is not a status", err)
				}
				w.WriteHeader(int(st.Status().Code))
			}, func(ctx context.Context, r *http.Request) (context.Context, error) {
				hooked = true
				if u, ok := request.UserFrom(ctx); !ok || u.GetName() != "alice" {
					t.Errorf("hook context has user %v", u)
				}
				if tc.hookErr != nil {
					return nil, tc.hookErr
				}
				return context.WithValue(ctx, key{}, "v"), nil
			})
			req := httptest.NewRequest("GET", "/api", nil)
			req.Header.Set("Authorization", tc.header)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.wantCode || hooked != tc.wantHook {
				t.Fatalf("code %d, hook called %v; want %d, %v", rec.Code, hooked, tc.wantCode, tc.wantHook)
			}
		})
	}
}

func TestTokenReviewAudiences(t *testing.T) {
	t.Parallel()
	a, err := New(Options{TokenFile: "testdata/tokens.csv", APIAudiences: []string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	// A static token is only good for the API's own audiences.
	if _, ok, _ := a.AuthenticateToken(authenticator.WithAudiences(context.Background(), []string{"other"}), "secret-token-alice"); ok {
		t.Error("a static token authenticated for a foreign audience")
	}
	resp, ok, err := a.AuthenticateToken(context.Background(), "secret-token-alice")
	if !ok || err != nil || resp.User.GetName() != "alice" {
		t.Fatalf("static token: %v %v", ok, err)
	}
}
