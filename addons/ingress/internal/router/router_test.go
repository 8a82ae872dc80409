package router

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// lookup serves one Service per name with a single endpoint whose IP
// encodes the service, so a match can be identified by its endpoint.
type lookup map[string]string // service name → endpoint IP

func (l lookup) Service(ns, name string) (*v1.Service, bool) {
	if _, ok := l[name]; !ok {
		return nil, false
	}
	return &v1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1.ServiceSpec{Ports: []v1.ServicePort{{Name: "http", Port: 80}}}}, true
}

func (l lookup) Slices(ns, svc string) []*discoveryv1.EndpointSlice {
	name, port := "http", int32(8080)
	return []*discoveryv1.EndpointSlice{{
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{l[svc]}}},
	}}
}

func (l lookup) Secret(string, string) (*v1.Secret, bool) { return nil, false }

func path(p string, typ networkingv1.PathType, svc string) networkingv1.HTTPIngressPath {
	return networkingv1.HTTPIngressPath{Path: p, PathType: &typ, Backend: networkingv1.IngressBackend{
		Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Name: "http"}}}}
}

func rule(host string, paths ...networkingv1.HTTPIngressPath) networkingv1.IngressRule {
	return networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{
		HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}}}
}

func TestMatch(t *testing.T) {
	const (
		exact  = networkingv1.PathTypeExact
		prefix = networkingv1.PathTypePrefix
	)
	lk := lookup{"root": "10.0.0.1", "foo": "10.0.0.2", "foo-exact": "10.0.0.3", "foobar": "10.0.0.4",
		"wild": "10.0.0.5", "any": "10.0.0.6", "def": "10.0.0.7", "older": "10.0.0.8", "newer": "10.0.0.9"}
	old := metav1.NewTime(metav1.Now().Add(-3600e9))
	ings := []*networkingv1.Ingress{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "b", CreationTimestamp: metav1.Now()},
			Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{rule("dup.example.com", path("/", prefix, "newer"))}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a", CreationTimestamp: old},
			Spec: networkingv1.IngressSpec{
				DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "def", Port: networkingv1.ServiceBackendPort{Number: 80}}},
				Rules: []networkingv1.IngressRule{
					rule("app.example.com",
						path("/", prefix, "root"),
						path("/foo", prefix, "foo"),
						path("/foo", exact, "foo-exact"),
						path("/foo/bar/", prefix, "foobar")),
					rule("*.wild.example.com", path("/", prefix, "wild")),
					rule("", path("/shared", prefix, "any")),
					rule("dup.example.com", path("/", prefix, "older")),
				}}},
	}
	newer := ings[0]
	tab := Build(ings, lk)
	cases := []struct {
		name, host, path, want string
	}{
		{"root prefix", "app.example.com", "/", "10.0.0.1"},
		{"exact beats prefix of same path", "app.example.com", "/foo", "10.0.0.3"},
		{"prefix element", "app.example.com", "/foo/", "10.0.0.2"},
		{"prefix child", "app.example.com", "/foo/x", "10.0.0.2"},
		{"prefix is per path element", "app.example.com", "/foobar", "10.0.0.1"},
		{"longest prefix wins, trailing slash ignored", "app.example.com", "/foo/bar", "10.0.0.4"},
		{"longest prefix child", "app.example.com", "/foo/bar/baz", "10.0.0.4"},
		{"host is case-insensitive", "APP.Example.com", "/foo/x", "10.0.0.2"},
		{"wildcard one label", "a.wild.example.com", "/x", "10.0.0.5"},
		{"wildcard not two labels", "a.b.wild.example.com", "/x", "10.0.0.7"},
		{"wildcard not the bare domain", "wild.example.com", "/x", "10.0.0.7"},
		{"hostless rule for any host", "other.example.com", "/shared/x", "10.0.0.6"},
		{"hostless rule after host miss", "app.example.com", "/shared", "10.0.0.1"},
		{"default backend", "other.example.com", "/nope", "10.0.0.7"},
		{"oldest ingress wins a conflict", "dup.example.com", "/", "10.0.0.8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tab.Match(tc.host, tc.path)
			if b == nil {
				t.Fatalf("no match, want %s", tc.want)
			}
			if got := b.Pick(); got != tc.want+":8080" {
				t.Errorf("matched %s (%s), want %s", got, b.Name, tc.want)
			}
		})
	}
	if b := Build([]*networkingv1.Ingress{newer}, lk).Match("nothing", "/"); b != nil {
		t.Errorf("no default backend: matched %s", b.Name)
	}
}

func TestPickRoundRobin(t *testing.T) {
	b := &Backend{Endpoints: []string{"a", "b", "c"}}
	seen := map[string]int{}
	for i := 0; i < 9; i++ {
		seen[b.Pick()]++
	}
	if seen["a"] != 3 || seen["b"] != 3 || seen["c"] != 3 {
		t.Errorf("uneven: %v", seen)
	}
	if (&Backend{}).Pick() != "" {
		t.Error("empty backend picked an endpoint")
	}
}
