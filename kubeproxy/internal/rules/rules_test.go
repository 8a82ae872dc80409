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
	sp := ServicePort{Namespace: "a", Name: "b", Protocol: "tcp", ClusterIP: "10.0.0.1", Port: 1}
	for i := 0; i < 4; i++ {
		sp.Endpoints = append(sp.Endpoints, Endpoint{IP: "10.1.0." + string(rune('1'+i)), Port: 80})
	}
	tabs := Render(Config{}, []ServicePort{sp})
	var got []string
	for _, r := range tabs.NAT[SvcChain(sp)] {
		if strings.Contains(r, "-j DNAT") {
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
