package rest

import (
	"net/http"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// requestInfo is what a resource URL says.
type requestInfo struct {
	Verb        string // get list watch create update patch delete deletecollection
	GV          schema.GroupVersion
	Resource    string
	Namespace   string
	Name        string
	Subresource string
	// ProxyPath is the path after nodes/<name>/proxy.
	ProxyPath string
}

// parseRequest parses /api/v1/... and /apis/<g>/<v>/... resource paths. ok
// is false when the path is not a resource path.
func parseRequest(r *http.Request) (requestInfo, bool) {
	var info requestInfo
	path := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(path, "/")
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		info.GV = schema.GroupVersion{Version: parts[1]}
		parts = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		info.GV = schema.GroupVersion{Group: parts[1], Version: parts[2]}
		parts = parts[3:]
	default:
		return info, false
	}
	watchPath := false
	if parts[0] == "watch" {
		watchPath = true
		parts = parts[1:]
		if len(parts) == 0 {
			return info, false
		}
	}
	// namespaces/<ns>/<resource>... unless the third part is a namespace subresource.
	if parts[0] == "namespaces" && len(parts) >= 3 && parts[2] != "status" && parts[2] != "finalize" {
		info.Namespace = parts[1]
		parts = parts[2:]
	}
	info.Resource = parts[0]
	if len(parts) >= 2 {
		info.Name = parts[1]
	}
	if len(parts) >= 3 {
		info.Subresource = parts[2]
	}
	if len(parts) > 3 && info.Subresource == "proxy" {
		info.ProxyPath = "/" + strings.Join(parts[3:], "/")
		parts = parts[:3]
	}
	if len(parts) > 3 || info.Resource == "" || (len(parts) >= 2 && info.Name == "") {
		return info, false
	}
	collection := info.Name == ""
	q := query(r)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case watchPath || (collection && isTrue(q.Get("watch"))):
			info.Verb = "watch"
		case collection:
			info.Verb = "list"
		default:
			info.Verb = "get"
		}
	case http.MethodPost:
		info.Verb = "create"
	case http.MethodPut:
		info.Verb = "update"
	case http.MethodPatch:
		info.Verb = "patch"
	case http.MethodDelete:
		if collection {
			info.Verb = "deletecollection"
		} else {
			info.Verb = "delete"
		}
	default:
		info.Verb = ""
	}
	return info, true
}

func isTrue(s string) bool { return s == "true" || s == "1" }

// query is r.URL.Query() without parsing (and allocating) when there is
// no query: the nil Values reads like an empty one.
func query(r *http.Request) url.Values {
	if r.URL.RawQuery == "" {
		return nil
	}
	return r.URL.Query()
}
