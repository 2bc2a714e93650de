package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/bedrock-relay/bedrock-relay/ratelimit"
	"github.com/bedrock-relay/bedrock-relay/ratelimit/redisstore"
)

var (
	k1     = ratelimit.Key{Target: "acct-a", Model: "anthropic.claude-sonnet-4-5-20250929-v1:0"}
	prefix = "bedrock-relay:{" + ratelimit.SharedName(k1) + "}:"
	// t0 is on a whole second, so that bucket edges are easy to reason about.
	t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
)

// clock is the relay processes' clock; Redis's is miniredis's SetTime, moved with it.
type clock struct {
	mu sync.Mutex
	t  time.Time
	m  *miniredis.Miniredis
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the relays' clock and Redis's, and lets Redis expire what is due.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.m.SetTime(c.t)
}

// newRedis is a miniredis whose TIME and key expiry follow the returned clock.
func newRedis(t *testing.T) (*miniredis.Miniredis, *clock) {
	t.Helper()
	m := miniredis.RunT(t)
	m.SetTime(t0)
	m.ClockTTL(true)
	return m, &clock{t: t0, m: m}
}

// syncBuffer is a log destination safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// relay is one relay process: its store (its own connections) and its table.
type relay struct {
	store *redisstore.Store
	table *ratelimit.Table
	reg   *prometheus.Registry
	log   *syncBuffer
}

func newRelay(t *testing.T, addr string, c *clock, b ratelimit.Budget, o redisstore.Options) *relay {
	t.Helper()
	o.Addrs = []string{addr}
	if o.Timeout == 0 {
		o.Timeout = time.Second // miniredis on a loaded machine is not always fast; tests of timeouts set their own
	}
	if o.ProbeInterval == 0 {
		o.ProbeInterval = 10 * time.Millisecond
	}
	if o.Share == 0 {
		o.Share = 0.5
	}
	r := &relay{reg: prometheus.NewRegistry(), log: &syncBuffer{}}
	o.Registerer = r.reg
	o.Logger = slog.New(slog.NewTextHandler(r.log, nil))
	r.store = redisstore.New(o)
	t.Cleanup(func() { r.store.Close() })
	now := time.Now
	if c != nil {
		now = c.Now
	}
	r.table = ratelimit.New(ratelimit.WithClock(now), ratelimit.WithShared(r.store, o.Share))
	if err := r.table.SetBudget(k1, b); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *relay) flush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.store.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// waitShared waits until the store shares again (its probe found Redis back).
func (r *relay) waitShared(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if ok, _ := r.store.Status(); ok {
			return
		}
	}
	t.Fatal("the store did not share again within 5s of Redis coming back")
}

func limitError(t *testing.T, err error) *ratelimit.LimitError {
	t.Helper()
	var le *ratelimit.LimitError
	if !errors.As(err, &le) {
		t.Fatalf("got %v, want a *ratelimit.LimitError", err)
	}
	return le
}

// field is a window hash's field as a number (0 when missing).
func field(t *testing.T, m *miniredis.Miniredis, key, f string) int {
	t.Helper()
	if !m.Exists(key) {
		return 0
	}
	v := m.HGet(key, f)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s %s = %q, want a number", key, f, v)
	}
	return n
}

// bucket is the number of the bucket of width w that holds t.
func bucket(t time.Time, w time.Duration) string {
	return strconv.FormatInt(t.UnixMilli()/w.Milliseconds(), 10)
}

func TestBudgetSharedAcrossProcesses(t *testing.T) {
	m, c := newRedis(t)
	b := ratelimit.Budget{RequestsPerMinute: 3}
	a, o := newRelay(t, m.Addr(), c, b, redisstore.Options{}), newRelay(t, m.Addr(), c, b, redisstore.Options{})
	for i, r := range []*relay{a, a, o} {
		if _, err := r.table.Reserve(k1, 10, 10, 1); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		c.Advance(time.Second)
	}
	// Three between them: the fourth is refused by either, though neither has used the budget alone.
	for name, r := range map[string]*relay{"first": a, "second": o} {
		_, err := r.table.Reserve(k1, 10, 10, 1)
		if le := limitError(t, err); !errors.Is(err, ratelimit.ErrRequests) || le.RetryAfter != 58*time.Second {
			t.Errorf("%s process, fourth request: got %v, want ErrRequests until the first request's bucket leaves (58s)", name, err)
		}
	}
	if h := o.table.Headroom(k1); h != 0 {
		t.Errorf("headroom after the store said the minute is full = %v, want 0", h)
	}
	c.Advance(58 * time.Second)
	if _, err := o.table.Reserve(k1, 10, 10, 1); err != nil {
		t.Errorf("after the first bucket left: %v", err)
	}
	if got := field(t, m, prefix+"m", "r"+bucket(t0, time.Second)); got != 0 {
		t.Errorf("the bucket that left is still in the hash (%d)", got)
	}
}

func TestSettlement(t *testing.T) {
	m, c := newRedis(t)
	r := newRelay(t, m.Addr(), c, ratelimit.Budget{RequestsPerMinute: 100, TokensPerMinute: 100_000, TokensPerDay: 1_000_000}, redisstore.Options{})
	mb, db := bucket(t0, time.Second), bucket(t0, 12*time.Minute)
	check := func(what string, requests, tokens int) {
		t.Helper()
		r.flush(t)
		if n, tk, d := field(t, m, prefix+"m", "r"+mb), field(t, m, prefix+"m", "t"+mb), field(t, m, prefix+"d", "t"+db); n != requests || tk != tokens || d != tokens {
			t.Errorf("%s: minute %d requests, %d tokens, day %d tokens; want %d, %d, %d", what, n, tk, d, requests, tokens, tokens)
		}
	}
	low, err := r.table.Reserve(k1, 1000, 4096, 5)
	if err != nil {
		t.Fatal(err)
	}
	check("reserved", 1, 5096)
	low.Commit(1000, 300) // 1000 + 300×5
	check("committed below the reservation", 1, 2500)
	high, err := r.table.Reserve(k1, 100, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	high.Commit(900, 0)
	check("committed above the reservation", 2, 3400)
	gone, err := r.table.Reserve(k1, 50, 50, 1)
	if err != nil {
		t.Fatal(err)
	}
	check("another reservation", 3, 3500)
	gone.Cancel()
	check("cancelled", 2, 3400)

	// A correction that comes after its bucket left the window does not bring the bucket back.
	late, err := r.table.Reserve(k1, 10, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	c.Advance(2 * time.Minute)
	if _, err := r.table.Reserve(k1, 1, 0, 1); err != nil { // prunes the old buckets
		t.Fatal(err)
	}
	late.Cancel()
	r.flush(t)
	if m.HGet(prefix+"m", "r"+mb) != "" {
		t.Errorf("a late cancel recreated bucket %s: %q", mb, m.HGet(prefix+"m", "r"+mb))
	}
}

func TestCooldownSeenByEveryProcess(t *testing.T) {
	m, c := newRedis(t)
	a, o := newRelay(t, m.Addr(), c, ratelimit.Budget{}, redisstore.Options{}), newRelay(t, m.Addr(), c, ratelimit.Budget{}, redisstore.Options{})
	a.table.Cooldown(k1, time.Time{}, ratelimit.CauseSetup)
	a.flush(t)
	if got := m.TTL(prefix + "cool"); got != 10*time.Minute {
		t.Errorf("cooldown key TTL %s, want 10m", got)
	}
	_, err := o.table.Reserve(k1, 1, 1, 1)
	le := limitError(t, err)
	if !errors.Is(err, ratelimit.ErrCoolingDown) || le.Cause != ratelimit.CauseSetup || le.RetryAfter != 10*time.Minute {
		t.Fatalf("other process: got %v (cause %s, retry after %s), want ErrCoolingDown for setup, 10m", err, le.Cause, le.RetryAfter)
	}
	if st := o.table.Snapshot(); len(st) != 1 || st[0].Cause != ratelimit.CauseSetup {
		t.Errorf("other process's snapshot %+v, want the setup cooldown", st)
	}
	c.Advance(10*time.Minute + time.Second)
	if _, err := o.table.Reserve(k1, 1, 1, 1); err != nil {
		t.Errorf("after the cooldown: %v", err)
	}

	// A fault cooldown ends for everyone when the key answers again.
	a.table.Cooldown(k1, time.Time{}, ratelimit.CauseFault)
	a.flush(t)
	if _, err := o.table.Reserve(k1, 1, 1, 1); !errors.Is(err, ratelimit.ErrCoolingDown) {
		t.Fatalf("during a fault cooldown: got %v, want ErrCoolingDown", err)
	}
	a.table.Success(k1)
	a.flush(t)
	if m.Exists(prefix + "cool") {
		t.Errorf("the fault cooldown outlived a success")
	}
}

func TestWindowsExpire(t *testing.T) {
	m, c := newRedis(t)
	r := newRelay(t, m.Addr(), c, ratelimit.Budget{RequestsPerMinute: 2, TokensPerDay: 1000}, redisstore.Options{})
	for range 2 {
		res, err := r.table.Reserve(k1, 400, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		res.Commit(400, 0)
	}
	if _, err := r.table.Reserve(k1, 1, 0, 1); !errors.Is(err, ratelimit.ErrRequests) {
		t.Fatalf("third request in the minute: got %v, want ErrRequests", err)
	}
	c.Advance(61 * time.Second)
	if _, err := r.table.Reserve(k1, 400, 0, 1); !errors.Is(err, ratelimit.ErrDaily) {
		t.Fatalf("next minute, 1200 tokens in the day: got %v, want ErrDaily", err)
	}
	if _, err := r.table.Reserve(k1, 100, 0, 1); err != nil {
		t.Fatalf("next minute, 100 tokens: %v", err)
	}
	c.Advance(24*time.Hour + 12*time.Minute)
	if _, err := r.table.Reserve(k1, 800, 0, 1); err != nil {
		t.Errorf("next day: %v", err)
	}
}

func TestKeysExpireByThemselves(t *testing.T) {
	m, c := newRedis(t)
	r := newRelay(t, m.Addr(), c, ratelimit.Budget{RequestsPerMinute: 10, TokensPerDay: 1000}, redisstore.Options{KeyPrefix: "pool-a:"})
	if _, err := r.table.Reserve(k1, 1, 1, 1); err != nil {
		t.Fatal(err)
	}
	r.table.Cooldown(k1, time.Time{}, ratelimit.CauseThrottled) // until the request leaves the minute
	r.flush(t)
	base := "pool-a:{" + ratelimit.SharedName(k1) + "}:"
	want := map[string]time.Duration{base + "m": 62 * time.Second, base + "d": 24*time.Hour + 24*time.Minute, base + "cool": time.Minute}
	for _, k := range m.Keys() {
		if strings.Contains(k, "{probe}") {
			continue
		}
		ttl, ok := want[k]
		if !ok {
			t.Errorf("unexpected key %q", k)
			continue
		}
		if got := m.TTL(k); got != ttl {
			t.Errorf("%s: TTL %s, want %s", k, got, ttl)
		}
		delete(want, k)
	}
	for k := range want {
		t.Errorf("key %s missing", k)
	}
	c.Advance(62 * time.Second)
	if m.Exists(base+"m") || m.Exists(base+"cool") || !m.Exists(base+"d") {
		t.Errorf("after 62s: keys %v, want only the day window left", m.Keys())
	}
	c.Advance(24*time.Hour + 23*time.Minute)
	if m.Exists(base + "d") {
		t.Errorf("the day window outlived its day and two buckets")
	}
}

func TestReserveAnswers(t *testing.T) {
	m, c := newRedis(t)
	r := newRelay(t, m.Addr(), c, ratelimit.Budget{}, redisstore.Options{})
	s := r.store
	name := "key:team-a" // a name of another kind: the scripts take any
	b := ratelimit.Budget{RequestsPerMinute: 5, TokensPerMinute: 1000, TokensPerDay: 5000}
	tests := []struct {
		b        ratelimit.Budget
		need     int
		err      error
		wait     time.Duration
		requests int
		tokens   int
	}{
		{b, 2000, ratelimit.ErrTooLarge, 0, 0, 0},
		{b, 600, nil, 0, 1, 600},
		{b, 600, ratelimit.ErrTokens, 61 * time.Second, 1, 600}, // the bucket leaves a minute after its end
		{b, 400, nil, 0, 2, 1000},
		{ratelimit.Budget{RequestsPerMinute: 2}, 0, ratelimit.ErrRequests, 61 * time.Second, 2, 1000},
		{ratelimit.Budget{}, 10_000, nil, 0, 0, 0}, // unlimited: nothing charged, nothing read
	}
	for i, tt := range tests {
		a, err := s.Reserve(name, tt.b, tt.need)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if a.Err != tt.err || a.Wait != tt.wait || a.MinuteRequests != tt.requests || a.MinuteTokens != tt.tokens {
			t.Errorf("%d: got %v wait %s, %d requests %d tokens; want %v wait %s, %d, %d", i, a.Err, a.Wait,
				a.MinuteRequests, a.MinuteTokens, tt.err, tt.wait, tt.requests, tt.tokens)
		}
		if tt.err == nil && tt.b != (ratelimit.Budget{}) && (a.Hold.Minute < 0 || a.Hold.Day < 0) {
			t.Errorf("%d: charged, but the hold %+v names no bucket", i, a.Hold)
		}
	}
	if got := m.HGet("bedrock-relay:{key:team-a}:m", "t"+bucket(t0, time.Second)); got != "1000" {
		t.Errorf("key:team-a's minute tokens %q, want 1000", got)
	}

	// After a restart (or SCRIPT FLUSH) the server has lost the scripts: EVALSHA fails, EVAL runs them.
	m.FlushAll()
	rc := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rc.Close()
	if err := rc.ScriptFlush(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reserve(name, b, 1); err != nil {
		t.Errorf("after FLUSHALL: %v", err)
	}
}

// countLines counts the log lines holding s.
func countLines(log, s string) int { return strings.Count(log, s) }

func TestFallbackWhileRedisIsDown(t *testing.T) {
	m, c := newRedis(t)
	r := newRelay(t, m.Addr(), c, ratelimit.Budget{RequestsPerMinute: 4}, redisstore.Options{})
	other := newRelay(t, m.Addr(), c, ratelimit.Budget{RequestsPerMinute: 4}, redisstore.Options{})
	if _, err := other.table.Reserve(k1, 1, 1, 1); err != nil { // the other replica's request counts while shared
		t.Fatal(err)
	}
	if _, err := r.table.Reserve(k1, 1, 1, 1); err != nil {
		t.Fatal(err)
	}
	if got := metric(t, r.reg, "bedrock_relay_state_backend_up"); got != 1 {
		t.Errorf("backend up = %v while shared, want 1", got)
	}

	m.Close()
	// Alone, the relay allows itself half of 4 requests: one more besides its own one, whatever the other did.
	if _, err := r.table.Reserve(k1, 1, 1, 1); err != nil {
		t.Fatalf("with Redis down: %v, want the request admitted on local budgets", err)
	}
	if _, err := r.table.Reserve(k1, 1, 1, 1); !errors.Is(err, ratelimit.ErrRequests) {
		t.Fatalf("third request with Redis down: got %v, want ErrRequests at half the budget", err)
	}
	if ok, why := r.store.Status(); ok || !strings.Contains(why, "0.5 of each") {
		t.Errorf("Status = %v, %q; want not shared, naming the share", ok, why)
	}
	for name, want := range map[string]float64{"bedrock_relay_state_backend_up": 0, "bedrock_relay_state_fallbacks_total": 1,
		"bedrock_relay_state_local_reservations_total": 2} {
		if got := metric(t, r.reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}

	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	r.waitShared(t)
	c.Advance(61 * time.Second)
	if _, err := r.table.Reserve(k1, 1, 1, 1); err != nil {
		t.Fatalf("Redis back: %v", err)
	}
	if got := field(t, m, prefix+"m", "r"+bucket(c.Now(), time.Second)); got != 1 {
		t.Errorf("after Redis came back the reservation is not in Redis (%d)", got)
	}
	log := r.log.String()
	if n, back := countLines(log, "state backend unreachable"), countLines(log, "state backend answers again"); n != 1 || back != 1 {
		t.Errorf("log has %d fallback and %d recovery lines, want one each:\n%s", n, back, log)
	}
	if metric(t, r.reg, "bedrock_relay_state_backend_up") != 1 {
		t.Errorf("backend up is not 1 after Redis came back")
	}
}

func TestStartsInFallbackWhenRedisIsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there
	r := newRelay(t, addr, nil, ratelimit.Budget{RequestsPerMinute: 2}, redisstore.Options{Timeout: 50 * time.Millisecond})
	if ok, _ := r.store.Status(); ok {
		t.Fatal("Status: shared, with no Redis")
	}
	if _, err := r.table.Reserve(k1, 1, 1, 1); err != nil {
		t.Errorf("with no Redis: %v, want the request admitted on local budgets", err)
	}
	if _, err := r.table.Reserve(k1, 1, 1, 1); !errors.Is(err, ratelimit.ErrRequests) {
		t.Errorf("second request at half of 2: got %v, want ErrRequests", err)
	}
	if n := countLines(r.log.String(), "state backend unreachable"); n != 1 {
		t.Errorf("log has %d fallback lines, want 1", n)
	}
}

func TestSlowRedisFallsBack(t *testing.T) {
	m, c := newRedis(t)
	p := newStallProxy(t, m.Addr())
	r := newRelay(t, p.addr, c, ratelimit.Budget{RequestsPerMinute: 10}, redisstore.Options{Timeout: 50 * time.Millisecond})
	if _, err := r.table.Reserve(k1, 1, 1, 1); err != nil {
		t.Fatal(err)
	}
	p.stall(true)
	start := time.Now()
	if _, err := r.table.Reserve(k1, 1, 1, 1); err != nil {
		t.Fatalf("with Redis stalled: %v, want the request admitted on local budgets", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a stalled Redis held the reservation %s, want about the 50ms timeout", d)
	}
	if ok, why := r.store.Status(); ok || !strings.Contains(why, "did not answer within 50ms") {
		t.Errorf("Status = %v, %q; want fallback, saying Redis was slow", ok, why)
	}
	start = time.Now()
	if _, err := r.table.Reserve(k1, 1, 1, 1); err != nil || time.Since(start) > 10*time.Millisecond {
		t.Errorf("in fallback: %v after %s, want an answer without a round trip", err, time.Since(start))
	}
	p.stall(false)
	r.waitShared(t)
	if _, err := r.table.Reserve(k1, 1, 1, 1); err != nil {
		t.Fatal(err)
	}
	// The stalled reservation reached Redis, only its answer was held: a reservation whose answer times out
	// may count twice (in Redis and locally), never not at all.
	if got := field(t, m, prefix+"m", "r"+bucket(c.Now(), time.Second)); got != 3 {
		t.Errorf("Redis holds %d requests, want 3: the 2 made while shared and the stalled one", got)
	}
}

// metric is the value of a single-series gauge or counter on reg.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			if v := mf.GetMetric()[0]; v.GetGauge() != nil {
				return v.GetGauge().GetValue()
			} else {
				return v.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// stallProxy forwards TCP to a backend; stalled, it holds every answer back (a Redis that takes commands and
// does not answer).
type stallProxy struct {
	addr string
	mu   sync.Mutex
	cond *sync.Cond
	held bool
	done bool
}

func newStallProxy(t *testing.T, backend string) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{addr: ln.Addr().String()}
	p.cond = sync.NewCond(&p.mu)
	var conns sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		p.done = true
		p.cond.Broadcast()
		p.mu.Unlock()
		conns.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", backend)
			if err != nil {
				c.Close()
				continue
			}
			conns.Add(2)
			go func() { defer conns.Done(); io.Copy(b, c); b.Close() }()
			go func() { defer conns.Done(); p.answer(c, b); c.Close() }()
		}
	}()
	return p
}

func (p *stallProxy) stall(on bool) {
	p.mu.Lock()
	p.held = on
	p.cond.Broadcast()
	p.mu.Unlock()
}

// answer copies the backend's answers to the client, waiting while stalled.
func (p *stallProxy) answer(c, b net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := b.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.held && !p.done {
				p.cond.Wait()
			}
			p.mu.Unlock()
			if _, werr := c.Write(buf[:n]); werr != nil {
				b.Close()
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestNoticesReachEveryProcess: a soft backoff one relay sets moves the other's traffic off the key (its
// headroom drops) before the other has asked Redis anything, a success there ends it, and a hard cooldown
// is out of rotation for the other at once, through Pub/Sub.
func TestNoticesReachEveryProcess(t *testing.T) {
	m, _ := newRedis(t)
	b := ratelimit.Budget{RequestsPerMinute: 100}
	a, o := newRelay(t, m.Addr(), nil, b, redisstore.Options{}), newRelay(t, m.Addr(), nil, b, redisstore.Options{})
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 5s (headroom %v)", what, o.table.Headroom(k1))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// The subscription is made in the background: wait until Redis counts both listeners.
	waitFor("both relays subscribed", func() bool { return m.PubSubNumSub("bedrock-relay:notices")["bedrock-relay:notices"] == 2 })

	a.table.Failure(k1, ratelimit.CauseThrottled)
	waitFor("the other relay backs off", func() bool { return o.table.Headroom(k1) < 0.01 })
	if h := a.table.Headroom(k1); h >= 0.01 {
		t.Errorf("the throttled relay's own headroom %v, want it backing off", h)
	}
	a.table.Success(k1)
	waitFor("the backoff's end reaches the other relay", func() bool { return o.table.Headroom(k1) == 1 })

	a.table.Cooldown(k1, time.Time{}, ratelimit.CauseSetup)
	waitFor("the cooldown reaches the other relay", func() bool { return o.table.Headroom(k1) == 0 })
	if got := metric(t, o.reg, "bedrock_relay_state_notices_received_total"); got != 3 {
		t.Errorf("notices received %v, want 3", got)
	}
	if got := metric(t, a.reg, "bedrock_relay_state_notices_received_total"); got != 0 {
		t.Errorf("the sender received %v of its own notices, want 0", got)
	}
	if _, err := o.table.Reserve(k1, 1, 1, 1); !errors.Is(err, ratelimit.ErrCoolingDown) {
		t.Errorf("reserve on the other relay: %v, want ErrCoolingDown", err)
	}
}
