package usage_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bedrock-relay/bedrock-relay/usage"
)

var t0 = time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC)

func TestMemoryRows(t *testing.T) {
	var m usage.Memory
	rec := usage.Record{Time: t0, Key: "team-chat", Group: "chat", Model: "m", Target: "a", InputTokens: 10, OutputTokens: 5,
		CacheReadTokens: 100, CacheWriteTokens: 7, CostUSD: 0.5, Priced: true}
	m.Add(rec)
	m.Add(rec)
	failed := rec
	failed.Error, failed.InputTokens, failed.OutputTokens, failed.CacheReadTokens, failed.CacheWriteTokens, failed.CostUSD = true, 0, 0, 0, 0, 0
	m.Add(failed)
	unpriced := rec
	unpriced.Model, unpriced.Priced, unpriced.CostUSD = "n", false, 0
	m.Add(unpriced)
	next := rec
	next.Time = t0.Add(2 * time.Hour) // the next UTC day, and month, and year
	m.Add(next)

	rows, err := m.Rows("2026-12-31", "2026-12-31")
	if err != nil {
		t.Fatal(err)
	}
	want := []usage.Row{
		{Day: "2026-12-31", Key: "team-chat", Group: "chat", Model: "m", Target: "a", Requests: 3, Errors: 1, InputTokens: 20, OutputTokens: 10,
			CacheReadTokens: 200, CacheWriteTokens: 14, CostUSD: 1},
		{Day: "2026-12-31", Key: "team-chat", Group: "chat", Model: "n", Target: "a", Requests: 1, InputTokens: 10, OutputTokens: 5,
			CacheReadTokens: 100, CacheWriteTokens: 7, Unpriced: 1},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	rows, _ = m.Rows("2026-12-31", "2027-01-01")
	if len(rows) != 3 || rows[2].Day != "2027-01-01" {
		t.Errorf("two days: %+v", rows)
	}
	for _, bad := range [][2]string{{"2026-13-01", "2026-12-31"}, {"2026-12-31", "2026-12-30"}, {"2025-01-01", "2026-12-31"}, {"", ""}} {
		if _, err := m.Rows(bad[0], bad[1]); err == nil {
			t.Errorf("Rows(%q, %q): no error", bad[0], bad[1])
		}
	}
}

func TestMemorySpend(t *testing.T) {
	var m usage.Memory
	h, err := m.Reserve("key:a", t0, 3, 5, 100)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Reserve("key:a", t0, 3, 5, 100); !isSpend(err, "day") {
		t.Fatalf("second estimate of 3 against 5 a day with 3 reserved: %v, want refused for the day", err)
	}
	m.Settle(h, 1) // it cost 1, not 3
	if d, mo, _ := m.Spent("key:a", t0); d != 1 || mo != 1 {
		t.Errorf("spent %v / %v, want 1 / 1", d, mo)
	}
	if _, err := m.Reserve("key:a", t0, 3, 5, 100); err != nil {
		t.Errorf("after settling: %v", err)
	}
	var se *usage.SpendError
	_, err = m.Reserve("key:a", t0, 3, 5, 100)
	if !errors.As(err, &se) || se.RetryAfter != time.Hour || se.Spent != 4 || se.Limit != 5 {
		t.Errorf("refusal %+v, want retry after the hour to midnight UTC, 4 of 5 spent", se)
	}
	// The next day (and month) starts empty; the month budget counts across days.
	next := t0.Add(2 * time.Hour)
	if _, err := m.Reserve("key:a", next, 4, 5, 5); err != nil {
		t.Errorf("a new day and month: %v", err)
	}
	if _, err := m.Reserve("key:a", next.Add(24*time.Hour), 2, 5, 5); !isSpend(err, "month") {
		t.Errorf("the month's budget across days: %v, want refused for the month", err)
	}
	if _, err := m.Reserve("key:b", t0, 1000, 0, 0); err != nil {
		t.Errorf("no limits: %v", err)
	}
}

func isSpend(err error, period string) bool {
	var se *usage.SpendError
	return errors.As(err, &se) && se.Period == period
}

func TestUntil(t *testing.T) {
	at := time.Date(2026, 2, 27, 12, 0, 0, 0, time.FixedZone("JST", 9*3600)) // 03:00 UTC
	if got := usage.UntilNextDay(at); got != 21*time.Hour {
		t.Errorf("until the next UTC day: %s", got)
	}
	if got := usage.UntilNextMonth(at); got != 24*time.Hour+21*time.Hour {
		t.Errorf("until the next UTC month: %s", got)
	}
}
