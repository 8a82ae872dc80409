package controller

import (
	"sync"
)

// SlowStartBatch calls fn count times in batches that start at initial and
// double after each fully successful batch, so a failing call (quota, a
// terminating namespace) costs one request instead of hundreds. It returns
// the number of successful calls and the first error.
func SlowStartBatch(count, initial int, fn func(i int) error) (int, error) {
	remaining := count
	done := 0
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining) {
		errCh := make(chan error, batch)
		var wg sync.WaitGroup
		for i := range batch {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				if err := fn(i); err != nil {
					errCh <- err
				}
			}(done + i)
		}
		wg.Wait()
		ok := batch - len(errCh)
		done += ok
		if len(errCh) > 0 {
			return done, <-errCh
		}
		remaining -= batch
	}
	return done, nil
}
