package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/client-go/util/exec"

	"skiff.dev/kubelet/internal/crienv"
	"skiff.dev/kubelet/internal/pod"
)

// TestServerOnRealRuntime runs a pod on a real containerd and drives the
// server's logs, exec and stats endpoints the way the API server's proxy
// and kubectl do.
func TestServerOnRealRuntime(t *testing.T) {
	crt := crienv.Start(t)
	client := fake.NewClientset()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mgr := pod.New(pod.Options{
		Client: client, Runtime: crt.Client, Images: crt.Client, NodeName: "n1", NodeIP: "127.0.0.1",
		RootDir: t.TempDir(), CgroupRoot: crt.CgroupRoot, Relist: 200 * time.Millisecond, BackoffBase: time.Second, Log: log,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = mgr.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	srv := httptest.NewServer(New(Options{NodeName: "n1", Pods: mgr, Runtime: crt.Client, Log: log}).Handler())
	t.Cleanup(srv.Close)

	_, err := client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-server-p"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{
			Name: "main", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent,
			Command: []string{"sh", "-c", "echo err >&2; sleep 0.5; for i in 1 2 3 4 5; do echo line$i; done; sleep 3600"},
		}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, _ := client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
		if p != nil && p.Status.Phase == corev1.PodRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod not running: %+v", p.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Logs appear once the container has written them.
	var body string
	for i := 0; i < 150; i++ {
		if _, body = get("/containerLogs/default/p/main"); strings.Count(body, "\n") >= 6 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	t.Run("logs", func(t *testing.T) {
		cases := []struct {
			name, query string
			code        int
			check       func(string) bool
		}{
			{"all", "", 200, func(s string) bool { return s == "err\nline1\nline2\nline3\nline4\nline5\n" }},
			{"tail", "?tailLines=2", 200, func(s string) bool { return strings.Count(s, "\n") == 2 }},
			{"timestamps", "?tailLines=1&timestamps=true", 200, func(s string) bool {
				f := strings.Fields(s)
				_, err := time.Parse(time.RFC3339Nano, f[0])
				return len(f) == 2 && err == nil
			}},
			{"limitBytes", "?limitBytes=3", 200, func(s string) bool { return s == "err" }},
			{"previous missing", "?previous=true", 400, func(s string) bool { return strings.Contains(s, "previous terminated container") }},
			{"bad tail", "?tailLines=x", 400, func(s string) bool { return strings.Contains(s, `"reason":"BadRequest"`) }},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				code, body := get("/containerLogs/default/p/main" + tc.query)
				if code != tc.code || !tc.check(body) {
					t.Fatalf("code %d body %q", code, body)
				}
			})
		}
		if code, body := get("/containerLogs/default/nope/main"); code != 404 || !strings.Contains(body, `"kind":"Status"`) {
			t.Fatalf("missing pod: %d %s", code, body)
		}
		if code, _ := get("/containerLogs/default/p/other"); code != 400 {
			t.Fatalf("bad container: %d", code)
		}
	})

	t.Run("follow", func(t *testing.T) {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		defer rcancel()
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, srv.URL+"/containerLogs/default/p/main?follow=true&tailLines=1", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		buf := make([]byte, 64)
		n, err := resp.Body.Read(buf)
		if err != nil || string(buf[:n]) != "line5\n" {
			t.Fatalf("follow read %q, %v", buf[:n], err)
		}
	})

	exec := func(tty bool, cmd ...string) (string, string, error) {
		q := url.Values{"stdout": {"true"}, "command": cmd}
		if tty {
			q.Set("tty", "true")
			q.Set("stdin", "true")
		} else {
			q.Set("stderr", "true")
		}
		ex, err := remotecommand.NewWebSocketExecutor(&rest.Config{Host: srv.URL}, "GET", srv.URL+"/exec/default/p/main?"+q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
		defer scancel()
		opts := remotecommand.StreamOptions{Stdout: &out, Tty: tty}
		if !tty {
			opts.Stderr = &errb
		} else {
			// A terminal's stdin stays open until the session ends.
			pr, pw := io.Pipe()
			defer pw.Close()
			go func() { _, _ = io.WriteString(pw, "tty; exit 0\n") }()
			opts.Stdin = pr
		}
		err = ex.StreamWithContext(sctx, opts)
		return out.String(), errb.String(), err
	}

	t.Run("exec", func(t *testing.T) {
		out, _, err := exec(false, "echo", "ok")
		if err != nil || out != "ok\n" {
			t.Fatalf("exec echo ok: %q %v", out, err)
		}
		out, errOut, err := exec(false, "sh", "-c", "echo out; echo bad >&2; exit 7")
		var ce utilexec.CodeExitError
		if !errors.As(err, &ce) || ce.Code != 7 || out != "out\n" || errOut != "bad\n" {
			t.Fatalf("exit code: out=%q err=%q %v", out, errOut, err)
		}
		out, _, err = exec(true, "sh")
		if err != nil || !strings.Contains(out, "/dev/pts/") {
			t.Fatalf("tty: %q %v", out, err)
		}
	})

	// kubectl exec -i pod -- cat: the end of stdin (v5 CLOSE on channel 0)
	// reaches the process, which then exits.
	t.Run("exec stdin EOF", func(t *testing.T) {
		q := url.Values{"stdin": {"true"}, "stdout": {"true"}, "stderr": {"true"}, "command": {"sh", "-c", "cat; echo done"}}
		ex, err := remotecommand.NewWebSocketExecutor(&rest.Config{Host: srv.URL}, "GET", srv.URL+"/exec/default/p/main?"+q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		sctx, scancel := context.WithTimeout(ctx, 15*time.Second)
		defer scancel()
		start := time.Now()
		err = ex.StreamWithContext(sctx, remotecommand.StreamOptions{Stdin: strings.NewReader("hello\n"), Stdout: &out, Stderr: &errb})
		if err != nil || out.String() != "hello\ndone\n" {
			t.Fatalf("exec cat with stdin closed: out=%q err=%q %v (after %v)", out.String(), errb.String(), err, time.Since(start))
		}
		t.Logf("exec -i cat ended %v after stdin EOF", time.Since(start).Round(time.Millisecond))
	})

	t.Run("port-forward", func(t *testing.T) {
		if out, errOut, err := exec(false, "sh", "-c", "mkdir -p /www && echo hi > /www/index.html && httpd -p 8081 -h /www"); err != nil {
			t.Fatalf("start httpd: %q %q %v", out, errOut, err)
		}
		u, _ := url.Parse(srv.URL + "/portForward/default/p")
		spdyRT, upgrader, err := spdy.RoundTripperFor(&rest.Config{Host: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		tunnel, err := portforward.NewSPDYOverWebsocketDialer(u, &rest.Config{Host: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		for name, dialer := range map[string]httpstream.Dialer{
			"websocket tunnel": tunnel,
			"spdy":             spdy.NewDialer(upgrader, &http.Client{Transport: spdyRT}, "POST", u),
		} {
			t.Run(name, func(t *testing.T) {
				stop, ready := make(chan struct{}), make(chan struct{})
				fw, err := portforward.New(dialer, []string{"0:8081"}, stop, ready, io.Discard, io.Discard)
				if err != nil {
					t.Fatal(err)
				}
				errc := make(chan error, 1)
				go func() { errc <- fw.ForwardPorts() }()
				defer func() { close(stop); <-errc }()
				select {
				case <-ready:
				case err := <-errc:
					t.Fatalf("port-forward: %v", err)
				case <-time.After(10 * time.Second):
					t.Fatal("port-forward not ready")
				}
				ports, _ := fw.GetPorts()
				resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", ports[0].Local))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != "hi\n" {
					t.Fatalf("body %q", b)
				}
			})
		}
	})

	t.Run("stats", func(t *testing.T) {
		code, body := get("/stats/summary")
		if code != 200 {
			t.Fatalf("code %d: %s", code, body)
		}
		var s Summary
		if err := json.Unmarshal([]byte(body), &s); err != nil {
			t.Fatal(err)
		}
		if s.Node.NodeName != "n1" || s.Node.Memory == nil || len(s.Pods) != 1 || s.Pods[0].PodRef.Name != "p" || s.Pods[0].Memory == nil {
			t.Fatalf("summary: %s", body)
		}
		code, body = get("/metrics/resource")
		if code != 200 || !strings.Contains(body, fmt.Sprintf("container_memory_working_set_bytes{container=%q,namespace=%q,pod=%q}", "main", "default", "p")) {
			t.Fatalf("metrics: %d %s", code, body)
		}
	})
}
