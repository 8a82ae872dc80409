package etcd

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestStartDialClose(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	start := time.Now()
	e, err := Start(ctx, Options{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("started in %s at %v", time.Since(start), e.Endpoints())
	if _, err := e.Client().Put(ctx, "/k", "v"); err != nil {
		t.Fatal(err)
	}
	// An external client over the advertised endpoint sees the write.
	c, err := Dial(ctx, e.Endpoints())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(ctx, "/k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("get over TCP: %v %v", resp, err)
	}
	_ = c.Close()
	e.Close()

	// Data survives a restart in the same directory.
	e2, err := Start(ctx, Options{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	resp, err = e2.Client().Get(ctx, "/k")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("after restart: %v %v", resp, err)
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no dir", Options{}, "DataDir is required"},
		{"bad scheme", Options{DataDir: "x", ClientURL: "unix://a"}, "scheme"},
		{"no port", Options{DataDir: "x", PeerURL: "http://127.0.0.1"}, "port required"},
		{"ok", Options{DataDir: "x", ClientURL: "http://127.0.0.1:1234"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.opts.MaxRequestBytes != 4<<20 {
					t.Errorf("default MaxRequestBytes = %d", tc.opts.MaxRequestBytes)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDialUnreachable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := Dial(ctx, nil); err == nil {
		t.Fatal("dial with no endpoints succeeded")
	}
}
