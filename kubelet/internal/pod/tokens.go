package pod

import (
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// tokenKey identifies one projected ServiceAccount token of a pod.
type tokenKey struct {
	pod      types.UID
	sa       string
	audience string
	seconds  int64
}

type cachedToken struct {
	token   string
	refresh time.Time // when to ask for a new one
	expires time.Time
}

// tokenCache keeps projected ServiceAccount tokens between volume
// refreshes: a token is requested again once 80 % of its lifetime has
// passed (as upstream's kubelet does), not on every refresh.
type tokenCache struct {
	mu sync.Mutex
	m  map[tokenKey]cachedToken
}

func (c *tokenCache) get(k tokenKey, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[k]
	if !ok || !now.Before(t.refresh) {
		return "", false
	}
	return t.token, true
}

func (c *tokenCache) put(k tokenKey, token string, issued, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[tokenKey]cachedToken{}
	}
	c.m[k] = cachedToken{token: token, refresh: issued.Add(expires.Sub(issued) * 8 / 10), expires: expires}
}

// prune drops the tokens of pods not in known and the expired ones.
func (c *tokenCache) prune(known map[string]bool, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, t := range c.m {
		if !known[string(k.pod)] || !now.Before(t.expires) {
			delete(c.m, k)
		}
	}
}

func audienceKey(aud []string) string { return strings.Join(aud, ",") }
