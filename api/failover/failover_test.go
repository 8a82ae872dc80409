package failover

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{name: "none", opts: Options{}, wantErr: "no endpoints"},
		{name: "bad scheme", opts: Options{Endpoints: []string{"ftp://x:1"}}, wantErr: "want http(s)"},
		{name: "no host", opts: Options{Endpoints: []string{"https://"}}, wantErr: "want http(s)"},
		{name: "mixed schemes", opts: Options{Endpoints: []string{"https://a:1", "http://b:2"}}, wantErr: "must use https"},
		{name: "ok", opts: Options{Endpoints: []string{"https://a:1", "https://b:2"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			case tc.wantErr == "" && tc.opts.Cooldown != 5*time.Second:
				t.Fatalf("cooldown default %s", tc.opts.Cooldown)
			}
		})
	}
}

// server is a test endpoint that records what it served.
type server struct {
	*httptest.Server
	hits   atomic.Int64
	bodies chan string
}

// newServer answers every request with its own name; when hangUp(method)
// is true it closes the connection without answering instead.
func newServer(t *testing.T, name string, hangUp func(method string) bool) *server {
	t.Helper()
	s := &server{bodies: make(chan string, 16)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		s.bodies <- string(b)
		if hangUp != nil && hangUp(r.Method) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		io.WriteString(w, name)
	}))
	t.Cleanup(s.Close)
	return s
}

// deadURL returns an http URL on which nothing listens.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestRoundTrip(t *testing.T) {
	hangAll := func(string) bool { return true }
	tests := []struct {
		name       string
		firstDead  bool                     // endpoint 0 refuses connections
		firstHang  func(method string) bool // endpoint 0 hangs up on these
		method     string
		body       string
		wantBody   string // response body; "" wants an error
		wantActive int
		wantSecond int64 // requests served by endpoint 1
	}{
		{name: "healthy first endpoint", method: http.MethodGet, wantBody: "b", wantActive: 0},
		{name: "refused GET moves on", firstDead: true, method: http.MethodGet, wantBody: "c", wantActive: 1, wantSecond: 1},
		{name: "refused POST is replayed", firstDead: true, method: http.MethodPost, body: `{"x":1}`, wantBody: "c", wantActive: 1, wantSecond: 1},
		{name: "GET cut mid-flight is retried", firstHang: hangAll, method: http.MethodGet, wantBody: "c", wantActive: 1, wantSecond: 1},
		{name: "POST cut mid-flight fails, next request moves on", firstHang: hangAll, method: http.MethodPost, body: "{}", wantActive: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var first string
			if tc.firstDead {
				first = deadURL(t)
			} else {
				first = newServer(t, "b", tc.firstHang).URL
			}
			second := newServer(t, "c", nil)
			e, err := New(Options{Endpoints: []string{first, second.URL}})
			if err != nil {
				t.Fatal(err)
			}
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.DisableKeepAlives = true
			client := &http.Client{Transport: e.Wrap(tr)}
			req, err := http.NewRequest(tc.method, first+"/api/v1/namespaces", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if tc.wantBody == "" {
				if err == nil {
					resp.Body.Close()
					t.Fatal("want an error")
				}
			} else {
				if err != nil {
					t.Fatalf("request: %v", err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != tc.wantBody {
					t.Fatalf("served by %q, want %q", b, tc.wantBody)
				}
			}
			if got := e.Active(); got != e.opts.Endpoints[tc.wantActive] {
				t.Fatalf("active %s, want endpoint %d", got, tc.wantActive)
			}
			if got := second.hits.Load(); got != tc.wantSecond {
				t.Fatalf("second endpoint served %d requests, want %d", got, tc.wantSecond)
			}
			if tc.wantSecond > 0 && tc.body != "" {
				if got := <-second.bodies; got != tc.body {
					t.Fatalf("replayed body %q, want %q", got, tc.body)
				}
			}
		})
	}
}

func TestOtherHostsPassThrough(t *testing.T) {
	a := newServer(t, "a", nil)
	other := newServer(t, "other", nil)
	e, err := New(Options{Endpoints: []string{a.URL}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: e.Wrap(http.DefaultTransport)}).Get(other.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "other" || a.hits.Load() != 0 {
		t.Fatalf("got %q, endpoint hits %d", b, a.hits.Load())
	}
}

func TestCooldownAndAllDown(t *testing.T) {
	dead1, dead2 := deadURL(t), deadURL(t)
	e, err := New(Options{Endpoints: []string{dead1, dead2}, Cooldown: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: e.Wrap(http.DefaultTransport)}
	if _, err := client.Get(dead1); err == nil {
		t.Fatal("want an error when every endpoint is down")
	}
	// Both failed: the active one is the one that failed longest ago.
	if got := e.Active(); got != dead1 {
		t.Fatalf("active %s, want %s (failed first)", got, dead1)
	}
	if e.Switches() != 2 {
		t.Fatalf("switches %d, want 2", e.Switches())
	}
}

// TestClientGoOverTLS drives a real clientset through a config built by
// Config against two TLS endpoints sharing one certificate, as the
// apiservers of one cluster do, and stops the active one.
func TestClientGoOverTLS(t *testing.T) {
	serve := func(name string) *httptest.Server {
		s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cm := corev1.ConfigMap{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
				ObjectMeta: metav1.ObjectMeta{Name: "served-by", Namespace: "default"},
				Data:       map[string]string{"server": name},
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(&cm)
		}))
		t.Cleanup(s.Close)
		return s
	}
	a, b := serve("a"), serve("b")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Certificate().Raw})
	if !bytes.Equal(a.Certificate().Raw, b.Certificate().Raw) {
		t.Fatal("test servers do not share a certificate")
	}
	base := &rest.Config{TLSClientConfig: rest.TLSClientConfig{CAData: caPEM}}
	cfg, e, err := Config(base, a.URL, b.URL)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	get := func() string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cm, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "served-by", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		return cm.Data["server"]
	}
	if got := get(); got != "a" {
		t.Fatalf("served by %s, want a", got)
	}
	a.CloseClientConnections()
	a.Close()
	if got := get(); got != "b" {
		t.Fatalf("after stopping a: served by %s, want b", got)
	}
	if e.Active() != b.URL {
		t.Fatalf("active %s, want %s", e.Active(), b.URL)
	}
}
