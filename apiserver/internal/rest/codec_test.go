package rest

import (
	"io"
	"mime"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

// TestMediaType: the shortcut for plain content types answers as
// mime.ParseMediaType does.
func TestMediaType(t *testing.T) {
	t.Parallel()
	for _, ct := range []string{
		"application/json", "application/vnd.kubernetes.protobuf", "application/json; charset=utf-8",
		"Application/JSON", " application/json", "application/yaml\t", "application/merge-patch+json",
		"garbage", "a/b/c", "application/json;", "text/plain;charset=UTF-8", "applicätion/json", "",
	} {
		r := httptest.NewRequest("POST", "/api/v1/namespaces/a/configmaps", nil)
		r.Header.Set("Content-Type", ct)
		want := "application/json"
		if ct != "" {
			want = ct
			if mt, _, err := mime.ParseMediaType(ct); err == nil {
				want = mt
			}
		}
		if got := mediaType(r); got != want {
			t.Errorf("mediaType(%q) = %q, want %q", ct, got, want)
		}
	}
}

func TestPrefersProtobuf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		accept string
		want   bool
	}{
		{"application/vnd.kubernetes.protobuf, */*", true},
		{"application/vnd.kubernetes.protobuf,application/json", true},
		{"application/json, application/vnd.kubernetes.protobuf", false},
		{",application/vnd.kubernetes.protobuf", true},
		{"application/vnd.kubernetes.protobuf;as=Table;g=meta.k8s.io;v=v1, application/json", false},
		{"application/vnd.kubernetes.protobuf;as=Table;g=meta.k8s.io;v=v1,application/vnd.kubernetes.protobuf", true},
		{"application/vnd.kubernetes.protobuf; charset=x", true},
		{"application/json", false},
		{"", false},
	} {
		r := httptest.NewRequest("GET", "/api/v1/pods", nil)
		r.Header.Set("Accept", tc.accept)
		if got := prefersProtobuf(r); got != tc.want {
			t.Errorf("prefersProtobuf(%q) = %v, want %v", tc.accept, got, tc.want)
		}
	}
}

// TestReadBody: bodies of announced, unannounced and wrong lengths read
// as io.ReadAll would, up to the limit.
func TestReadBody(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("x", 1500)
	for _, tc := range []struct {
		name    string
		length  int64 // ContentLength
		reader  io.Reader
		limit   int64
		want    string
		wantErr bool
	}{
		{"announced", 1500, strings.NewReader(body), 2000, body, false},
		{"unannounced", -1, strings.NewReader(body), 2000, body, false},
		{"one byte at a time", 1500, iotest.OneByteReader(strings.NewReader(body)), 2000, body, false},
		{"longer than announced", 10, strings.NewReader(body), 2000, body, false},
		{"shorter than announced", 1600, strings.NewReader(body), 2000, body, false},
		{"empty", 0, strings.NewReader(""), 2000, "", false},
		{"announced too large", 3000, strings.NewReader(body), 2000, "", true},
		{"unannounced too large", -1, strings.NewReader(body), 1000, "", true},
		{"read error", 1500, iotest.ErrReader(io.ErrClosedPipe), 2000, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/api/v1/namespaces/a/configmaps", tc.reader)
			r.ContentLength = tc.length
			got, err := readBody(r, tc.limit)
			if (err != nil) != tc.wantErr || string(got) != tc.want {
				t.Fatalf("readBody = %d bytes, %v; want %d bytes, error %v", len(got), err, len(tc.want), tc.wantErr)
			}
		})
	}
}
