// Package parallel runs a function over an index range on a bounded number
// of goroutines, in chunks, stopping early when the context is cancelled.
package parallel

import (
	"context"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// Until calls fn(i) for i in [0, n) on up to workers goroutines, never
// more than GOMAXPROCS: extra goroutines cannot run at the same time and
// only add scheduling and wake-up costs. Pieces are handed out in chunks
// of about sqrt(n) so that cheap calls are not dominated by coordination.
// The calling goroutine works too. It returns when every started call
// returned; once ctx is done, no new chunk starts.
func Until(ctx context.Context, n, workers int, fn func(i int)) {
	if n <= 0 {
		return
	}
	workers = min(workers, runtime.GOMAXPROCS(0))
	if workers < 1 {
		workers = 1
	}
	chunk := int(math.Sqrt(float64(n)))
	if c := (n + workers - 1) / workers; chunk > c {
		chunk = c
	}
	if chunk < 1 {
		chunk = 1
	}
	chunks := (n + chunk - 1) / chunk
	if workers > chunks {
		workers = chunks
	}
	if workers == 1 {
		for i := 0; i < n; i++ {
			if i%chunk == 0 && ctx.Err() != nil {
				return
			}
			fn(i)
		}
		return
	}
	var next atomic.Int64
	work := func() {
		for {
			c := int(next.Add(1) - 1)
			if c >= chunks || ctx.Err() != nil {
				return
			}
			end := min((c+1)*chunk, n)
			for i := c * chunk; i < end; i++ {
				fn(i)
			}
		}
	}
	var wg sync.WaitGroup
	wg.Add(workers - 1)
	for w := 1; w < workers; w++ {
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
}
