package nodeipam

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"sync"
)

// ErrFull is returned when every node CIDR is taken.
var ErrFull = errors.New("cluster CIDR is full")

// Allocator hands out fixed-size subnets of a cluster CIDR.
type Allocator struct {
	mu      sync.Mutex
	cluster netip.Prefix
	mask    int
	size    int // number of subnets
	used    map[int]bool
	next    int
}

// NewAllocator returns an allocator of /mask subnets of cluster.
func NewAllocator(cluster netip.Prefix, mask int) (*Allocator, error) {
	cluster = cluster.Masked()
	if mask < cluster.Bits() || mask > cluster.Addr().BitLen() {
		return nil, fmt.Errorf("node mask /%d must be between /%d and /%d", mask, cluster.Bits(), cluster.Addr().BitLen())
	}
	if mask-cluster.Bits() > 24 {
		return nil, fmt.Errorf("cluster CIDR %s with node mask /%d has too many subnets", cluster, mask)
	}
	return &Allocator{cluster: cluster, mask: mask, size: 1 << (mask - cluster.Bits()), used: map[int]bool{}}, nil
}

func (a *Allocator) subnet(i int) netip.Prefix {
	base := new(big.Int).SetBytes(a.cluster.Addr().AsSlice())
	off := new(big.Int).Lsh(big.NewInt(int64(i)), uint(a.cluster.Addr().BitLen()-a.mask))
	base.Add(base, off)
	b := base.FillBytes(make([]byte, a.cluster.Addr().BitLen()/8))
	addr, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(addr, a.mask)
}

func (a *Allocator) index(p netip.Prefix) (int, bool) {
	p = p.Masked()
	if p.Bits() != a.mask || !a.cluster.Contains(p.Addr()) {
		return 0, false
	}
	base := new(big.Int).SetBytes(a.cluster.Addr().AsSlice())
	x := new(big.Int).SetBytes(p.Addr().AsSlice())
	x.Sub(x, base)
	x.Rsh(x, uint(a.cluster.Addr().BitLen()-a.mask))
	return int(x.Int64()), true
}

// Occupy marks p as used; it reports false when p is not a subnet of the cluster CIDR.
func (a *Allocator) Occupy(p netip.Prefix) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	i, ok := a.index(p)
	if ok {
		a.used[i] = true
	}
	return ok
}

// Release frees p.
func (a *Allocator) Release(p netip.Prefix) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i, ok := a.index(p); ok {
		delete(a.used, i)
	}
}

// Allocate returns a free subnet.
func (a *Allocator) Allocate() (netip.Prefix, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for range a.size {
		i := a.next
		a.next = (a.next + 1) % a.size
		if !a.used[i] {
			a.used[i] = true
			return a.subnet(i), nil
		}
	}
	return netip.Prefix{}, ErrFull
}
