package server

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"k8s.io/client-go/rest"
)

// TestLogsStreamThrough checks followed logs reach the browser line by
// line, not when the upstream response ends.
func TestLogsStreamThrough(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/namespaces/default/pods/web/log" || r.URL.Query().Get("follow") != "true" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "first line")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprintln(w, "second line")
	}))
	defer up.Close()
	defer close(release)
	srv := newServer(t, &rest.Config{Host: up.URL}, false)
	resp, err := http.Get(srv.URL + "/api/v1/namespaces/default/pods/web/log?follow=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(resp.Body).ReadString('\n')
		lines <- line
	}()
	select {
	case l := <-lines:
		if l != "first line\n" {
			t.Fatalf("got %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("first log line not streamed through")
	}
}

// TestExecUpgradeThrough checks an exec websocket (v5.channel.k8s.io)
// passes through the proxy with the user's token and the subprotocol.
func TestExecUpgradeThrough(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer alice" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		u := websocket.Upgrader{Subprotocols: []string{"v5.channel.k8s.io"}}
		c, err := u.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				return
			}
			// Echo stdin (channel 0) back on stdout (channel 1).
			out := append([]byte{1}, data[1:]...)
			if err := c.WriteMessage(websocket.BinaryMessage, out); err != nil {
				return
			}
		}
	}))
	defer up.Close()
	srv := newServer(t, &rest.Config{Host: up.URL}, false)
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/v1/namespaces/default/pods/web/exec?command=sh&stdin=true&stdout=true&tty=true"
	d := websocket.Dialer{Subprotocols: []string{"v5.channel.k8s.io"}}
	hdr := http.Header{"Cookie": {"skiff_token=alice"}, "Origin": {srv.URL}}
	c, resp, err := d.Dial(wsURL, hdr)
	if err != nil {
		t.Fatalf("dial exec through proxy: %v (%v)", err, resp)
	}
	defer c.Close()
	if c.Subprotocol() != "v5.channel.k8s.io" {
		t.Fatalf("subprotocol %q", c.Subprotocol())
	}
	if err := c.WriteMessage(websocket.BinaryMessage, []byte("\x00echo hi\r")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := c.ReadMessage()
	if err != nil || string(data) != "\x01echo hi\r" {
		t.Fatalf("read %q, %v", data, err)
	}
	// A cross-site page cannot open an exec socket with the user's cookie.
	hdr.Set("Origin", "http://evil.example")
	if _, resp, err := d.Dial(wsURL, hdr); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin exec: err %v resp %v", err, resp)
	}
}
