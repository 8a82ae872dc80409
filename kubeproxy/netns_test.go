package kubeproxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"skiff.dev/kubeproxy/internal/conntrack"
	"skiff.dev/kubeproxy/internal/iptables"
	"skiff.dev/kubeproxy/internal/netnstest"
	"skiff.dev/kubeproxy/internal/proxier"
	"skiff.dev/kubeproxy/internal/rules"
)

func ptr[T any](v T) *T { return &v }

func service(name, ip string, typ v1.ServiceType, nodePort int32, affinity bool) *v1.Service {
	s := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: v1.ServiceSpec{
			Type: typ, ClusterIP: ip,
			Ports: []v1.ServicePort{{Name: "http", Protocol: v1.ProtocolTCP, Port: 80, NodePort: nodePort}},
		},
	}
	if affinity {
		s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
	}
	return s
}

func slice(svc string, ready map[string]bool) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: svc + "-abc",
			Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Protocol: ptr(v1.ProtocolTCP), Port: ptr(int32(80))}},
	}
	ips := make([]string, 0, len(ready))
	for ip := range ready {
		ips = append(ips, ip)
	}
	sort.Strings(ips)
	for _, ip := range ips {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(ready[ip])}})
	}
	return s
}

// topology is a node namespace with two backend namespaces (httpd answering
// "ep1"/"ep2") and a client namespace that reaches the node over a veth.
type topology struct {
	node, ep1, ep2, client *netnstest.NS
}

func newTopology(t *testing.T) topology {
	tp := topology{
		node:   netnstest.New(t, "node"),
		ep1:    netnstest.New(t, "ep1"),
		ep2:    netnstest.New(t, "ep2"),
		client: netnstest.New(t, "cli"),
	}
	tp.node.Link(t, "v1", "10.200.1.1", tp.ep1, "eth0", "10.200.1.2", 24)
	tp.node.Link(t, "v2", "10.200.2.1", tp.ep2, "eth0", "10.200.2.2", 24)
	tp.node.Link(t, "v3", "10.200.3.1", tp.client, "eth0", "10.200.3.2", 24)
	netnstest.Run(t, "ip", "-n", tp.ep1.Name, "route", "add", "default", "via", "10.200.1.1")
	netnstest.Run(t, "ip", "-n", tp.ep2.Name, "route", "add", "default", "via", "10.200.2.1")
	netnstest.Run(t, "ip", "-n", tp.client.Name, "route", "add", "default", "via", "10.200.3.1")
	// ClusterIPs need a route for the first lookup, as on a real node.
	netnstest.Run(t, "ip", "-n", tp.node.Name, "route", "add", "10.96.0.0/12", "dev", "v1")
	tp.node.MustExec(t, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	tp.ep1.HTTPD(t, 80, "ep1")
	tp.ep2.HTTPD(t, 80, "ep2")
	return tp
}

// curl fetches url from inside ns and returns the body, or the curl exit code.
func curl(ns *netnstest.NS, url string) (string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns.Name, "curl", "-s", "--max-time", "3", url)
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return "", ee.ExitCode()
		}
		return "", -1
	}
	return strings.TrimSpace(string(out)), 0
}

// backends curls url n times and returns the distinct bodies seen.
func backends(ns *netnstest.NS, url string, n int) map[string]int {
	seen := map[string]int{}
	for i := 0; i < n; i++ {
		body, code := curl(ns, url)
		if code != 0 {
			body = fmt.Sprintf("exit %d", code)
		}
		seen[body]++
	}
	return seen
}

// layoutChains counts the KUBE-SEP and KUBE-EXT chains in iptables-save output.
func layoutChains(save string) (sep, ext int) {
	for _, l := range strings.Split(save, "\n") {
		switch {
		case strings.HasPrefix(l, ":KUBE-SEP-"):
			sep++
		case strings.HasPrefix(l, ":KUBE-EXT-"):
			ext++
		}
	}
	return sep, ext
}

// TestProxyInNetns runs the proxier against real iptables in a private
// network namespace, in both chain layouts.
func TestProxyInNetns(t *testing.T) {
	netnstest.Skip(t)
	for _, tc := range []struct {
		name           string
		endpointChains bool
	}{{"flat", false}, {"endpoint chains", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testProxyInNetns(t, tc.endpointChains)
		})
	}
}

func testProxyInNetns(t *testing.T, endpointChains bool) {
	tp := newTopology(t)
	runner, err := iptables.New(tp.node.IPTablesDir(t))
	if err != nil {
		t.Fatal(err)
	}
	web := service("web", "10.96.0.10", v1.ServiceTypeNodePort, 30080, false)
	web.Spec.ExternalIPs = []string{"10.200.3.1"}
	client := fake.NewSimpleClientset(
		web,
		service("sticky", "10.96.0.11", v1.ServiceTypeClusterIP, 0, true),
		service("empty", "10.96.0.12", v1.ServiceTypeNodePort, 30081, false),
		slice("web", map[string]bool{"10.200.1.2": true, "10.200.2.2": true}),
		slice("sticky", map[string]bool{"10.200.1.2": true, "10.200.2.2": true}),
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The backends' network counts as the pod network, so traffic from a
	// backend isn't masqueraded for coming from outside it (which would
	// hide a missing hairpin rule).
	o := Options{ClusterCIDR: "10.200.0.0/16", MasqueradeBit: 14, MinSyncPeriod: 50 * time.Millisecond, SyncPeriod: 2 * time.Second,
		EndpointChains: endpointChains}
	p, factory := newProxier(client, runner, nil, o, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done; factory.Shutdown() }()

	both := func(ns *netnstest.NS, url string) func() (bool, string) {
		return func() (bool, string) {
			seen := backends(ns, url, 24)
			return seen["ep1"] > 0 && seen["ep2"] > 0 && len(seen) == 2, fmt.Sprint(seen)
		}
	}
	t.Run("cluster IP reaches every backend", func(t *testing.T) {
		netnstest.Poll(t, 30*time.Second, "both backends via ClusterIP", both(tp.node, "http://10.96.0.10/"))
	})
	t.Run("chain layout", func(t *testing.T) {
		// web: 2 endpoints and a NodePort, sticky: 2 endpoints.
		sep, ext := layoutChains(tp.node.MustExec(t, "iptables-save", "-t", "nat"))
		if want := map[bool][2]int{false: {0, 0}, true: {4, 1}}[endpointChains]; [2]int{sep, ext} != want {
			t.Errorf("%d KUBE-SEP and %d KUBE-EXT chains, want %v", sep, ext, want)
		}
	})
	t.Run("backend reaches itself through its Service (hairpin)", func(t *testing.T) {
		netnstest.Poll(t, 30*time.Second, "both backends via ClusterIP from ep1", both(tp.ep1, "http://10.96.0.10/"))
	})
	t.Run("node port from another host reaches every backend", func(t *testing.T) {
		netnstest.Poll(t, 30*time.Second, "both backends via NodePort", both(tp.client, "http://10.200.3.1:30080/"))
	})
	t.Run("external IP reaches every backend", func(t *testing.T) {
		netnstest.Poll(t, 30*time.Second, "both backends via the external IP", both(tp.client, "http://10.200.3.1/"))
	})
	t.Run("client IP affinity sticks", func(t *testing.T) {
		seen := backends(tp.node, "http://10.96.0.11/", 12)
		if len(seen) != 1 || seen["exit 0"] > 0 {
			t.Fatalf("affinity service answered from %v, want one backend", seen)
		}
	})
	t.Run("no endpoints is rejected", func(t *testing.T) {
		for _, tc := range []struct {
			ns  *netnstest.NS
			url string
		}{{tp.node, "http://10.96.0.12/"}, {tp.client, "http://10.200.3.1:30081/"}} {
			// 7: connection refused by the REJECT rule; without it curl
			// would time out (28) or reach nothing.
			if _, code := curl(tc.ns, tc.url); code != 7 {
				t.Errorf("%s: curl exit %d, want 7 (refused)", tc.url, code)
			}
		}
	})
	t.Run("endpoint change is applied incrementally", func(t *testing.T) {
		before := p.Stats()
		_, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx,
			slice("web", map[string]bool{"10.200.1.2": false, "10.200.2.2": true}), metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		netnstest.Poll(t, 30*time.Second, "only ep2 behind web", func() (bool, string) {
			seen := backends(tp.node, "http://10.96.0.10/", 8)
			return len(seen) == 1 && seen["ep2"] == 8, fmt.Sprint(seen)
		})
		after := p.Stats()
		if after.Applied <= before.Applied || after.LastFull {
			t.Errorf("stats %+v after %+v: want one more incremental apply", after, before)
		}
		if sep, _ := layoutChains(tp.node.MustExec(t, "iptables-save", "-t", "nat")); endpointChains && sep != 3 {
			t.Errorf("%d KUBE-SEP chains after web lost an endpoint, want 3", sep)
		}
	})
	t.Run("unchanged state applies nothing", func(t *testing.T) {
		before := p.Stats()
		if err := p.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if after := p.Stats(); after.Applied != before.Applied {
			t.Errorf("a sync without changes ran iptables-restore: %+v → %+v", before, after)
		}
	})
	t.Run("flushed rules are restored", func(t *testing.T) {
		// Someone flushes the whole nat table; the periodic check (every
		// SyncPeriod) notices and rewrites everything.
		tp.node.MustExec(t, "iptables", "-t", "nat", "-F")
		tp.node.MustExec(t, "iptables", "-t", "nat", "-X")
		netnstest.Poll(t, 30*time.Second, "ClusterIP after flush", func() (bool, string) {
			body, code := curl(tp.node, "http://10.96.0.10/")
			return body == "ep2", fmt.Sprintf("body %q exit %d", body, code)
		})
	})
	cancel()
	<-done

	t.Run("restart reuses rules without duplicating jumps", func(t *testing.T) {
		// A new Proxier (as after a restart) starts with a full sync; it
		// reads the same caches, since a second fake watch would not sync.
		p2 := proxier.New(runner, factory.Core().V1().Services().Lister(), factory.Discovery().V1().EndpointSlices().Lister(),
			proxier.Options{Rules: rules.Config{ClusterCIDR: o.ClusterCIDR, MasqueradeBit: o.MasqueradeBit, EndpointChains: endpointChains},
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err := p2.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st := p2.Stats(); !st.LastFull {
			t.Errorf("first sync of a new proxier was not full: %+v", st)
		}
		save := tp.node.MustExec(t, "iptables-save")
		for _, chain := range []string{"PREROUTING", "OUTPUT", "POSTROUTING", "INPUT", "FORWARD"} {
			if n := strings.Count(save, "-A "+chain+" -m comment --comment \"kubernetes service portals\""); n > 1 {
				t.Errorf("%d service-portal jumps in %s:\n%s", n, chain, save)
			}
		}
		if body, code := curl(tp.node, "http://10.96.0.10/"); body != "ep2" {
			t.Errorf("after restart: body %q exit %d", body, code)
		}
	})

	t.Run("switching layouts removes the other layout's chains", func(t *testing.T) {
		// As after a restart with the other --endpoint-chains, and back.
		for _, ec := range []bool{!endpointChains, endpointChains} {
			p := proxier.New(runner, factory.Core().V1().Services().Lister(), factory.Discovery().V1().EndpointSlices().Lister(),
				proxier.Options{Rules: rules.Config{ClusterCIDR: o.ClusterCIDR, MasqueradeBit: o.MasqueradeBit, EndpointChains: ec},
					Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err := p.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
			save := tp.node.MustExec(t, "iptables-save", "-t", "nat")
			sep, ext := layoutChains(save)
			if want := map[bool][2]int{false: {0, 0}, true: {3, 1}}[ec]; [2]int{sep, ext} != want {
				t.Errorf("endpoint chains %v: %d KUBE-SEP and %d KUBE-EXT chains, want %v:\n%s", ec, sep, ext, want, save)
			}
			if n := strings.Count(save, ":KUBE-SVC-"); n != 2 {
				t.Errorf("endpoint chains %v: %d KUBE-SVC chains, want 2", ec, n)
			}
			if body, code := curl(tp.node, "http://10.96.0.10/"); body != "ep2" {
				t.Errorf("endpoint chains %v: ClusterIP body %q exit %d", ec, body, code)
			}
			if body, code := curl(tp.client, "http://10.200.3.1:30080/"); body != "ep2" {
				t.Errorf("endpoint chains %v: NodePort body %q exit %d", ec, body, code)
			}
		}
	})

	t.Run("cleanup removes every chain", func(t *testing.T) {
		if err := proxier.Cleanup(context.Background(), runner); err != nil {
			t.Fatal(err)
		}
		save := tp.node.MustExec(t, "iptables-save")
		if strings.Contains(save, "KUBE-") {
			t.Fatalf("rules left after cleanup:\n%s", save)
		}
		if err := proxier.Cleanup(context.Background(), runner); err != nil {
			t.Fatalf("second cleanup: %v", err)
		}
	})
}

// TestUDPStaleConntrack checks that when a UDP Service loses an endpoint,
// the conntrack entries DNATed to it are deleted (so clients that keep
// sending are re-balanced instead of blackholed), and others are kept.
func TestUDPStaleConntrack(t *testing.T) {
	netnstest.Skip(t)
	tp := newTopology(t)
	runner, err := iptables.New(tp.node.IPTablesDir(t))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := conntrack.Open(tp.node.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer ct.Close()
	udpService := func(name, ip string) (*v1.Service, *discoveryv1.EndpointSlice) {
		svc := service(name, ip, v1.ServiceTypeClusterIP, 0, false)
		svc.Spec.Ports[0].Protocol = v1.ProtocolUDP
		sl := slice(name, map[string]bool{"10.200.1.2": true, "10.200.2.2": true})
		sl.Ports[0].Protocol = ptr(v1.ProtocolUDP)
		return svc, sl
	}
	dns, dnsSlice := udpService("dns", "10.96.0.53")
	other, otherSlice := udpService("other", "10.96.0.54")
	client := fake.NewSimpleClientset(dns, dnsSlice, other, otherSlice)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := Options{ClusterCIDR: "10.244.0.0/16", MasqueradeBit: 14, MinSyncPeriod: 50 * time.Millisecond, SyncPeriod: time.Minute}
	p, factory := newProxier(client, runner, ct, o, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done; factory.Shutdown() }()

	count := func(svcIP, ep string) int {
		n, err := ct.Count(conntrack.Filter{Protocol: 17, OrigDst: netip.MustParseAddr(svcIP), OrigDstPort: 80, ReplySrc: netip.MustParseAddr(ep)})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Datagrams from the client, each from a new source port, until both
	// Services have entries DNATed to both endpoints.
	netnstest.Poll(t, 30*time.Second, "UDP entries to every endpoint", func() (bool, string) {
		for i := 0; i < 8; i++ {
			for _, ip := range []string{"10.96.0.53", "10.96.0.54"} {
				_, _ = tp.client.Exec(ctx, "bash", "-c", "echo hi >/dev/udp/"+ip+"/80")
			}
		}
		got := fmt.Sprint(count("10.96.0.53", "10.200.1.2"), count("10.96.0.53", "10.200.2.2"), count("10.96.0.54", "10.200.1.2"), count("10.96.0.54", "10.200.2.2"))
		return !strings.Contains(got, "0"), "entries per (service, endpoint): " + got
	})

	// ep1 leaves dns only.
	_, err = client.DiscoveryV1().EndpointSlices("default").Update(ctx,
		func() *discoveryv1.EndpointSlice {
			_, s := udpService("dns", "")
			s.Endpoints[0].Conditions.Ready = ptr(false)
			return s
		}(),
		metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	netnstest.Poll(t, 30*time.Second, "dns entries to ep1 deleted", func() (bool, string) {
		n := count("10.96.0.53", "10.200.1.2")
		return n == 0, fmt.Sprintf("%d entries left, stats %+v", n, p.Stats())
	})
	if p.Stats().Conntrack == 0 {
		t.Errorf("stats count no deleted entries: %+v", p.Stats())
	}
	if n := count("10.96.0.53", "10.200.2.2"); n == 0 {
		t.Errorf("entries to the remaining endpoint were deleted too")
	}
	if n := count("10.96.0.54", "10.200.1.2"); n == 0 {
		t.Errorf("entries of an unchanged Service were deleted")
	}
}
