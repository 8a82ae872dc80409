package server

import (
	"net/http"
	"net/url"
	"strings"
)

// tokenCookie holds the user's bearer token in the browser. It is set by
// the UI's login form (SameSite=Strict) so that websockets, which cannot
// carry an Authorization header, are authenticated too.
const tokenCookie = "skiff_token"

// csrfHeader must accompany every state-changing request that is
// authenticated by the cookie; a cross-site form cannot set it.
const csrfHeader = "X-Skiff-Dashboard"

// tokenFrom returns the bearer token of a request: the Authorization
// header, else the token cookie.
func tokenFrom(r *http.Request) string {
	if t := trimBearer(r.Header.Get("Authorization")); t != "" {
		return t
	}
	if c, err := r.Cookie(tokenCookie); err == nil {
		if v, err := url.QueryUnescape(c.Value); err == nil {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// guard enforces the token requirement and cross-site protections.
func (s *Server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
			writeStatus(w, http.StatusForbidden, "Forbidden", "cross-origin request refused")
			return
		}
		upgrade := strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
		safe := r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions
		if !safe && !upgrade && r.Header.Get("Authorization") == "" && r.Header.Get(csrfHeader) == "" {
			writeStatus(w, http.StatusForbidden, "Forbidden", "missing "+csrfHeader+" header")
			return
		}
		if s.opts.RequireToken && tokenFrom(r) == "" {
			writeStatus(w, http.StatusUnauthorized, "Unauthorized", "log in with a bearer token")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Host, host)
}
