package ratelimit

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestWindowMatchesModel drives a window with random events, corrections and idle gaps and compares it with
// a direct model of its rule: an event counts until one span after the latest event in its bucket.
func TestWindowMatchesModel(t *testing.T) {
	tests := []struct {
		name        string
		span, width time.Duration
		maxGap      time.Duration
	}{
		{"minute", time.Minute, time.Second, 3 * time.Second},
		{"minute with idle gaps", time.Minute, time.Second, 2 * time.Minute},
		{"day", 24 * time.Hour, 12 * time.Minute, 20 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type event struct {
				at, bucket int64
				count      int
				tokens     int
				done       bool
			}
			rng := rand.New(rand.NewPCG(1, 2))
			w := newWindow(tt.span, tt.width)
			var events []event
			lastIn := map[int64]int64{} // bucket → latest event
			var now int64
			for step := range 20_000 {
				now += rng.Int64N(int64(tt.maxGap))
				w.expire(now)
				switch op := rng.IntN(10); {
				case op < 6:
					tokens := rng.IntN(1000)
					b := w.add(now, 1, tokens)
					events = append(events, event{at: now, bucket: b, count: 1, tokens: tokens})
					lastIn[b] = now
				case op < 9 && len(events) > 0: // correct or cancel a recent event, once, as a Reservation does
					e := &events[len(events)-1-rng.IntN(min(len(events), 20))]
					if e.done {
						break
					}
					e.done = true
					dc, dt := 0, rng.IntN(500)-250
					if op == 8 {
						dc, dt = -e.count, -e.tokens
					}
					if dt < -e.tokens {
						dt = -e.tokens
					}
					live := now-lastIn[e.bucket] < w.span
					w.adjust(e.bucket, dc, dt)
					if live {
						e.count += dc
						e.tokens += dt
					}
				}
				var count, tokens int
				for _, e := range events {
					if now-lastIn[e.bucket] < w.span {
						count += e.count
						tokens += e.tokens
					}
				}
				if w.count != count || w.tokens != tokens {
					t.Fatalf("step %d at %v: window holds %d requests %d tokens, model %d and %d",
						step, time.Duration(now), w.count, w.tokens, count, tokens)
				}
				// Keep a span of events that have left, to correct some of them too.
				for len(events) > 0 && now-events[0].at > 2*w.span {
					events = events[1:]
				}
			}
		})
	}
}
