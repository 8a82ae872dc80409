package nodeipam

import (
	"errors"
	"net/netip"
	"testing"
)

func TestAllocator(t *testing.T) {
	tests := []struct {
		name     string
		cluster  string
		mask     int
		occupied []string
		want     []string
		wantErr  error
	}{
		{"first subnets in order", "10.244.0.0/16", 24, nil, []string{"10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"}, nil},
		{"skips occupied", "10.244.0.0/16", 24, []string{"10.244.0.0/24", "10.244.2.0/24"}, []string{"10.244.1.0/24", "10.244.3.0/24"}, nil},
		{"full", "10.0.0.0/30", 31, []string{"10.0.0.0/31"}, []string{"10.0.0.2/31"}, ErrFull},
		{"ipv6", "fd00::/64", 80, nil, []string{"fd00::/80", "fd00::1:0:0:0/80"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewAllocator(netip.MustParsePrefix(tc.cluster), tc.mask)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range tc.occupied {
				if !a.Occupy(netip.MustParsePrefix(o)) {
					t.Fatalf("Occupy(%s) refused", o)
				}
			}
			for _, w := range tc.want {
				got, err := a.Allocate()
				if err != nil || got.String() != w {
					t.Fatalf("Allocate = %v, %v; want %s", got, err, w)
				}
			}
			if tc.wantErr != nil {
				if _, err := a.Allocate(); !errors.Is(err, tc.wantErr) {
					t.Fatalf("Allocate error = %v, want %v", err, tc.wantErr)
				}
			}
		})
	}
}

func TestAllocatorRejects(t *testing.T) {
	if _, err := NewAllocator(netip.MustParsePrefix("10.0.0.0/16"), 8); err == nil {
		t.Fatal("mask shorter than the cluster CIDR accepted")
	}
	a, _ := NewAllocator(netip.MustParsePrefix("10.0.0.0/16"), 24)
	if a.Occupy(netip.MustParsePrefix("192.168.0.0/24")) {
		t.Fatal("foreign subnet accepted")
	}
	p, _ := a.Allocate()
	a.Release(p)
	if q, _ := a.Allocate(); q == p {
		t.Fatal("released subnet handed out again before the others")
	}
}
