package authn

import (
	"crypto/sha256"
	"crypto/x509"
	"net/http"
	"slices"
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
	// byChain finds entries without hashing: by the parsed leaf
	// certificate, which every request of one TLS connection shares. An
	// entry keeps its certificates, so their addresses are not reused
	// while it lives.
	byChain map[*x509.Certificate]chainEntry
}

type chainEntry struct {
	chain []*x509.Certificate
	cachedResponse
}

type cachedResponse struct {
	resp    authenticator.Response
	expires time.Time
}

func newCachedX509(next authenticator.Request) *cachedX509 {
	return &cachedX509{next: next, now: time.Now, entries: map[[sha256.Size]byte]cachedResponse{}, byChain: map[*x509.Certificate]chainEntry{}}
}

// AuthenticateRequest implements authenticator.Request.
func (c *cachedX509) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 {
		return c.next.AuthenticateRequest(req)
	}
	certs := req.TLS.PeerCertificates
	now := c.now()
	c.mu.Lock()
	ce, ok := c.byChain[certs[0]]
	c.mu.Unlock()
	if ok && now.Before(ce.expires) && slices.Equal(ce.chain, certs) {
		r := ce.resp // a copy: filters after this one may replace fields
		return &r, true, nil
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
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		c.remember(certs, e)
		r := e.resp // a copy: filters after this one may replace fields
		return &r, true, nil
	}
	resp, ok, err := c.next.AuthenticateRequest(req)
	if err != nil || !ok || resp == nil {
		return resp, ok, err
	}
	e = cachedResponse{resp: *resp, expires: expires}
	c.mu.Lock()
	if len(c.entries) >= maxCachedCerts {
		c.entries = map[[sha256.Size]byte]cachedResponse{}
	}
	c.entries[key] = e
	c.mu.Unlock()
	c.remember(certs, e)
	return resp, ok, err
}

// remember files a verified chain's entry under its leaf object.
func (c *cachedX509) remember(certs []*x509.Certificate, e cachedResponse) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.byChain) >= maxCachedCerts {
		c.byChain = map[*x509.Certificate]chainEntry{}
	}
	c.byChain[certs[0]] = chainEntry{chain: certs, cachedResponse: e}
}
