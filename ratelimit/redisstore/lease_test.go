package redisstore_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bedrock-relay/bedrock-relay/ratelimit"
	"github.com/bedrock-relay/bedrock-relay/ratelimit/redisstore"
)

// calls is how many check-and-charge round trips of a kind a relay made.
func calls(t *testing.T, reg *prometheus.Registry, kind string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "bedrock_relay_state_reserve_calls_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == kind {
				return int(m.GetCounter().GetValue())
			}
		}
	}
	return 0
}

// windowSums adds up the minute window's requests and tokens over its buckets.
func windowSums(t *testing.T, m *miniredis.Miniredis) (requests, tokens int) {
	t.Helper()
	if !m.Exists(prefix + "m") {
		return 0, 0
	}
	fields, err := m.HKeys(prefix + "m")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fields {
		if f[0] == 'r' {
			requests += field(t, m, prefix+"m", f)
		} else {
			tokens += field(t, m, prefix+"m", f)
		}
	}
	return requests, tokens
}

// TestLeasesCutRoundTrips: under steady traffic with room in the budget, a relay takes leases and admits most
// requests without a round trip; when the leases end, the shared window holds exactly what was admitted and
// committed: no leftover stays charged, no correction is lost.
func TestLeasesCutRoundTrips(t *testing.T) {
	m, _ := newRedis(t)
	m.SetTime(time.Now()) // leases end on the real clock
	r := newRelay(t, m.Addr(), nil, ratelimit.Budget{RequestsPerMinute: 100_000, TokensPerMinute: 100_000_000}, redisstore.Options{Share: 1})
	const n = 400
	committed := 0
	for i := range n {
		res, err := r.table.Reserve(k1, 100, 1000, 1)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		out := i % 50
		res.Commit(100, out)
		committed += 100 + out
	}
	reserves, leases := calls(t, r.reg, "reserve"), calls(t, r.reg, "lease")
	if reserves+leases > n/8 {
		t.Errorf("%d requests took %d round trips (%d reserve, %d lease), want at most %d", n, reserves+leases, reserves, leases, n/8)
	}
	if leases == 0 {
		t.Error("no lease taken")
	}
	time.Sleep(1200 * time.Millisecond) // the last lease ends (after 1 s) and gives back what it has left
	r.flush(t)
	reqs, toks := windowSums(t, m)
	if reqs != n || toks != committed {
		t.Errorf("the shared window holds %d requests and %d tokens, want the %d admitted and the %d committed", reqs, toks, n, committed)
	}
}

// TestLeasesKeepToTheBudget: three relays on one budget, each taking leases, together admit no more than the
// budget however their requests interleave, and a lone relay admits exactly the budget.
func TestLeasesKeepToTheBudget(t *testing.T) {
	m, _ := newRedis(t)
	m.SetTime(time.Now())
	b := ratelimit.Budget{RequestsPerMinute: 600}
	var relays []*relay
	for range 3 {
		relays = append(relays, newRelay(t, m.Addr(), nil, b, redisstore.Options{Share: 1}))
	}
	var admitted, refused atomic.Int64
	var wg sync.WaitGroup
	for _, r := range relays {
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 50 {
					res, err := r.table.Reserve(k1, 10, 10, 1)
					if err != nil {
						if !errors.Is(err, ratelimit.ErrRequests) {
							t.Errorf("refused with %v, want ErrRequests", err)
						}
						refused.Add(1)
						continue
					}
					admitted.Add(1)
					res.Commit(10, 5)
				}
			}()
		}
	}
	wg.Wait()
	if admitted.Load() > 600 {
		t.Errorf("3 relays admitted %d requests on a budget of 600", admitted.Load())
	}
	leases := 0
	for _, r := range relays {
		leases += calls(t, r.reg, "lease")
	}
	if leases == 0 {
		t.Error("no relay took a lease")
	}
	t.Logf("1200 requests over 3 relays: %d admitted, %d refused, %d leases", admitted.Load(), refused.Load(), leases)

	// Alone, sequentially: exactly the budget, then refusals, and the window holds exactly that.
	m2, _ := newRedis(t)
	m2.SetTime(time.Now())
	r := newRelay(t, m2.Addr(), nil, ratelimit.Budget{RequestsPerMinute: 300}, redisstore.Options{Share: 1})
	n := 0
	for range 400 {
		if res, err := r.table.Reserve(k1, 1, 1, 1); err == nil {
			n++
			res.Commit(1, 1)
		}
	}
	if n != 300 {
		t.Errorf("a lone relay admitted %d of 400 on a budget of 300, want 300", n)
	}
	time.Sleep(1200 * time.Millisecond)
	r.flush(t)
	if reqs, _ := windowSums(t, m2); reqs != 300 {
		t.Errorf("the shared window holds %d requests, want 300", reqs)
	}
}

// TestLeaseCancelGoesBack: a request admitted from a lease and cancelled goes back into the lease (nothing
// to write); after the lease, the window holds only what was committed.
func TestLeaseCancelGoesBack(t *testing.T) {
	m, _ := newRedis(t)
	m.SetTime(time.Now())
	r := newRelay(t, m.Addr(), nil, ratelimit.Budget{RequestsPerMinute: 10_000}, redisstore.Options{Share: 1})
	kept := 0
	for i := range 200 {
		res, err := r.table.Reserve(k1, 7, 3, 1)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			res.Cancel()
		} else {
			res.Commit(7, 3)
			kept++
		}
	}
	time.Sleep(1200 * time.Millisecond)
	r.flush(t)
	reqs, toks := windowSums(t, m)
	if reqs != kept || toks != 10*kept {
		t.Errorf("the window holds %d requests and %d tokens, want %d and %d", reqs, toks, kept, 10*kept)
	}
}

// TestLeaseStopsAtACooldown: a hard cooldown another relay sets stops this relay's admissions at once, though
// its lease still has room; what the lease has left goes back when it ends.
func TestLeaseStopsAtACooldown(t *testing.T) {
	m, _ := newRedis(t)
	m.SetTime(time.Now())
	b := ratelimit.Budget{RequestsPerMinute: 100_000}
	a, o := newRelay(t, m.Addr(), nil, b, redisstore.Options{Share: 1}), newRelay(t, m.Addr(), nil, b, redisstore.Options{Share: 1})
	for deadline := time.Now().Add(5 * time.Second); m.PubSubNumSub("bedrock-relay:notices")["bedrock-relay:notices"] < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the relays did not subscribe within 5s")
		}
	}
	admitted := 0
	for range 100 {
		res, err := a.table.Reserve(k1, 1, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		res.Commit(1, 1)
		admitted++
	}
	if calls(t, a.reg, "lease") == 0 {
		t.Fatal("no lease taken")
	}
	o.table.Cooldown(k1, time.Time{}, ratelimit.CauseThrottled)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := a.table.Reserve(k1, 1, 1, 1)
		if errors.Is(err, ratelimit.ErrCoolingDown) {
			break
		}
		if err != nil {
			t.Fatalf("got %v, want ErrCoolingDown", err)
		}
		admitted++
		if time.Now().After(deadline) {
			t.Fatal("the other relay's cooldown did not stop admissions from the lease within 5s")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(1200 * time.Millisecond)
	a.flush(t)
	if reqs, _ := windowSums(t, m); reqs != admitted {
		t.Errorf("the window holds %d requests, want the %d admitted (the lease's rest given back)", reqs, admitted)
	}
}

// TestLeaseWhenRedisGoes: Redis going away while a relay holds a lease fails no request: the lease's rest is
// admitted, then the table decides on its own windows; what cannot be written is dropped and counted.
func TestLeaseWhenRedisGoes(t *testing.T) {
	m, _ := newRedis(t)
	m.SetTime(time.Now())
	r := newRelay(t, m.Addr(), nil, ratelimit.Budget{RequestsPerMinute: 100_000}, redisstore.Options{Share: 1, Timeout: 50 * time.Millisecond})
	for range 50 {
		res, err := r.table.Reserve(k1, 1, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		res.Commit(1, 1)
	}
	if calls(t, r.reg, "lease") == 0 {
		t.Fatal("no lease taken")
	}
	m.Close()
	for i := range 300 {
		res, err := r.table.Reserve(k1, 1, 1, 1)
		if err != nil {
			t.Fatalf("request %d after Redis went: %v", i, err)
		}
		res.Commit(1, 2)
	}
	time.Sleep(1200 * time.Millisecond) // the lease ends; giving back its rest cannot be written
	if local := metric(t, r.reg, "bedrock_relay_state_local_reservations_total"); local == 0 {
		t.Error("no reservation decided locally after Redis went")
	}
}
