package cronjob

import (
	"testing"
	"time"
)

func TestNext(t *testing.T) {
	base := time.Date(2026, 11, 25, 16, 17, 30, 0, time.UTC) // a Wednesday
	tests := []struct {
		spec string
		want string
	}{
		{"* * * * *", "2026-11-25T16:18:00Z"},
		{"*/15 * * * *", "2026-11-25T16:30:00Z"},
		{"0 * * * *", "2026-11-25T17:00:00Z"},
		{"@hourly", "2026-11-25T17:00:00Z"},
		{"@daily", "2026-11-26T00:00:00Z"},
		{"30 2 * * mon-fri", "2026-11-26T02:30:00Z"},
		{"0 0 * * 0", "2026-11-29T00:00:00Z"},
		{"0 0 * * 7", "2026-11-29T00:00:00Z"},
		{"0 0 1 jan *", "2027-01-01T00:00:00Z"},
		{"0 0 29 2 *", "2028-02-29T00:00:00Z"},
		{"5,10 16 25 11 *", "2027-11-25T16:05:00Z"},
		{"0 12 1 * 5", "2026-11-27T12:00:00Z"}, // dom or dow when both are restricted
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			s, err := Parse(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Next(base).Format(time.RFC3339); got != tc.want {
				t.Fatalf("Next = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, spec := range []string{"", "* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "*/0 * * * *", "a b c d e", "TZ=UTC * * * * *", "5-1 * * * *"} {
		if _, err := Parse(spec); err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", spec)
		}
	}
}
