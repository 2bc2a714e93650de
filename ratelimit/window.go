package ratelimit

import "time"

// window is a sliding window of requests and tokens kept as a ring of fixed-width buckets. Memory is fixed by
// the span and the bucket width, not by the traffic, and every operation but wait is O(1) amortised: each
// bucket is expired once.
//
// Times are nanoseconds since the table's epoch and never go backwards (the entry clamps them).
type window struct {
	span   int64 // how long an event counts, ns
	width  int64 // bucket width, ns
	mask   int64
	ring   []bucket
	oldest int64 // index of the oldest bucket that may still be in the window
	newest int64 // index of the newest bucket written; oldest > newest when the window is empty
	count  int   // sums over the buckets in the window
	tokens int
}

type bucket struct {
	index  int64 // time / width; tells a live bucket from a stale one sharing its ring slot
	count  int
	tokens int
	last   int64 // the latest event in the bucket: the bucket leaves the window one span after it
}

func newWindow(span, width time.Duration) window {
	// A bucket may stay up to span + 1 width after it opened, and the bucket being written is one more.
	n := int64(1)
	for n*int64(width) < int64(span)+2*int64(width) {
		n <<= 1
	}
	w := window{span: int64(span), width: int64(width), mask: n - 1, ring: make([]bucket, n), newest: -1}
	for i := range w.ring {
		w.ring[i].index = -1
	}
	return w
}

// expire drops the buckets whose latest event is a span old or older.
func (w *window) expire(now int64) {
	for w.oldest <= w.newest {
		b := &w.ring[w.oldest&w.mask]
		if b.index == w.oldest {
			if (b.count != 0 || b.tokens != 0) && now-b.last < w.span {
				return
			}
			w.count -= b.count
			w.tokens -= b.tokens
			*b = bucket{index: -1}
		}
		w.oldest++
	}
}

// add records count requests and tokens tokens at now and returns the bucket index, for adjust. now must not
// be before the last add and expire must have run at now.
func (w *window) add(now int64, count, tokens int) int64 {
	i := now / w.width
	if w.oldest > w.newest {
		w.oldest = i
	}
	w.newest = max(w.newest, i)
	b := &w.ring[i&w.mask]
	if b.index != i {
		*b = bucket{index: i}
	}
	b.count += count
	b.tokens += tokens
	b.last = max(b.last, now)
	w.count += count
	w.tokens += tokens
	return i
}

// adjust changes what add recorded in bucket i, if that bucket is still in the window; a bucket that has left
// needs no correction. A bucket that is due to leave but not yet expired is adjusted, and its adjusted sums
// leave with it.
func (w *window) adjust(i int64, count, tokens int) {
	if i < w.oldest || i > w.newest {
		return
	}
	b := &w.ring[i&w.mask]
	if b.index != i {
		return
	}
	b.count += count
	b.tokens += tokens
	w.count += count
	w.tokens += tokens
}

// wait returns how long from now until events leaving the window have freed at least count requests and
// tokens tokens, 0 if nothing needs to be freed, or -1 if the window does not hold that much.
func (w *window) wait(now int64, count, tokens int) int64 {
	if count <= 0 && tokens <= 0 {
		return 0
	}
	for i := w.oldest; i <= w.newest; i++ {
		b := &w.ring[i&w.mask]
		if b.index != i || (b.count == 0 && b.tokens == 0) {
			continue
		}
		count -= b.count
		tokens -= b.tokens
		if count <= 0 && tokens <= 0 {
			return max(b.last+w.span-now, 0)
		}
	}
	return -1
}
