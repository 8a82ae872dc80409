package controller

import "golang.org/x/time/rate"

// newBucket is the overall queue rate limit, as upstream: 10 qps, burst 100.
func newBucket() *rate.Limiter { return rate.NewLimiter(rate.Limit(10), 100) }
