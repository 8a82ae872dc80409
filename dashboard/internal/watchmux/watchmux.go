// Package watchmux multiplexes many list+watch streams against the
// apiserver over one websocket per browser tab.
//
// The browser sends {"op":"watch","id":..,"path":..} to open a stream and
// {"op":"cancel","id":..} to close it. For each stream the server lists the
// collection (unless the browser resumes from a resourceVersion it already
// holds), then watches from there, re-watching when the apiserver ends a
// watch and re-listing when the resourceVersion has expired (410 Gone).
// Every request upstream carries the user's token; a socket without one
// goes out as whatever the Client's transport authenticates as (the
// dashboard's own identity on loopback).
//
// Each socket has a bounded send queue and a single writer goroutine, so a
// slow browser only ever holds back its own streams. A burst waits for
// room in the queue; a socket that stays full for SlowTimeout is closed
// (code 4008) and the browser reconnects and resumes each stream from the
// last resourceVersion it received.
package watchmux

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// CloseSlowConsumer is the websocket close code sent to a socket whose
// send queue overflowed.
const CloseSlowConsumer = 4008

// Options configures a Mux.
type Options struct {
	// Base is the apiserver's base URL.
	Base *url.URL
	// Client performs upstream requests (required): its transport must not
	// add credentials to a request that carries the user's token.
	Client *http.Client
	// QueueSize bounds queued outgoing messages per socket (default 1024).
	QueueSize int
	// MaxStreams bounds the streams one socket may open (default 200).
	MaxStreams int
	// SlowTimeout is how long a stream waits for room in a full socket
	// queue (back-pressure for bursts) before the socket is dropped as too
	// slow (default 10s).
	SlowTimeout time.Duration
	// PingInterval is how often the server pings the browser (default 30s).
	PingInterval time.Duration
	// Logger receives debug logs.
	Logger *slog.Logger
}

// Mux serves websocket connections.
type Mux struct {
	opts     Options
	upgrader websocket.Upgrader

	mu      sync.Mutex
	sockets map[*socket]struct{}
}

// New returns a Mux.
func New(opts Options) *Mux {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.MaxStreams <= 0 {
		opts.MaxStreams = 200
	}
	if opts.SlowTimeout <= 0 {
		opts.SlowTimeout = 10 * time.Second
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Client == nil {
		opts.Client = &http.Client{} // plain HTTP, no credentials
	}
	return &Mux{
		opts: opts,
		upgrader: websocket.Upgrader{
			ReadBufferSize:    4096,
			WriteBufferSize:   32 * 1024,
			EnableCompression: true,
			// The default CheckOrigin rejects cross-origin pages, which is
			// what we want: the socket acts with the user's cookie.
		},
		sockets: map[*socket]struct{}{},
	}
}

// Sockets returns the number of open sockets.
func (m *Mux) Sockets() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sockets)
}

// Close closes every open socket.
func (m *Mux) Close() {
	m.mu.Lock()
	all := make([]*socket, 0, len(m.sockets))
	for s := range m.sockets {
		all = append(all, s)
	}
	m.mu.Unlock()
	for _, s := range all {
		s.close(websocket.CloseGoingAway, "server shutting down")
	}
}

// Serve upgrades the request and runs the socket until it closes. token is
// the user's bearer token ("" for anonymous).
func (m *Mux) Serve(w http.ResponseWriter, r *http.Request, token string) {
	conn, err := m.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade already wrote the HTTP error.
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	s := &socket{
		mux:     m,
		conn:    conn,
		token:   token,
		ctx:     ctx,
		cancel:  cancel,
		out:     make(chan []byte, m.opts.QueueSize),
		streams: map[string]*stream{},
		done:    make(chan struct{}),
	}
	m.mu.Lock()
	m.sockets[s] = struct{}{}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.sockets, s)
		m.mu.Unlock()
	}()
	go s.writeLoop()
	s.readLoop()
	s.cancel()
	<-s.done
	s.wg.Wait()
}

type socket struct {
	mux    *Mux
	conn   *websocket.Conn
	token  string
	ctx    context.Context
	cancel context.CancelFunc
	out    chan []byte
	done   chan struct{}

	closeOnce sync.Once
	closeCode int
	closeText string

	mu      sync.Mutex
	streams map[string]*stream
	wg      sync.WaitGroup
}

// request is a browser → server message.
type request struct {
	Op              string `json:"op"`
	ID              string `json:"id"`
	Path            string `json:"path"`
	LabelSelector   string `json:"labelSelector,omitempty"`
	FieldSelector   string `json:"fieldSelector,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
}

func (s *socket) readLoop() {
	s.conn.SetReadLimit(64 * 1024)
	wait := 3 * s.mux.opts.PingInterval
	_ = s.conn.SetReadDeadline(time.Now().Add(wait))
	s.conn.SetPongHandler(func(string) error { return s.conn.SetReadDeadline(time.Now().Add(wait)) })
	for {
		_, data, err := s.conn.ReadMessage()
		if err != nil {
			return
		}
		_ = s.conn.SetReadDeadline(time.Now().Add(wait))
		var req request
		if err := json.Unmarshal(data, &req); err != nil {
			s.sendError("", http.StatusBadRequest, "BadRequest", "malformed message: "+err.Error())
			continue
		}
		switch req.Op {
		case "watch":
			s.startStream(req)
		case "cancel":
			s.cancelStream(req.ID)
		case "ping":
			s.enqueue([]byte(`{"type":"PONG"}`))
		default:
			s.sendError(req.ID, http.StatusBadRequest, "BadRequest", fmt.Sprintf("unknown op %q", req.Op))
		}
	}
}

// writeLoop is the socket's only writer.
func (s *socket) writeLoop() {
	defer close(s.done)
	ticker := time.NewTicker(s.mux.opts.PingInterval)
	defer ticker.Stop()
	defer s.conn.Close()
	for {
		select {
		case msg := <-s.out:
			_ = s.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if err := s.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				s.cancel()
				return
			}
		case <-ticker.C:
			if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(10*time.Second)); err != nil {
				s.cancel()
				return
			}
		case <-s.ctx.Done():
			code, text := websocket.CloseNormalClosure, ""
			s.closeOnce.Do(func() {})
			if s.closeCode != 0 {
				code, text = s.closeCode, s.closeText
			}
			_ = s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
			return
		}
	}
}

// close ends the socket with a close code.
func (s *socket) close(code int, text string) {
	s.closeOnce.Do(func() {
		s.closeCode, s.closeText = code, text
	})
	s.cancel()
	// Unblock ReadMessage, and a WriteMessage stuck on a full TCP buffer
	// (the close frame then cannot be delivered; the browser sees 1006).
	_ = s.conn.SetReadDeadline(time.Now())
	if code == CloseSlowConsumer {
		_ = s.conn.NetConn().SetWriteDeadline(time.Now())
	}
}

// enqueue queues msg. When the socket's queue is full it waits up to
// SlowTimeout, which only holds back this socket's own streams (and, by
// TCP flow control, their upstream watches); a socket that stays full is
// closed so that its browser reconnects and resumes.
func (s *socket) enqueue(msg []byte) bool {
	select {
	case <-s.ctx.Done():
		return false
	case s.out <- msg:
		return true
	default:
	}
	t := time.NewTimer(s.mux.opts.SlowTimeout)
	defer t.Stop()
	select {
	case <-s.ctx.Done():
		return false
	case s.out <- msg:
		return true
	case <-t.C:
		s.mux.opts.Logger.Info("dropping slow dashboard socket", slog.Int("queued", len(s.out)))
		s.close(CloseSlowConsumer, "client too slow")
		return false
	}
}

func (s *socket) sendError(id string, code int, reason, message string) {
	st := map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason, "message": message}
	b, _ := json.Marshal(map[string]any{"id": id, "type": "ERROR", "status": st})
	s.enqueue(b)
}

func validPath(p string) error {
	if !strings.HasPrefix(p, "/api/") && !strings.HasPrefix(p, "/apis/") {
		return errors.New("path must start with /api/ or /apis/")
	}
	if strings.ContainsAny(p, "?#") {
		return errors.New("path must not carry a query")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "." {
			return errors.New("path must be clean")
		}
	}
	return nil
}

func (s *socket) startStream(req request) {
	if req.ID == "" {
		s.sendError("", http.StatusBadRequest, "BadRequest", "watch needs an id")
		return
	}
	if err := validPath(req.Path); err != nil {
		s.sendError(req.ID, http.StatusBadRequest, "BadRequest", fmt.Sprintf("path %q: %v", req.Path, err))
		return
	}
	s.mu.Lock()
	if old, ok := s.streams[req.ID]; ok {
		old.cancel() // a re-watch with the same id replaces the stream
		delete(s.streams, req.ID)
	}
	if len(s.streams) >= s.mux.opts.MaxStreams {
		s.mu.Unlock()
		s.sendError(req.ID, http.StatusTooManyRequests, "TooManyRequests", fmt.Sprintf("at most %d streams per socket", s.mux.opts.MaxStreams))
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	st := &stream{sock: s, req: req, idJSON: mustJSON(req.ID), cancel: cancel}
	s.streams[req.ID] = st
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		st.run(ctx)
		cancel()
		s.mu.Lock()
		if s.streams[req.ID] == st {
			delete(s.streams, req.ID) // ended (e.g. forbidden): free its slot
		}
		s.mu.Unlock()
	}()
}

func (s *socket) cancelStream(id string) {
	s.mu.Lock()
	if st, ok := s.streams[id]; ok {
		st.cancel()
		delete(s.streams, id)
	}
	s.mu.Unlock()
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// stream is one list+watch.
type stream struct {
	sock   *socket
	req    request
	idJSON []byte
	cancel context.CancelFunc
}

// statusError is a non-2xx answer from the apiserver.
type statusError struct {
	code   int
	status json.RawMessage
}

func (e *statusError) Error() string { return fmt.Sprintf("apiserver answered %d", e.code) }

func (st *stream) run(ctx context.Context) {
	rv := st.req.ResourceVersion
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		if rv == "" {
			listRV, err := st.list(ctx)
			if err != nil {
				if !st.retryable(ctx, err) {
					return
				}
				if !sleep(ctx, backoff) {
					return
				}
				backoff = min(2*backoff, 30*time.Second)
				continue
			}
			rv = listRV
		}
		newRV, gone, err := st.watch(ctx, rv)
		switch {
		case gone:
			rv = "" // expired: list again
			continue
		case err != nil:
			if !st.retryable(ctx, err) {
				return
			}
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, 30*time.Second)
		default:
			backoff = 500 * time.Millisecond
		}
		if newRV != "" {
			rv = newRV
		}
	}
}

// retryable reports whether the stream should retry after err; for
// permanent errors (forbidden, not found, bad request) it tells the
// browser and returns false.
func (st *stream) retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var se *statusError
	if errors.As(err, &se) {
		switch se.code {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed:
			st.send("ERROR", "status", se.status)
			return false
		}
	}
	st.sock.mux.opts.Logger.Debug("dashboard stream retrying", slog.String("path", st.req.Path), slog.Any("err", err))
	return true
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// send queues {"id":..,"type":typ,key:raw}.
func (st *stream) send(typ, key string, raw []byte) bool {
	var b bytes.Buffer
	b.Grow(len(raw) + len(st.idJSON) + 40)
	b.WriteString(`{"id":`)
	b.Write(st.idJSON)
	b.WriteString(`,"type":"`)
	b.WriteString(typ)
	b.WriteString(`"`)
	if key != "" {
		b.WriteString(`,"`)
		b.WriteString(key)
		b.WriteString(`":`)
		b.Write(raw)
	}
	b.WriteString(`}`)
	return st.sock.enqueue(b.Bytes())
}

func (st *stream) get(ctx context.Context, q url.Values) (*http.Response, error) {
	u := *st.sock.mux.opts.Base
	u.Path = strings.TrimSuffix(u.Path, "/") + st.req.Path
	if st.req.LabelSelector != "" {
		q.Set("labelSelector", st.req.LabelSelector)
	}
	if st.req.FieldSelector != "" {
		q.Set("fieldSelector", st.req.FieldSelector)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if st.sock.token != "" {
		req.Header.Set("Authorization", "Bearer "+st.sock.token)
	}
	resp, err := st.sock.mux.opts.Client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64*1024))
		if !json.Valid(body) || !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
			body = mustJSON(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": resp.StatusCode,
				"message": strings.TrimSpace(string(body))})
		}
		return nil, &statusError{code: resp.StatusCode, status: body}
	}
	return resp, nil
}

// list fetches the whole collection page by page and sends one SYNC.
func (st *stream) list(ctx context.Context) (string, error) {
	var items []json.RawMessage
	var rv, cont string
	for {
		q := url.Values{"limit": {"500"}}
		if cont != "" {
			q.Set("continue", cont)
		}
		resp, err := st.get(ctx, q)
		if err != nil {
			return "", fmt.Errorf("list %s: %w", st.req.Path, err)
		}
		var page struct {
			Metadata struct {
				ResourceVersion string `json:"resourceVersion"`
				Continue        string `json:"continue"`
			} `json:"metadata"`
			Items []json.RawMessage `json:"items"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return "", fmt.Errorf("decode list %s: %w", st.req.Path, err)
		}
		items = append(items, page.Items...)
		if rv == "" {
			rv = page.Metadata.ResourceVersion
		}
		cont = page.Metadata.Continue
		if cont == "" {
			break
		}
	}
	if items == nil {
		items = []json.RawMessage{}
	}
	body := mustJSON(struct {
		ResourceVersion string            `json:"resourceVersion"`
		Items           []json.RawMessage `json:"items"`
	}{rv, items})
	st.send("SYNC", "list", body)
	return rv, nil
}

type event struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

type objectMeta struct {
	Metadata struct {
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
	Code int `json:"code"` // set on ERROR events carrying a Status
}

// watch streams events from rv until the apiserver ends the watch. It
// returns the last resourceVersion seen and whether rv has expired.
func (st *stream) watch(ctx context.Context, rv string) (string, bool, error) {
	resp, err := st.get(ctx, url.Values{
		"watch":               {"1"},
		"resourceVersion":     {rv},
		"allowWatchBookmarks": {"true"},
	})
	if err != nil {
		var se *statusError
		if errors.As(err, &se) && se.code == http.StatusGone {
			return "", true, nil
		}
		return "", false, fmt.Errorf("watch %s: %w", st.req.Path, err)
	}
	defer resp.Body.Close()
	stop := context.AfterFunc(ctx, func() { resp.Body.Close() })
	defer stop()
	dec := json.NewDecoder(resp.Body)
	last := ""
	for {
		var ev event
		if err := dec.Decode(&ev); err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return last, false, nil
			}
			return last, false, fmt.Errorf("decode watch %s: %w", st.req.Path, err)
		}
		var meta objectMeta
		_ = json.Unmarshal(ev.Object, &meta)
		switch ev.Type {
		case "ERROR":
			if meta.Code == http.StatusGone {
				return last, true, nil
			}
			return last, false, &statusError{code: meta.Code, status: ev.Object}
		case "BOOKMARK":
			last = meta.Metadata.ResourceVersion
			b := mustJSON(last)
			if !st.send("BOOKMARK", "resourceVersion", b) {
				return last, false, ctx.Err()
			}
		case "ADDED", "MODIFIED", "DELETED":
			last = meta.Metadata.ResourceVersion
			if !st.send(ev.Type, "object", ev.Object) {
				return last, false, ctx.Err()
			}
		}
	}
}
