package redisstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/bedrock-relay/bedrock-relay/ratelimit"
	"github.com/bedrock-relay/bedrock-relay/ratelimit/redisstore"
	"github.com/bedrock-relay/bedrock-relay/usage"
)

// TestLedgerAddsUpAcrossProcesses: two relays' usage is one set of rows in Redis, their money budgets one
// spend; a relay's own unwritten usage counts in what it reads; Redis away loses nothing: the usage is
// written once it is back.
func TestLedgerAddsUpAcrossProcesses(t *testing.T) {
	m, _ := newRedis(t)
	a, b := newRelay(t, m.Addr(), nil, ratelimit.Budget{}, redisstore.Options{}), newRelay(t, m.Addr(), nil, ratelimit.Budget{}, redisstore.Options{})
	la, lb := a.store.Usage(), b.store.Usage()
	now := time.Now().UTC()
	day := usage.Day(now)
	rec := usage.Record{Time: now, Key: "team-chat", Group: "chat", Model: "m", Target: "acct-a", InputTokens: 10, OutputTokens: 5,
		CacheReadTokens: 3, CacheWriteTokens: 2, CostUSD: 0.25, Priced: true}
	la.Add(rec)
	lb.Add(rec)
	la.Flush()
	// b has not written its record yet: it still counts in what b reads, not yet in what a reads.
	for _, c := range []struct {
		name string
		l    *redisstore.Ledger
		want int64
	}{{"a", la, 1}, {"b", lb, 2}} {
		rows, err := c.l.Rows(day, day)
		if err != nil || len(rows) != 1 || rows[0].Requests != c.want {
			t.Errorf("relay %s reads %+v, %v; want one row of %d requests", c.name, rows, err, c.want)
		}
	}
	lb.Flush()
	rows, err := la.Rows(day, day)
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows %+v, %v", rows, err)
	}
	if r := rows[0]; r.Requests != 2 || r.InputTokens != 20 || r.OutputTokens != 10 || r.CacheReadTokens != 6 || r.CacheWriteTokens != 4 ||
		r.CostUSD != 0.5 || r.Key != "team-chat" || r.Group != "chat" || r.Target != "acct-a" {
		t.Errorf("the shared row %+v", r)
	}
	if ttl := m.TTL("bedrock-relay:usage:" + day); ttl < 399*24*time.Hour {
		t.Errorf("usage day key TTL %s, want about %d days", ttl, usage.MaxDays)
	}

	// One money budget over both relays: $1 a day, estimates of $0.4.
	ha, err := la.Reserve("key:team-chat", now, 0.4, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lb.Reserve("key:team-chat", now, 0.4, 1, 0); err != nil {
		t.Fatal(err)
	}
	var se *usage.SpendError
	if _, err := lb.Reserve("key:team-chat", now, 0.4, 1, 0); !errors.As(err, &se) || se.Period != "day" {
		t.Fatalf("a third estimate over both relays: %v, want the day's budget refusing", err)
	}
	la.Settle(ha, 0.1) // it cost less: room again, once a's settlement counts (at once for a, written for b)
	if _, err := la.Reserve("key:team-chat", now, 0.4, 1, 0); err != nil {
		t.Errorf("after a cheaper settlement, on the same relay: %v", err)
	}
	la.Flush()
	if d, _, err := lb.Spent("key:team-chat", now); err != nil || d < 0.89 || d > 0.91 {
		t.Errorf("spent today as b reads it: %v, %v; want 0.1 (settled) + 0.4 + 0.4 (reserved)", d, err)
	}

	// Redis away: usage stays in the relay, and is written when Redis is back.
	m.Close()
	la.Add(rec)
	la.Flush()
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ok, _ := a.store.Status(); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the store does not share again after Redis is back")
		}
		time.Sleep(10 * time.Millisecond)
	}
	la.Flush()
	rows, err = lb.Rows(day, day)
	if err != nil || len(rows) != 1 || rows[0].Requests != 3 {
		t.Errorf("after Redis came back: %+v, %v; want the 3 requests", rows, err)
	}
}
