package apiserver

import "testing"

// TestIsResourcePath: the paths the router's /api/ and /apis/ prefix routes
// take (before the discovery check), and only those, skip the router.
func TestIsResourcePath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"/api/v1/namespaces/a/configmaps", true},
		{"/api/v1", true}, // a discovery document: disc.Has decides
		{"/apis/apps/v1/deployments", true},
		{"/apis/metrics.k8s.io", true}, // not under the metrics prefix route
		{"/apis/metrics.k8s.io/v1beta1/nodes", false},
		{"/api", false},
		{"/api/", false},
		{"/apis", false},
		{"/apis/", false},
		{"/apix/v1", false},
		{"/version", false},
		{"/healthz", false},
		{"/openapi/v3", false},
		{"/debug/pprof/profile", false},
		{"/", false},
	} {
		if got := isResourcePath(tc.path); got != tc.want {
			t.Errorf("isResourcePath(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}
