package controller

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestExpectations(t *testing.T) {
	tests := []struct {
		name string
		run  func(e *Expectations)
		want bool
	}{
		{"unknown key", func(*Expectations) {}, true},
		{"pending creations", func(e *Expectations) { e.ExpectCreations("k", 2); e.CreationObserved("k") }, false},
		{"all creations seen", func(e *Expectations) { e.ExpectCreations("k", 2); e.CreationObserved("k"); e.CreationObserved("k") }, true},
		{"pending deletion", func(e *Expectations) { e.ExpectDeletions("k", []string{"a", "b"}); e.DeletionObserved("k", "a") }, false},
		{"a deletion seen twice counts once", func(e *Expectations) {
			e.ExpectDeletions("k", []string{"a", "b"})
			e.DeletionObserved("k", "a")
			e.DeletionObserved("k", "a")
		}, false},
		{"all deletions seen", func(e *Expectations) {
			e.ExpectDeletions("k", []string{"a", "b"})
			e.DeletionObserved("k", "b")
			e.DeletionObserved("k", "a")
		}, true},
		{"expired", func(e *Expectations) {
			e.ExpectCreations("k", 1)
			e.now = func() time.Time { return time.Now().Add(ExpectationsTTL + time.Second) }
		}, true},
		{"deleted", func(e *Expectations) { e.ExpectCreations("k", 1); e.Delete("k") }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := NewExpectations()
			tc.run(e)
			if got := e.Satisfied("k"); got != tc.want {
				t.Fatalf("Satisfied = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSlowStartBatch(t *testing.T) {
	tests := []struct {
		name      string
		count     int
		failAt    int64 // 1-based call that fails; 0 never
		wantOK    int
		wantCalls int64
	}{
		{"all succeed", 10, 0, 10, 10},
		{"first call fails: one request only", 10, 1, 0, 1},
		{"failure in the third batch stops there", 20, 5, 6, 7}, // batches 1, 2, 4
		{"zero", 0, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			ok, err := SlowStartBatch(tc.count, 1, func(int) error {
				if n := calls.Add(1); n == tc.failAt {
					return errors.New("boom")
				}
				return nil
			})
			if ok != tc.wantOK || calls.Load() != tc.wantCalls || (err != nil) != (tc.failAt != 0) {
				t.Fatalf("ok=%d calls=%d err=%v, want ok=%d calls=%d", ok, calls.Load(), err, tc.wantOK, tc.wantCalls)
			}
		})
	}
}
