package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apiproxy "k8s.io/apiserver/pkg/util/proxy"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
)

// Websocket subprotocols of the Kubernetes remote command protocol. kubectl
// 1.30+ speaks v5 (v4 plus a close signal on channel 255).
const (
	protocolV5 = "v5.channel.k8s.io"
	protocolV4 = "v4.channel.k8s.io"
)

// Channel bytes: 0 stdin, 1 stdout, 2 stderr, 3 error (a metav1.Status),
// 4 resize (JSON width/height), 255 close (v5: second byte is the channel).
const (
	chanStdin  = 0
	chanClose  = 255
	chanResize = 4
)

var upgrader = websocket.Upgrader{
	Subprotocols:    []string{protocolV5, protocolV4},
	CheckOrigin:     func(*http.Request) bool { return true },
	ReadBufferSize:  32 << 10,
	WriteBufferSize: 32 << 10,
}

func (s *Server) exec(w http.ResponseWriter, r *http.Request) {
	pod, c, err := s.lookup(r)
	if err != nil {
		writeError(w, err)
		return
	}
	cmd := r.URL.Query()["command"]
	if len(cmd) == 0 {
		writeError(w, apierrors.NewBadRequest("you must specify at least 1 command"))
		return
	}
	id, err := s.runningContainer(r.Context(), pod, c.Name)
	if err != nil {
		writeError(w, err)
		return
	}
	tty := boolParam(r, "tty")
	req := &runtimeapi.ExecRequest{
		ContainerId: id, Cmd: cmd, Tty: tty,
		Stdin: boolParam(r, "stdin") || boolParam(r, "input"), Stdout: boolParam(r, "stdout") || boolParam(r, "output"),
		Stderr: (boolParam(r, "stderr") || boolParam(r, "error")) && !tty,
	}
	if !req.Stdin && !req.Stdout && !req.Stderr {
		writeError(w, apierrors.NewBadRequest("you must specify at least 1 of stdin, stdout, stderr"))
		return
	}
	resp, err := s.opts.Runtime.Exec(r.Context(), req)
	if err != nil {
		writeError(w, apierrors.NewInternalError(fmt.Errorf("exec in container %s: %w", c.Name, err)))
		return
	}
	s.stream(w, r, resp.Url, req.Stdin, req.Stdout, req.Stderr, tty)
}

func (s *Server) attach(w http.ResponseWriter, r *http.Request) {
	pod, c, err := s.lookup(r)
	if err != nil {
		writeError(w, err)
		return
	}
	id, err := s.runningContainer(r.Context(), pod, c.Name)
	if err != nil {
		writeError(w, err)
		return
	}
	tty := boolParam(r, "tty")
	req := &runtimeapi.AttachRequest{
		ContainerId: id, Tty: tty,
		Stdin: boolParam(r, "stdin") || boolParam(r, "input"), Stdout: boolParam(r, "stdout") || boolParam(r, "output"),
		Stderr: (boolParam(r, "stderr") || boolParam(r, "error")) && !tty,
	}
	resp, err := s.opts.Runtime.Attach(r.Context(), req)
	if err != nil {
		writeError(w, apierrors.NewInternalError(fmt.Errorf("attach to container %s: %w", c.Name, err)))
		return
	}
	s.stream(w, r, resp.Url, req.Stdin, req.Stdout, req.Stderr, tty)
}

func (s *Server) runningContainer(ctx context.Context, pod *corev1.Pod, name string) (string, error) {
	attempts, err := s.opts.Pods.Containers(ctx, pod, name)
	if err != nil {
		return "", err
	}
	if len(attempts) == 0 || attempts[0].State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not running in pod %s", name, pod.Name))
	}
	return attempts[0].Id, nil
}

// stream serves an exec or attach session against the runtime's streaming
// server at runtimeURL. A v5 websocket client (kubectl 1.30+) is
// translated to SPDY towards the runtime, because only SPDY carries a
// half-close: when the client signals the end of stdin (v5 CLOSE on
// channel 0), the SPDY stdin stream is closed and containerd closes the
// process's stdin, so `kubectl exec -i pod -- cat </dev/null` ends. Older
// websocket clients (v4) are relayed frame by frame.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, runtimeURL string, stdin, stdout, stderr, tty bool) {
	if !websocket.IsWebSocketUpgrade(r) {
		writeError(w, apierrors.NewBadRequest("exec and attach need a websocket upgrade (protocol "+protocolV5+"); SPDY is not supported"))
		return
	}
	if !wantsV5(r) {
		s.bridge(w, r, runtimeURL)
		return
	}
	u, err := url.Parse(runtimeURL)
	if err != nil {
		writeError(w, apierrors.NewInternalError(fmt.Errorf("runtime stream url: %w", err)))
		return
	}
	h := apiproxy.NewStreamTranslatorHandler(u, s.runtimeTransport, 0, apiproxy.Options{Stdin: stdin, Stdout: stdout, Stderr: stderr, Tty: tty})
	// The websocket and SPDY libraries log through klog from the request
	// context; the end of every session reads as an error there.
	logger := logr.FromSlogHandler(debugHandler{s.log.Handler()})
	h.ServeHTTP(w, r.WithContext(klog.NewContext(r.Context(), logger)))
}

// debugHandler logs every record at debug level.
type debugHandler struct{ slog.Handler }

func (d debugHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return d.Handler.Enabled(ctx, slog.LevelDebug)
}

func (d debugHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return d.Handler.Handle(ctx, r)
}

func (d debugHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return debugHandler{d.Handler.WithAttrs(as)}
}

func (d debugHandler) WithGroup(name string) slog.Handler {
	return debugHandler{d.Handler.WithGroup(name)}
}

// wantsV5 reports whether the websocket client offers the v5 protocol.
func wantsV5(r *http.Request) bool {
	for _, p := range websocket.Subprotocols(r) {
		if p == protocolV5 {
			return true
		}
	}
	return false
}

// bridge upgrades the client's request to a websocket and relays frames to
// and from the runtime's streaming server (which speaks v4 over websocket).
func (s *Server) bridge(w http.ResponseWriter, r *http.Request, runtimeURL string) {
	if !websocket.IsWebSocketUpgrade(r) {
		writeError(w, apierrors.NewBadRequest("exec and attach need a websocket upgrade (protocol "+protocolV5+"); SPDY is not supported"))
		return
	}
	u, err := url.Parse(runtimeURL)
	if err != nil {
		writeError(w, apierrors.NewInternalError(fmt.Errorf("runtime stream url: %w", err)))
		return
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	}
	dialer := websocket.Dialer{Subprotocols: []string{protocolV4}, HandshakeTimeout: 10 * time.Second}
	hdr := http.Header{}
	hdr.Set("Origin", "http://"+u.Host)
	upstream, _, err := dialer.DialContext(r.Context(), u.String(), hdr)
	if err != nil {
		writeError(w, apierrors.NewInternalError(fmt.Errorf("connect to the runtime's stream server: %w", err)))
		return
	}
	defer upstream.Close()
	client, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.log.Debug("websocket upgrade", "err", err)
		return
	}
	defer client.Close()
	var once sync.Once
	done := make(chan struct{})
	finish := func() { once.Do(func() { close(done) }) }
	// Client → runtime: stdin and resize.
	go func() {
		defer finish()
		for {
			mt, msg, err := client.ReadMessage()
			if err != nil {
				return
			}
			if len(msg) == 0 {
				continue
			}
			if msg[0] == chanClose {
				// v4 cannot signal a half-close; drop it.
				continue
			}
			if msg[0] != chanStdin && msg[0] != chanResize {
				continue
			}
			if err := upstream.WriteMessage(mt, msg); err != nil {
				return
			}
		}
	}()
	// Runtime → client: stdout, stderr, error; the runtime closes at exit.
	go func() {
		defer finish()
		for {
			mt, msg, err := upstream.ReadMessage()
			if err != nil {
				return
			}
			if err := client.WriteMessage(mt, msg); err != nil {
				return
			}
		}
	}()
	<-done
	deadline := time.Now().Add(time.Second)
	_ = client.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), deadline)
	_ = upstream.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), deadline)
}
