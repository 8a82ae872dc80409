package controller

import (
	"errors"
	"net"
	"net/http"

	"skiff.dev/addons/ingress/internal/router"
)

// target is what ServeHTTP picked for a request: the backend and the
// endpoint tried first.
type target struct {
	backend  *router.Backend
	endpoint string
}

// retryTransport sends a request to the next endpoint of its backend when
// the connection could not be established (the endpoint is gone but the
// EndpointSlice has not caught up yet). Nothing has been sent then, so the
// retry is safe for every method as long as the body can be replayed.
type retryTransport struct {
	base http.RoundTripper
}

func (t retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	tg, ok := req.Context().Value(ctxKey{}).(target)
	if err == nil || !ok || !dialFailed(err) || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
		return resp, err
	}
	for i := 1; i < len(tg.backend.Endpoints); i++ {
		next := tg.backend.Pick()
		if next == tg.endpoint {
			continue
		}
		r := req.Clone(req.Context())
		r.URL.Host = next
		if req.GetBody != nil {
			if r.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
		if resp, err = t.base.RoundTrip(r); err == nil || !dialFailed(err) {
			return resp, err
		}
	}
	return resp, err
}

func dialFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
