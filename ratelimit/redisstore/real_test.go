package redisstore_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bedrock-relay/bedrock-relay/internal/testredis"
	"github.com/bedrock-relay/bedrock-relay/ratelimit"
	"github.com/bedrock-relay/bedrock-relay/ratelimit/redisstore"
)

// TestRealRedis runs the scripts on a real redis-server (skipped without one unless CI is set): a budget
// shared by two processes, a settlement, a cooldown seen by the other, and every key with an expiry.
func TestRealRedis(t *testing.T) {
	addr := testredis.Start(t)
	b := ratelimit.Budget{RequestsPerMinute: 2, TokensPerMinute: 10_000, TokensPerDay: 100_000}
	a, o := newRelay(t, addr, nil, b, redisstore.Options{}), newRelay(t, addr, nil, b, redisstore.Options{})
	r1, err := a.table.Reserve(k1, 100, 1000, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.table.Reserve(k1, 100, 1000, 5); err != nil {
		t.Fatal(err)
	}
	_, err = a.table.Reserve(k1, 1, 1, 1)
	if le := limitError(t, err); !errors.Is(err, ratelimit.ErrRequests) || le.RetryAfter <= 59*time.Second || le.RetryAfter > 61*time.Second {
		t.Fatalf("third request between two processes: got %v, want ErrRequests for about a minute", err)
	}
	r1.Commit(100, 10) // 150 of the 1100 reserved
	a.flush(t)

	ctx := context.Background()
	rc := redis.NewClient(&redis.Options{Addr: addr})
	defer rc.Close()
	minute := "bedrock-relay:{" + ratelimit.SharedName(k1) + "}:m"
	fields, err := rc.HGetAll(ctx, minute).Result()
	if err != nil {
		t.Fatal(err)
	}
	requests, tokens := 0, 0
	for f, v := range fields {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("%s %s = %q", minute, f, v)
		}
		if f[0] == 'r' {
			requests += n
		} else {
			tokens += n
		}
	}
	if requests != 2 || tokens != 1250 {
		t.Errorf("minute window holds %d requests and %d tokens, want 2 and 1100 + 150", requests, tokens)
	}

	a.table.Cooldown(k1, time.Time{}, ratelimit.CauseSetup)
	a.flush(t)
	if _, err := o.table.Reserve(k1, 1, 1, 1); limitError(t, err).Cause != ratelimit.CauseSetup {
		t.Errorf("other process: got %v, want the setup cooldown", err)
	}
	keys, err := rc.Keys(ctx, "bedrock-relay:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 3 {
		t.Errorf("keys %v, want the minute and day windows and the cooldown", keys)
	}
	for _, k := range keys {
		if ttl, err := rc.PTTL(ctx, k).Result(); err != nil || ttl <= 0 {
			t.Errorf("%s: TTL %v (%v), want an expiry", k, ttl, err)
		}
	}
	if ok, _ := a.store.Status(); !ok {
		t.Errorf("the store fell back against a healthy redis-server")
	}
}

// BenchmarkRealRedisReserveCommit is one request's budget work against a real redis-server on loopback:
// the reserve script's round trip, then the settlement queued for the background writer.
func BenchmarkRealRedisReserveCommit(b *testing.B) {
	addr := testredis.Start(b)
	s := redisstore.New(redisstore.Options{Addrs: []string{addr}, Timeout: time.Second, Share: 0.5})
	defer s.Close()
	tb := ratelimit.New(ratelimit.WithShared(s, 0.5))
	if err := tb.SetBudget(k1, ratelimit.Budget{RequestsPerMinute: 1 << 40, TokensPerMinute: 1 << 50, TokensPerDay: 1 << 50}); err != nil {
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
	if ok, why := s.Status(); !ok {
		b.Fatalf("fell back during the benchmark: %s", why)
	}
}
