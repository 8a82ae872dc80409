package watchmux

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/api/testenv"
)

type message struct {
	ID              string          `json:"id"`
	Type            string          `json:"type"`
	Object          json.RawMessage `json:"object"`
	ResourceVersion string          `json:"resourceVersion"`
	List            struct {
		ResourceVersion string            `json:"resourceVersion"`
		Items           []json.RawMessage `json:"items"`
	} `json:"list"`
	Status struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
}

func (m message) name() string {
	var o struct {
		Metadata struct{ Name string } `json:"metadata"`
	}
	_ = json.Unmarshal(m.Object, &o)
	return o.Metadata.Name
}

func newMux(t *testing.T, upstream string, opts Options) string {
	_, u := newMuxServer(t, upstream, opts)
	return u
}

func newMuxServer(t *testing.T, upstream string, opts Options) (*Mux, string) {
	t.Helper()
	base, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	opts.Base = base
	opts.Logger = slog.New(slog.DiscardHandler)
	m := New(opts)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.Serve(w, r, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	}))
	t.Cleanup(func() { m.Close(); srv.Close() })
	return m, "ws" + strings.TrimPrefix(srv.URL, "http")
}

func dial(t *testing.T, wsURL string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c *websocket.Conn, v any) {
	t.Helper()
	if err := c.WriteJSON(v); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// next reads messages until match returns true or the deadline passes.
func next(t *testing.T, c *websocket.Conn, timeout time.Duration, match func(message) bool) message {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	for {
		var m message
		if err := c.ReadJSON(&m); err != nil {
			t.Fatalf("read: %v", err)
		}
		if match(m) {
			return m
		}
	}
}

func TestValidPath(t *testing.T) {
	cases := []struct {
		path string
		ok   bool
	}{
		{"/api/v1/pods", true},
		{"/apis/apps/v1/namespaces/x/deployments", true},
		{"/metrics", false},
		{"/api/v1/pods?watch=1", false},
		{"/api/v1/../../etc", false},
		{"", false},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			if err := validPath(tc.path); (err == nil) != tc.ok {
				t.Fatalf("validPath(%q) = %v, want ok=%v", tc.path, err, tc.ok)
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	ws := newMux(t, "http://127.0.0.1:1", Options{})
	c := dial(t, ws)
	cases := []struct {
		name string
		msg  string
		want string
	}{
		{"malformed", `{`, "malformed"},
		{"unknown op", `{"op":"frobnicate","id":"a"}`, "unknown op"},
		{"no id", `{"op":"watch","path":"/api/v1/pods"}`, "needs an id"},
		{"bad path", `{"op":"watch","id":"x","path":"/etc/passwd"}`, "must start with"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.WriteMessage(websocket.TextMessage, []byte(tc.msg)); err != nil {
				t.Fatal(err)
			}
			m := next(t, c, 10*time.Second, func(m message) bool { return m.Type == "ERROR" })
			if m.Status.Code != http.StatusBadRequest || !strings.Contains(m.Status.Message, tc.want) {
				t.Fatalf("got %+v, want 400 containing %q", m.Status, tc.want)
			}
		})
	}
}

// TestManyWatchesOneSocket opens 30 streams over one socket against a real
// apiserver and checks every stream sees its own objects live.
func TestManyWatchesOneSocket(t *testing.T) {
	env := testenv.StartAPIServer(t, testenv.Options{})
	ws := newMux(t, env.URL, Options{Client: env.HTTPClient()})
	c := dial(t, ws)
	ctx := context.Background()
	const n = 30
	for i := range n {
		ns := fmt.Sprintf("ns-%d", i)
		if _, err := env.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		send(t, c, request{Op: "watch", ID: ns, Path: "/api/v1/namespaces/" + ns + "/configmaps"})
	}
	synced := map[string]bool{}
	for len(synced) < n {
		m := next(t, c, 30*time.Second, func(m message) bool { return m.Type == "SYNC" || m.Type == "ERROR" })
		if m.Type == "ERROR" {
			t.Fatalf("stream %s: %+v", m.ID, m.Status)
		}
		synced[m.ID] = true
	}
	for i := range n {
		ns := fmt.Sprintf("ns-%d", i)
		if _, err := env.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm-" + ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for len(seen) < n {
		m := next(t, c, 30*time.Second, func(m message) bool { return m.Type == "ADDED" })
		if m.name() != "cm-"+m.ID {
			t.Fatalf("stream %s got %s", m.ID, m.name())
		}
		seen[m.ID] = true
	}
	// Cancelling one stream stops its events; others keep flowing.
	send(t, c, request{Op: "cancel", ID: "ns-0"})
	time.Sleep(200 * time.Millisecond) // let the cancel land before the writes below
	for _, ns := range []string{"ns-0", "ns-1"} {
		if _, err := env.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "second"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	m := next(t, c, 30*time.Second, func(m message) bool { return m.Type == "ADDED" })
	if m.ID != "ns-1" {
		t.Fatalf("event for cancelled stream %s", m.ID)
	}
}

// TestResume closes the socket, changes the collection, and reconnects
// with the last resourceVersion: the missed event arrives without a relist.
func TestResume(t *testing.T) {
	env := testenv.StartAPIServer(t, testenv.Options{})
	ws := newMux(t, env.URL, Options{Client: env.HTTPClient()})
	ctx := context.Background()
	cms := env.Client.CoreV1().ConfigMaps("default")
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, ws)
	send(t, c, request{Op: "watch", ID: "cm", Path: "/api/v1/namespaces/default/configmaps"})
	sync := next(t, c, 30*time.Second, func(m message) bool { return m.Type == "SYNC" })
	if len(sync.List.Items) != 1 || sync.List.ResourceVersion == "" {
		t.Fatalf("SYNC = %d items rv %q", len(sync.List.Items), sync.List.ResourceVersion)
	}
	c.Close()
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "while-away"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c2 := dial(t, ws)
	send(t, c2, request{Op: "watch", ID: "cm", Path: "/api/v1/namespaces/default/configmaps", ResourceVersion: sync.List.ResourceVersion})
	m := next(t, c2, 30*time.Second, func(m message) bool { return m.Type != "BOOKMARK" })
	if m.Type != "ADDED" || m.name() != "while-away" {
		t.Fatalf("after resume got %s %s, want ADDED while-away", m.Type, m.name())
	}
	// An unknown (far future or garbage) resourceVersion is not fatal: the
	// stream relists.
	send(t, c2, request{Op: "watch", ID: "old", Path: "/api/v1/namespaces/default/configmaps", ResourceVersion: "1"})
	m = next(t, c2, 30*time.Second, func(m message) bool { return m.ID == "old" && m.Type != "BOOKMARK" })
	if m.Type != "SYNC" && m.Type != "ADDED" {
		t.Fatalf("resume from rv 1 got %s %+v", m.Type, m.Status)
	}
}

// TestTokenForwarded checks that upstream requests carry the user's
// token and that a refusal (403) reaches the browser as an ERROR.
func TestTokenForwarded(t *testing.T) {
	var got atomic.Value
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","code":403,"reason":"Forbidden","message":"user alice cannot list secrets"}`)
	}))
	defer up.Close()
	ws := newMux(t, up.URL, Options{})
	c, _, err := websocket.DefaultDialer.Dial(ws, http.Header{"Authorization": {"Bearer alice-token"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	send(t, c, request{Op: "watch", ID: "s", Path: "/api/v1/secrets"})
	m := next(t, c, 10*time.Second, func(m message) bool { return true })
	if m.Type != "ERROR" || m.Status.Code != 403 || !strings.Contains(m.Status.Message, "alice") {
		t.Fatalf("got %+v", m)
	}
	if got.Load() != "Bearer alice-token" {
		t.Fatalf("upstream saw Authorization %q", got.Load())
	}
}

// TestSlowClientDoesNotBlockOthers floods two sockets from a fast upstream;
// one never reads. The reader keeps receiving and the stalled socket is
// closed with CloseSlowConsumer.
func TestSlowClientDoesNotBlockOthers(t *testing.T) {
	pad := strings.Repeat("x", 1024)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("watch") == "" {
			io.WriteString(w, `{"metadata":{"resourceVersion":"1"},"items":[]}`)
			return
		}
		fl := w.(http.Flusher)
		for i := 0; ; i++ {
			_, err := fmt.Fprintf(w, `{"type":"ADDED","object":{"metadata":{"name":"o%d","resourceVersion":"%d"},"data":"%s"}}`+"\n", i, i+2, pad)
			if err != nil {
				return
			}
			if i%50 == 0 {
				fl.Flush()
				time.Sleep(time.Millisecond)
			}
		}
	}))
	defer up.Close()
	mux, ws := newMuxServer(t, up.URL, Options{QueueSize: 64, SlowTimeout: 2 * time.Second})

	slow := dial(t, ws)
	send(t, slow, request{Op: "watch", ID: "flood", Path: "/api/v1/configmaps"})
	fast := dial(t, ws)
	send(t, fast, request{Op: "watch", ID: "flood", Path: "/api/v1/configmaps"})

	// The fast socket keeps getting events while the slow one is stalled.
	count := 0
	deadline := time.Now().Add(60 * time.Second)
	_ = fast.SetReadDeadline(deadline)
	for count < 10000 {
		var m message
		if err := fast.ReadJSON(&m); err != nil {
			t.Fatalf("fast socket after %d events: %v", count, err)
		}
		count++
	}
	// The stalled socket is eventually dropped as too slow: the server
	// forgets it, and its browser sees the connection end.
	if err := testenv.Poll(60*time.Second, func() (bool, error) { return mux.Sockets() == 1, nil }); err != nil {
		t.Fatalf("slow socket not dropped: %d sockets open", mux.Sockets())
	}
	_ = slow.SetReadDeadline(time.Now().Add(60 * time.Second))
	for {
		if _, _, err := slow.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if asClose(err, &ce) && ce.Code != CloseSlowConsumer && ce.Code != websocket.CloseAbnormalClosure {
				t.Fatalf("slow socket closed with %d, want %d or 1006", ce.Code, CloseSlowConsumer)
			}
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				t.Fatalf("slow socket still open: %v", err)
			}
			break
		}
	}
}

func asClose(err error, target **websocket.CloseError) bool {
	ce, ok := err.(*websocket.CloseError)
	if ok {
		*target = ce
	}
	return ok
}

// TestStreamLimit checks MaxStreams, and that cancelled or failed streams
// free their slot.
func TestStreamLimit(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/secrets") {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","code":403,"reason":"Forbidden","message":"no"}`)
			return
		}
		if r.URL.Query().Get("watch") == "" {
			io.WriteString(w, `{"metadata":{"resourceVersion":"1"},"items":[]}`)
			return
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(up.Close) // after the mux's cleanup has closed its watches
	ws := newMux(t, up.URL, Options{MaxStreams: 2})
	c := dial(t, ws)
	expect := func(id, typ string, code int) {
		t.Helper()
		m := next(t, c, 10*time.Second, func(m message) bool { return m.ID == id })
		if m.Type != typ || m.Status.Code != code {
			t.Fatalf("stream %s: got %s %d, want %s %d", id, m.Type, m.Status.Code, typ, code)
		}
	}
	send(t, c, request{Op: "watch", ID: "a", Path: "/api/v1/configmaps"})
	expect("a", "SYNC", 0)
	send(t, c, request{Op: "watch", ID: "b", Path: "/api/v1/configmaps"})
	expect("b", "SYNC", 0)
	send(t, c, request{Op: "watch", ID: "c", Path: "/api/v1/configmaps"})
	expect("c", "ERROR", http.StatusTooManyRequests)
	send(t, c, request{Op: "cancel", ID: "a"})
	send(t, c, request{Op: "watch", ID: "d", Path: "/api/v1/secrets"})
	expect("d", "ERROR", http.StatusForbidden)
	// d failed and freed its slot: e fits.
	if err := testenv.Poll(10*time.Second, func() (bool, error) {
		send(t, c, request{Op: "watch", ID: "e", Path: "/api/v1/configmaps"})
		m := next(t, c, 10*time.Second, func(m message) bool { return m.ID == "e" })
		return m.Type == "SYNC", nil
	}); err != nil {
		t.Fatal("slot of the failed stream was not freed")
	}
}
