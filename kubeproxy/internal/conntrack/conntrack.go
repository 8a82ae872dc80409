// Package conntrack deletes stale connection-tracking entries over netlink.
//
// kube-proxy needs it for UDP: a UDP "connection" through a Service stays
// DNATed to the endpoint it was first sent to for as long as packets keep
// flowing, so when that endpoint goes away (or a Service gets its first
// endpoint after traffic to it was rejected) the entries must be deleted,
// or clients keep sending into the void. TCP doesn't need this: a dead
// endpoint resets or times out the connection and the next one is new.
package conntrack

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Filter selects entries by their original direction and reply source.
// Zero fields match anything; set fields must all match.
type Filter struct {
	// Protocol is an IP protocol number (unix.IPPROTO_UDP, ...); 0 = any.
	Protocol uint8
	// OrigDst is the destination the client used (a ClusterIP, a node IP
	// or an external IP).
	OrigDst netip.Addr
	// OrigDstPort is the destination port the client used (the Service
	// port, or the NodePort).
	OrigDstPort uint16
	// ReplySrc is who answers: the endpoint for DNATed entries, or OrigDst
	// itself for entries that were never translated.
	ReplySrc netip.Addr
}

func (f Filter) String() string {
	s := fmt.Sprintf("proto=%d", f.Protocol)
	if f.OrigDst.IsValid() {
		s += " orig-dst=" + f.OrigDst.String()
	}
	if f.OrigDstPort != 0 {
		s += fmt.Sprintf(" orig-port-dst=%d", f.OrigDstPort)
	}
	if f.ReplySrc.IsValid() {
		s += " reply-src=" + f.ReplySrc.String()
	}
	return s
}

func (f Filter) netlink() (*netlink.ConntrackFilter, error) {
	nf := &netlink.ConntrackFilter{}
	if f.Protocol != 0 {
		if err := nf.AddProtocol(f.Protocol); err != nil {
			return nil, err
		}
	}
	if f.OrigDst.IsValid() {
		if err := nf.AddIP(netlink.ConntrackOrigDstIP, net.IP(f.OrigDst.AsSlice())); err != nil {
			return nil, err
		}
	}
	if f.OrigDstPort != 0 {
		if err := nf.AddPort(netlink.ConntrackOrigDstPort, f.OrigDstPort); err != nil {
			return nil, err
		}
	}
	if f.ReplySrc.IsValid() {
		if err := nf.AddIP(netlink.ConntrackReplySrcIP, net.IP(f.ReplySrc.AsSlice())); err != nil {
			return nil, err
		}
	}
	return nf, nil
}

// Table is the IPv4 conntrack table of one network namespace.
type Table struct {
	h *netlink.Handle
}

// Open returns the conntrack table of the network namespace at nsPath
// (e.g. /var/run/netns/NAME), or of the caller's own namespace when
// nsPath is empty.
func Open(nsPath string) (*Table, error) {
	if nsPath == "" {
		h, err := netlink.NewHandle(unix.NETLINK_NETFILTER)
		if err != nil {
			return nil, fmt.Errorf("conntrack: netlink handle: %w", err)
		}
		return &Table{h: h}, nil
	}
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, fmt.Errorf("conntrack: network namespace %s: %w", nsPath, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("conntrack: netlink handle in %s: %w", nsPath, err)
	}
	return &Table{h: h}, nil
}

// Delete removes every IPv4 entry matching any of the filters (one dump of
// the table for all of them) and returns how many it removed.
func (t *Table) Delete(filters ...Filter) (int, error) {
	if len(filters) == 0 {
		return 0, nil
	}
	nfs := make([]netlink.CustomConntrackFilter, 0, len(filters))
	for _, f := range filters {
		nf, err := f.netlink()
		if err != nil {
			return 0, fmt.Errorf("conntrack filter %s: %w", f, err)
		}
		nfs = append(nfs, nf)
	}
	n, err := t.h.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, nfs...)
	if err != nil {
		return int(n), fmt.Errorf("delete conntrack entries: %w", err)
	}
	return int(n), nil
}

// Count returns how many IPv4 entries match f (for tests and debugging).
func (t *Table) Count(f Filter) (int, error) {
	nf, err := f.netlink()
	if err != nil {
		return 0, fmt.Errorf("conntrack filter %s: %w", f, err)
	}
	flows, err := t.h.ConntrackTableList(netlink.ConntrackTable, unix.AF_INET)
	if err != nil {
		return 0, fmt.Errorf("list conntrack entries: %w", err)
	}
	n := 0
	for _, fl := range flows {
		if nf.MatchConntrackFlow(fl) {
			n++
		}
	}
	return n, nil
}

// Close releases the netlink sockets.
func (t *Table) Close() { t.h.Close() }
