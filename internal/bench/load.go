package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Load is a fixed-rate open-loop load: requests are due at start + i/Rate whether or not earlier ones have
// answered, and each latency is measured from its due time, so a server that falls behind shows up as
// queueing in the percentiles instead of silently slowing the generator down (coordinated omission).
type Load struct {
	Rate     float64       // requests per second
	Duration time.Duration // how long requests are started for
	// MaxInFlight bounds concurrency; a request due while this many are outstanding is counted as dropped
	// (the server is not keeping up), not queued.
	MaxInFlight int
	// Timeout bounds one request.
	Timeout time.Duration
	// Do makes one request and reads the whole answer; ttfb is the time to the first response byte after the
	// request was sent (for streams), 0 if not measured.
	Do func(ctx context.Context) (ttfb time.Duration, err error)
}

// LoadResult is what a Load measured.
type LoadResult struct {
	Latency Histogram // due time → answer read in full
	TTFB    Histogram // due time → first byte (streams)
	OK      uint64
	Errors  uint64
	Dropped uint64
	Sent    uint64
	// PeakInFlight is the most requests outstanding at once.
	PeakInFlight int64
	Elapsed      time.Duration // first due time → last answer
	Achieved     float64       // answered requests per second of Elapsed
	FirstErr     string
}

// Run sends the load and waits for every answer (each bounded by Timeout).
func (l Load) Run(ctx context.Context) *LoadResult {
	res := &LoadResult{}
	interval := time.Duration(float64(time.Second) / l.Rate)
	total := int(l.Rate * l.Duration.Seconds())
	if total < 1 {
		total = 1
	}
	var (
		inflight atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
	)
	start := time.Now()
	for i := 0; i < total && ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			// Sleep granularity is ~50 µs-1 ms; requests that became due meanwhile are sent at once below,
			// and their latency still counts from their due time.
			time.Sleep(d)
		}
		if inflight.Load() >= int64(l.MaxInFlight) {
			res.Dropped++
			continue
		}
		if n := inflight.Add(1); n > res.PeakInFlight {
			res.PeakInFlight = n
		}
		wg.Add(1)
		res.Sent++
		go func(due time.Time) {
			defer wg.Done()
			defer inflight.Add(-1)
			rctx, cancel := context.WithTimeout(ctx, l.Timeout)
			defer cancel()
			sent := time.Now()
			ttfb, err := l.Do(rctx)
			done := time.Now()
			if err != nil {
				atomic.AddUint64(&res.Errors, 1)
				errOnce.Do(func() { res.FirstErr = err.Error() })
				return
			}
			atomic.AddUint64(&res.OK, 1)
			res.Latency.Record(done.Sub(due))
			if ttfb > 0 {
				res.TTFB.Record(sent.Sub(due) + ttfb)
			}
		}(due)
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Achieved = float64(res.OK) / res.Elapsed.Seconds()
	return res
}

// Clean says the run had no errors and no drops.
func (r *LoadResult) Clean() bool { return r.Errors == 0 && r.Dropped == 0 }

// merge adds o to r, as if both had been one run.
func (r *LoadResult) merge(o *LoadResult) {
	r.Latency.Merge(&o.Latency)
	r.TTFB.Merge(&o.TTFB)
	r.OK += o.OK
	r.Errors += o.Errors
	r.Dropped += o.Dropped
	r.Sent += o.Sent
	r.PeakInFlight = max(r.PeakInFlight, o.PeakInFlight)
	r.Achieved = (r.Achieved*r.Elapsed.Seconds() + o.Achieved*o.Elapsed.Seconds()) / (r.Elapsed + o.Elapsed).Seconds()
	r.Elapsed += o.Elapsed
	if r.FirstErr == "" {
		r.FirstErr = o.FirstErr
	}
}
