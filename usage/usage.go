// Package usage keeps what each caller used: requests, tokens (cache tokens apart), errors and their cost,
// per key × model × target × UTC day, and each key's and group's spend per UTC day and month for their
// money budgets. A [Store] is the relay's ledger: [Memory] keeps it in the process, a shared store
// (ratelimit/redisstore) in Redis, so that totals survive restarts and add up across replicas.
//
// Recording never blocks a request and never fails one: a store that cannot write keeps the totals and
// writes them later.
package usage

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Record is one request's use, as the relay saw it once the request ended.
type Record struct {
	Time time.Time
	// Key and Group name the caller's key and its group ("" for none, and for auth: none).
	Key, Group string
	// Model is the foundation-model id; Target the target that answered (or last failed; "" when none
	// was tried).
	Model, Target string
	// Error is set for a request that failed (whatever the cause: the caller's, the pool's or Bedrock's).
	Error bool
	// Tokens as Bedrock counts them: Input excludes the cached tokens read and written.
	InputTokens, OutputTokens, CacheReadTokens, CacheWriteTokens int64
	// CostUSD is the request's cost at the model's price; Priced is false when the model has no price
	// (the cost is then unknown, not zero).
	CostUSD float64
	Priced  bool
}

// Row is the totals of one key × model × target on one UTC day.
type Row struct {
	Day    string `json:"day"` // YYYY-MM-DD, UTC
	Key    string `json:"key"`
	Group  string `json:"group,omitempty"`
	Model  string `json:"model"`
	Target string `json:"target,omitempty"`

	Requests         int64   `json:"requests"`
	Errors           int64   `json:"errors"`
	InputTokens      int64   `json:"input_tokens"`
	OutputTokens     int64   `json:"output_tokens"`
	CacheReadTokens  int64   `json:"cache_read_tokens"`
	CacheWriteTokens int64   `json:"cache_write_tokens"`
	CostUSD          float64 `json:"cost_usd"`
	// Unpriced counts the requests of a model without a price: their cost is not in CostUSD.
	Unpriced int64 `json:"unpriced,omitempty"`
}

// RowKey is what a Row totals over.
type RowKey struct {
	Day, Key, Group, Model, Target string
}

// ID is what the row totals over.
func (r *Row) ID() RowKey { return RowKey{r.Day, r.Key, r.Group, r.Model, r.Target} }

// add adds rec to the row.
func (r *Row) add(rec Record) {
	r.Requests++
	if rec.Error {
		r.Errors++
	}
	r.InputTokens += rec.InputTokens
	r.OutputTokens += rec.OutputTokens
	r.CacheReadTokens += rec.CacheReadTokens
	r.CacheWriteTokens += rec.CacheWriteTokens
	if rec.Priced {
		r.CostUSD += rec.CostUSD
	} else if rec.InputTokens+rec.OutputTokens+rec.CacheReadTokens+rec.CacheWriteTokens > 0 {
		r.Unpriced++
	}
}

// Merge adds o's totals to r.
func (r *Row) Merge(o Row) {
	r.Requests += o.Requests
	r.Errors += o.Errors
	r.InputTokens += o.InputTokens
	r.OutputTokens += o.OutputTokens
	r.CacheReadTokens += o.CacheReadTokens
	r.CacheWriteTokens += o.CacheWriteTokens
	r.CostUSD += o.CostUSD
	r.Unpriced += o.Unpriced
}

// Day is t's UTC day as rows name it.
func Day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// Month is t's UTC month, YYYY-MM.
func Month(t time.Time) string { return t.UTC().Format("2006-01") }

// Store is a usage ledger.
type Store interface {
	// Add records one request. It must not block.
	Add(rec Record)
	// Rows returns the totals of the UTC days from..to (YYYY-MM-DD, both included), sorted by day, key,
	// model and target.
	Rows(from, to string) ([]Row, error)
}

// Spend is the ledger of money budgets: what each scope (a key, a group) has spent in the current UTC day
// and month, with the estimates of the requests under way reserved.
type Spend interface {
	// Reserve charges est USD to scope's day and month at now if limits allow it (a limit of 0 is none),
	// in one atomic step. A refusal is a *SpendError; another error means the ledger could not answer (the
	// caller then admits the request: a money budget is not worth failing requests over).
	Reserve(scope string, now time.Time, est float64, perDay, perMonth float64) (SpendHold, error)
	// Settle replaces a granted reservation's estimate with the real cost (it must not block).
	Settle(h SpendHold, actual float64)
	// Spent is what scope spent in now's day and month, reservations included.
	Spent(scope string, now time.Time) (day, month float64, err error)
}

// SpendHold is a granted reservation, for Settle.
type SpendHold struct {
	Scope, Day, Month string
	Est               float64
}

// SpendError is a refusal by a money budget.
type SpendError struct {
	Scope string
	// Period is "day" or "month"; Limit the budget, Spent what is spent and reserved of it.
	Period       string
	Limit, Spent float64
	// RetryAfter is how long until the period turns over (UTC).
	RetryAfter time.Duration
}

func (e *SpendError) Error() string {
	return fmt.Sprintf("%s has spent $%.2f of its $%.2f per %s budget", e.Scope, e.Spent, e.Limit, e.Period)
}

// ErrUnpriced is not an error of the ledger's: it is the reason a money budget cannot hold a model without a
// price, which callers report.
var ErrUnpriced = errors.New("usage: the model has no price, so a money budget cannot hold it")

// UntilNextDay and UntilNextMonth are how long from t until the UTC day and month turn over.
func UntilNextDay(t time.Time) time.Duration {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC).Sub(t)
}

func UntilNextMonth(t time.Time) time.Duration {
	t = t.UTC()
	return time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC).Sub(t)
}

// Memory is a Store and a Spend in the process. Its zero value is ready.
type Memory struct {
	mu    sync.Mutex
	rows  map[RowKey]*Row
	spend map[string]float64 // "scope\tday" and "scope\tmonth" → USD
}

var (
	_ Store = (*Memory)(nil)
	_ Spend = (*Memory)(nil)
)

// Add records rec.
func (m *Memory) Add(rec Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.row(RowKey{Day(rec.Time), rec.Key, rec.Group, rec.Model, rec.Target}).add(rec)
}

// AddRow adds a row's totals (a shared store's local buffer, merged into what it reads).
func (m *Memory) AddRow(o Row) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.row(o.ID()).Merge(o)
}

// row is k's row, made if needed. The caller holds m.mu.
func (m *Memory) row(k RowKey) *Row {
	if m.rows == nil {
		m.rows = map[RowKey]*Row{}
	}
	r := m.rows[k]
	if r == nil {
		r = &Row{Day: k.Day, Key: k.Key, Group: k.Group, Model: k.Model, Target: k.Target}
		m.rows[k] = r
	}
	return r
}

// Rows returns the rows of from..to.
func (m *Memory) Rows(from, to string) ([]Row, error) {
	if err := checkRange(from, to); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Row
	for k, r := range m.rows {
		if k.Day >= from && k.Day <= to {
			out = append(out, *r)
		}
	}
	Sort(out)
	return out, nil
}

// Take removes and returns every row (a shared store flushing its buffer).
func (m *Memory) Take() []Row {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Row, 0, len(m.rows))
	for _, r := range m.rows {
		out = append(out, *r)
	}
	m.rows = nil
	return out
}

// Reserve charges est to scope's day and month.
func (m *Memory) Reserve(scope string, now time.Time, est float64, perDay, perMonth float64) (SpendHold, error) {
	h := SpendHold{Scope: scope, Day: Day(now), Month: Month(now), Est: est}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.spend == nil {
		m.spend = map[string]float64{}
	}
	day, month := m.spend[scope+"\t"+h.Day], m.spend[scope+"\t"+h.Month]
	if err := Check(scope, now, day, month, est, perDay, perMonth); err != nil {
		return SpendHold{}, err
	}
	m.spend[scope+"\t"+h.Day] = day + est
	m.spend[scope+"\t"+h.Month] = month + est
	return h, nil
}

// Settle corrects a reservation.
func (m *Memory) Settle(h SpendHold, actual float64) {
	if h.Scope == "" || actual == h.Est {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.spend[h.Scope+"\t"+h.Day] += actual - h.Est
	m.spend[h.Scope+"\t"+h.Month] += actual - h.Est
}

// Spent is scope's spend in now's day and month.
func (m *Memory) Spent(scope string, now time.Time) (day, month float64, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.spend[scope+"\t"+Day(now)], m.spend[scope+"\t"+Month(now)], nil
}

// Check is the money budgets' rule, for every Spend: est is refused when it would take the day's or the
// month's spend (reservations included) over its limit; a limit of 0 is none. A request is refused only
// when the budget is already spent or est does not fit; the first request of a period always fits unless
// its estimate alone is over the limit.
func Check(scope string, now time.Time, day, month, est, perDay, perMonth float64) error {
	if perDay > 0 && day+est > perDay {
		return &SpendError{Scope: scope, Period: "day", Limit: perDay, Spent: day, RetryAfter: UntilNextDay(now)}
	}
	if perMonth > 0 && month+est > perMonth {
		return &SpendError{Scope: scope, Period: "month", Limit: perMonth, Spent: month, RetryAfter: UntilNextMonth(now)}
	}
	return nil
}

// Sort orders rows by day, key, model and target.
func Sort(rows []Row) {
	slices.SortFunc(rows, func(a, b Row) int {
		for _, c := range [][2]string{{a.Day, b.Day}, {a.Key, b.Key}, {a.Model, b.Model}, {a.Target, b.Target}, {a.Group, b.Group}} {
			if n := strings.Compare(c[0], c[1]); n != 0 {
				return n
			}
		}
		return 0
	})
}

// MaxDays bounds a query's range.
const MaxDays = 400

func checkRange(from, to string) error {
	f, err := time.Parse(time.DateOnly, from)
	if err != nil {
		return fmt.Errorf("usage: from %q: want YYYY-MM-DD", from)
	}
	t, err := time.Parse(time.DateOnly, to)
	if err != nil {
		return fmt.Errorf("usage: to %q: want YYYY-MM-DD", to)
	}
	if t.Before(f) {
		return fmt.Errorf("usage: to %s is before from %s", to, from)
	}
	if t.Sub(f) > MaxDays*24*time.Hour {
		return fmt.Errorf("usage: %s..%s is more than %d days", from, to, MaxDays)
	}
	return nil
}

// Days lists the days of from..to (checked as Rows checks them).
func Days(from, to string) ([]string, error) {
	if err := checkRange(from, to); err != nil {
		return nil, err
	}
	f, _ := time.Parse(time.DateOnly, from)
	t, _ := time.Parse(time.DateOnly, to)
	var out []string
	for d := f; !d.After(t); d = d.AddDate(0, 0, 1) {
		out = append(out, d.Format(time.DateOnly))
	}
	return out, nil
}
