package cni

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path, err := Write(Options{ConfDir: dir, PodCIDR: "10.244.1.0/24", Bridge: "skiff0", DataDir: "/var/lib/skiff/cni", IPMasq: true})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want, err := os.ReadFile(filepath.Join("testdata", "10-skiff.conflist"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != strings.TrimSpace(string(want)) {
		t.Fatalf("conflist differs from testdata/10-skiff.conflist:\n%s", got)
	}
	// Writing the same config again is a no-op.
	st1, _ := os.Stat(path)
	if _, err := Write(Options{ConfDir: dir, PodCIDR: "10.244.1.0/24", Bridge: "skiff0", DataDir: "/var/lib/skiff/cni", IPMasq: true}); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(path)
	if !st1.ModTime().Equal(st2.ModTime()) {
		t.Fatal("rewrote an unchanged config")
	}
}

func TestWriteErrors(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"no dir", Options{PodCIDR: "10.0.0.0/24"}, "ConfDir"},
		{"bad cidr", Options{ConfDir: "/tmp", PodCIDR: "10.0.0.0"}, "pod CIDR"},
		{"long bridge", Options{ConfDir: "/tmp", PodCIDR: "10.0.0.0/24", Bridge: "averyveryverylongname"}, "longer than 15"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Write(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestWriteNoPortMap(t *testing.T) {
	for _, tc := range []struct {
		name      string
		noPortMap bool
		plugins   []string
	}{
		{"default", false, []string{"bridge", "portmap"}},
		{"no portmap", true, []string{"bridge"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, err := Write(Options{ConfDir: t.TempDir(), PodCIDR: "10.244.1.0/24", NoPortMap: tc.noPortMap})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(path)
			var conf struct {
				Plugins []struct {
					Type string `json:"type"`
				} `json:"plugins"`
			}
			if err := json.Unmarshal(b, &conf); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range conf.Plugins {
				got = append(got, p.Type)
			}
			if strings.Join(got, ",") != strings.Join(tc.plugins, ",") {
				t.Fatalf("plugins = %v, want %v", got, tc.plugins)
			}
		})
	}
}
