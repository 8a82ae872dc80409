package proxier

import (
	"log/slog"
	"net/netip"
	"slices"
	"sort"

	"golang.org/x/sys/unix"

	"skiff.dev/kubeproxy/internal/conntrack"
	"skiff.dev/kubeproxy/internal/rules"
)

// frontend is one address a UDP Service port is reached at: a ClusterIP or
// external IP with the Service port, or (addr invalid) a NodePort on any
// local address.
type frontend struct {
	addr netip.Addr
	port uint16
}

type udpFrontend struct {
	frontend
	endpoints []netip.Addr // sorted, distinct
}

// udpState maps every UDP frontend to its ready endpoints' IPs.
type udpState map[frontend][]netip.Addr

// udpFrontends lists the frontends of a UDP Service port.
func udpFrontends(sp rules.ServicePort) []udpFrontend {
	if sp.Protocol != "udp" {
		return nil
	}
	var eps []netip.Addr
	for _, e := range sp.Endpoints {
		if a, err := netip.ParseAddr(e.IP); err == nil {
			eps = append(eps, a)
		}
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].Less(eps[j]) })
	eps = slices.Compact(eps)
	var out []udpFrontend
	add := func(ip string, port int32) {
		f := frontend{port: uint16(port)}
		if ip != "" {
			a, err := netip.ParseAddr(ip)
			if err != nil {
				return
			}
			f.addr = a
		}
		out = append(out, udpFrontend{frontend: f, endpoints: eps})
	}
	add(sp.ClusterIP, sp.Port)
	for _, ip := range sp.ExternalIPs {
		add(ip, sp.Port)
	}
	if sp.NodePort > 0 {
		add("", sp.NodePort)
	}
	return out
}

// staleFilters returns the conntrack entries to delete when the UDP rules
// move from prev to next (prev nil: first sync since kube-proxy started):
//   - entries DNATed to an endpoint a frontend no longer has (the client
//     would keep sending to it for as long as it keeps sending);
//   - untranslated entries of a frontend that had no endpoints and now has
//     some (created while its traffic was rejected or had no rule yet).
func staleFilters(prev, next udpState) []conntrack.Filter {
	var out []conntrack.Filter
	for f, old := range prev {
		now := next[f]
		for _, ep := range old {
			if _, found := slices.BinarySearchFunc(now, ep, func(a, b netip.Addr) int { return a.Compare(b) }); !found {
				out = append(out, conntrack.Filter{Protocol: unix.IPPROTO_UDP, OrigDst: f.addr, OrigDstPort: f.port, ReplySrc: ep})
			}
		}
	}
	for f, eps := range next {
		if len(eps) == 0 || len(prev[f]) > 0 {
			continue
		}
		// The reply source of an untranslated entry is the frontend
		// address itself; for a NodePort it is whichever local address
		// the client used, so every entry for that port goes. After a
		// restart (prev nil) that would also cut live DNATed flows, so
		// NodePorts are left alone then.
		if !f.addr.IsValid() && prev == nil {
			continue
		}
		out = append(out, conntrack.Filter{Protocol: unix.IPPROTO_UDP, OrigDst: f.addr, OrigDstPort: f.port, ReplySrc: f.addr})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// clearConntrack deletes the entries made stale by the sync that just
// applied next, and remembers next. Failures are logged, not retried:
// stale entries also expire on their own once the client goes quiet.
func (p *Proxier) clearConntrack(next udpState) {
	prev := p.udp
	p.udp = next
	if p.opts.Conntrack == nil {
		return
	}
	filters := staleFilters(prev, next)
	if len(filters) == 0 {
		return
	}
	n, err := p.opts.Conntrack.Delete(filters...)
	p.stats.Conntrack += n
	if err != nil {
		p.log.Warn("delete stale conntrack entries", slog.Int("filters", len(filters)), slog.Any("err", err))
		return
	}
	p.log.Debug("deleted stale conntrack entries", slog.Int("filters", len(filters)), slog.Int("entries", n))
}
