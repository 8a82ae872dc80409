package parallel

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
)

func TestUntilCallsEachIndexOnce(t *testing.T) {
	for _, tc := range []struct{ n, workers int }{{0, 4}, {1, 4}, {7, 1}, {1000, 2}, {1000, 16}, {33, 0}} {
		t.Run(fmt.Sprintf("n=%d,workers=%d", tc.n, tc.workers), func(t *testing.T) {
			seen := make([]atomic.Int32, tc.n)
			Until(context.Background(), tc.n, tc.workers, func(i int) { seen[i].Add(1) })
			for i := range seen {
				if got := seen[i].Load(); got != 1 {
					t.Fatalf("index %d called %d times", i, got)
				}
			}
		})
	}
}

func TestUntilStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	Until(ctx, 10000, 2, func(int) {
		if calls.Add(1) == 10 {
			cancel()
		}
	})
	// Chunks already started finish; no new ones start.
	if got := calls.Load(); got >= 10000/2 {
		t.Fatalf("%d calls after cancel", got)
	}
}
