package authn

import (
	"crypto/sha256"
	"net/http"
	"sync"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
)

// maxCachedCerts bounds the verified-certificate cache; when full it is
// emptied and refilled.
const maxCachedCerts = 4096

// cachedX509 remembers client certificate chains that verified, so a
// long-lived connection does not pay an ECDSA chain verification on every
// request (the TLS handshake only requests the certificate; the x509
// authenticator verifies it). Only successes are kept, each until the
// earliest NotAfter of its chain; the client CA does not change while the
// server runs.
type cachedX509 struct {
	next authenticator.Request
	now  func() time.Time

	mu      sync.Mutex
	entries map[[sha256.Size]byte]cachedResponse
}

type cachedResponse struct {
	resp    authenticator.Response
	expires time.Time
}

func newCachedX509(next authenticator.Request) *cachedX509 {
	return &cachedX509{next: next, now: time.Now, entries: map[[sha256.Size]byte]cachedResponse{}}
}

// AuthenticateRequest implements authenticator.Request.
func (c *cachedX509) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 {
		return c.next.AuthenticateRequest(req)
	}
	h := sha256.New()
	expires := req.TLS.PeerCertificates[0].NotAfter
	for _, cert := range req.TLS.PeerCertificates {
		h.Write(cert.Raw)
		if cert.NotAfter.Before(expires) {
			expires = cert.NotAfter
		}
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		r := e.resp // a copy: filters after this one may replace fields
		return &r, true, nil
	}
	resp, ok, err := c.next.AuthenticateRequest(req)
	if err != nil || !ok || resp == nil {
		return resp, ok, err
	}
	c.mu.Lock()
	if len(c.entries) >= maxCachedCerts {
		c.entries = map[[sha256.Size]byte]cachedResponse{}
	}
	c.entries[key] = cachedResponse{resp: *resp, expires: expires}
	c.mu.Unlock()
	return resp, ok, err
}
