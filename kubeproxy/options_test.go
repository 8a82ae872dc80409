package kubeproxy

import (
	"flag"
	"testing"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		o    Options
		ok   bool
	}{
		{"defaults", Options{Kubeconfig: "k"}, true},
		{"no kubeconfig", Options{}, false},
		{"cleanup needs no kubeconfig", Options{Cleanup: true}, true},
		{"cluster cidr", Options{Kubeconfig: "k", ClusterCIDR: "10.244.0.0/16"}, true},
		{"bad cluster cidr", Options{Kubeconfig: "k", ClusterCIDR: "10.244.0.0"}, false},
		{"ipv6 cluster cidr", Options{Kubeconfig: "k", ClusterCIDR: "fd00::/64"}, false},
		{"bad bit", Options{Kubeconfig: "k", MasqueradeBit: 32}, false},
		{"min above period", Options{Kubeconfig: "k", MinSyncPeriod: 2e9, SyncPeriod: 1e9}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.o.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	cases := []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--endpoint-chains"}, true},
		{[]string{"--endpoint-chains=false"}, false},
	}
	for _, tc := range cases {
		var o Options
		fs := flag.NewFlagSet("kube-proxy", flag.ContinueOnError)
		o.AddFlags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if o.EndpointChains != tc.want {
			t.Errorf("%q: EndpointChains = %v, want %v", tc.args, o.EndpointChains, tc.want)
		}
		if o.MasqueradeBit != 14 {
			t.Errorf("%q: MasqueradeBit = %d, want the default 14", tc.args, o.MasqueradeBit)
		}
	}
}
