package ingress

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func ptr[T any](v T) *T { return &v }

// backend starts an HTTP server on loopback answering with name (and
// sleeping on /slow) and returns its port.
func backend(t *testing.T, name string) int32 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(1500 * time.Millisecond)
		}
		fmt.Fprintf(w, "%s %s %s", name, r.Host, r.URL.Path)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return int32(ln.Addr().(*net.TCPAddr).Port)
}

// deadPort returns a loopback port nothing listens on.
func deadPort(t *testing.T) int32 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return int32(port)
}

func service(name string) *v1.Service {
	return &v1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: v1.ServiceSpec{ClusterIP: "10.96.0.1", Ports: []v1.ServicePort{{Name: "http", Protocol: v1.ProtocolTCP, Port: 80}}}}
}

func slice(svc, name string, port int32, ready bool) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Protocol: ptr(v1.ProtocolTCP), Port: ptr(port)}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(ready)}}},
	}
}

func ingressPath(p string, typ networkingv1.PathType, svc string) networkingv1.HTTPIngressPath {
	return networkingv1.HTTPIngressPath{Path: p, PathType: &typ, Backend: networkingv1.IngressBackend{
		Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Name: "http"}}}}
}

func ingress(name, class, host string, paths ...networkingv1.HTTPIngressPath) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: networkingv1.IngressSpec{IngressClassName: ptr(class), Rules: []networkingv1.IngressRule{{
			Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}}}}},
	}
}

// tlsSecret makes a self-signed CA certificate for host, returns the
// Secret and the PEM file path curl can trust.
func tlsSecret(t *testing.T, name, host string) (*v1.Secret, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return &v1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Type: v1.SecretTypeTLS,
		Data: map[string][]byte{v1.TLSCertKey: certPEM, v1.TLSPrivateKeyKey: keyPEM}}, path
}

type curlResult struct {
	code int
	body string
}

// curl requests url with the real curl, resolving every host to addr.
func curl(t *testing.T, addr, url string, extra ...string) curlResult {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	h := strings.TrimPrefix(strings.TrimPrefix(url, "http://"), "https://")
	h, _, _ = strings.Cut(h, "/")
	args := append([]string{"-s", "--max-time", "10", "-w", "\n%{http_code}", "--resolve", h + ":" + port + ":" + host}, extra...)
	url = strings.Replace(url, h, h+":"+port, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "curl", append(args, url)...).Output()
	if err != nil {
		t.Fatalf("curl %s: %v (%s)", url, err, out)
	}
	s := string(out)
	i := strings.LastIndexByte(s, '\n')
	code, _ := strconv.Atoi(s[i+1:])
	return curlResult{code: code, body: s[:i]}
}

func poll(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %s", what, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestIngressWithCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	secret, caFile := tlsSecret(t, "secure-tls", "secure.example.com")
	secureIng := ingress("secure", "skiff", "secure.example.com", ingressPath("/", networkingv1.PathTypePrefix, "api"))
	secureIng.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"secure.example.com"}, SecretName: "secure-tls"}}
	objs := []runtime.Object{
		service("web"), service("api"), service("empty"),
		slice("web", "web-a", backend(t, "web-a"), true),
		slice("web", "web-b", backend(t, "web-b"), true),
		slice("web", "web-c", backend(t, "web-c"), false),
		slice("web", "web-dead", deadPort(t), true), // ready but refusing: retried elsewhere
		slice("api", "api-a", backend(t, "api"), true),
		secret,
		ingress("main", "skiff", "app.example.com",
			ingressPath("/", networkingv1.PathTypePrefix, "web"),
			ingressPath("/api", networkingv1.PathTypePrefix, "api"),
			ingressPath("/exact", networkingv1.PathTypeExact, "api"),
			ingressPath("/empty", networkingv1.PathTypePrefix, "empty")),
		ingress("wild", "skiff", "*.wild.example.com", ingressPath("/", networkingv1.PathTypePrefix, "api")),
		ingress("foreign", "other", "foreign.example.com", ingressPath("/", networkingv1.PathTypePrefix, "web")),
		secureIng,
	}
	client := fake.NewSimpleClientset(objs...)

	ctx, cancel := context.WithCancel(context.Background())
	type addrs struct{ http, https string }
	ready := make(chan addrs, 1)
	done := make(chan error, 1)
	o := Options{HTTPAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0", PublishAddress: "192.0.2.10",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	go func() { done <- serve(ctx, o, client, func(h, s string) { ready <- addrs{h, s} }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	var a addrs
	select {
	case a = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("ingress controller did not start")
	}

	cases := []struct {
		name     string
		url      string
		extra    []string
		wantCode int
		wantBody string // prefix
	}{
		{"prefix /api", "http://app.example.com/api/v1", nil, 200, "api app.example.com"},
		{"exact /exact", "http://app.example.com/exact", nil, 200, "api "},
		{"exact does not match child", "http://app.example.com/exact/x", nil, 200, "web-"},
		{"root prefix", "http://app.example.com/index.html", nil, 200, "web-"},
		{"prefix per element", "http://app.example.com/apix", nil, 200, "web-"},
		{"wildcard host", "http://x.wild.example.com/", nil, 200, "api x.wild.example.com"},
		{"no endpoints is 503", "http://app.example.com/empty", nil, 503, "503 service unavailable"},
		{"unknown host is 404", "http://nope.example.com/", nil, 404, "404"},
		{"other class is ignored", "http://foreign.example.com/", nil, 404, "404"},
		{"tls by sni", "https://secure.example.com/x", []string{"--cacert", caFile}, 200, "api secure.example.com:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := a.http
			if strings.HasPrefix(tc.url, "https") {
				addr = a.https
			}
			r := curl(t, addr, tc.url, tc.extra...)
			if r.code != tc.wantCode || !strings.HasPrefix(r.body, tc.wantBody) {
				t.Errorf("got %d %q, want %d %q…", r.code, r.body, tc.wantCode, tc.wantBody)
			}
		})
	}

	t.Run("balances over ready endpoints only", func(t *testing.T) {
		seen := map[string]int{}
		for i := 0; i < 12; i++ {
			r := curl(t, a.http, "http://app.example.com/")
			if r.code != 200 {
				t.Errorf("request %d: %d %q", i, r.code, r.body)
				continue
			}
			seen[strings.Fields(r.body)[0]]++
		}
		if seen["web-a"] == 0 || seen["web-b"] == 0 || seen["web-c"] > 0 {
			t.Errorf("backends seen %v, want web-a and web-b only", seen)
		}
	})
	t.Run("unknown SNI gets the default certificate", func(t *testing.T) {
		r := curl(t, a.https, "https://app.example.com/api", "-k")
		if r.code != 200 {
			t.Errorf("got %d %q", r.code, r.body)
		}
	})
	t.Run("status.loadBalancer is published", func(t *testing.T) {
		poll(t, "ingress status", func() (bool, string) {
			ing, err := client.NetworkingV1().Ingresses("default").Get(ctx, "main", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			lb := ing.Status.LoadBalancer.Ingress
			return len(lb) == 1 && lb[0].IP == "192.0.2.10", fmt.Sprint(lb)
		})
		ing, _ := client.NetworkingV1().Ingresses("default").Get(ctx, "foreign", metav1.GetOptions{})
		if len(ing.Status.LoadBalancer.Ingress) != 0 {
			t.Errorf("foreign ingress got status %v", ing.Status.LoadBalancer.Ingress)
		}
	})
	t.Run("updates keep in-flight requests", func(t *testing.T) {
		var wg sync.WaitGroup
		var slow curlResult
		wg.Add(1)
		go func() {
			defer wg.Done()
			slow = curl(t, a.http, "http://app.example.com/api/slow")
		}()
		time.Sleep(300 * time.Millisecond) // let the slow request reach the backend
		upd := ingress("main", "skiff", "app.example.com", ingressPath("/", networkingv1.PathTypePrefix, "api"))
		if _, err := client.NetworkingV1().Ingresses("default").Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, "new routing", func() (bool, string) {
			r := curl(t, a.http, "http://app.example.com/index.html")
			return strings.HasPrefix(r.body, "api "), r.body
		})
		wg.Wait()
		if slow.code != 200 || !strings.HasPrefix(slow.body, "api app.example.com:") || !strings.HasSuffix(slow.body, " /api/slow") {
			t.Errorf("in-flight request during update: %d %q", slow.code, slow.body)
		}
	})
	t.Run("endpoint changes are followed", func(t *testing.T) {
		if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx,
			slice("api", "api-a", 1, false), metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, "503 after the only endpoint went unready", func() (bool, string) {
			r := curl(t, a.http, "http://app.example.com/")
			return r.code == 503, fmt.Sprint(r)
		})
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
		{"bad http addr", Options{Kubeconfig: "k", HTTPAddr: "nope"}, false},
		{"both disabled", Options{Kubeconfig: "k", HTTPAddr: "-", HTTPSAddr: "-"}, false},
		{"https only", Options{Kubeconfig: "k", HTTPAddr: "-"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.o.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
