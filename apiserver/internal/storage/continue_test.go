package storage

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

func TestContinueTokenRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		prefix string
		next   string
		rev    int64
	}{
		{"namespaced", "/registry/pods/", "/registry/pods/ns/a\x00", 42},
		{"namespace prefix", "/registry/pods/ns/", "/registry/pods/ns/b\x00", 7},
		{"inconsistent", "/registry/pods/", "/registry/pods/z\x00", -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := encodeContinue(tc.next, tc.prefix, tc.rev)
			if err != nil {
				t.Fatal(err)
			}
			key, rev, err := decodeContinue(tok, tc.prefix)
			if err != nil || key != tc.next || rev != tc.rev {
				t.Fatalf("decode = %q %d %v, want %q %d", key, rev, err, tc.next, tc.rev)
			}
		})
	}
	if _, err := encodeContinue("/other/x", "/registry/pods/", 1); err == nil {
		t.Fatal("encoded a key outside the prefix")
	}
}

// FuzzDecodeContinue: any client-supplied token yields a key inside the
// prefix or a 400, never a panic.
func FuzzDecodeContinue(f *testing.F) {
	for _, s := range []string{"", "!!", "e30", "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6NSwic3RhcnQiOiJhIn0",
		mustTokenF(f, "../../x"), mustTokenF(f, "a/b\x00"), mustTokenF(f, "/abs")} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		const prefix = "/registry/pods/"
		key, _, err := decodeContinue(tok, prefix)
		if err != nil {
			if !apierrors.IsBadRequest(err) {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		if !strings.HasPrefix(key, prefix) || strings.Contains(key, "/../") {
			t.Fatalf("token %q escapes the prefix: %q", tok, key)
		}
	})
}

func mustTokenF(f *testing.F, start string) string {
	tok, err := encodeContinue("/p/"+start, "/p/", 5)
	if err != nil {
		f.Fatal(err)
	}
	return tok
}
