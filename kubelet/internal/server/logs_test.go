package server

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"
)

func TestWriteLog(t *testing.T) {
	cases := []struct {
		name string
		opts LogOptions
		want string
	}{
		{"all", LogOptions{TailLines: -1}, "first line\nan error\npart one, part two\nlast line\n"},
		{"tail 1", LogOptions{TailLines: 1}, "last line\n"},
		{"tail 2 joins partials", LogOptions{TailLines: 2}, "part one, part two\nlast line\n"},
		{"tail 0", LogOptions{TailLines: 0}, ""},
		{"tail more than lines", LogOptions{TailLines: 100}, "first line\nan error\npart one, part two\nlast line\n"},
		{"timestamps", LogOptions{TailLines: 1, Timestamps: true}, "2026-11-25T10:00:03Z last line\n"},
		{"limit bytes", LogOptions{TailLines: -1, LimitBytes: 5}, "first"},
		{"since", LogOptions{TailLines: -1, Since: time.Date(2026, 11, 25, 10, 0, 2, 0, time.UTC)}, "part one, part two\nlast line\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteLog(context.Background(), &b, "testdata/cri.log", tc.opts, func() bool { return true }); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Fatalf("got %q, want %q", b.String(), tc.want)
			}
		})
	}
}

func TestWriteLogRotated(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/0.log"
	old := "2026-11-25T09:00:00Z stdout F older\n"
	cur := "2026-11-25T10:00:00Z stdout F newer\n"
	if err := os.WriteFile(path+".1", []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(cur), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tail int
		want string
	}{{-1, "older\nnewer\n"}, {1, "newer\n"}, {2, "older\nnewer\n"}} {
		var b bytes.Buffer
		if err := WriteLog(context.Background(), &b, path, LogOptions{TailLines: tc.tail}, func() bool { return true }); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("tail %d: got %q, want %q", tc.tail, b.String(), tc.want)
		}
	}
}

func TestWriteLogMissingFile(t *testing.T) {
	var b bytes.Buffer
	if err := WriteLog(context.Background(), &b, "testdata/nope.log", LogOptions{TailLines: -1}, func() bool { return true }); err == nil {
		t.Fatal("want error")
	}
}
