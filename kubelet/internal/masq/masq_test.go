package masq

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// netns creates a network namespace for the test and returns an iptables
// wrapper that runs the real binary inside it.
func netns(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, b := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skip(b + " not installed")
		}
	}
	name := fmt.Sprintf("skmasq%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	real, _ := exec.LookPath("iptables")
	path := filepath.Join(t.TempDir(), "iptables")
	script := fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n", name, real)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func save(t *testing.T, ipt string) string {
	t.Helper()
	out, err := exec.Command(ipt, "-t", "nat", "-S").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables -S: %v\n%s", err, out)
	}
	return string(out)
}

func TestEnsure(t *testing.T) {
	ipt := netns(t)
	chain := ChainName("skt0")
	for _, step := range []struct {
		name, cidr string
	}{
		{"create", "10.244.0.0/24"},
		{"idempotent", "10.244.0.0/24"},
		{"other range", "10.245.1.0/24"},
	} {
		t.Run(step.name, func(t *testing.T) {
			if err := Ensure(Options{PodCIDR: step.cidr, IPTables: ipt, Bridge: "skt0"}); err != nil {
				t.Fatal(err)
			}
			got := save(t, ipt)
			want := []string{
				"-A POSTROUTING -s " + step.cidr + ` -m comment --comment "` + comment + `" -j ` + chain,
				"-A " + chain + " -d " + step.cidr + ` -m comment --comment "` + comment + `" -j RETURN`,
				"-A " + chain + ` -d 224.0.0.0/4 -m comment --comment "` + comment + `" -j RETURN`,
				"-A " + chain + ` -m comment --comment "` + comment + `" -j MASQUERADE`,
			}
			for _, w := range want {
				if strings.Count(got, w+"\n") != 1 {
					t.Errorf("want exactly one %q in:\n%s", w, got)
				}
			}
			if n := strings.Count(got, "-j "+chain+"\n"); n != 1 {
				t.Errorf("%d jumps to %s, want 1:\n%s", n, chain, got)
			}
			if n := strings.Count(got, "-A "+chain+" "); n != 3 {
				t.Errorf("chain has %d rules, want 3:\n%s", n, got)
			}
		})
	}
}

func TestRemove(t *testing.T) {
	ipt := netns(t)
	chain := ChainName("skt0")
	if err := Remove("skt0", ipt); err != nil {
		t.Fatalf("Remove without rules: %v", err)
	}
	if err := Ensure(Options{PodCIDR: "10.244.3.0/24", IPTables: ipt, Bridge: "skt0"}); err != nil {
		t.Fatal(err)
	}
	if err := Remove("skt0", ipt); err != nil {
		t.Fatal(err)
	}
	if got := save(t, ipt); strings.Contains(got, chain) {
		t.Fatalf("rules left after Remove:\n%s", got)
	}
}

func TestEnsureInvalid(t *testing.T) {
	for _, tc := range []struct{ name, cidr, bridge string }{
		{"empty", "", "skt0"}, {"garbage", "x", "skt0"}, {"ipv6", "fd00::/64", "skt0"},
		{"no bridge", "10.0.0.0/24", ""}, {"long bridge", "10.0.0.0/24", "averyveryverylongname"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Ensure(Options{PodCIDR: tc.cidr, Bridge: tc.bridge, IPTables: "/nonexistent"}); err == nil {
				t.Fatal("want error")
			}
		})
	}
}
