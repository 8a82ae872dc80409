package rules

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func fixture() []ServicePort {
	return []ServicePort{
		{Namespace: "default", Name: "web", PortName: "http", Protocol: "tcp", ClusterIP: "10.96.0.10", Port: 80, NodePort: 30080,
			Endpoints: []Endpoint{{IP: "10.244.0.3", Port: 8080}, {IP: "10.244.0.2", Port: 8080}, {IP: "10.1.0.4", Port: 8080, Remote: true}}},
		{Namespace: "default", Name: "sticky", Protocol: "tcp", ClusterIP: "10.96.0.11", Port: 80, AffinityTimeout: 60, ExternalIPs: []string{"192.0.2.7"},
			Endpoints: []Endpoint{{IP: "10.244.0.5", Port: 80}, {IP: "10.244.0.6", Port: 80}}},
		{Namespace: "kube-system", Name: "dns", PortName: "dns", Protocol: "udp", ClusterIP: "10.96.0.53", Port: 53,
			Endpoints: []Endpoint{{IP: "10.244.0.7", Port: 53}}},
		{Namespace: "default", Name: "empty", Protocol: "tcp", ClusterIP: "10.96.0.12", Port: 80, NodePort: 30081},
		{Namespace: "default", Name: "headless", Protocol: "tcp", ClusterIP: "None", Port: 80,
			Endpoints: []Endpoint{{IP: "10.244.0.8", Port: 80}}},
	}
}

func TestRenderGolden(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
	}{
		{"cluster-cidr", Config{ClusterCIDR: "10.244.0.0/16", MasqueradeBit: 14}},
		{"masquerade-all", Config{MasqueradeAll: true, MasqueradeBit: 14, RandomFully: true}},
		{"endpoint-chains-cluster-cidr", Config{ClusterCIDR: "10.244.0.0/16", MasqueradeBit: 14, EndpointChains: true}},
		{"endpoint-chains-masquerade-all", Config{MasqueradeAll: true, MasqueradeBit: 14, RandomFully: true, EndpointChains: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tabs := Render(tc.cfg, fixture())
			var b strings.Builder
			WriteTable(&b, "filter", nil, tabs.Filter, true, nil, nil)
			WriteTable(&b, "nat", nil, tabs.NAT, true, nil, nil)
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if b.String() != string(want) {
				t.Errorf("render differs from %s (run with -update to accept):\n%s", golden, b.String())
			}
		})
	}
}

func TestProbabilities(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    Config
		target string // what the picking rules jump to
	}{
		{"flat", Config{}, "-j DNAT"},
		{"endpoint chains", Config{EndpointChains: true}, "-j " + prefixSep},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := ServicePort{Namespace: "a", Name: "b", Protocol: "tcp", ClusterIP: "10.0.0.1", Port: 1}
			for i := 0; i < 4; i++ {
				sp.Endpoints = append(sp.Endpoints, Endpoint{IP: "10.1.0." + string(rune('1'+i)), Port: 80})
			}
			tabs := Render(tc.cfg, []ServicePort{sp})
			var got []string
			for _, r := range tabs.NAT[SvcChain(sp)] {
				if strings.Contains(r, tc.target) {
					got = append(got, r)
				}
			}
			want := []string{"0.2500000000", "0.3333333333", "0.5000000000", ""}
			if len(got) != 4 {
				t.Fatalf("got %d rules, want 4: %q", len(got), got)
			}
			for i, w := range want {
				if w == "" {
					if strings.Contains(got[i], "statistic") {
						t.Errorf("last rule %q must be unconditional", got[i])
					}
					continue
				}
				if !strings.Contains(got[i], "--probability "+w) {
					t.Errorf("rule %d = %q, want probability %s", i, got[i], w)
				}
			}
		})
	}
}

// TestChainNames checks the names against ones any Kubernetes node has.
func TestChainNames(t *testing.T) {
	cases := []struct {
		got, want string
	}{
		{SvcChain(ServicePort{Namespace: "default", Name: "kubernetes", PortName: "https", Protocol: "tcp"}), "KUBE-SVC-NPX46M4PTMTKRN6Y"},
		{SvcChain(ServicePort{Namespace: "kube-system", Name: "kube-dns", PortName: "dns", Protocol: "udp"}), "KUBE-SVC-TCOU7JCQXEZGVUNU"},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("chain name %s, want %s", tc.got, tc.want)
		}
	}
	sp := ServicePort{Namespace: "a", Name: "b", Protocol: "tcp"}
	names := map[string]bool{SvcChain(sp): true, ExtChain(sp): true,
		SepChain(sp, Endpoint{IP: "10.0.0.1", Port: 80}): true, SepChain(sp, Endpoint{IP: "10.0.0.1", Port: 81}): true}
	if len(names) != 4 {
		t.Errorf("chain names collide: %v", names)
	}
	for n := range names {
		if len(n) != len("KUBE-XXX-")+16 || !Owned(n) {
			t.Errorf("chain %q: want an owned KUBE-XXX-<16 chars> name", n)
		}
	}
}

func TestWriteTableIncremental(t *testing.T) {
	ports := fixture()
	prev := Render(Config{}, ports)
	cases := []struct {
		name        string
		mutate      func([]ServicePort) []ServicePort
		wantChanged bool
		wantWrite   []string
		wantDelete  []string
	}{
		{name: "no change", mutate: func(p []ServicePort) []ServicePort { return p }},
		{
			name: "endpoint replaced",
			mutate: func(p []ServicePort) []ServicePort {
				p[0].Endpoints[0] = Endpoint{IP: "10.244.0.9", Port: 8080} // .3 → .9
				return p
			},
			wantChanged: true,
			wantWrite:   []string{SvcChain(fixture()[0])},
		},
		{
			name:        "service removed",
			mutate:      func(p []ServicePort) []ServicePort { return p[1:] },
			wantChanged: true,
			wantWrite:   []string{ChainServices, ChainNodePorts},
			wantDelete:  []string{SvcChain(fixture()[0])},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next := Render(Config{}, tc.mutate(fixture()))
			var b strings.Builder
			changed := WriteTable(&b, "nat", prev.NAT, next.NAT, false, nil, nil)
			if changed != tc.wantChanged {
				t.Fatalf("changed = %v, want %v\n%s", changed, tc.wantChanged, b.String())
			}
			out := b.String()
			for _, c := range tc.wantWrite {
				if !strings.Contains(out, ":"+c+" - [0:0]\n") && !strings.Contains(out, "-N "+c+"\n") {
					t.Errorf("chain %s not rewritten:\n%s", c, out)
				}
			}
			for _, c := range tc.wantDelete {
				if !strings.Contains(out, "-X "+c+"\n") {
					t.Errorf("chain %s not deleted:\n%s", c, out)
				}
			}
			if changed && strings.Contains(out, "-A "+ChainPostrouting) {
				t.Errorf("unchanged chain rewritten:\n%s", out)
			}
		})
	}
}

// TestWriteTableIncrementalEndpointChains checks that with endpoint chains
// a replaced endpoint rewrites only its Service's KUBE-SVC chain, creates the
// new KUBE-SEP chain and deletes the old one.
func TestWriteTableIncrementalEndpointChains(t *testing.T) {
	cfg := Config{EndpointChains: true}
	prev := Render(cfg, fixture())
	ports := fixture()
	old := ports[0].Endpoints[0] // 10.244.0.3, before sorting
	ports[0].Endpoints[0] = Endpoint{IP: "10.244.0.9", Port: 8080}
	next := Render(cfg, ports)
	var b strings.Builder
	if !WriteTable(&b, "nat", prev.NAT, next.NAT, false, nil, nil) {
		t.Fatal("no change written")
	}
	sp := fixture()[0]
	oldSep, newSep := SepChain(sp, old), SepChain(sp, Endpoint{IP: "10.244.0.9", Port: 8080})
	want := strings.Join([]string{
		"*nat",
		":" + SvcChain(sp) + " - [0:0]",
		":" + oldSep + " - [0:0]",
		"-N " + newSep,
	}, "\n") + "\n"
	out := b.String()
	if !strings.HasPrefix(out, want) {
		t.Errorf("declarations:\n%s\nwant them to start with:\n%s", out, want)
	}
	if !strings.HasSuffix(out, "-X "+oldSep+"\nCOMMIT\n") {
		t.Errorf("old KUBE-SEP chain not deleted last:\n%s", out)
	}
	if n := strings.Count(out, "\n-A "); n != 3+2 { // 3 picks in KUBE-SVC (+ no masq rule), 2 rules in KUBE-SEP
		t.Errorf("%d rules written, want 5:\n%s", n, out)
	}
}

// TestLayoutSwitch checks that a full sync of one layout over the other's
// chains deletes what the new layout doesn't use.
func TestLayoutSwitch(t *testing.T) {
	flat, ep := Render(Config{}, fixture()), Render(Config{EndpointChains: true}, fixture())
	existing := func(c Chains) []string {
		var out []string
		for n := range c {
			out = append(out, n)
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		from, to Chains
	}{{"flat to endpoint chains", flat.NAT, ep.NAT}, {"endpoint chains to flat", ep.NAT, flat.NAT}} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			WriteTable(&b, "nat", nil, tc.to, true, existing(tc.from), nil)
			out := b.String()
			for n := range tc.from {
				_, keep := tc.to[n]
				if deleted := strings.Contains(out, "-X "+n+"\n"); deleted == keep {
					t.Errorf("chain %s: deleted=%v, still wanted=%v", n, deleted, keep)
				}
			}
		})
	}
	if len(ep.NAT) <= len(flat.NAT) {
		t.Errorf("endpoint chains layout has %d nat chains, flat %d", len(ep.NAT), len(flat.NAT))
	}
}

func TestOwned(t *testing.T) {
	for chain, want := range map[string]bool{
		"KUBE-SERVICES": true, "KUBE-SVC-ABC": true, "KUBE-SEP-X": true, "KUBE-EXT-Y": true,
		"KUBE-FIREWALL": false, "PREROUTING": false, "DOCKER": false,
	} {
		if got := Owned(chain); got != want {
			t.Errorf("Owned(%q) = %v, want %v", chain, got, want)
		}
	}
}
