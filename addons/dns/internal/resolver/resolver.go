// Package resolver answers DNS questions about a cluster: Service A, SRV and
// PTR records under the cluster domain from an informer cache, NXDOMAIN for
// names that do not exist there, and everything else forwarded to upstream
// servers. It is a miekg/dns Handler; package dns runs it.
package resolver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// Index names on the informers' indexers (see Indexers).
const (
	IndexClusterIP  = "clusterIP"
	IndexService    = "service"
	IndexEndpointIP = "endpointIP"
	// IndexNamespace is the informers' built-in namespace index.
	IndexNamespace = cache.NamespaceIndex
)

// ServiceIndexers are the indexers the Service informer must carry.
func ServiceIndexers() cache.Indexers {
	return cache.Indexers{
		IndexClusterIP: func(obj any) ([]string, error) {
			s, ok := obj.(*v1.Service)
			if !ok {
				return nil, nil
			}
			var ips []string
			for _, ip := range append([]string{s.Spec.ClusterIP}, s.Spec.ClusterIPs...) {
				if _, err := netip.ParseAddr(ip); err == nil {
					ips = append(ips, ip)
				}
			}
			return ips, nil
		},
	}
}

// SliceIndexers are the indexers the EndpointSlice informer must carry.
func SliceIndexers() cache.Indexers {
	return cache.Indexers{
		IndexService: func(obj any) ([]string, error) {
			s, ok := obj.(*discoveryv1.EndpointSlice)
			if !ok || s.Labels[discoveryv1.LabelServiceName] == "" {
				return nil, nil
			}
			return []string{s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName]}, nil
		},
		IndexEndpointIP: func(obj any) ([]string, error) {
			s, ok := obj.(*discoveryv1.EndpointSlice)
			if !ok {
				return nil, nil
			}
			var ips []string
			for _, e := range s.Endpoints {
				ips = append(ips, e.Addresses...)
			}
			return ips, nil
		},
	}
}

// Options configures a Resolver.
type Options struct {
	// Domain is the cluster domain, e.g. "cluster.local".
	Domain string
	// Upstreams are "host:port" servers for names outside the cluster.
	Upstreams []string
	// TTL of cluster records in seconds.
	TTL uint32
	// ForwardTimeout bounds one upstream exchange.
	ForwardTimeout time.Duration
	Logger         *slog.Logger
}

// Resolver is a dns.Handler backed by Service and EndpointSlice indexers.
type Resolver struct {
	zone     string // "cluster.local."
	opts     Options
	services cache.Indexer
	slices   cache.Indexer
	log      *slog.Logger
}

// New returns a Resolver. services and slices must carry ServiceIndexers
// and SliceIndexers.
func New(services, slices cache.Indexer, opts Options) *Resolver {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ForwardTimeout <= 0 {
		opts.ForwardTimeout = 2 * time.Second
	}
	return &Resolver{
		zone: dns.Fqdn(strings.ToLower(opts.Domain)), opts: opts,
		services: services, slices: slices, log: opts.Logger,
	}
}

// ServeDNS implements dns.Handler.
func (r *Resolver) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 || req.Opcode != dns.OpcodeQuery {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	if q.Qclass == dns.ClassINET || q.Qclass == dns.ClassANY {
		if dns.IsSubDomain(r.zone, name) {
			r.reply(w, req, r.cluster(name, q.Qtype))
			return
		}
		if q.Qtype == dns.TypePTR && (strings.HasSuffix(name, ".in-addr.arpa.") || strings.HasSuffix(name, ".ip6.arpa.")) {
			if ans := r.ptr(name); ans != nil {
				r.reply(w, req, ans)
				return
			}
		}
	}
	r.forward(w, req)
}

// answer is the outcome of a cluster lookup.
type answer struct {
	rcode int
	rrs   []dns.RR
	extra []dns.RR
}

func (r *Resolver) reply(w dns.ResponseWriter, req *dns.Msg, a *answer) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.RecursionAvailable = true
	m.Rcode = a.rcode
	m.Answer = a.rrs
	m.Extra = a.extra
	if len(a.rrs) == 0 {
		m.Ns = []dns.RR{r.soa()}
	}
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		if int(opt.UDPSize()) > size {
			size = int(opt.UDPSize())
		}
		m.SetEdns0(uint16(size), false)
	}
	if w.RemoteAddr() != nil && w.RemoteAddr().Network() == "tcp" {
		size = dns.MaxMsgSize
	}
	m.Truncate(size)
	if err := w.WriteMsg(m); err != nil {
		r.log.Debug("write dns reply", slog.Any("err", err))
	}
}

func (r *Resolver) soa() dns.RR {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: r.zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: r.opts.TTL},
		Ns:      "ns.dns." + r.zone,
		Mbox:    "hostmaster." + r.zone,
		Serial:  uint32(time.Now().Unix()),
		Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: r.opts.TTL,
	}
}

func nxdomain() *answer { return &answer{rcode: dns.RcodeNameError} }

func nodata() *answer { return &answer{rcode: dns.RcodeSuccess} }

// cluster answers a name inside the cluster domain.
func (r *Resolver) cluster(name string, qtype uint16) *answer {
	if name == r.zone {
		if qtype == dns.TypeSOA {
			return &answer{rrs: []dns.RR{r.soa()}}
		}
		return nodata()
	}
	rel := strings.TrimSuffix(name, "."+r.zone)
	labels := strings.Split(rel, ".")
	n := len(labels)
	switch labels[n-1] {
	case "svc":
		switch n {
		case 1:
			return nodata()
		case 2:
			if objs, _ := r.services.ByIndex(IndexNamespace, labels[0]); len(objs) > 0 {
				return nodata()
			}
			return nxdomain()
		case 3:
			return r.service(name, labels[1], labels[0], qtype)
		case 4:
			return r.endpointHost(name, labels[2], labels[1], labels[0], qtype)
		case 5:
			if strings.HasPrefix(labels[0], "_") && strings.HasPrefix(labels[1], "_") {
				return r.srv(name, labels[2], labels[3], labels[0][1:], labels[1][1:], qtype)
			}
		}
	case "pod":
		if n == 3 {
			ip, err := netip.ParseAddr(strings.ReplaceAll(labels[0], "-", "."))
			if err != nil || !ip.Is4() {
				return nxdomain()
			}
			if qtype == dns.TypeA || qtype == dns.TypeANY {
				return &answer{rrs: []dns.RR{r.a(name, ip.String())}}
			}
			return nodata()
		}
		if n == 2 {
			return nodata()
		}
	}
	return nxdomain()
}

func (r *Resolver) getService(ns, name string) *v1.Service {
	obj, ok, err := r.services.GetByKey(ns + "/" + name)
	if err != nil || !ok {
		return nil
	}
	s, _ := obj.(*v1.Service)
	return s
}

func headless(s *v1.Service) bool { return s.Spec.ClusterIP == v1.ClusterIPNone }

// backend is one ready endpoint address of a Service.
type backend struct {
	ip       string
	host     string // hostname or dashed IP
	slicePts []discoveryv1.EndpointPort
}

func (r *Resolver) backends(ns, name string) []backend {
	objs, _ := r.slices.ByIndex(IndexService, ns+"/"+name)
	seen := map[string]bool{}
	var out []backend
	for _, o := range objs {
		s, ok := o.(*discoveryv1.EndpointSlice)
		if !ok || s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil || !ip.Is4() || seen[a] {
					continue
				}
				seen[a] = true
				host := strings.ReplaceAll(a, ".", "-")
				if e.Hostname != nil && *e.Hostname != "" {
					host = strings.ToLower(*e.Hostname)
				}
				out = append(out, backend{ip: a, host: host, slicePts: s.Ports})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ip < out[j].ip })
	return out
}

func (r *Resolver) a(name, ip string) dns.RR {
	return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: r.opts.TTL}, A: net.ParseIP(ip).To4()}
}

func (r *Resolver) service(name, ns, svcName string, qtype uint16) *answer {
	s := r.getService(ns, svcName)
	if s == nil {
		return nxdomain()
	}
	if s.Spec.Type == v1.ServiceTypeExternalName {
		if qtype == dns.TypeSRV || s.Spec.ExternalName == "" {
			return nodata()
		}
		return &answer{rrs: []dns.RR{&dns.CNAME{
			Hdr:    dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: r.opts.TTL},
			Target: dns.Fqdn(s.Spec.ExternalName),
		}}}
	}
	switch qtype {
	case dns.TypeA, dns.TypeANY:
		a := nodata()
		if headless(s) {
			for _, b := range r.backends(ns, svcName) {
				a.rrs = append(a.rrs, r.a(name, b.ip))
			}
		} else if ip, err := netip.ParseAddr(s.Spec.ClusterIP); err == nil && ip.Is4() {
			a.rrs = append(a.rrs, r.a(name, ip.String()))
		}
		return a
	case dns.TypeSRV:
		a := nodata()
		for _, p := range s.Spec.Ports {
			if p.Name == "" {
				continue
			}
			sub := r.srv(name, svcName, ns, p.Name, strings.ToLower(string(protocol(p.Protocol))), qtype)
			for _, rr := range sub.rrs {
				rr.Header().Name = name
			}
			a.rrs = append(a.rrs, sub.rrs...)
			a.extra = append(a.extra, sub.extra...)
		}
		return a
	}
	return nodata()
}

func protocol(p v1.Protocol) v1.Protocol {
	if p == "" {
		return v1.ProtocolTCP
	}
	return p
}

func (r *Resolver) endpointHost(name, ns, svcName, host string, qtype uint16) *answer {
	s := r.getService(ns, svcName)
	if s == nil {
		return nxdomain()
	}
	for _, b := range r.backends(ns, svcName) {
		if b.host == host {
			if qtype == dns.TypeA || qtype == dns.TypeANY {
				return &answer{rrs: []dns.RR{r.a(name, b.ip)}}
			}
			return nodata()
		}
	}
	return nxdomain()
}

func (r *Resolver) srv(name, svcName, ns, port, proto string, qtype uint16) *answer {
	s := r.getService(ns, svcName)
	if s == nil {
		return nxdomain()
	}
	var sp *v1.ServicePort
	for i := range s.Spec.Ports {
		p := &s.Spec.Ports[i]
		if p.Name != "" && strings.EqualFold(p.Name, port) && strings.EqualFold(string(protocol(p.Protocol)), proto) {
			sp = p
			break
		}
	}
	if sp == nil {
		return nxdomain()
	}
	if qtype != dns.TypeSRV && qtype != dns.TypeANY {
		return nodata()
	}
	base := svcName + "." + ns + ".svc." + r.zone
	hdr := dns.RR_Header{Name: name, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: r.opts.TTL}
	a := nodata()
	if !headless(s) {
		a.rrs = append(a.rrs, &dns.SRV{Hdr: hdr, Priority: 0, Weight: 100, Port: uint16(sp.Port), Target: base})
		if ip, err := netip.ParseAddr(s.Spec.ClusterIP); err == nil && ip.Is4() {
			a.extra = append(a.extra, r.a(base, ip.String()))
		}
		return a
	}
	bs := r.backends(ns, svcName)
	for _, b := range bs {
		port := int32(-1)
		for _, p := range b.slicePts {
			if p.Name != nil && *p.Name == sp.Name && p.Port != nil {
				port = *p.Port
			}
		}
		if port <= 0 {
			continue
		}
		target := b.host + "." + base
		a.rrs = append(a.rrs, &dns.SRV{Hdr: hdr, Priority: 0, Weight: uint16(100 / max(len(bs), 1)), Port: uint16(port), Target: target})
		a.extra = append(a.extra, r.a(target, b.ip))
	}
	return a
}

// ptr answers reverse lookups of ClusterIPs and headless endpoint IPs, or
// returns nil to forward the question.
func (r *Resolver) ptr(name string) *answer {
	ip, ok := reverseIP(name)
	if !ok {
		return nil
	}
	var targets []string
	objs, _ := r.services.ByIndex(IndexClusterIP, ip)
	for _, o := range objs {
		if s, ok := o.(*v1.Service); ok {
			targets = append(targets, s.Name+"."+s.Namespace+".svc."+r.zone)
		}
	}
	if len(targets) == 0 {
		objs, _ = r.slices.ByIndex(IndexEndpointIP, ip)
		for _, o := range objs {
			sl, ok := o.(*discoveryv1.EndpointSlice)
			if !ok {
				continue
			}
			svc := r.getService(sl.Namespace, sl.Labels[discoveryv1.LabelServiceName])
			if svc == nil || !headless(svc) {
				continue
			}
			for _, b := range r.backends(svc.Namespace, svc.Name) {
				if b.ip == ip {
					targets = append(targets, b.host+"."+svc.Name+"."+svc.Namespace+".svc."+r.zone)
				}
			}
		}
	}
	if len(targets) == 0 {
		return nil
	}
	sort.Strings(targets)
	a := nodata()
	for _, t := range targets {
		a.rrs = append(a.rrs, &dns.PTR{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: r.opts.TTL}, Ptr: t})
	}
	return a
}

// reverseIP turns "4.3.2.1.in-addr.arpa." into "1.2.3.4".
func reverseIP(name string) (string, bool) {
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa.")
	if !ok {
		return "", false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 4 {
		return "", false
	}
	for i, j := 0, 3; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	for _, p := range parts {
		if v, err := strconv.Atoi(p); err != nil || v < 0 || v > 255 {
			return "", false
		}
	}
	ip, err := netip.ParseAddr(strings.Join(parts, "."))
	if err != nil {
		return "", false
	}
	return ip.String(), true
}

// forward relays req to the upstream servers in order.
func (r *Resolver) forward(w dns.ResponseWriter, req *dns.Msg) {
	network := "udp"
	if w.RemoteAddr() != nil && w.RemoteAddr().Network() == "tcp" {
		network = "tcp"
	}
	var lastErr error
	for _, up := range r.opts.Upstreams {
		ctx, cancel := context.WithTimeout(context.Background(), r.opts.ForwardTimeout)
		c := &dns.Client{Net: network, Timeout: r.opts.ForwardTimeout}
		resp, _, err := c.ExchangeContext(ctx, req, up)
		cancel()
		if err != nil {
			lastErr = err
			continue
		}
		resp.Id = req.Id
		if err := w.WriteMsg(resp); err != nil {
			r.log.Debug("write forwarded reply", slog.Any("err", err))
		}
		return
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("no upstream servers")
	}
	r.log.Debug("forward", slog.String("name", req.Question[0].Name), slog.Any("err", lastErr))
	m := new(dns.Msg)
	m.SetRcode(req, dns.RcodeServerFailure)
	m.RecursionAvailable = true
	_ = w.WriteMsg(m)
}
