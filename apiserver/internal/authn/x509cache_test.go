package authn

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

func TestCachedX509(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	certA := &x509.Certificate{Raw: []byte("a"), NotAfter: now.Add(time.Hour)}
	certB := &x509.Certificate{Raw: []byte("b"), NotAfter: now.Add(time.Hour)}
	certA2 := &x509.Certificate{Raw: []byte("a"), NotAfter: now.Add(time.Hour)} // a's bytes, parsed again
	bad := &x509.Certificate{Raw: []byte("bad"), NotAfter: now.Add(time.Hour)}
	calls := 0
	next := authenticator.RequestFunc(func(r *http.Request) (*authenticator.Response, bool, error) {
		calls++
		if r.TLS.PeerCertificates[0] == bad {
			return nil, false, nil
		}
		return &authenticator.Response{User: &user.DefaultInfo{Name: string(r.TLS.PeerCertificates[0].Raw)}}, true, nil
	})
	c := newCachedX509(next)
	c.now = func() time.Time { return now }
	req := func(cert *x509.Certificate) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/api", nil)
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
		return r
	}
	steps := []struct {
		name      string
		cert      *x509.Certificate
		advance   time.Duration
		wantUser  string
		wantCalls int
	}{
		{"first use verifies", certA, 0, "a", 1},
		{"second use is cached", certA, 0, "a", 1},
		{"same certificate on another connection is cached", certA2, 0, "a", 1},
		{"another certificate verifies", certB, 0, "b", 2},
		{"failures are not cached", bad, 0, "", 3},
		{"failures are not cached (again)", bad, 0, "", 4},
		{"expired entry verifies again", certA, 2 * time.Hour, "a", 5},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		resp, ok, err := c.AuthenticateRequest(req(s.cert))
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got := ""
		if ok {
			got = resp.User.GetName()
			resp.User = nil // a caller changing the response must not touch the cache
		}
		if got != s.wantUser || calls != s.wantCalls {
			t.Fatalf("%s: user %q after %d verifications, want %q after %d", s.name, got, calls, s.wantUser, s.wantCalls)
		}
	}
	if resp, ok, _ := c.AuthenticateRequest(req(certB)); !ok || resp.User == nil || resp.User.GetName() != "b" {
		t.Fatalf("cached response was changed by a caller: %+v", resp)
	}

	// A known leaf object with another intermediate is another chain.
	calls = 0
	r := req(certB)
	r.TLS.PeerCertificates = append(r.TLS.PeerCertificates, bad)
	if _, ok, _ := c.AuthenticateRequest(r); !ok || calls != 1 {
		t.Fatalf("chain with a new intermediate: ok %v after %d verifications, want a verification", ok, calls)
	}
}
