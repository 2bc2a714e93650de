package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bedrock-relay/bedrock-relay/usage"
)

//go:embed spend.lua
var spendSrc string

var spendScript = redis.NewScript(spendSrc)

// Expiry of the usage and spend keys: a usage day is kept for usage.MaxDays, a spend day for two days and a
// spend month for 32 days (long enough to be read to its end, short enough to go by themselves).
const (
	usageTTL      = usage.MaxDays * 24 * time.Hour
	spendDayTTL   = 48 * time.Hour
	spendMonthTTL = 32 * 24 * time.Hour
	// flushEvery is how often the totals buffered in the process are written to Redis.
	flushEvery = time.Second
)

// Ledger is the usage totals and the money budgets' spend in Redis, shared by every relay using the store:
// a usage.Store and a usage.Spend. Usage and settlements are summed in the process and written every second
// in one pipeline (HINCRBY / INCRBYFLOAT, so replicas add up); what cannot be written (Redis away) stays in
// the process and is written once Redis answers, so nothing is lost while the relay runs. A reservation is
// one round trip of the spend script.
type Ledger struct {
	s *Store

	mu      sync.Mutex
	rows    usage.Memory       // usage not yet written
	pending map[string]float64 // spend key → USD not yet written (settlements)
}

var (
	_ usage.Store = (*Ledger)(nil)
	_ usage.Spend = (*Ledger)(nil)
)

// Usage is the store's ledger (one per store; its writer runs until Close).
func (s *Store) Usage() *Ledger {
	s.ledgerOnce.Do(func() {
		s.ledger = &Ledger{s: s, pending: map[string]float64{}}
		s.wg.Add(1)
		go s.ledger.flusher()
	})
	return s.ledger
}

// Share is the fallback share the store was built with.
func (s *Store) Share() float64 { return s.share }

func (l *Ledger) dayKey(day string) string { return l.s.prefix + "usage:" + day }

// usageFields are the hash fields of a row's totals, after "key\tgroup\tmodel\ttarget\t".
const (
	fRequests = "r"
	fErrors   = "e"
	fInput    = "i"
	fOutput   = "o"
	fRead     = "cr"
	fWrite    = "cw"
	fCost     = "usd"
	fUnpriced = "u"
)

// Add buffers rec; the flusher writes it within a second.
func (l *Ledger) Add(rec usage.Record) { l.rows.Add(rec) }

// Rows reads the days from..to from Redis, with what this process has not written yet.
func (l *Ledger) Rows(from, to string) ([]usage.Row, error) {
	days, err := usage.Days(from, to)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*l.s.timeout)
	defer cancel()
	pipe := l.s.c.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(days))
	for i, d := range days {
		cmds[i] = pipe.HGetAll(ctx, l.dayKey(d))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, errors.New("the usage ledger in Redis cannot be read: " + l.s.describe(err))
	}
	var all usage.Memory
	for i, d := range days {
		rows := map[usage.RowKey]*usage.Row{}
		for field, v := range cmds[i].Val() {
			parts := strings.Split(field, "\t")
			if len(parts) != 5 {
				continue
			}
			k := usage.RowKey{Day: d, Key: parts[0], Group: parts[1], Model: parts[2], Target: parts[3]}
			r := rows[k]
			if r == nil {
				r = &usage.Row{Day: d, Key: k.Key, Group: k.Group, Model: k.Model, Target: k.Target}
				rows[k] = r
			}
			n, _ := strconv.ParseInt(v, 10, 64)
			switch parts[4] {
			case fRequests:
				r.Requests = n
			case fErrors:
				r.Errors = n
			case fInput:
				r.InputTokens = n
			case fOutput:
				r.OutputTokens = n
			case fRead:
				r.CacheReadTokens = n
			case fWrite:
				r.CacheWriteTokens = n
			case fCost:
				r.CostUSD, _ = strconv.ParseFloat(v, 64)
			case fUnpriced:
				r.Unpriced = n
			}
		}
		for _, r := range rows {
			all.AddRow(*r)
		}
	}
	buffered, _ := l.rows.Rows(from, to)
	for _, r := range buffered {
		all.AddRow(r)
	}
	return all.Rows(from, to)
}

func (l *Ledger) spendKeys(scope, day, month string) []string {
	base := l.s.prefix + "{spend:" + scope + "}:"
	return []string{base + "d:" + day, base + "m:" + month}
}

// Reserve runs the spend script: check both periods and charge est, in one round trip. While the store is
// in fallback it answers an error at once (the caller admits).
func (l *Ledger) Reserve(scope string, now time.Time, est float64, perDay, perMonth float64) (usage.SpendHold, error) {
	h := usage.SpendHold{Scope: scope, Day: usage.Day(now), Month: usage.Month(now), Est: est}
	if !l.s.up.Load() {
		return usage.SpendHold{}, errFallback
	}
	keys := l.spendKeys(scope, h.Day, h.Month)
	l.mu.Lock()
	pd, pm := l.pending[keys[0]], l.pending[keys[1]]
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), l.s.timeout)
	defer cancel()
	v, err := spendScript.Run(ctx, l.s.c, keys, strconv.FormatFloat(est, 'f', -1, 64), strconv.FormatFloat(perDay, 'f', -1, 64),
		strconv.FormatFloat(perMonth, 'f', -1, 64), strconv.FormatFloat(pd, 'f', -1, 64), strconv.FormatFloat(pm, 'f', -1, 64),
		spendDayTTL.Milliseconds(), spendMonthTTL.Milliseconds()).StringSlice()
	if err != nil || len(v) != 2 {
		if err == nil {
			err = errors.New("spend script answered " + strconv.Itoa(len(v)) + " values, want 2")
		}
		l.s.fail("reserve", err)
		return usage.SpendHold{}, err
	}
	spent, _ := strconv.ParseFloat(v[1], 64)
	switch v[0] {
	case "day":
		return usage.SpendHold{}, &usage.SpendError{Scope: scope, Period: "day", Limit: perDay, Spent: spent, RetryAfter: usage.UntilNextDay(now)}
	case "month":
		return usage.SpendHold{}, &usage.SpendError{Scope: scope, Period: "month", Limit: perMonth, Spent: spent, RetryAfter: usage.UntilNextMonth(now)}
	}
	return h, nil
}

// Settle buffers the difference between the real cost and the estimate; the flusher writes it.
func (l *Ledger) Settle(h usage.SpendHold, actual float64) {
	if h.Scope == "" || actual == h.Est {
		return
	}
	keys := l.spendKeys(h.Scope, h.Day, h.Month)
	l.mu.Lock()
	l.pending[keys[0]] += actual - h.Est
	l.pending[keys[1]] += actual - h.Est
	l.mu.Unlock()
}

// Spent reads scope's spend in now's day and month, with what this process has not written yet.
func (l *Ledger) Spent(scope string, now time.Time) (day, month float64, err error) {
	keys := l.spendKeys(scope, usage.Day(now), usage.Month(now))
	ctx, cancel := context.WithTimeout(context.Background(), l.s.timeout)
	defer cancel()
	v, err := l.s.c.MGet(ctx, keys...).Result()
	if err != nil {
		return 0, 0, errors.New("the spend ledger in Redis cannot be read: " + l.s.describe(err))
	}
	num := func(x any) float64 {
		s, _ := x.(string)
		f, _ := strconv.ParseFloat(s, 64)
		return f
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return num(v[0]) + l.pending[keys[0]], num(v[1]) + l.pending[keys[1]], nil
}

// flusher writes the buffered usage and settlements every flushEvery, and once more at Close.
func (l *Ledger) flusher() {
	defer l.s.wg.Done()
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.flush()
		case <-l.s.stop:
			l.flush()
			return
		}
	}
}

// Flush writes what is buffered now (the flusher does it every second, and at Close).
func (l *Ledger) Flush() { l.flush() }

// flush writes what is buffered in one pipeline; what fails to be written goes back into the buffer.
func (l *Ledger) flush() {
	rows := l.rows.Take()
	l.mu.Lock()
	pending := l.pending
	l.pending = map[string]float64{}
	l.mu.Unlock()
	if len(rows) == 0 && len(pending) == 0 {
		return
	}
	putBack := func() {
		for _, r := range rows {
			l.rows.AddRow(r)
		}
		l.mu.Lock()
		for k, v := range pending {
			l.pending[k] += v
		}
		l.mu.Unlock()
	}
	if !l.s.up.Load() {
		putBack()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*l.s.timeout)
	defer cancel()
	pipe := l.s.c.TxPipeline() // all or nothing: a retry after a partial write would count twice
	days := map[string]bool{}
	for _, r := range rows {
		key := l.dayKey(r.Day)
		days[key] = true
		base := r.Key + "\t" + r.Group + "\t" + r.Model + "\t" + r.Target + "\t"
		for _, f := range []struct {
			name string
			n    int64
		}{{fRequests, r.Requests}, {fErrors, r.Errors}, {fInput, r.InputTokens}, {fOutput, r.OutputTokens},
			{fRead, r.CacheReadTokens}, {fWrite, r.CacheWriteTokens}, {fUnpriced, r.Unpriced}} {
			if f.n != 0 {
				pipe.HIncrBy(ctx, key, base+f.name, f.n)
			}
		}
		if r.CostUSD != 0 {
			pipe.HIncrByFloat(ctx, key, base+fCost, r.CostUSD)
		}
	}
	for key := range days {
		pipe.Expire(ctx, key, usageTTL)
	}
	for key, v := range pending {
		pipe.IncrByFloat(ctx, key, v)
		ttl := spendDayTTL
		if strings.Contains(key, "}:m:") {
			ttl = spendMonthTTL
		}
		pipe.Expire(ctx, key, ttl)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		putBack()
		l.s.fail("write", err)
	}
}
