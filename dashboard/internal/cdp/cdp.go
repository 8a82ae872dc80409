// Package cdp drives a headless Chromium over the Chrome DevTools Protocol
// for the dashboard's browser tests: start, navigate, evaluate JavaScript,
// and take screenshots. It talks to the browser's own websocket with
// gorilla/websocket, so the tests need no npm or extra Go modules.
package cdp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// Options configures a browser.
type Options struct {
	// Binary is the Chromium executable (default /usr/bin/chromium).
	Binary string
	// UserDataDir is a fresh profile directory (required).
	UserDataDir string
	// Width and Height size the window (default 1440x900).
	Width, Height int
}

// Browser is a running headless Chromium with one page attached.
type Browser struct {
	cmd  *exec.Cmd
	conn *websocket.Conn

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan response
	done    chan struct{}
	logs    []string
}

type response struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// Start launches Chromium and attaches to its first page.
func Start(ctx context.Context, opts Options) (*Browser, error) {
	if opts.Binary == "" {
		opts.Binary = "/usr/bin/chromium"
	}
	if opts.Width == 0 {
		opts.Width, opts.Height = 1440, 900
	}
	if opts.UserDataDir == "" {
		return nil, errors.New("cdp: UserDataDir is required")
	}
	cmd := exec.Command(opts.Binary,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--remote-debugging-port=0",
		fmt.Sprintf("--window-size=%d,%d", opts.Width, opts.Height),
		"--user-data-dir="+opts.UserDataDir, "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cdp: start %s: %w", opts.Binary, err)
	}
	b := &Browser{cmd: cmd, pending: map[int64]chan response{}, done: make(chan struct{})}
	// Chromium writes the port into DevToolsActivePort once listening.
	var port string
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, err := os.ReadFile(filepath.Join(opts.UserDataDir, "DevToolsActivePort"))
		if err == nil {
			if lines := strings.Split(string(data), "\n"); len(lines) >= 2 && lines[0] != "" {
				port = lines[0]
				break
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			b.Close()
			return nil, fmt.Errorf("cdp: chromium did not open its debugging port: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var targets []struct {
		Type string `json:"type"`
		WS   string `json:"webSocketDebuggerUrl"`
	}
	for {
		resp, err := http.Get("http://127.0.0.1:" + port + "/json/list")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&targets)
			resp.Body.Close()
		}
		found := false
		for _, t := range targets {
			if t.Type == "page" {
				found = true
				conn, _, err := websocket.DefaultDialer.DialContext(ctx, t.WS, nil)
				if err != nil {
					b.Close()
					return nil, fmt.Errorf("cdp: attach: %w", err)
				}
				conn.SetReadLimit(256 << 20)
				b.conn = conn
				break
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			b.Close()
			return nil, errors.New("cdp: no page target")
		}
		time.Sleep(50 * time.Millisecond)
	}
	go b.readLoop()
	for _, m := range []string{"Page.enable", "Runtime.enable"} {
		if _, err := b.Call(ctx, m, nil); err != nil {
			b.Close()
			return nil, err
		}
	}
	return b, nil
}

func (b *Browser) readLoop() {
	defer close(b.done)
	for {
		var msg struct {
			ID     int64           `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			response
		}
		if err := b.conn.ReadJSON(&msg); err != nil {
			return
		}
		if msg.ID == 0 {
			if msg.Method == "Runtime.exceptionThrown" || msg.Method == "Runtime.consoleAPICalled" {
				b.mu.Lock()
				if len(b.logs) < 200 {
					b.logs = append(b.logs, msg.Method+": "+string(msg.Params))
				}
				b.mu.Unlock()
			}
			continue
		}
		b.mu.Lock()
		ch := b.pending[msg.ID]
		delete(b.pending, msg.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- msg.response
		}
	}
}

// Logs returns console messages and exceptions seen so far.
func (b *Browser) Logs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.logs...)
}

// Call sends one CDP command and waits for its result.
func (b *Browser) Call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan response, 1)
	b.pending[id] = ch
	err := b.conn.WriteJSON(map[string]any{"id": id, "method": method, "params": params})
	b.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("cdp %s: %w", method, err)
	}
	select {
	case r := <-ch:
		if r.Error != nil {
			return nil, fmt.Errorf("cdp %s: %s", method, r.Error.Message)
		}
		return r.Result, nil
	case <-b.done:
		return nil, fmt.Errorf("cdp %s: browser connection closed", method)
	case <-ctx.Done():
		return nil, fmt.Errorf("cdp %s: %w", method, ctx.Err())
	}
}

// Navigate loads url.
func (b *Browser) Navigate(ctx context.Context, url string) error {
	_, err := b.Call(ctx, "Page.navigate", map[string]any{"url": url})
	return err
}

// Eval evaluates a JavaScript expression (awaiting promises) and decodes
// its value into out (which may be nil).
func (b *Browser) Eval(ctx context.Context, expr string, out any) error {
	raw, err := b.Call(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true})
	if err != nil {
		return err
	}
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	if r.Exception != nil {
		return fmt.Errorf("js: %s %s", r.Exception.Text, r.Exception.Exception.Description)
	}
	if out != nil && len(r.Result.Value) > 0 {
		return json.Unmarshal(r.Result.Value, out)
	}
	return nil
}

// WaitTrue polls a boolean JavaScript expression until it is true.
func (b *Browser) WaitTrue(ctx context.Context, expr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		var ok bool
		last = b.Eval(ctx, "(async () => !!(await ("+expr+")))()", &ok)
		if last == nil && ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("waited %s for %s (last error: %v)", timeout, expr, last)
}

// Screenshot writes a PNG of the page to path.
func (b *Browser) Screenshot(ctx context.Context, path string) error {
	raw, err := b.Call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"})
	if err != nil {
		return err
	}
	var r struct {
		Data string `json:"data"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}

// Close kills the browser process group and waits for it.
func (b *Browser) Close() {
	if b.conn != nil {
		b.conn.Close()
	}
	if b.cmd.Process != nil {
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		_ = b.cmd.Wait()
	}
}
