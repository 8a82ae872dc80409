// Package router turns networking.k8s.io/v1 Ingresses into an immutable
// routing table: hosts (exact, then single-label wildcards, then rules with
// no host), paths (Exact and Prefix with the upstream precedence: longest
// match wins, Exact beats Prefix on a tie), a default backend, TLS
// certificates by SNI name, and for every backend its ready endpoints. The
// controller builds a new Table on every change and swaps it in atomically,
// so requests in flight keep the Table they started with.
package router

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Backend is one Service port behind a route.
type Backend struct {
	// Name is "namespace/service:port", for logs and errors.
	Name string
	// Endpoints are ready "ip:port" addresses.
	Endpoints []string
	next      atomic.Uint64
}

// Pick returns the next endpoint round-robin, or "" when there is none.
func (b *Backend) Pick() string {
	if len(b.Endpoints) == 0 {
		return ""
	}
	n := b.next.Add(1) - 1
	return b.Endpoints[n%uint64(len(b.Endpoints))]
}

type route struct {
	path    string // cleaned, without trailing slash for Prefix (except "/")
	exact   bool
	backend *Backend
	origin  string // ingress key, for deterministic tie-breaks
}

type host struct {
	routes []route // sorted by precedence
}

// Table is an immutable routing table.
type Table struct {
	exact    map[string]*host
	wildcard map[string]*host // key: the suffix after "*." e.g. "foo.com"
	any      *host
	def      *Backend
	certs    map[string]*tls.Certificate // exact names and "*.suffix"
	// Ingresses lists the keys of the ingresses the table was built from.
	Ingresses []string
	// Warnings collects problems found while building (bad secrets etc.).
	Warnings []string
}

// Lookup resolves what a Table needs from the cluster.
type Lookup interface {
	Service(namespace, name string) (*v1.Service, bool)
	Slices(namespace, service string) []*discoveryv1.EndpointSlice
	Secret(namespace, name string) (*v1.Secret, bool)
}

// Build makes a Table from the ingresses this controller owns. Older
// ingresses win conflicts (same host and path; default backend).
func Build(ings []*networkingv1.Ingress, lk Lookup) *Table {
	sort.Slice(ings, func(i, j int) bool {
		a, b := ings[i], ings[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})
	t := &Table{exact: map[string]*host{}, wildcard: map[string]*host{}, certs: map[string]*tls.Certificate{}}
	backends := map[string]*Backend{}
	seen := map[string]bool{} // host+path+type already claimed
	for _, ing := range ings {
		key := ing.Namespace + "/" + ing.Name
		t.Ingresses = append(t.Ingresses, key)
		if db := ing.Spec.DefaultBackend; db != nil && t.def == nil {
			t.def = t.backend(backends, ing.Namespace, db, lk)
		}
		for _, tl := range ing.Spec.TLS {
			if tl.SecretName == "" {
				continue
			}
			cert, err := loadCert(lk, ing.Namespace, tl.SecretName)
			if err != nil {
				t.Warnings = append(t.Warnings, fmt.Sprintf("ingress %s: %v", key, err))
				continue
			}
			for _, h := range tl.Hosts {
				h = strings.ToLower(h)
				if _, ok := t.certs[h]; !ok {
					t.certs[h] = cert
				}
			}
		}
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			hostName := strings.ToLower(rule.Host)
			var h *host
			switch {
			case hostName == "":
				if t.any == nil {
					t.any = &host{}
				}
				h = t.any
			case strings.HasPrefix(hostName, "*."):
				suffix := hostName[2:]
				if t.wildcard[suffix] == nil {
					t.wildcard[suffix] = &host{}
				}
				h = t.wildcard[suffix]
			default:
				if t.exact[hostName] == nil {
					t.exact[hostName] = &host{}
				}
				h = t.exact[hostName]
			}
			for _, p := range rule.HTTP.Paths {
				exact := p.PathType != nil && *p.PathType == networkingv1.PathTypeExact
				path := p.Path
				if path == "" {
					path = "/"
				}
				if !exact {
					path = strings.TrimRight(path, "/")
					if path == "" {
						path = "/"
					}
				}
				claim := hostName + "\x00" + path + "\x00" + strconv.FormatBool(exact)
				if seen[claim] {
					continue
				}
				seen[claim] = true
				b := p.Backend
				h.routes = append(h.routes, route{path: path, exact: exact, backend: t.backend(backends, ing.Namespace, &b, lk), origin: key})
			}
		}
	}
	for _, h := range t.allHosts() {
		sort.SliceStable(h.routes, func(i, j int) bool {
			a, b := h.routes[i], h.routes[j]
			if len(a.path) != len(b.path) {
				return len(a.path) > len(b.path)
			}
			return a.exact && !b.exact
		})
	}
	return t
}

func (t *Table) allHosts() []*host {
	var hs []*host
	for _, h := range t.exact {
		hs = append(hs, h)
	}
	for _, h := range t.wildcard {
		hs = append(hs, h)
	}
	if t.any != nil {
		hs = append(hs, t.any)
	}
	return hs
}

func (t *Table) backend(cache map[string]*Backend, ns string, ib *networkingv1.IngressBackend, lk Lookup) *Backend {
	if ib.Service == nil {
		return &Backend{Name: ns + "/<resource backend>"}
	}
	portKey := ib.Service.Port.Name
	if portKey == "" {
		portKey = strconv.Itoa(int(ib.Service.Port.Number))
	}
	name := ns + "/" + ib.Service.Name + ":" + portKey
	if b, ok := cache[name]; ok {
		return b
	}
	b := &Backend{Name: name, Endpoints: endpoints(lk, ns, ib.Service)}
	cache[name] = b
	return b
}

// endpoints resolves a service backend to ready "ip:port" addresses.
func endpoints(lk Lookup, ns string, sb *networkingv1.IngressServiceBackend) []string {
	svc, ok := lk.Service(ns, sb.Name)
	if !ok {
		return nil
	}
	var sp *v1.ServicePort
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if (sb.Port.Name != "" && p.Name == sb.Port.Name) || (sb.Port.Name == "" && p.Port == sb.Port.Number) {
			sp = p
			break
		}
	}
	if sp == nil {
		return nil
	}
	proto := sp.Protocol
	if proto == "" {
		proto = v1.ProtocolTCP
	}
	seen := map[string]bool{}
	var out []string
	for _, s := range lk.Slices(ns, sb.Name) {
		if s.AddressType != discoveryv1.AddressTypeIPv4 && s.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		port := int32(0)
		for _, p := range s.Ports {
			name, pp := "", v1.ProtocolTCP
			if p.Name != nil {
				name = *p.Name
			}
			if p.Protocol != nil {
				pp = *p.Protocol
			}
			if name == sp.Name && pp == proto && p.Port != nil {
				port = *p.Port
			}
		}
		if port <= 0 {
			continue
		}
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				if _, err := netip.ParseAddr(a); err != nil {
					continue
				}
				ep := net.JoinHostPort(a, strconv.Itoa(int(port)))
				if !seen[ep] {
					seen[ep] = true
					out = append(out, ep)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func loadCert(lk Lookup, ns, name string) (*tls.Certificate, error) {
	s, ok := lk.Secret(ns, name)
	if !ok {
		return nil, fmt.Errorf("TLS secret %s/%s not found", ns, name)
	}
	cert, err := tls.X509KeyPair(s.Data[v1.TLSCertKey], s.Data[v1.TLSPrivateKeyKey])
	if err != nil {
		return nil, fmt.Errorf("TLS secret %s/%s: %w", ns, name, err)
	}
	return &cert, nil
}

// Match finds the backend for a request's host (without port) and path.
// It returns nil when nothing, not even a default backend, matches.
func (t *Table) Match(hostName, path string) *Backend {
	hostName = strings.ToLower(strings.TrimSuffix(hostName, "."))
	if h := t.exact[hostName]; h != nil {
		if b := h.match(path); b != nil {
			return b
		}
	}
	if i := strings.IndexByte(hostName, '.'); i > 0 {
		if h := t.wildcard[hostName[i+1:]]; h != nil {
			if b := h.match(path); b != nil {
				return b
			}
		}
	}
	if t.any != nil {
		if b := t.any.match(path); b != nil {
			return b
		}
	}
	return t.def
}

func (h *host) match(path string) *Backend {
	if path == "" {
		path = "/"
	}
	for _, r := range h.routes {
		if r.exact {
			if path == r.path {
				return r.backend
			}
			continue
		}
		if r.path == "/" || path == r.path || strings.HasPrefix(path, r.path+"/") {
			return r.backend
		}
	}
	return nil
}

// Certificate returns the certificate for an SNI name: exact, then a
// "*.suffix" entry one label up; nil when none is configured.
func (t *Table) Certificate(serverName string) *tls.Certificate {
	serverName = strings.ToLower(strings.TrimSuffix(serverName, "."))
	if c, ok := t.certs[serverName]; ok {
		return c
	}
	if i := strings.IndexByte(serverName, '.'); i > 0 {
		if c, ok := t.certs["*."+serverName[i+1:]]; ok {
			return c
		}
	}
	return nil
}
