// Package rules renders the iptables chains kube-proxy wants from a snapshot
// of Service ports and their ready endpoints, in one of two layouts:
//
//   - flat (the default): KUBE-SERVICES and KUBE-NODEPORTS → KUBE-SVC-<hash>,
//     which picks an endpoint with statistic probabilities and DNATs to it
//     directly (no per-endpoint KUBE-SEP or per-Service KUBE-EXT chains, see
//     RenderPort). One chain per Service port keeps iptables-nft-restore,
//     whose cost grows with rules × chains, fast.
//   - endpoint chains (Config.EndpointChains): upstream kube-proxy's layout,
//     KUBE-SERVICES → KUBE-SVC-<hash> → KUBE-SEP-<hash> per endpoint (hairpin
//     masquerade and DNAT), KUBE-NODEPORTS and external IPs → KUBE-EXT-<hash>
//     → KUBE-SVC-<hash>. About 11× the chains, so a full sync is several
//     times slower on iptables-nft (docs/benchmarks/network.md, "Layouts").
//
// Both use upstream's chain names (same hash), KUBE-MARK-MASQ /
// KUBE-POSTROUTING for masquerading, and REJECT rules in the filter table for
// Services without ready endpoints. Every KUBE-SVC/SEP/EXT chain is owned by
// either layout, so the first full sync after switching layouts deletes the
// other layout's chains.
//
// Rendering is pure: it returns one Chains value per table, which the caller
// diffs against what it applied last (see Transaction).
package rules

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
)

// Fixed chain names, as used by upstream kube-proxy.
const (
	ChainServices         = "KUBE-SERVICES"
	ChainNodePorts        = "KUBE-NODEPORTS"
	ChainPostrouting      = "KUBE-POSTROUTING"
	ChainMarkMasq         = "KUBE-MARK-MASQ"
	ChainExternalServices = "KUBE-EXTERNAL-SERVICES"
	ChainForward          = "KUBE-FORWARD"

	prefixSvc = "KUBE-SVC-"
	// Per-endpoint and per-external-Service chains of the endpoint-chains
	// layout; owned in both layouts so that a full sync removes them.
	prefixSep = "KUBE-SEP-"
	prefixExt = "KUBE-EXT-"
)

// DefaultAffinityTimeout is the ClientIP session affinity timeout used when a
// Service does not set one (3 hours, as in Kubernetes).
const DefaultAffinityTimeout = 10800

// Endpoint is one ready backend of a Service port.
type Endpoint struct {
	IP   string
	Port int32
	// Remote is true when the endpoint is known to run on another node: it
	// can't send traffic through this node's nat table, so it needs no
	// hairpin masquerade rule.
	Remote bool
}

func (e Endpoint) String() string { return net.JoinHostPort(e.IP, strconv.Itoa(int(e.Port))) }

// ServicePort is one port of one Service, with its ready endpoints.
type ServicePort struct {
	Namespace string
	Name      string
	// PortName is the Service port's name ("" for a single unnamed port).
	PortName string
	// Protocol is "tcp", "udp" or "sctp".
	Protocol  string
	ClusterIP string
	Port      int32
	// NodePort is 0 when the Service has none.
	NodePort int32
	// ExternalIPs are spec.externalIPs, routed like the NodePort.
	ExternalIPs []string
	// AffinityTimeout > 0 turns on ClientIP session affinity (seconds).
	AffinityTimeout int32
	// Endpoints are the ready backends; Render sorts them.
	Endpoints []Endpoint
}

// Key is "namespace/name:port", the upstream ServicePortName string.
func (s ServicePort) Key() string {
	k := s.Namespace + "/" + s.Name
	if s.PortName != "" {
		k += ":" + s.PortName
	}
	return k
}

// Config holds the node-wide settings that shape the rules.
type Config struct {
	// ClusterCIDR, when set, masquerades traffic to ClusterIPs that comes
	// from outside the pod network.
	ClusterCIDR string
	// MasqueradeAll masquerades all traffic to ClusterIPs.
	MasqueradeAll bool
	// MasqueradeBit is the fwmark bit used to flag packets for SNAT (0–31).
	MasqueradeBit int
	// RandomFully adds --random-fully to MASQUERADE when iptables supports it.
	RandomFully bool
	// EndpointChains renders upstream's layout with a KUBE-SEP chain per
	// endpoint and a KUBE-EXT chain per Service port with external traffic,
	// instead of the flat one-chain-per-Service-port layout.
	EndpointChains bool
}

// Chains maps a chain name to its rules, each rule being the text after
// "-A <chain> ".
type Chains map[string][]string

// Tables is the rendered nat and filter state.
type Tables struct {
	NAT    Chains
	Filter Chains
}

// Owned reports whether chain is one kube-proxy creates and may delete.
func Owned(chain string) bool {
	switch chain {
	case ChainServices, ChainNodePorts, ChainPostrouting, ChainMarkMasq, ChainExternalServices, ChainForward:
		return true
	}
	return strings.HasPrefix(chain, prefixSvc) || strings.HasPrefix(chain, prefixSep) || strings.HasPrefix(chain, prefixExt)
}

// hashName is upstream's chain naming: prefix + the first 16 characters of
// the base32 SHA-256 of the concatenated parts (e.g. "default/kubernetes:https"
// + "tcp" gives KUBE-SVC-NPX46M4PTMTKRN6Y, as on any Kubernetes node).
func hashName(prefix string, parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "")))
	return prefix + base32.StdEncoding.EncodeToString(h[:])[:16]
}

// SvcChain is the KUBE-SVC chain name of a Service port.
func SvcChain(s ServicePort) string { return hashName(prefixSvc, s.Key(), s.Protocol) }

// ExtChain is the KUBE-EXT chain name of a Service port (endpoint-chains
// layout only).
func ExtChain(s ServicePort) string { return hashName(prefixExt, s.Key(), s.Protocol) }

// SepChain is the KUBE-SEP chain name of one endpoint of a Service port. In
// both layouts it also names the xt_recent list that remembers the endpoint's
// clients for ClientIP affinity, as upstream does.
func SepChain(s ServicePort, e Endpoint) string {
	return hashName(prefixSep, s.Key(), s.Protocol, e.String())
}

// Fragment is the rendered rules of one Service port: its own chain and
// the lines it contributes to the shared chains.
type Fragment struct {
	key       string
	own       Chains   // its KUBE-SVC chain (and KUBE-SEP, KUBE-EXT chains)
	services  []string // nat KUBE-SERVICES lines
	nodePorts []string // nat KUBE-NODEPORTS lines
	reject    []string // filter KUBE-SERVICES lines
	rejectExt []string // filter KUBE-EXTERNAL-SERVICES lines
}

// Render computes the desired chains. Service ports without a ClusterIP
// (headless) are skipped. The input slice's endpoints are sorted in place.
func Render(cfg Config, ports []ServicePort) Tables {
	frags := make([]*Fragment, 0, len(ports))
	for i := range ports {
		if f := RenderPort(cfg, &ports[i]); f != nil {
			frags = append(frags, f)
		}
	}
	return Assemble(cfg, frags)
}

// RenderPort renders one Service port, or returns nil for a port without
// a ClusterIP. Its endpoints are sorted in place.
func RenderPort(cfg Config, sp *ServicePort) *Fragment {
	if sp.ClusterIP == "" || sp.ClusterIP == "None" {
		return nil
	}
	eps := sp.Endpoints
	sort.Slice(eps, func(i, j int) bool {
		if eps[i].IP != eps[j].IP {
			return eps[i].IP < eps[j].IP
		}
		return eps[i].Port < eps[j].Port
	})
	key := sp.Key()
	f := &Fragment{key: key + "\x00" + sp.Protocol, own: Chains{}}
	proto := sp.Protocol
	dst := fmt.Sprintf("-d %s/32 -p %s -m %s --dport %d", sp.ClusterIP, proto, proto, sp.Port)

	if len(eps) == 0 {
		f.reject = append(f.reject, fmt.Sprintf(`-m comment --comment "%s has no endpoints" %s -j REJECT`, key, dst))
		if sp.NodePort > 0 {
			f.rejectExt = append(f.rejectExt, fmt.Sprintf(
				`-m comment --comment "%s has no endpoints" -m addrtype --dst-type LOCAL -p %s -m %s --dport %d -j REJECT`,
				key, proto, proto, sp.NodePort))
		}
		for _, ip := range sp.ExternalIPs {
			f.rejectExt = append(f.rejectExt, fmt.Sprintf(
				`-m comment --comment "%s has no endpoints" -d %s/32 -p %s -m %s --dport %d -j REJECT`, key, ip, proto, proto, sp.Port))
		}
		return f
	}

	svc := SvcChain(*sp)
	f.services = append(f.services, fmt.Sprintf(`-m comment --comment "%s cluster IP" %s -j %s`, key, dst, svc))
	if cfg.EndpointChains {
		renderEndpointChains(cfg, sp, f, svc, dst)
		return f
	}

	// The KUBE-SVC chain does all the work, without per-endpoint chains:
	// masquerade traffic from outside the pod network, hairpin-masquerade
	// traffic from any of the Service's own endpoints on this node (a pod
	// reaching itself through its Service must see the reply come from the
	// Service, not from itself; upstream does this per endpoint), then (with
	// affinity) send a known client to its endpoint, then pick an endpoint
	// at random and DNAT to it. iptables-nft looks chains up linearly, so
	// every chain kube-proxy creates makes every rule in a restore slower;
	// keeping to one chain per Service port is what keeps a full sync of
	// 1,000 Services × 10 endpoints under a second (docs/benchmarks/network.md).
	rules := make([]string, 0, 2+3*len(eps))
	if cfg.MasqueradeAll {
		rules = append(rules, fmt.Sprintf(`-m comment --comment "%s cluster IP" %s -j %s`, key, dst, ChainMarkMasq))
	} else if cfg.ClusterCIDR != "" {
		rules = append(rules, fmt.Sprintf(`-m comment --comment "%s cluster IP" ! -s %s %s -j %s`, key, cfg.ClusterCIDR, dst, ChainMarkMasq))
	}
	for _, ep := range eps {
		if !ep.Remote {
			rules = append(rules, "-s "+ep.IP+"/32 -j "+ChainMarkMasq)
		}
	}
	recent := func(ep Endpoint) string { return SepChain(*sp, ep) }
	if sp.AffinityTimeout > 0 {
		for _, ep := range eps {
			rules = append(rules, fmt.Sprintf(`-p %s -m recent --name %s --rcheck --seconds %d --reap -j DNAT --to-destination %s`,
				proto, recent(ep), sp.AffinityTimeout, ep))
		}
	}
	n := len(eps)
	var b strings.Builder
	for j, ep := range eps {
		b.Reset()
		if j < n-1 {
			fmt.Fprintf(&b, "-m statistic --mode random --probability %0.10f ", 1.0/float64(n-j))
		}
		b.WriteString("-p " + proto + " ")
		if sp.AffinityTimeout > 0 {
			b.WriteString("-m recent --name " + recent(ep) + " --set ")
		}
		b.WriteString("-j DNAT --to-destination " + ep.String())
		rules = append(rules, b.String())
	}
	f.own[svc] = rules

	// External traffic (NodePort, external IPs) is always masqueraded, then
	// handled by the KUBE-SVC chain; two rules each instead of a KUBE-EXT chain.
	for _, ip := range sp.ExternalIPs {
		m := fmt.Sprintf(`-m comment --comment "%s external IP" -d %s/32 -p %s -m %s --dport %d`, key, ip, proto, proto, sp.Port)
		f.services = append(f.services, m+" -j "+ChainMarkMasq, m+" -j "+svc)
	}
	if sp.NodePort > 0 {
		m := fmt.Sprintf(`-m comment --comment "%s node port" -p %s -m %s --dport %d`, key, proto, proto, sp.NodePort)
		f.nodePorts = append(f.nodePorts, m+" -j "+ChainMarkMasq, m+" -j "+svc)
	}
	return f
}

// renderEndpointChains fills f with upstream's layout for sp (which has a
// ClusterIP and endpoints): KUBE-SVC masquerades traffic from outside the
// pod network, sends a known client back to its endpoint (ClientIP affinity,
// `recent --rcheck`), else jumps to a KUBE-SEP chain picked with statistic
// probabilities; each KUBE-SEP chain hairpin-masquerades traffic from its own
// endpoint (every endpoint, as upstream: it doesn't look at the node) and
// DNATs (`recent --set` with affinity). NodePort and external-IP traffic
// goes through KUBE-EXT, which marks it for masquerade and jumps to KUBE-SVC.
func renderEndpointChains(cfg Config, sp *ServicePort, f *Fragment, svc, dst string) {
	key, proto, eps := sp.Key(), sp.Protocol, sp.Endpoints
	rules := make([]string, 0, 1+2*len(eps))
	if cfg.MasqueradeAll {
		rules = append(rules, fmt.Sprintf(`-m comment --comment "%s cluster IP" %s -j %s`, key, dst, ChainMarkMasq))
	} else if cfg.ClusterCIDR != "" {
		rules = append(rules, fmt.Sprintf(`-m comment --comment "%s cluster IP" ! -s %s %s -j %s`, key, cfg.ClusterCIDR, dst, ChainMarkMasq))
	}
	seps := make([]string, len(eps))
	for j, ep := range eps {
		seps[j] = SepChain(*sp, ep)
	}
	if sp.AffinityTimeout > 0 {
		for j, ep := range eps {
			rules = append(rules, fmt.Sprintf(`-m comment --comment "%s -> %s" -m recent --name %s --rcheck --seconds %d --reap -j %s`,
				key, ep, seps[j], sp.AffinityTimeout, seps[j]))
		}
	}
	n := len(eps)
	for j, ep := range eps {
		prob := ""
		if j < n-1 {
			prob = fmt.Sprintf("-m statistic --mode random --probability %0.10f ", 1.0/float64(n-j))
		}
		rules = append(rules, fmt.Sprintf(`-m comment --comment "%s -> %s" %s-j %s`, key, ep, prob, seps[j]))
	}
	f.own[svc] = rules

	for j, ep := range eps {
		set := ""
		if sp.AffinityTimeout > 0 {
			set = "-m recent --name " + seps[j] + " --set "
		}
		f.own[seps[j]] = []string{
			`-m comment --comment "` + key + `" -s ` + ep.IP + "/32 -j " + ChainMarkMasq,
			`-m comment --comment "` + key + `" -p ` + proto + " -m " + proto + " " + set + "-j DNAT --to-destination " + ep.String(),
		}
	}

	if sp.NodePort == 0 && len(sp.ExternalIPs) == 0 {
		return
	}
	ext := ExtChain(*sp)
	f.own[ext] = []string{
		`-m comment --comment "masquerade traffic for ` + key + ` external destinations" -j ` + ChainMarkMasq,
		"-j " + svc,
	}
	for _, ip := range sp.ExternalIPs {
		f.services = append(f.services, fmt.Sprintf(
			`-m comment --comment "%s external IP" -d %s/32 -p %s -m %s --dport %d -j %s`, key, ip, proto, proto, sp.Port, ext))
	}
	if sp.NodePort > 0 {
		f.nodePorts = append(f.nodePorts, fmt.Sprintf(
			`-m comment --comment "%s node port" -p %s -m %s --dport %d -j %s`, key, proto, proto, sp.NodePort, ext))
	}
}

// Assemble joins fragments (in any order) and the fixed chains into Tables.
func Assemble(cfg Config, frags []*Fragment) Tables {
	sort.Slice(frags, func(i, j int) bool { return frags[i].key < frags[j].key })
	mark := fmt.Sprintf("0x%x", uint32(1)<<uint(cfg.MasqueradeBit))
	markMask := mark + "/" + mark
	masq := `-m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE`
	if cfg.RandomFully {
		masq += " --random-fully"
	}
	size := 4
	for _, f := range frags {
		size += len(f.own)
	}
	nat := make(Chains, size)
	nat[ChainMarkMasq] = []string{"-j MARK --or-mark " + mark}
	nat[ChainPostrouting] = []string{"-m mark ! --mark " + markMask + " -j RETURN", "-j MARK --xor-mark " + mark, masq}
	filter := Chains{
		ChainForward: {
			`-m conntrack --ctstate INVALID -j DROP`,
			`-m comment --comment "kubernetes forwarding rules" -m mark --mark ` + markMask + ` -j ACCEPT`,
			`-m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
		},
	}
	var services, nodePorts, reject, rejectExt []string
	for _, f := range frags {
		for name, rules := range f.own {
			nat[name] = rules
		}
		services = append(services, f.services...)
		nodePorts = append(nodePorts, f.nodePorts...)
		reject = append(reject, f.reject...)
		rejectExt = append(rejectExt, f.rejectExt...)
	}
	nat[ChainServices] = append(services,
		`-m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j `+ChainNodePorts)
	nat[ChainNodePorts] = nodePorts
	filter[ChainServices] = reject
	filter[ChainExternalServices] = rejectExt
	return Tables{NAT: nat, Filter: filter}
}

// equal reports whether two rule lists are identical.
func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// WriteTable appends one iptables-restore --noflush table section to b that
// moves the table from prev to next. When full is true every desired chain
// is rewritten and every chain in existing (owned chains present in the
// kernel) that is not desired is deleted; otherwise only chains whose rules
// differ from prev are rewritten and chains in prev but not in next are
// deleted. Chains known not to exist are created with -N, which
// iptables-nft-restore applies much faster than a ":chain" declaration. It
// reports whether the section changes anything. extra lines (e.g. inserts
// into built-in chains) are written after the chains' rules.
func WriteTable(b *strings.Builder, table string, prev, next Chains, full bool, existing, extra []string) bool {
	have := make(map[string]bool, len(existing))
	if full {
		for _, c := range existing {
			have[c] = true
		}
	} else {
		for c := range prev {
			have[c] = true
		}
	}
	var write, del []string
	for name, rules := range next {
		old, ok := prev[name]
		if full || !ok || !equal(old, rules) {
			write = append(write, name)
		}
	}
	for name := range have {
		if _, ok := next[name]; !ok {
			del = append(del, name)
		}
	}
	if len(write) == 0 && len(del) == 0 && len(extra) == 0 {
		return false
	}
	sort.Strings(write)
	sort.Strings(del)
	b.WriteString("*" + table + "\n")
	// With --noflush, declaring an existing chain flushes it.
	for _, name := range write {
		if have[name] {
			b.WriteString(":" + name + " - [0:0]\n")
		}
	}
	for _, name := range del {
		b.WriteString(":" + name + " - [0:0]\n")
	}
	for _, name := range write {
		if !have[name] {
			b.WriteString("-N " + name + "\n")
		}
	}
	for _, name := range write {
		for _, r := range next[name] {
			b.WriteString("-A " + name + " " + r + "\n")
		}
	}
	for _, l := range extra {
		b.WriteString(l + "\n")
	}
	for _, name := range del {
		b.WriteString("-X " + name + "\n")
	}
	b.WriteString("COMMIT\n")
	return true
}
