// Package allocator hands out Service cluster IPs (from a CIDR) and node
// ports (from a port range). Each allocated value is one etcd key created in
// a transaction only if absent and holding its owner ("namespace/name"), so
// apiserver replicas never hand out the same value twice.
package allocator

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Key prefixes of allocations in etcd.
const (
	IPPrefix   = "/registry/ipallocations/"
	PortPrefix = "/registry/nodeportallocations/"
)

var svcGK = schema.GroupKind{Kind: "Service"}

// pool is a range of n values numbered 0..n-1 stored under prefix.
type pool struct {
	client *clientv3.Client
	prefix string
	n      uint64
}

func (p *pool) claim(ctx context.Context, value, owner string) (bool, error) {
	key := p.prefix + value
	resp, err := p.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, owner)).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return false, fmt.Errorf("allocate %s: %w", value, err)
	}
	if resp.Succeeded {
		return true, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	return len(kvs) > 0 && string(kvs[0].Value) == owner, nil
}

// random claims a free value, visiting the range in a pseudo-random order.
func (p *pool) random(ctx context.Context, owner string, value func(uint64) string, skip func(string) bool) (string, error) {
	start := rand.Uint64N(p.n)
	const stride = 7919 // prime: visits every value when n is not a multiple of it
	for i := uint64(0); i < p.n && i < 4096; i++ {
		v := value((start + i*stride) % p.n)
		if skip != nil && skip(v) {
			continue
		}
		ok, err := p.claim(ctx, v, owner)
		if err != nil {
			return "", err
		}
		if ok {
			return v, nil
		}
	}
	return "", apierrors.NewInternalError(fmt.Errorf("no free value under %s", p.prefix))
}

func (p *pool) release(ctx context.Context, value string) error {
	if _, err := p.client.Delete(ctx, p.prefix+value); err != nil {
		return fmt.Errorf("release %s: %w", value, err)
	}
	return nil
}

// IPs allocates cluster IPs from one IPv4 CIDR.
type IPs struct {
	pool
	cidr netip.Prefix
}

// NewIPs returns an allocator for cidr (e.g. "10.96.0.0/12").
func NewIPs(client *clientv3.Client, cidr string) (*IPs, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, fmt.Errorf("service cluster IP range %q: %w", cidr, err)
	}
	p = p.Masked()
	if !p.Addr().Is4() {
		return nil, fmt.Errorf("service cluster IP range %q: only IPv4 is supported", cidr)
	}
	bits := 32 - p.Bits()
	if bits < 2 || bits > 24 {
		return nil, fmt.Errorf("service cluster IP range %q: prefix length must be between /8 and /30", cidr)
	}
	return &IPs{pool: pool{client: client, prefix: IPPrefix, n: (uint64(1) << bits) - 2}, cidr: p}, nil
}

// First returns the first usable address (kept for the kubernetes Service).
func (a *IPs) First() string { return a.cidr.Addr().Next().String() }

func (a *IPs) nth(n uint64) string {
	b := a.cidr.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(n + 1)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
}

func invalid(path *field.Path, value any, msg string) error {
	return apierrors.NewInvalid(svcGK, "", field.ErrorList{field.Invalid(path, value, msg)})
}

// Allocate reserves ip for owner, or a random free address when ip is empty.
func (a *IPs) Allocate(ctx context.Context, ip, owner string) (string, error) {
	path := field.NewPath("spec", "clusterIPs").Index(0)
	if ip == "" {
		first := a.First()
		return a.random(ctx, owner, a.nth, func(v string) bool { return v == first })
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return "", invalid(path, ip, "must be a valid IP address")
	}
	if !a.cidr.Contains(addr) || addr == a.cidr.Addr() {
		return "", invalid(path, ip, fmt.Sprintf("provided IP is not in the valid range. The range of valid IPs is %s", a.cidr))
	}
	ok, err := a.claim(ctx, addr.String(), owner)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", invalid(path, ip, "provided IP is already allocated")
	}
	return addr.String(), nil
}

// Release frees ip.
func (a *IPs) Release(ctx context.Context, ip string) error { return a.release(ctx, ip) }

// Ports allocates node ports from a range such as 30000-32767.
type Ports struct {
	pool
	base int
}

// NewPorts returns an allocator for the range "min-max".
func NewPorts(client *clientv3.Client, portRange string) (*Ports, error) {
	lo, hi, ok := strings.Cut(portRange, "-")
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil || a < 1 || b > 65535 || a > b {
		return nil, fmt.Errorf("service node port range %q: want MIN-MAX within 1-65535", portRange)
	}
	return &Ports{pool: pool{client: client, prefix: PortPrefix, n: uint64(b - a + 1)}, base: a}, nil
}

// Allocate reserves port (a decimal string) for owner, or a random free one
// when port is empty.
func (p *Ports) Allocate(ctx context.Context, port, owner string) (string, error) {
	if port == "" {
		return p.random(ctx, owner, func(n uint64) string { return strconv.Itoa(p.base + int(n)) }, nil)
	}
	n, err := strconv.Atoi(port)
	path := field.NewPath("spec", "ports").Key("nodePort")
	if err != nil || n < p.base || uint64(n-p.base) >= p.n {
		return "", invalid(path, port, fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", p.base, p.base+int(p.n)-1))
	}
	ok, err := p.claim(ctx, port, owner)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", invalid(path, port, "provided port is already allocated")
	}
	return port, nil
}

// Release frees port.
func (p *Ports) Release(ctx context.Context, port string) error { return p.release(ctx, port) }
