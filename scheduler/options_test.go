package scheduler_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"skiff.dev/scheduler"
)

func TestOptionsFlagsAndValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte("profiles:\n- schedulerName: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("profiles:\n- schedulerName: x\n  wat: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "defaults", args: nil},
		{name: "config file", args: []string{"--config", good, "--kube-api-qps", "50", "--kube-api-burst", "100"}},
		{name: "bad config file", args: []string{"--config", bad}, wantErr: "unknown field"},
		{name: "missing config file", args: []string{"--config", filepath.Join(dir, "none.yaml")}, wantErr: "no such file"},
		{name: "bad qps", args: []string{"--kube-api-qps", "fast"}, wantErr: "not a number"},
		{name: "leader election durations", args: []string{"--leader-elect", "--leader-elect-lease-duration", "5s", "--leader-elect-renew-deadline", "10s"}, wantErr: "lease duration"},
		{name: "wasm pages", args: []string{"--wasm-memory-limit-pages", "70000"}, wantErr: "at most 65536"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o scheduler.Options
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(new(strings.Builder))
			o.AddFlags(fs)
			err := fs.Parse(tc.args)
			if err == nil {
				err = o.Validate()
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
	var o scheduler.Options
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse([]string{"--leader-elect", "--leader-elect-retry-period", "1s", "--identity", "me"}); err != nil {
		t.Fatal(err)
	}
	if !o.LeaderElect || o.RetryPeriod != time.Second || o.Identity != "me" {
		t.Fatalf("flags not bound: %+v", o)
	}
}
