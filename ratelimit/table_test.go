package ratelimit

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// clock is a fake clock safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var k1 = Key{Target: "acct1-us-east-1", Model: "anthropic.claude-sonnet-4-5"}

func newTable(t *testing.T, b Budget) (*Table, *clock) {
	t.Helper()
	c := newClock()
	tb := New(WithClock(c.Now))
	if err := tb.SetBudget(k1, b); err != nil {
		t.Fatal(err)
	}
	return tb, c
}

// limitError returns the LimitError in err, failing the test if there is none.
func limitError(t *testing.T, err error) *LimitError {
	t.Helper()
	var le *LimitError
	if !errors.As(err, &le) {
		t.Fatalf("got error %v, want a *LimitError", err)
	}
	return le
}

// step is one action in a scripted test: advance the clock, then reserve (and optionally commit or cancel
// an earlier reservation) and check the outcome.
type step struct {
	after     time.Duration // advance the clock first
	input     int
	maxTokens int
	wantErr   error         // nil: the reservation must succeed
	wantRetry time.Duration // checked when wantErr is set
}

func runSteps(t *testing.T, tb *Table, c *clock, burndown int, steps []step) []Reservation {
	t.Helper()
	var got []Reservation
	for i, s := range steps {
		c.Advance(s.after)
		r, err := tb.Reserve(k1, s.input, s.maxTokens, burndown)
		if s.wantErr == nil {
			if err != nil {
				t.Fatalf("step %d: got %v, want success", i, err)
			}
			got = append(got, r)
			continue
		}
		if !errors.Is(err, s.wantErr) {
			t.Fatalf("step %d: got %v, want %v", i, err, s.wantErr)
		}
		if le := limitError(t, err); le.RetryAfter != s.wantRetry {
			t.Errorf("step %d: RetryAfter = %v, want %v", i, le.RetryAfter, s.wantRetry)
		}
	}
	return got
}

func TestReserveBudgets(t *testing.T) {
	tests := []struct {
		name   string
		budget Budget
		steps  []step
	}{
		{
			name:   "RPM 2: third in the minute waits for the first to leave",
			budget: Budget{RequestsPerMinute: 2},
			steps: []step{
				{after: 0},
				{after: 10 * time.Second},
				{after: 10 * time.Second, wantErr: ErrRequests, wantRetry: 40 * time.Second},
				{after: 39 * time.Second, wantErr: ErrRequests, wantRetry: time.Second},
				{after: time.Second},
				{after: 0, wantErr: ErrRequests, wantRetry: 10 * time.Second},
			},
		},
		{
			name:   "RPM counts within a bucket by its latest request",
			budget: Budget{RequestsPerMinute: 2},
			steps: []step{
				{after: 100 * time.Millisecond},
				{after: 500 * time.Millisecond},
				{after: time.Second, wantErr: ErrRequests, wantRetry: 59 * time.Second}, // 0.6s + 60s - 1.6s
			},
		},
		{
			name:   "TPM: input + max_tokens reserved",
			budget: Budget{TokensPerMinute: 10_000},
			steps: []step{
				{input: 1000, maxTokens: 4000},
				{after: 5 * time.Second, input: 1000, maxTokens: 4000},
				{after: 5 * time.Second, input: 1, maxTokens: 0, wantErr: ErrTokens, wantRetry: 50 * time.Second},
				{after: 50 * time.Second, input: 1000, maxTokens: 4000},
				{input: 1, wantErr: ErrTokens, wantRetry: 5 * time.Second},
				{input: 1000, maxTokens: 4001, wantErr: ErrTokens, wantRetry: time.Minute},
			},
		},
		{
			name:   "TPM: larger than the budget never fits",
			budget: Budget{TokensPerMinute: 10_000},
			steps:  []step{{input: 2000, maxTokens: 8001, wantErr: ErrTooLarge, wantRetry: 0}},
		},
		{
			name:   "TPD: rolling 24 hours",
			budget: Budget{TokensPerDay: 100_000},
			steps: []step{
				{input: 10_000, maxTokens: 50_000},
				{after: 6 * time.Hour, input: 10_000, maxTokens: 30_000},
				{after: time.Hour, input: 1, wantErr: ErrDaily, wantRetry: 17 * time.Hour},
				{after: 17 * time.Hour, input: 60_000},
			},
		},
		{
			name:   "the budget that frees last is reported",
			budget: Budget{RequestsPerMinute: 2, TokensPerMinute: 1000},
			steps: []step{
				{input: 50},
				{after: 20 * time.Second, input: 850},
				{after: 10 * time.Second, input: 200, wantErr: ErrTokens, wantRetry: 50 * time.Second},
				{input: 10, wantErr: ErrRequests, wantRetry: 30 * time.Second},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, c := newTable(t, tt.budget)
			runSteps(t, tb, c, 1, tt.steps)
		})
	}
}

func TestCommitCorrectsWithBurndown(t *testing.T) {
	tb, c := newTable(t, Budget{TokensPerMinute: 10_000})
	first, err := tb.Reserve(k1, 1000, 4000, 5) // reserves 5000
	if err != nil {
		t.Fatal(err)
	}
	// 5000 + 6000 does not fit while the first is charged at its max_tokens.
	if _, err := tb.Reserve(k1, 1000, 5000, 5); !errors.Is(err, ErrTokens) {
		t.Fatalf("before commit: got %v, want ErrTokens", err)
	}
	c.Advance(2 * time.Second)
	first.Commit(1000, 100) // 1000 + 100×5 = 1500
	if got := tb.Snapshot()[0].MinuteTokens; got != 1500 {
		t.Errorf("after commit: minute tokens = %d, want 1500", got)
	}
	second, err := tb.Reserve(k1, 1000, 5000, 5) // 1500 + 6000 fits
	if err != nil {
		t.Fatalf("after commit: got %v, want success", err)
	}
	// A correction may exceed the reservation: 1000 + 2000×5 = 11000 against 6000 reserved.
	second.Commit(1000, 2000)
	s := tb.Snapshot()[0]
	if s.MinuteTokens != 12_500 || s.DayTokens != 12_500 || s.InFlight != 0 || s.InFlightTokens != 0 {
		t.Errorf("after overrun: got %+v, want 12500 minute and day tokens, nothing in flight", s)
	}
	_, err = tb.Reserve(k1, 1, 0, 5)
	if le := limitError(t, err); le.Err != ErrTokens || le.RetryAfter != 60*time.Second {
		t.Errorf("after overrun: got %v, want ErrTokens after 60s (both must leave)", err)
	}
	// Committing twice, or a copy, changes nothing.
	cp := second
	second.Commit(0, 0)
	cp.Commit(0, 0)
	if got := tb.Snapshot()[0].MinuteTokens; got != 12_500 {
		t.Errorf("after second commit: minute tokens = %d, want 12500", got)
	}
}

func TestCancelFreesCapacity(t *testing.T) {
	tb, c := newTable(t, Budget{RequestsPerMinute: 1, TokensPerMinute: 1000, TokensPerDay: 5000})
	r, err := tb.Reserve(k1, 100, 800, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Reserve(k1, 1, 1, 1); !errors.Is(err, ErrRequests) {
		t.Fatalf("got %v, want ErrRequests", err)
	}
	c.Advance(3 * time.Second)
	r.Cancel()
	r.Cancel()
	r.Commit(100, 100) // after Cancel: no effect
	want := State{Key: k1, Budget: Budget{1, 1000, 5000}, Headroom: 1}
	if diff := cmp.Diff(want, tb.Snapshot()[0]); diff != "" {
		t.Errorf("after cancel (-want +got):\n%s", diff)
	}
	if _, err := tb.Reserve(k1, 100, 900, 1); err != nil {
		t.Fatalf("after cancel: got %v, want success", err)
	}
	var zero Reservation
	zero.Commit(1, 1)
	zero.Cancel()
}

func TestCommitAfterWindowLeft(t *testing.T) {
	tb, c := newTable(t, Budget{TokensPerMinute: 1000})
	r, err := tb.Reserve(k1, 100, 900, 5)
	if err != nil {
		t.Fatal(err)
	}
	c.Advance(90 * time.Second) // a long stream: the reservation has left the minute window
	r.Commit(100, 100)
	s := tb.Snapshot()[0]
	if s.MinuteTokens != 0 || s.DayTokens != 600 {
		t.Errorf("got minute %d day %d tokens, want 0 and 600", s.MinuteTokens, s.DayTokens)
	}
}

func TestCooldown(t *testing.T) {
	tests := []struct {
		name  string
		usage []time.Duration // reservations of 1000 tokens, this long before the cooldown
		until time.Duration   // from now; 0 passes the zero time
		cause Cause
		want  time.Duration
	}{
		{name: "throttled, empty window: the minimum", cause: CauseThrottled, want: 5 * time.Second},
		{name: "throttled: until the oldest leaves", usage: []time.Duration{20 * time.Second, 10 * time.Second},
			cause: CauseThrottled, want: 40 * time.Second},
		{name: "throttled: oldest about to leave, the minimum", usage: []time.Duration{58 * time.Second},
			cause: CauseThrottled, want: 5 * time.Second},
		{name: "throttled: a later until is kept", cause: CauseThrottled, until: 30 * time.Second, want: 30 * time.Second},
		{name: "daily, empty window: the minimum", cause: CauseDaily, want: 15 * time.Minute},
		{name: "daily: until the oldest tokens leave", usage: []time.Duration{5 * time.Hour, time.Hour},
			cause: CauseDaily, want: 19 * time.Hour},
		{name: "setup", cause: CauseSetup, want: 10 * time.Minute},
		{name: "setup: a later until is kept", cause: CauseSetup, until: time.Hour, want: time.Hour},
		{name: "fault: first", cause: CauseFault, want: time.Second},
		{name: "none: until alone", cause: CauseNone, until: 7 * time.Second, want: 7 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, c := newTable(t, Budget{})
			// usage is "this long ago", oldest first: replay it, then stand at now.
			now := c.Now()
			if len(tt.usage) > 0 {
				now = now.Add(tt.usage[0])
			}
			for _, ago := range tt.usage {
				c.Advance(now.Add(-ago).Sub(c.Now()))
				r, err := tb.Reserve(k1, 1000, 0, 1)
				if err != nil {
					t.Fatal(err)
				}
				r.Commit(1000, 0)
			}
			c.Advance(now.Sub(c.Now()))
			var until time.Time
			if tt.until > 0 {
				until = now.Add(tt.until)
			}
			got := tb.Cooldown(k1, until, tt.cause)
			if got.Sub(now) != tt.want {
				t.Errorf("cooldown = %v, want %v", got.Sub(now), tt.want)
			}

			_, err := tb.Reserve(k1, 1, 1, 1)
			le := limitError(t, err)
			if le.Err != ErrCoolingDown || le.Cause != tt.cause || le.RetryAfter != tt.want {
				t.Errorf("reserve while cooling: got %v (cause %v, retry %v), want ErrCoolingDown, %v, %v",
					err, le.Cause, le.RetryAfter, tt.cause, tt.want)
			}
			if h := tb.Headroom(k1); h != 0 {
				t.Errorf("headroom while cooling = %v, want 0", h)
			}
			if s := tb.Snapshot()[0]; !s.CooldownUntil.Equal(got) || s.Cause != tt.cause {
				t.Errorf("snapshot: got until %v cause %v, want %v %v", s.CooldownUntil, s.Cause, got, tt.cause)
			}

			c.Advance(tt.want)
			if _, err := tb.Reserve(k1, 1, 1, 1); err != nil {
				t.Errorf("after the cooldown: got %v, want success", err)
			}
			if s := tb.Snapshot()[0]; !s.CooldownUntil.IsZero() || s.Cause != CauseNone {
				t.Errorf("snapshot after the cooldown: got until %v cause %v, want zero", s.CooldownUntil, s.Cause)
			}
		})
	}
}

func TestCooldownKeepsLongest(t *testing.T) {
	tb, c := newTable(t, Budget{})
	now := c.Now()
	tb.Cooldown(k1, time.Time{}, CauseSetup)
	if got := tb.Cooldown(k1, time.Time{}, CauseThrottled); got.Sub(now) != 10*time.Minute {
		t.Errorf("throttle during setup cooldown: ends after %v, want 10m", got.Sub(now))
	}
	_, err := tb.Reserve(k1, 1, 1, 1)
	if le := limitError(t, err); le.Cause != CauseSetup {
		t.Errorf("cause = %v, want setup", le.Cause)
	}
}

func TestCooldownRetryAfterCountsBudget(t *testing.T) {
	tb, c := newTable(t, Budget{RequestsPerMinute: 1})
	if _, err := tb.Reserve(k1, 1, 1, 1); err != nil {
		t.Fatal(err)
	}
	c.Advance(10 * time.Second)
	tb.Cooldown(k1, time.Time{}, CauseFault) // 1s, but the RPM frees in 50s
	_, err := tb.Reserve(k1, 1, 1, 1)
	if le := limitError(t, err); le.Err != ErrCoolingDown || le.RetryAfter != 50*time.Second {
		t.Errorf("got %v, want ErrCoolingDown with RetryAfter 50s", err)
	}
}

func TestFaultBackoff(t *testing.T) {
	tb, c := newTable(t, Budget{})
	cool := func() time.Duration {
		now := c.Now()
		d := tb.Cooldown(k1, time.Time{}, CauseFault).Sub(now)
		c.Advance(d)
		return d
	}
	var got []time.Duration
	for range 7 {
		got = append(got, cool())
	}
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30}
	for i := range want {
		want[i] *= time.Second
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("backoff (-want +got):\n%s", diff)
	}
	if f := tb.Snapshot()[0].Faults; f != 7 {
		t.Errorf("faults = %d, want 7", f)
	}

	tb.Success(k1)
	if d := cool(); d != time.Second {
		t.Errorf("after success: backoff %v, want 1s", d)
	}
	cool()
	// Success ends a running fault cooldown, not others.
	tb.Cooldown(k1, time.Time{}, CauseFault)
	tb.Success(k1)
	if _, err := tb.Reserve(k1, 1, 1, 1); err != nil {
		t.Errorf("after success: got %v, want success", err)
	}
	tb.Cooldown(k1, time.Time{}, CauseThrottled)
	tb.Success(k1)
	if _, err := tb.Reserve(k1, 1, 1, 1); !errors.Is(err, ErrCoolingDown) {
		t.Errorf("success during a throttle cooldown: got %v, want ErrCoolingDown", err)
	}
	tb.Success(Key{Target: "never-seen"})
}

func TestCooldownOptions(t *testing.T) {
	c := newClock()
	tb := New(WithClock(c.Now), WithCooldowns(Cooldowns{Setup: time.Hour, FaultBase: 100 * time.Millisecond}))
	now := c.Now()
	if got := tb.Cooldown(k1, time.Time{}, CauseSetup).Sub(now); got != time.Hour {
		t.Errorf("setup: %v, want 1h", got)
	}
	k2 := Key{Target: "t2", Model: "m"}
	if got := tb.Cooldown(k2, time.Time{}, CauseFault).Sub(now); got != 100*time.Millisecond {
		t.Errorf("fault: %v, want 100ms", got)
	}
	if got := tb.Cooldown(k2, time.Time{}, CauseThrottled).Sub(now); got != 5*time.Second {
		t.Errorf("throttled keeps its default: %v, want 5s", got)
	}
}

func TestHeadroom(t *testing.T) {
	type load struct {
		budget   Budget
		inFlight int // reservations of 1000 tokens left outstanding
		done     int // reservations of 1000 tokens committed
	}
	tests := []struct {
		name string
		a, b load
		want float64 // headroom of a
		less bool    // a has less headroom than b
	}{
		{name: "same budget, more in flight is lower",
			a:    load{budget: Budget{RequestsPerMinute: 100}, inFlight: 10},
			b:    load{budget: Budget{RequestsPerMinute: 100}, inFlight: 5},
			want: 0.9, less: true},
		{name: "larger budget wins at equal load",
			a:    load{budget: Budget{RequestsPerMinute: 50, TokensPerMinute: 100_000}, inFlight: 5},
			b:    load{budget: Budget{RequestsPerMinute: 500, TokensPerMinute: 1_000_000}, inFlight: 5},
			want: 0.9, less: true},
		{name: "tightest budget counts: tokens",
			a:    load{budget: Budget{RequestsPerMinute: 1000, TokensPerMinute: 20_000}, done: 15},
			b:    load{budget: Budget{RequestsPerMinute: 100, TokensPerMinute: 1_000_000}, done: 15},
			want: 0.25, less: true},
		{name: "committed requests count like in-flight ones",
			a:    load{budget: Budget{RequestsPerMinute: 10}, done: 5},
			b:    load{budget: Budget{RequestsPerMinute: 10}, inFlight: 4},
			want: 0.5, less: true},
		{name: "unlimited is plenty",
			a:    load{budget: Budget{RequestsPerMinute: 100}, inFlight: 1},
			b:    load{budget: Budget{}, inFlight: 1},
			want: 0.99, less: true},
		{name: "unlimited still spreads load",
			a:    load{budget: Budget{}, inFlight: 100},
			b:    load{budget: Budget{}, inFlight: 10},
			want: 0.5, less: true},
		{name: "a lightly used limited target beats a busy unlimited one",
			a:    load{budget: Budget{}, inFlight: 50},
			b:    load{budget: Budget{RequestsPerMinute: 100, TokensPerMinute: 1_000_000, TokensPerDay: 10_000_000}, inFlight: 10},
			want: 100.0 / 150, less: true},
		{name: "exhausted",
			a:    load{budget: Budget{TokensPerMinute: 5000}, inFlight: 5},
			b:    load{budget: Budget{TokensPerMinute: 5000}, inFlight: 4},
			want: 0, less: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			tb := New(WithClock(c.Now))
			ka, kb := Key{Target: "a", Model: "m"}, Key{Target: "b", Model: "m"}
			for _, x := range []struct {
				k Key
				l load
			}{{ka, tt.a}, {kb, tt.b}} {
				if err := tb.SetBudget(x.k, x.l.budget); err != nil {
					t.Fatal(err)
				}
				for range x.l.inFlight {
					if _, err := tb.Reserve(x.k, 1000, 0, 1); err != nil {
						t.Fatal(err)
					}
				}
				for range x.l.done {
					r, err := tb.Reserve(x.k, 1000, 0, 1)
					if err != nil {
						t.Fatal(err)
					}
					r.Commit(1000, 0)
				}
			}
			ha, hb := tb.Headroom(ka), tb.Headroom(kb)
			if diff := ha - tt.want; diff > 1e-9 || diff < -1e-9 {
				t.Errorf("headroom(a) = %v, want %v", ha, tt.want)
			}
			if (ha < hb) != tt.less {
				t.Errorf("headroom(a) = %v, headroom(b) = %v, want a < b: %v", ha, hb, tt.less)
			}
		})
	}
	tb := New()
	if h := tb.Headroom(Key{Target: "never-seen"}); h != 1 {
		t.Errorf("unknown key: headroom %v, want 1", h)
	}
}

func TestEarliestFree(t *testing.T) {
	c := newClock()
	tb := New(WithClock(c.Now))
	ka, kb, kc := Key{"a", "m"}, Key{"b", "m"}, Key{"c", "m"}
	for _, k := range []Key{ka, kb, kc} {
		if err := tb.SetBudget(k, Budget{RequestsPerMinute: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := tb.Reserve(k, 1, 1, 1); err != nil {
			t.Fatal(err)
		}
		c.Advance(10 * time.Second)
	}
	// a frees at 60s, b at 70s, c at 80s; now is 30s.
	tb.Cooldown(ka, time.Time{}, CauseSetup)
	tests := []struct {
		keys []Key
		want time.Duration
	}{
		{[]Key{ka, kb, kc}, 40 * time.Second},
		{[]Key{kc}, 50 * time.Second},
		{[]Key{ka}, 10 * time.Minute},
		{[]Key{ka, {"never-seen", "m"}}, 0},
		{nil, 0},
	}
	for _, tt := range tests {
		if got := tb.EarliestFree(tt.keys...); got != tt.want {
			t.Errorf("EarliestFree(%v) = %v, want %v", tt.keys, got, tt.want)
		}
	}
	c.Advance(40 * time.Second)
	if got := tb.EarliestFree(ka, kb, kc); got != 0 {
		t.Errorf("EarliestFree after 40s = %v, want 0", got)
	}
}

func TestSetBudget(t *testing.T) {
	tb, _ := newTable(t, Budget{RequestsPerMinute: 10})
	for range 5 {
		if _, err := tb.Reserve(k1, 1, 1, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := tb.SetBudget(k1, Budget{RequestsPerMinute: 3}); err != nil {
		t.Fatal(err)
	}
	_, err := tb.Reserve(k1, 1, 1, 1)
	if le := limitError(t, err); le.Err != ErrRequests || le.RetryAfter != time.Minute {
		t.Errorf("after lowering: got %v, want ErrRequests after 1m", err)
	}
	if err := tb.SetBudget(k1, Budget{TokensPerMinute: -1}); err == nil {
		t.Error("negative budget: got nil error")
	}
	if got := tb.Snapshot()[0].Budget; got != (Budget{RequestsPerMinute: 3}) {
		t.Errorf("budget after a refused SetBudget = %+v, want the previous one", got)
	}
}

func TestSnapshotSorted(t *testing.T) {
	c := newClock()
	tb := New(WithClock(c.Now))
	for _, k := range []Key{{"b", "y"}, {"a", "z"}, {"b", "x"}} {
		if _, err := tb.Reserve(k, 10, 20, 1); err != nil {
			t.Fatal(err)
		}
	}
	got := tb.Snapshot()
	var keys []Key
	for _, s := range got {
		keys = append(keys, s.Key)
	}
	if diff := cmp.Diff([]Key{{"a", "z"}, {"b", "x"}, {"b", "y"}}, keys); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	want := State{Key: Key{"a", "z"}, InFlight: 1, InFlightTokens: 30, MinuteRequests: 1, MinuteTokens: 30,
		DayTokens: 30, Headroom: 100.0 / 101}
	if diff := cmp.Diff(want, got[0]); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}
}

func TestClockStepsBack(t *testing.T) {
	tb, c := newTable(t, Budget{RequestsPerMinute: 1})
	c.Advance(time.Minute)
	if _, err := tb.Reserve(k1, 1, 1, 1); err != nil {
		t.Fatal(err)
	}
	c.Advance(-2 * time.Minute) // before the table's epoch, too
	_, err := tb.Reserve(k1, 1, 1, 1)
	if le := limitError(t, err); le.RetryAfter != time.Minute {
		t.Errorf("got %v, want ErrRequests after 1m (time held at the latest reading)", err)
	}
}

func TestConcurrentNeverExceedsRPM(t *testing.T) {
	const rpm, workers, tries = 100, 32, 50
	tb, c := newTable(t, Budget{RequestsPerMinute: rpm, TokensPerMinute: 1_000_000})
	var ok atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range tries {
				r, err := tb.Reserve(k1, 100, 100, 5)
				if err != nil {
					if !errors.Is(err, ErrRequests) {
						t.Errorf("got %v, want ErrRequests", err)
					}
					continue
				}
				ok.Add(1)
				if (w+i)%2 == 0 {
					r.Commit(100, 10)
				}
				r.Commit(100, 10) // the second call is a no-op
				_ = tb.Headroom(k1)
			}
		})
	}
	wg.Wait()
	if got := ok.Load(); got != rpm {
		t.Errorf("with the clock stopped: %d reservations, want %d", got, rpm)
	}

	// With time moving and cancels freeing slots, the window never holds more than the budget.
	var stop atomic.Bool
	var clk sync.WaitGroup
	clk.Go(func() {
		for !stop.Load() {
			c.Advance(100 * time.Millisecond)
			time.Sleep(10 * time.Microsecond)
		}
	})
	for w := range workers {
		wg.Go(func() {
			for i := range tries * 4 {
				r, err := tb.Reserve(k1, 100, 100, 5)
				if err == nil {
					if (w+i)%3 == 0 {
						r.Cancel()
					} else {
						r.Commit(100, 10)
					}
				}
				for _, s := range tb.Snapshot() {
					if s.MinuteRequests > rpm {
						t.Errorf("minute window holds %d requests, budget %d", s.MinuteRequests, rpm)
					}
				}
			}
		})
	}
	wg.Wait()
	stop.Store(true)
	clk.Wait()
	if s := tb.Snapshot()[0]; s.InFlight != 0 || s.InFlightTokens != 0 {
		t.Errorf("after all committed: %d in flight (%d tokens), want 0", s.InFlight, s.InFlightTokens)
	}
}

func TestErrorMessages(t *testing.T) {
	tb, _ := newTable(t, Budget{RequestsPerMinute: 1, TokensPerMinute: 100})
	if _, err := tb.Reserve(k1, 1, 1, 1); err != nil {
		t.Fatal(err)
	}
	_, tooLarge := tb.Reserve(k1, 1, 1000, 1)
	_, requests := tb.Reserve(k1, 1, 1, 1)
	tb.Cooldown(k1, time.Time{}, CauseSetup)
	_, setup := tb.Reserve(k1, 1, 1, 1)
	tests := []struct {
		err  error
		want string
	}{
		{requests, "acct1-us-east-1/anthropic.claude-sonnet-4-5: requests-per-minute budget exhausted, retry after 1m0s"},
		{tooLarge, "acct1-us-east-1/anthropic.claude-sonnet-4-5: request needs more tokens than the budget allows; " +
			"lower max_tokens or use a target with a larger budget"},
		{setup, "acct1-us-east-1/anthropic.claude-sonnet-4-5: cooling down for 10m0s after a setup error " +
			"(access denied or model not enabled); check the role's bedrock:InvokeModel permission and the account's model access"},
	}
	for _, tt := range tests {
		if tt.err == nil || tt.err.Error() != tt.want {
			t.Errorf("got %v\nwant %s", tt.err, tt.want)
		}
	}
	err := Budget{RequestsPerMinute: -1, TokensPerDay: -2}.Validate()
	want := "RequestsPerMinute is -1: use 0 for unlimited or a positive budget\n" +
		"TokensPerDay is -2: use 0 for unlimited or a positive budget"
	if err == nil || err.Error() != want {
		t.Errorf("Validate: got %v, want %s", err, want)
	}
	if got := CauseDaily.String(); got != "daily" {
		t.Errorf("CauseDaily.String() = %q, want daily", got)
	}
}
