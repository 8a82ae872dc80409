// Package proxier turns the Services and EndpointSlices in an informer cache
// into iptables rules: it snapshots the cache, renders the desired chains
// (package rules), and applies only the chains that changed as one
// iptables-restore transaction, no more often than a minimum period.
package proxier

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"

	"skiff.dev/kubeproxy/internal/conntrack"
	"skiff.dev/kubeproxy/internal/iptables"
	"skiff.dev/kubeproxy/internal/rules"
)

// Runner is the iptables backend (package iptables in production).
type Runner interface {
	ChainExists(table, chain string) (bool, error)
	RuleExists(table, chain string, rule ...string) (bool, error)
	DeleteRule(table, chain string, rule ...string) error
	Restore(ctx context.Context, data []byte) error
	Dump(ctx context.Context, table string) (iptables.Dump, error)
}

// Conntrack deletes connection-tracking entries (package conntrack in
// production).
type Conntrack interface {
	Delete(filters ...conntrack.Filter) (int, error)
}

// Options configures a Proxier.
type Options struct {
	Rules rules.Config
	// NodeName is this node's name: endpoints on other nodes need no hairpin
	// rule. Empty treats every endpoint as possibly local.
	NodeName string
	// Conntrack, when set, is used to delete stale UDP entries after a sync
	// removed endpoints or gave a Service its first ones.
	Conntrack Conntrack
	// MinSyncPeriod is the least time between two syncs (rate limit).
	MinSyncPeriod time.Duration
	// SyncPeriod is how often the rules are re-checked even without changes
	// (and rewritten completely if someone removed them).
	SyncPeriod time.Duration
	Logger     *slog.Logger
}

// jump is a rule in a built-in chain that sends traffic to one of ours.
type jump struct {
	table, chain string
	match        []string // before the comment
	comment      string
	target       string
}

func (j jump) args() []string {
	return append(append(append([]string{}, j.match...), "-m", "comment", "--comment", j.comment), "-j", j.target)
}

// restoreLine is the rule as an iptables-restore insert at the top of its chain.
func (j jump) restoreLine() string {
	parts := []string{"-I", j.chain, "1"}
	for _, a := range j.args() {
		if strings.ContainsRune(a, ' ') {
			a = `"` + a + `"`
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// in reports whether the rule appears in iptables-save output lines.
func (j jump) in(rules []string) bool {
	for _, r := range rules {
		if strings.HasPrefix(r, "-A "+j.chain+" ") && strings.Contains(r, `--comment "`+j.comment+`"`) && strings.HasSuffix(r, " -j "+j.target) {
			return true
		}
	}
	return false
}

func jumps() []jump {
	newConn := []string{"-m", "conntrack", "--ctstate", "NEW"}
	return []jump{
		{"nat", "PREROUTING", nil, "kubernetes service portals", rules.ChainServices},
		{"nat", "OUTPUT", nil, "kubernetes service portals", rules.ChainServices},
		{"nat", "POSTROUTING", nil, "kubernetes postrouting rules", rules.ChainPostrouting},
		{"filter", "INPUT", newConn, "kubernetes service portals", rules.ChainServices},
		{"filter", "INPUT", newConn, "kubernetes externally-visible service portals", rules.ChainExternalServices},
		{"filter", "FORWARD", newConn, "kubernetes service portals", rules.ChainServices},
		{"filter", "FORWARD", newConn, "kubernetes externally-visible service portals", rules.ChainExternalServices},
		{"filter", "FORWARD", nil, "kubernetes forwarding rules", rules.ChainForward},
		{"filter", "OUTPUT", newConn, "kubernetes service portals", rules.ChainServices},
	}
}

// Proxier keeps the node's iptables in step with the API.
type Proxier struct {
	runner   Runner
	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister
	opts     Options
	log      *slog.Logger
	trigger  chan struct{}

	mu        sync.Mutex // serialises Sync
	applied   rules.Tables
	frags     map[string]cachedService
	udp       udpState // UDP frontends and endpoints as last applied; nil before the first sync
	needFull  bool
	lastCheck time.Time
	stats     Stats
}

// Stats describes the last sync.
type Stats struct {
	Syncs    int
	Applied  int
	Last     time.Duration
	LastFull bool
	Bytes    int
	// Conntrack is how many conntrack entries syncs have deleted so far.
	Conntrack int
}

// New returns a Proxier reading from the given listers.
func New(runner Runner, services corelisters.ServiceLister, slices discoverylisters.EndpointSliceLister, opts Options) *Proxier {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MinSyncPeriod <= 0 {
		opts.MinSyncPeriod = time.Second
	}
	if opts.SyncPeriod <= 0 {
		opts.SyncPeriod = 30 * time.Second
	}
	return &Proxier{
		runner: runner, services: services, slices: slices, opts: opts,
		log: opts.Logger, trigger: make(chan struct{}, 1), needFull: true,
	}
}

// Trigger asks for a sync soon; it never blocks and coalesces requests.
func (p *Proxier) Trigger() {
	select {
	case p.trigger <- struct{}{}:
	default:
	}
}

// Stats returns counters about the syncs so far.
func (p *Proxier) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Run syncs on every trigger, at most once per MinSyncPeriod, and at least
// once per SyncPeriod, until ctx ends. The caches must be synced.
func (p *Proxier) Run(ctx context.Context) {
	tick := time.NewTicker(p.opts.SyncPeriod)
	defer tick.Stop()
	p.Trigger()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.trigger:
		case <-tick.C:
		}
		if wait := time.Until(last.Add(p.opts.MinSyncPeriod)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		last = time.Now()
		if err := p.Sync(ctx); err != nil {
			p.log.Error("sync proxy rules", slog.Any("err", err))
			p.Trigger() // retry after MinSyncPeriod
		}
	}
}

// Sync renders the rules from the caches and applies what changed.
func (p *Proxier) Sync(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	start := time.Now()
	p.stats.Syncs++

	if !p.needFull && time.Since(p.lastCheck) >= p.opts.SyncPeriod {
		// Periodic check: if someone flushed our chains or jumps, rewrite everything.
		p.lastCheck = time.Now()
		if !p.intact() {
			p.needFull = true
		}
	}
	full := p.needFull

	svcs, err := p.services.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	slices, err := p.slices.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list endpointslices: %w", err)
	}
	next, udp := p.render(svcs, slices)

	// A full sync reads the kernel's state once per table: owned chains
	// (to reuse or delete) and whether our jumps from the built-in chains
	// exist; missing jumps are inserted in the same transaction.
	var b strings.Builder
	changed := false
	for _, table := range []string{"filter", "nat"} {
		prev, want := p.applied.Filter, next.Filter
		if table == "nat" {
			prev, want = p.applied.NAT, next.NAT
		}
		var have, extra []string
		if full {
			d, err := p.runner.Dump(ctx, table)
			if err != nil {
				return err
			}
			for _, c := range d.Chains {
				if rules.Owned(c) {
					have = append(have, c)
				}
			}
			for _, j := range jumps() {
				if j.table == table && !j.in(d.Rules) {
					extra = append(extra, j.restoreLine())
				}
			}
		}
		changed = rules.WriteTable(&b, table, prev, want, full, have, extra) || changed
	}
	if changed {
		if err := p.runner.Restore(ctx, []byte(b.String())); err != nil {
			p.needFull = true
			p.applied = rules.Tables{}
			return err
		}
		p.stats.Applied++
	}
	p.applied = next
	p.clearConntrack(udp)
	if full {
		p.needFull = false
		p.lastCheck = time.Now()
	}
	p.stats.Last = time.Since(start)
	p.stats.LastFull = full
	p.stats.Bytes = b.Len()
	p.log.Debug("synced proxy rules", slog.Bool("full", full), slog.Bool("changed", changed),
		slog.Int("bytes", b.Len()), slog.Duration("took", p.stats.Last))
	return nil
}

// intact reports whether KUBE-SERVICES and the jumps into it from the nat
// table's built-in chains are still there (a few cheap iptables checks,
// unlike reading the whole table).
func (p *Proxier) intact() bool {
	if ok, err := p.runner.ChainExists("nat", rules.ChainServices); err != nil || !ok {
		return false
	}
	for _, j := range jumps() {
		if j.table != "nat" {
			continue
		}
		if ok, err := p.runner.RuleExists(j.table, j.chain, j.args()...); err != nil || !ok {
			return false
		}
	}
	return true
}

// Cleanup removes every rule and chain kube-proxy created.
func Cleanup(ctx context.Context, runner Runner) error {
	for _, j := range jumps() {
		if err := runner.DeleteRule(j.table, j.chain, j.args()...); err != nil {
			return err
		}
	}
	var b strings.Builder
	for _, table := range []string{"filter", "nat"} {
		d, err := runner.Dump(ctx, table)
		if err != nil {
			return err
		}
		var owned []string
		for _, c := range d.Chains {
			if rules.Owned(c) {
				owned = append(owned, c)
			}
		}
		rules.WriteTable(&b, table, nil, nil, true, owned, nil)
	}
	if b.Len() == 0 {
		return nil
	}
	return runner.Restore(ctx, []byte(b.String()))
}

// cachedService is the rendered rules of one Service, valid while the
// Service and its EndpointSlices keep their resourceVersions.
type cachedService struct {
	fingerprint string
	frags       []*rules.Fragment
	udp         []udpFrontend
}

// render builds the desired tables, re-rendering only Services whose
// object or EndpointSlices changed since the last sync.
func (p *Proxier) render(svcs []*v1.Service, slices []*discoveryv1.EndpointSlice) (rules.Tables, udpState) {
	bySvc := groupSlices(slices)
	cache := make(map[string]cachedService, len(svcs))
	frags := make([]*rules.Fragment, 0, len(svcs))
	udp := udpState{}
	for _, svc := range svcs {
		key := svc.Namespace + "/" + svc.Name
		fp := fingerprint(svc, bySvc[key])
		c, ok := p.frags[key]
		if !ok || fp == "" || c.fingerprint != fp {
			c = cachedService{fingerprint: fp}
			ports := servicePorts(svc, bySvc[key], p.opts.NodeName)
			for i := range ports {
				if f := rules.RenderPort(p.opts.Rules, &ports[i]); f != nil {
					c.frags = append(c.frags, f)
				}
				c.udp = append(c.udp, udpFrontends(ports[i])...)
			}
		}
		if fp != "" {
			cache[key] = c
		}
		frags = append(frags, c.frags...)
		for _, f := range c.udp {
			udp[f.frontend] = f.endpoints
		}
	}
	p.frags = cache
	return rules.Assemble(p.opts.Rules, frags), udp
}

// fingerprint identifies the inputs of a Service's rules by
// resourceVersion; "" (never cached) when one is missing.
func fingerprint(svc *v1.Service, slices []*discoveryv1.EndpointSlice) string {
	if svc.ResourceVersion == "" {
		return ""
	}
	parts := make([]string, 0, len(slices)+1)
	for _, s := range slices {
		if s.ResourceVersion == "" {
			return ""
		}
		parts = append(parts, s.Name+"@"+s.ResourceVersion)
	}
	sort.Strings(parts)
	return svc.ResourceVersion + "|" + strings.Join(parts, ",")
}

func groupSlices(slices []*discoveryv1.EndpointSlice) map[string][]*discoveryv1.EndpointSlice {
	bySvc := make(map[string][]*discoveryv1.EndpointSlice)
	for _, s := range slices {
		name := s.Labels[discoveryv1.LabelServiceName]
		if name == "" || s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		k := s.Namespace + "/" + name
		bySvc[k] = append(bySvc[k], s)
	}
	return bySvc
}

// Snapshot joins Services with their EndpointSlices into the rules input:
// one entry per IPv4 ClusterIP Service port, with its ready endpoints.
func Snapshot(svcs []*v1.Service, slices []*discoveryv1.EndpointSlice, nodeName string) []rules.ServicePort {
	bySvc := groupSlices(slices)
	var out []rules.ServicePort
	for _, svc := range svcs {
		out = append(out, servicePorts(svc, bySvc[svc.Namespace+"/"+svc.Name], nodeName)...)
	}
	return out
}

// servicePorts converts one Service and its IPv4 EndpointSlices; endpoints
// whose nodeName is set and isn't nodeName (when known) are marked Remote.
func servicePorts(svc *v1.Service, slices []*discoveryv1.EndpointSlice, nodeName string) []rules.ServicePort {
	if svc.Spec.Type == v1.ServiceTypeExternalName {
		return nil
	}
	ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil || !ip.Is4() {
		return nil // headless, unallocated or IPv6
	}
	var affinity int32
	if svc.Spec.SessionAffinity == v1.ServiceAffinityClientIP {
		affinity = rules.DefaultAffinityTimeout
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil && *c.ClientIP.TimeoutSeconds > 0 {
			affinity = *c.ClientIP.TimeoutSeconds
		}
	}
	out := make([]rules.ServicePort, 0, len(svc.Spec.Ports))
	for _, port := range svc.Spec.Ports {
		proto := port.Protocol
		if proto == "" {
			proto = v1.ProtocolTCP
		}
		sp := rules.ServicePort{
			Namespace: svc.Namespace, Name: svc.Name, PortName: port.Name,
			Protocol: strings.ToLower(string(proto)), ClusterIP: ip.String(), Port: port.Port,
			AffinityTimeout: affinity,
		}
		if svc.Spec.Type == v1.ServiceTypeNodePort || svc.Spec.Type == v1.ServiceTypeLoadBalancer {
			sp.NodePort = port.NodePort
		}
		for _, e := range svc.Spec.ExternalIPs {
			if a, err := netip.ParseAddr(e); err == nil && a.Is4() {
				sp.ExternalIPs = append(sp.ExternalIPs, a.String())
			}
		}
		seen := make(map[rules.Endpoint]bool)
		for _, s := range slices {
			target := int32(-1)
			for _, pp := range s.Ports {
				name, pproto := "", v1.ProtocolTCP
				if pp.Name != nil {
					name = *pp.Name
				}
				if pp.Protocol != nil {
					pproto = *pp.Protocol
				}
				if name == port.Name && pproto == proto && pp.Port != nil {
					target = *pp.Port
					break
				}
			}
			if target <= 0 || target > 65535 {
				continue
			}
			for _, ep := range s.Endpoints {
				if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
					continue
				}
				remote := nodeName != "" && ep.NodeName != nil && *ep.NodeName != "" && *ep.NodeName != nodeName
				for _, a := range ep.Addresses {
					addr, err := netip.ParseAddr(a)
					if err != nil || !addr.Is4() {
						continue
					}
					e := rules.Endpoint{IP: addr.String(), Port: target, Remote: remote}
					if !seen[e] {
						seen[e] = true
						sp.Endpoints = append(sp.Endpoints, e)
					}
				}
			}
		}
		out = append(out, sp)
	}
	return out
}
