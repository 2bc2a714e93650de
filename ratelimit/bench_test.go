package ratelimit

import (
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkReserveCommit is the hot path of one request: reserve, then commit the usage. The fake clock moves
// 1 ms per reading so that buckets fill and expire as under load.
func BenchmarkReserveCommit(b *testing.B) {
	var ns atomic.Int64
	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	tb := New(WithClock(func() time.Time { return base.Add(time.Duration(ns.Add(int64(time.Millisecond)))) }))
	if err := tb.SetBudget(k1, Budget{RequestsPerMinute: 10_000_000, TokensPerMinute: 1 << 50, TokensPerDay: 1 << 60}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r, err := tb.Reserve(k1, 1000, 4096, 5)
		if err != nil {
			b.Fatal(err)
		}
		r.Commit(1000, 300)
	}
}

// BenchmarkReserveCommitParallel is the same with every CPU on one key, the worst case for its lock, and the
// real clock.
func BenchmarkReserveCommitParallel(b *testing.B) {
	tb := New()
	if err := tb.SetBudget(k1, Budget{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, err := tb.Reserve(k1, 1000, 4096, 5)
			if err != nil {
				b.Error(err)
				return
			}
			r.Commit(1000, 300)
		}
	})
}

// BenchmarkRefused is a key out of requests: the path taken while a target is exhausted.
func BenchmarkRefused(b *testing.B) {
	c := newClock()
	tb := New(WithClock(c.Now))
	if err := tb.SetBudget(k1, Budget{RequestsPerMinute: 60}); err != nil {
		b.Fatal(err)
	}
	for range 60 {
		if _, err := tb.Reserve(k1, 1, 1, 1); err != nil {
			b.Fatal(err)
		}
		c.Advance(500 * time.Millisecond)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tb.Reserve(k1, 1, 1, 1); err == nil {
			b.Fatal("got success, want refusal")
		}
	}
}

func BenchmarkHeadroom(b *testing.B) {
	tb := New()
	if err := tb.SetBudget(k1, Budget{RequestsPerMinute: 100, TokensPerMinute: 100_000}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = tb.Headroom(k1)
	}
}
