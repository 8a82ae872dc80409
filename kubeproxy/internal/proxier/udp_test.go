package proxier

import (
	"net/netip"
	"testing"

	"skiff.dev/kubeproxy/internal/rules"
)

func TestStaleFilters(t *testing.T) {
	dns := func(eps ...string) rules.ServicePort {
		sp := rules.ServicePort{Namespace: "kube-system", Name: "dns", Protocol: "udp", ClusterIP: "10.96.0.10", Port: 53, NodePort: 30053}
		for _, e := range eps {
			sp.Endpoints = append(sp.Endpoints, rules.Endpoint{IP: e, Port: 53})
		}
		return sp
	}
	state := func(ports ...rules.ServicePort) udpState {
		s := udpState{}
		for _, p := range ports {
			for _, f := range udpFrontends(p) {
				s[f.frontend] = f.endpoints
			}
		}
		return s
	}
	tcp := rules.ServicePort{Namespace: "default", Name: "web", Protocol: "tcp", ClusterIP: "10.96.0.20", Port: 80,
		Endpoints: []rules.Endpoint{{IP: "10.244.0.9", Port: 80}}}
	cases := []struct {
		name       string
		prev, next udpState
		want       []string
	}{
		{name: "unchanged", prev: state(dns("10.244.0.2")), next: state(dns("10.244.0.2"))},
		{name: "endpoint added", prev: state(dns("10.244.0.2")), next: state(dns("10.244.0.2", "10.244.0.3"))},
		{name: "tcp ignored", prev: state(tcp), next: state()},
		{
			name: "endpoint removed", prev: state(dns("10.244.0.2", "10.244.0.3")), next: state(dns("10.244.0.3")),
			want: []string{
				"proto=17 orig-dst=10.96.0.10 orig-port-dst=53 reply-src=10.244.0.2",
				"proto=17 orig-port-dst=30053 reply-src=10.244.0.2",
			},
		},
		{
			name: "service deleted", prev: state(dns("10.244.0.2")), next: state(),
			want: []string{
				"proto=17 orig-dst=10.96.0.10 orig-port-dst=53 reply-src=10.244.0.2",
				"proto=17 orig-port-dst=30053 reply-src=10.244.0.2",
			},
		},
		{
			name: "first endpoint", prev: state(dns()), next: state(dns("10.244.0.2")),
			want: []string{
				"proto=17 orig-dst=10.96.0.10 orig-port-dst=53 reply-src=10.96.0.10",
				"proto=17 orig-port-dst=30053",
			},
		},
		{
			name: "first sync keeps NodePort flows", prev: nil, next: state(dns("10.244.0.2")),
			want: []string{
				"proto=17 orig-dst=10.96.0.10 orig-port-dst=53 reply-src=10.96.0.10",
			},
		},
		{name: "no endpoints at all", prev: state(dns()), next: state()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := staleFilters(tc.prev, tc.next)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d filters %v, want %q", len(got), got, tc.want)
			}
			for i := range got {
				if got[i].String() != tc.want[i] {
					t.Errorf("filter %d = %q, want %q", i, got[i], tc.want[i])
				}
			}
		})
	}
	if f := udpFrontends(dns("10.244.0.3", "10.244.0.2", "10.244.0.3")); len(f) != 2 || len(f[0].endpoints) != 2 || f[0].endpoints[0] != netip.MustParseAddr("10.244.0.2") {
		t.Errorf("frontends not sorted and distinct: %+v", f)
	}
}
