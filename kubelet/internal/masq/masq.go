// Package masq gives the node's pods one source-NAT rule set for traffic that
// leaves the pod network, written once by the kubelet, instead of the CNI
// bridge plugin's ipMasq, which creates and deletes an iptables chain for
// every pod (several iptables executions per pod start and stop).
//
// The rules, in the nat table, in a chain named after the node's bridge
// (so two kubelets on one host keep to their own):
//
//	POSTROUTING -s <podCIDR> -j SKIFF-MASQ-<bridge>
//	SKIFF-MASQ-<bridge> -d <podCIDR> -j RETURN
//	SKIFF-MASQ-<bridge> -d 224.0.0.0/4 -j RETURN
//	SKIFF-MASQ-<bridge> -j MASQUERADE
//
// which is what the bridge plugin installs per pod, for the whole range.
package masq

import (
	"fmt"
	"net"
	"strings"

	goipt "github.com/coreos/go-iptables/iptables"
)

// ChainName is the nat chain holding the masquerade rules of bridge.
func ChainName(bridge string) string { return "SKIFF-MASQ-" + bridge }

const comment = "skiff: masquerade pod traffic leaving the pod network"

// Options say which range to masquerade and which iptables to run.
type Options struct {
	// PodCIDR is the node's pod range, e.g. 10.244.0.0/24. Required.
	PodCIDR string
	// Bridge is the pod network's bridge; it names the chain. Required.
	Bridge string
	// IPTables is the iptables binary (default: "iptables" on $PATH).
	IPTables string
}

// Ensure installs the rules for o.PodCIDR if they are missing. It is
// idempotent and leaves rules for other ranges alone.
func Ensure(o Options) error {
	_, cidr, err := net.ParseCIDR(o.PodCIDR)
	if err != nil {
		return fmt.Errorf("masq: pod CIDR %q: %w", o.PodCIDR, err)
	}
	if cidr.IP.To4() == nil {
		return fmt.Errorf("masq: pod CIDR %q is not IPv4", o.PodCIDR)
	}
	if o.Bridge == "" || len(o.Bridge) > 15 {
		return fmt.Errorf("masq: bridge name %q: want 1 to 15 bytes", o.Bridge)
	}
	chain := ChainName(o.Bridge)
	ipt, exists, err := open(o.IPTables, chain)
	if err != nil {
		return err
	}
	if !exists {
		if err := ipt.NewChain("nat", chain); err != nil {
			return fmt.Errorf("masq: create chain %s: %w", chain, err)
		}
	}
	c := cidr.String()
	rules := [][]string{
		{"-d", c, "-m", "comment", "--comment", comment, "-j", "RETURN"},
		{"-d", "224.0.0.0/4", "-m", "comment", "--comment", comment, "-j", "RETURN"},
		{"-m", "comment", "--comment", comment, "-j", "MASQUERADE"},
	}
	// The chain's contents are rewritten when they differ (another range
	// from an earlier run): order matters, so append into an empty chain.
	want := make([]string, 0, len(rules))
	for _, r := range rules {
		want = append(want, ruleSpec(chain, r))
	}
	have, err := ipt.List("nat", chain)
	if err != nil {
		return fmt.Errorf("masq: list %s: %w", chain, err)
	}
	if !sameRules(have, want) {
		if err := ipt.ClearChain("nat", chain); err != nil {
			return fmt.Errorf("masq: clear %s: %w", chain, err)
		}
		for _, r := range rules {
			if err := ipt.Append("nat", chain, r...); err != nil {
				return fmt.Errorf("masq: append to %s: %w", chain, err)
			}
		}
	}
	jump := []string{"-s", c, "-m", "comment", "--comment", comment, "-j", chain}
	if err := ipt.AppendUnique("nat", "POSTROUTING", jump...); err != nil {
		return fmt.Errorf("masq: jump from POSTROUTING: %w", err)
	}
	// Drop jumps left for another range by an earlier run.
	post, err := ipt.List("nat", "POSTROUTING")
	if err != nil {
		return fmt.Errorf("masq: list POSTROUTING: %w", err)
	}
	for _, l := range post {
		f := strings.Fields(l)
		if len(f) > 4 && f[0] == "-A" && f[2] == "-s" && f[3] != c && f[len(f)-2] == "-j" && f[len(f)-1] == chain {
			stale := []string{"-s", f[3], "-m", "comment", "--comment", comment, "-j", chain}
			if err := ipt.DeleteIfExists("nat", "POSTROUTING", stale...); err != nil {
				return fmt.Errorf("masq: remove stale jump: %w", err)
			}
		}
	}
	return nil
}

// ruleSpec is how `iptables -S` prints a rule of chain.
func ruleSpec(chain string, r []string) string {
	s := "-A " + chain
	for _, a := range r {
		if a == comment {
			a = `"` + a + `"`
		}
		s += " " + a
	}
	return s
}

// sameRules compares `iptables -S chain` output (whose first line is the
// chain declaration) with the wanted rules.
func sameRules(have, want []string) bool {
	var rules []string
	for _, l := range have {
		if len(l) > 3 && l[:3] == "-A " {
			rules = append(rules, l)
		}
	}
	if len(rules) != len(want) {
		return false
	}
	for i := range rules {
		if rules[i] != want[i] {
			return false
		}
	}
	return true
}

// Remove deletes bridge's chain and every jump to it from POSTROUTING;
// iptables is the binary ("" for "iptables" on $PATH). Missing rules are
// not an error.
func Remove(bridge, iptables string) error {
	if bridge == "" {
		return fmt.Errorf("masq: bridge name is empty")
	}
	chain := ChainName(bridge)
	ipt, exists, err := open(iptables, chain)
	if err != nil {
		return err
	}
	if !exists {
		return nil
	}
	post, err := ipt.List("nat", "POSTROUTING")
	if err != nil {
		return fmt.Errorf("masq: list POSTROUTING: %w", err)
	}
	for _, l := range post {
		f := strings.Fields(l)
		if len(f) > 4 && f[0] == "-A" && f[2] == "-s" && f[len(f)-2] == "-j" && f[len(f)-1] == chain {
			jump := []string{"-s", f[3], "-m", "comment", "--comment", comment, "-j", chain}
			if err := ipt.DeleteIfExists("nat", "POSTROUTING", jump...); err != nil {
				return fmt.Errorf("masq: remove jump: %w", err)
			}
		}
	}
	if err := ipt.ClearAndDeleteChain("nat", chain); err != nil {
		return fmt.Errorf("masq: delete %s: %w", chain, err)
	}
	return nil
}

// open returns an iptables handle (the binary at path, or iptables from
// PATH) and whether chain exists in the nat table.
func open(path, chain string) (*goipt.IPTables, bool, error) {
	var (
		ipt *goipt.IPTables
		err error
	)
	if path != "" {
		ipt, err = goipt.New(goipt.IPFamily(goipt.ProtocolIPv4), goipt.Timeout(5), goipt.Path(path))
	} else {
		ipt, err = goipt.New(goipt.IPFamily(goipt.ProtocolIPv4), goipt.Timeout(5))
	}
	if err != nil {
		return nil, false, fmt.Errorf("masq: %w", err)
	}
	exists, err := ipt.ChainExists("nat", chain)
	if err != nil {
		return nil, false, fmt.Errorf("masq: list nat chains: %w", err)
	}
	return ipt, exists, nil
}
