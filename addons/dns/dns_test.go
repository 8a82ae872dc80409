package dns

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func ptr[T any](v T) *T { return &v }

func objects() []runtimeObject {
	return []runtimeObject{
		&v1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
			Spec: v1.ServiceSpec{ClusterIP: "10.96.0.10", Ports: []v1.ServicePort{
				{Name: "http", Protocol: v1.ProtocolTCP, Port: 80}, {Name: "dns", Protocol: v1.ProtocolUDP, Port: 53}}},
		},
		&v1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: "pg"},
			Spec:       v1.ServiceSpec{ClusterIP: v1.ClusterIPNone, Ports: []v1.ServicePort{{Name: "sql", Protocol: v1.ProtocolTCP, Port: 5432}}},
		},
		&v1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "ext"},
			Spec:       v1.ServiceSpec{Type: v1.ServiceTypeExternalName, ExternalName: "example.com"},
		},
		&discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "db", Name: "pg-1", Labels: map[string]string{discoveryv1.LabelServiceName: "pg"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr("sql"), Protocol: ptr(v1.ProtocolTCP), Port: ptr(int32(15432))}},
			Endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{"10.244.0.5"}, Hostname: ptr("pg-0"), Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}},
				{Addresses: []string{"10.244.0.6"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}},
				{Addresses: []string{"10.244.0.7"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(false)}},
			},
		},
	}
}

// upstream starts a stand-in for the host's resolver that knows example.com.
func upstream(t *testing.T) string {
	t.Helper()
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		if strings.EqualFold(r.Question[0].Name, "example.com.") && r.Question[0].Qtype == mdns.TypeA {
			rr, _ := mdns.NewRR("example.com. 60 IN A 192.0.2.1")
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = mdns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	started := make(chan struct{})
	srv := &mdns.Server{Addr: "127.0.0.1:0", Net: "udp", Handler: h, NotifyStartedFunc: func() { close(started) }}
	go func() { _ = srv.ListenAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return srv.PacketConn.LocalAddr().String()
}

// start runs the DNS server against a fake clientset and returns its address.
func start(t *testing.T, client *fake.Clientset, up string) string {
	t.Helper()
	return startTB(t, client, up)
}

func startB(b *testing.B, client *fake.Clientset) string { return startTB(b, client, "127.0.0.1:1") }

func startTB(t testing.TB, client *fake.Clientset, up string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	errc := make(chan error, 1)
	o := Options{Listen: "127.0.0.1:0", Domain: "cluster.local", Upstreams: []string{up}, TTL: 5,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := serve(ctx, o, client, func(a string) { addrc <- a }); err != nil {
			errc <- err
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		select {
		case err := <-errc:
			t.Errorf("serve: %v", err)
		default:
		}
	})
	select {
	case a := <-addrc:
		return a
	case <-done:
		t.Fatal("dns server stopped before it was ready")
	case <-time.After(30 * time.Second):
		t.Fatal("dns server did not start")
	}
	return ""
}

var statusRE = regexp.MustCompile(`status: ([A-Z]+)`)

// dig queries addr with the real dig and returns the status and the
// answer records as "TYPE DATA" strings, sorted.
func dig(t *testing.T, addr string, args ...string) (string, []string) {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	full := append([]string{"@" + host, "-p", port, "+tries=2", "+time=3", "+noall", "+comments", "+answer"}, args...)
	out, err := exec.CommandContext(ctx, "dig", full...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %s: %v\n%s", strings.Join(full, " "), err, out)
	}
	m := statusRE.FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("dig %s: no status in\n%s", strings.Join(full, " "), out)
	}
	var answers []string
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" || strings.HasPrefix(line, ";") {
			continue
		}
		f := strings.Fields(line)
		if len(f) >= 5 {
			answers = append(answers, strings.Join(f[3:], " "))
		}
	}
	sort.Strings(answers)
	return m[1], answers
}

func TestDig(t *testing.T) {
	if _, err := exec.LookPath("dig"); err != nil {
		t.Skip("dig not installed")
	}
	objs := objects()
	client := fake.NewSimpleClientset(toRuntime(objs)...)
	addr := start(t, client, upstream(t))

	cases := []struct {
		name   string
		args   []string
		status string
		want   []string
	}{
		{"service A", []string{"web.default.svc.cluster.local", "A"}, "NOERROR", []string{"A 10.96.0.10"}},
		{"case insensitive", []string{"WEB.Default.SVC.cluster.local", "A"}, "NOERROR", []string{"A 10.96.0.10"}},
		{"over tcp", []string{"+tcp", "web.default.svc.cluster.local", "A"}, "NOERROR", []string{"A 10.96.0.10"}},
		{"service AAAA is nodata", []string{"web.default.svc.cluster.local", "AAAA"}, "NOERROR", nil},
		{"headless returns ready pods", []string{"pg.db.svc.cluster.local", "A"}, "NOERROR", []string{"A 10.244.0.5", "A 10.244.0.6"}},
		{"headless hostname", []string{"pg-0.pg.db.svc.cluster.local", "A"}, "NOERROR", []string{"A 10.244.0.5"}},
		{"headless dashed ip", []string{"10-244-0-6.pg.db.svc.cluster.local", "A"}, "NOERROR", []string{"A 10.244.0.6"}},
		{"not-ready pod has no name", []string{"10-244-0-7.pg.db.svc.cluster.local", "A"}, "NXDOMAIN", nil},
		{"srv named port", []string{"_http._tcp.web.default.svc.cluster.local", "SRV"}, "NOERROR",
			[]string{"SRV 0 100 80 web.default.svc.cluster.local."}},
		{"srv udp port", []string{"_dns._udp.web.default.svc.cluster.local", "SRV"}, "NOERROR",
			[]string{"SRV 0 100 53 web.default.svc.cluster.local."}},
		{"srv headless", []string{"_sql._tcp.pg.db.svc.cluster.local", "SRV"}, "NOERROR",
			[]string{"SRV 0 50 15432 10-244-0-6.pg.db.svc.cluster.local.", "SRV 0 50 15432 pg-0.pg.db.svc.cluster.local."}},
		{"srv wrong protocol", []string{"_http._udp.web.default.svc.cluster.local", "SRV"}, "NXDOMAIN", nil},
		{"ptr cluster ip", []string{"-x", "10.96.0.10"}, "NOERROR", []string{"PTR web.default.svc.cluster.local."}},
		{"ptr headless pod", []string{"-x", "10.244.0.5"}, "NOERROR", []string{"PTR pg-0.pg.db.svc.cluster.local."}},
		{"external name", []string{"ext.default.svc.cluster.local", "A"}, "NOERROR", []string{"CNAME example.com."}},
		{"missing service", []string{"nope.default.svc.cluster.local", "A"}, "NXDOMAIN", nil},
		{"missing namespace", []string{"web.nope.svc.cluster.local", "A"}, "NXDOMAIN", nil},
		{"namespace exists", []string{"default.svc.cluster.local", "A"}, "NOERROR", nil},
		{"search path expansion", []string{"web.default.svc.cluster.local.default.svc.cluster.local", "A"}, "NXDOMAIN", nil},
		{"pod by ip", []string{"10-244-0-9.default.pod.cluster.local", "A"}, "NOERROR", []string{"A 10.244.0.9"}},
		{"zone soa", []string{"cluster.local", "SOA"}, "NOERROR", []string{"SOA ns.dns.cluster.local. hostmaster.cluster.local."}},
		{"forwarded", []string{"example.com", "A"}, "NOERROR", []string{"A 192.0.2.1"}},
		{"forwarded nxdomain", []string{"nothing.example.org", "A"}, "NXDOMAIN", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, got := dig(t, addr, tc.args...)
			if status != tc.status {
				t.Errorf("status %s, want %s", status, tc.status)
			}
			if tc.name == "zone soa" && len(got) == 1 {
				got[0] = strings.Join(strings.Fields(got[0])[:3], " ") // drop the serial and timers
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("answers %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("follows API changes", func(t *testing.T) {
		_, err := client.CoreV1().Services("default").Create(context.Background(), &v1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "late"},
			Spec:       v1.ServiceSpec{ClusterIP: "10.96.0.99", Ports: []v1.ServicePort{{Port: 80}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			status, got := dig(t, addr, "late.default.svc.cluster.local", "A")
			if status == "NOERROR" && fmt.Sprint(got) == "[A 10.96.0.99]" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("new service never resolved: %s %q", status, got)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		o    Options
		ok   bool
	}{
		{"defaults", Options{Kubeconfig: "k"}, true},
		{"no kubeconfig", Options{}, false},
		{"bad listen", Options{Kubeconfig: "k", Listen: "nope"}, false},
		{"bad domain", Options{Kubeconfig: "k", Domain: ".."}, false},
		{"bad ttl", Options{Kubeconfig: "k", TTL: -1}, false},
		{"upstream ip", Options{Kubeconfig: "k", Upstreams: []string{"10.0.0.1"}}, true},
		{"bad upstream", Options{Kubeconfig: "k", Upstreams: []string{"a:b:c"}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.o.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
