package pod

import (
	"testing"
	"time"
)

func TestTokenCache(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	k := tokenKey{pod: "uid-1", sa: "default", seconds: 3600}
	other := tokenKey{pod: "uid-2", sa: "default", seconds: 3600}
	var c tokenCache
	if _, ok := c.get(k, t0); ok {
		t.Fatal("empty cache answered")
	}
	c.put(k, "tok", t0, t0.Add(time.Hour))
	c.put(other, "tok2", t0, t0.Add(time.Hour))
	tests := []struct {
		name string
		at   time.Duration
		want bool
	}{
		{"fresh", time.Minute, true},
		{"just before 80 %", 47 * time.Minute, true},
		{"at 80 % it is renewed", 48 * time.Minute, false},
		{"expired", 2 * time.Hour, false},
	}
	for _, tt := range tests {
		tok, ok := c.get(k, t0.Add(tt.at))
		if ok != tt.want || (ok && tok != "tok") {
			t.Errorf("%s: got %q, %v; want cached=%v", tt.name, tok, ok, tt.want)
		}
	}
	c.prune(map[string]bool{"uid-1": true}, t0.Add(time.Minute))
	if _, ok := c.get(other, t0.Add(time.Minute)); ok {
		t.Error("token of a pod that is gone survived prune")
	}
	if _, ok := c.get(k, t0.Add(time.Minute)); !ok {
		t.Error("token of a known pod was pruned")
	}
	c.prune(map[string]bool{"uid-1": true}, t0.Add(2*time.Hour))
	if len(c.m) != 0 {
		t.Errorf("expired tokens kept: %v", c.m)
	}
}
