package bench

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	for _, v := range []int64{0, 1, 127, 128, 129, 255, 256, 1000, 123456, 1 << 40, 1<<62 + 12345} {
		i := bucketOf(v)
		if hi := bucketHigh(i); hi < v {
			t.Errorf("value %d: bucket %d high %d, want >= value", v, i, hi)
		}
		if i > 0 {
			if lo := bucketHigh(i-1) + 1; lo > v {
				t.Errorf("value %d: bucket %d low %d, want <= value", v, i, lo)
			}
		}
		if i >= buckets {
			t.Errorf("value %d: bucket %d out of range %d", v, i, buckets)
		}
	}
}

func TestQuantileWithinOnePercent(t *testing.T) {
	var h Histogram
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]int64, 100_000)
	for i := range vals {
		vals[i] = int64(r.ExpFloat64() * float64(200*time.Microsecond))
		h.Record(time.Duration(vals[i]))
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := vals[int(q*float64(len(vals)))-1]
		got := int64(h.Quantile(q))
		if got < want || float64(got-want) > 0.01*float64(want)+1 {
			t.Errorf("p%v: got %d, want %d (+1%%)", q*100, got, want)
		}
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		d := time.Duration(0)
		for pb.Next() {
			d += 997
			h.Record(d % time.Second)
		}
	})
}
