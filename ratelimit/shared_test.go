package ratelimit

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeShared is a Shared that answers what the test sets and records what the table sends it.
type fakeShared struct {
	mu       sync.Mutex
	answer   SharedAnswer
	err      error // Reserve fails with it (the store cannot be reached)
	reserves int
	settles  []settle
	cools    []cool
}

type settle struct {
	Name             string
	Hold             Hold
	Requests, Tokens int
}

type cool struct {
	Name  string
	D     time.Duration
	Cause Cause
}

func (f *fakeShared) Reserve(name string, b Budget, need int) (SharedAnswer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reserves++
	return f.answer, f.err
}

func (f *fakeShared) Settle(name string, h Hold, requests, tokens int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settles = append(f.settles, settle{name, h, requests, tokens})
}

func (f *fakeShared) Cooldown(name string, d time.Duration, cause Cause) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cools = append(f.cools, cool{name, d, cause})
}

func newSharedTable(t *testing.T, b Budget, share float64) (*Table, *clock, *fakeShared) {
	t.Helper()
	c := newClock()
	f := &fakeShared{answer: SharedAnswer{Hold: Hold{Minute: 7, Day: 3}}}
	tb := New(WithClock(c.Now), WithJitter(func() float64 { return 0.5 }), WithShared(f, share))
	if err := tb.SetBudget(k1, b); err != nil {
		t.Fatal(err)
	}
	return tb, c, f
}

func TestSharedSettlesCommitAndCancel(t *testing.T) {
	tb, _, f := newSharedTable(t, Budget{TokensPerMinute: 100_000}, 0.5)
	name := SharedName(k1)
	r, err := tb.Reserve(k1, 1000, 4096, 5)
	if err != nil {
		t.Fatal(err)
	}
	r.Commit(1000, 300) // 1000 + 300×5 = 2500 of the 5096 reserved
	r.Commit(1000, 300) // a second end does nothing
	up, err := tb.Reserve(k1, 100, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	up.Commit(900, 0) // above the reservation: settled upward
	c, err := tb.Reserve(k1, 10, 20, 1)
	if err != nil {
		t.Fatal(err)
	}
	c.Cancel()
	same, err := tb.Reserve(k1, 10, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	same.Commit(10, 0) // no correction: nothing to send
	h := Hold{Minute: 7, Day: 3}
	want := []settle{{name, h, 0, -2596}, {name, h, 0, 800}, {name, h, -1, -30}}
	if diff := cmp.Diff(want, f.settles); diff != "" {
		t.Errorf("settlements (-want +got):\n%s", diff)
	}
	if f.reserves != 4 {
		t.Errorf("the store was asked %d times, want once per reservation (4)", f.reserves)
	}
}

func TestSharedRefusalIsTheStores(t *testing.T) {
	tb, c, f := newSharedTable(t, Budget{RequestsPerMinute: 10}, 0.5)
	// Other processes have used the budget: the store refuses, though this table's own windows are empty.
	f.answer = SharedAnswer{Err: ErrRequests, Wait: 42 * time.Second, MinuteRequests: 10}
	_, err := tb.Reserve(k1, 1, 1, 1)
	le := limitError(t, err)
	if !errors.Is(err, ErrRequests) || le.RetryAfter != 42*time.Second {
		t.Fatalf("got %v (retry after %s), want the store's ErrRequests with its 42s", err, le.RetryAfter)
	}
	if h := tb.Headroom(k1); h != 0 {
		t.Errorf("headroom after the store reported the minute full = %v, want 0", h)
	}
	if d := tb.EarliestFree(k1); d != 42*time.Second {
		t.Errorf("EarliestFree = %s, want the store's 42s", d)
	}
	c.Advance(2 * time.Second) // the store's view grows stale: the table goes by its own windows
	if h := tb.Headroom(k1); h != 1 {
		t.Errorf("headroom with a stale view = %v, want this table's own (1)", h)
	}

	// A cooldown another process set: it becomes this table's too, for Headroom and Snapshot, and is not
	// published back.
	f.answer = SharedAnswer{Err: ErrCoolingDown, Wait: 10 * time.Minute, Cooldown: 10 * time.Minute, Cause: CauseSetup}
	_, err = tb.Reserve(k1, 1, 1, 1)
	if le := limitError(t, err); !errors.Is(err, ErrCoolingDown) || le.Cause != CauseSetup {
		t.Fatalf("got %v, want ErrCoolingDown for setup", err)
	}
	st := tb.Snapshot()[0]
	if st.Cause != CauseSetup || st.CooldownUntil.Sub(c.Now()) != 10*time.Minute {
		t.Errorf("snapshot: cooldown %s until %v, want setup for 10m", st.Cause, st.CooldownUntil)
	}
	n := f.reserves
	if _, err := tb.Reserve(k1, 1, 1, 1); !errors.Is(err, ErrCoolingDown) || f.reserves != n {
		t.Errorf("got %v after %d store calls, want ErrCoolingDown from the table alone", err, f.reserves-n)
	}
	if len(f.cools) != 0 {
		t.Errorf("a mirrored cooldown was published: %+v", f.cools)
	}
}

func TestSharedFallbackAtShare(t *testing.T) {
	tb, c, f := newSharedTable(t, Budget{RequestsPerMinute: 4, TokensPerMinute: 1000}, 0.5)
	if _, err := tb.Reserve(k1, 1, 1, 1); err != nil {
		t.Fatal(err)
	}
	f.err = errors.New("connection refused")
	// Alone, the table allows itself half of each budget: 2 requests, the one made while shared included.
	r, err := tb.Reserve(k1, 1, 1, 1)
	if err != nil {
		t.Fatalf("fallback reservation: %v", err)
	}
	if _, err := tb.Reserve(k1, 1, 1, 1); !errors.Is(err, ErrRequests) {
		t.Fatalf("third request with the store down: got %v, want ErrRequests at half the budget", err)
	}
	r.Cancel()
	if len(f.settles) != 0 {
		t.Errorf("a fallback reservation was settled in the store: %+v", f.settles)
	}
	// A request the full budget takes but the share does not waits for an empty window, not ErrTooLarge.
	c.Advance(61 * time.Second)
	big, err := tb.Reserve(k1, 600, 0, 1)
	if err != nil {
		t.Fatalf("600 tokens in an empty window at half of 1000: %v", err)
	}
	big.Commit(600, 0)
	if _, err := tb.Reserve(k1, 600, 0, 1); !errors.Is(err, ErrTokens) {
		t.Errorf("a second 600: got %v, want ErrTokens", err)
	}
	f.err = nil
	c.Advance(61 * time.Second)
	if _, err := tb.Reserve(k1, 1, 1, 1); err != nil {
		t.Errorf("the store is back: %v", err)
	}
}

func TestSharedCooldownsPublished(t *testing.T) {
	tb, c, f := newSharedTable(t, Budget{}, 1)
	name := SharedName(k1)
	tb.Cooldown(k1, time.Time{}, CauseSetup)
	tb.Cooldown(k1, time.Time{}, CauseThrottled) // shorter than the running one: nothing new
	tb.Failure(k1, CauseDaily)                   // news of the same trouble while out: nothing new
	c.Advance(11 * time.Minute)
	tb.Failure(k1, CauseThrottled) // a soft backoff stays this process's
	tb.Failure(k1, CauseDaily)
	want := []cool{{name, 10 * time.Minute, CauseSetup}, {name, 15 * time.Minute, CauseDaily}}
	if diff := cmp.Diff(want, f.cools); diff != "" {
		t.Errorf("published cooldowns (-want +got):\n%s", diff)
	}

	f.cools = nil
	k2 := Key{Target: "acct2", Model: k1.Model}
	tb.Cooldown(k2, time.Time{}, CauseFault)
	tb.Success(k2)
	tb.Success(k2) // no fault cooldown left: nothing to end
	n2 := SharedName(k2)
	want = []cool{{n2, time.Second, CauseFault}, {n2, 0, CauseFault}}
	if diff := cmp.Diff(want, f.cools); diff != "" {
		t.Errorf("a fault cooldown and its end (-want +got):\n%s", diff)
	}
}

func TestSharedProbe(t *testing.T) {
	tb, c, f := newSharedTable(t, Budget{RequestsPerMinute: 100}, 1)
	if out := tb.Failure(k1, CauseSetup); !out.Hard {
		t.Fatalf("setup failure: got %+v, want a hard cooldown", out)
	}
	c.Advance(11 * time.Minute) // after it, one probe
	// The store refuses the probe: the next request probes instead.
	f.answer = SharedAnswer{Err: ErrRequests, Wait: time.Second}
	if _, err := tb.Reserve(k1, 1, 1, 1); !errors.Is(err, ErrRequests) {
		t.Fatalf("probe refused by the store: got %v", err)
	}
	f.answer = SharedAnswer{}
	probe, err := tb.Reserve(k1, 1, 1, 1)
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	if _, err := tb.Reserve(k1, 1, 1, 1); !errors.Is(err, ErrCoolingDown) {
		t.Errorf("while the probe is out: got %v, want ErrCoolingDown", err)
	}
	probe.Commit(1, 1)
	tb.Success(k1)
	if _, err := tb.Reserve(k1, 1, 1, 1); err != nil {
		t.Errorf("after the probe's success: %v", err)
	}
}

func TestBudgetShare(t *testing.T) {
	tests := []struct {
		b    Budget
		f    float64
		need int
		want Budget
	}{
		{Budget{RequestsPerMinute: 30, TokensPerMinute: 100_000, TokensPerDay: 1_000_000}, 0.5, 10,
			Budget{RequestsPerMinute: 15, TokensPerMinute: 50_000, TokensPerDay: 500_000}},
		{Budget{RequestsPerMinute: 1}, 0.5, 0, Budget{RequestsPerMinute: 1}},                                   // never 0 (unlimited)
		{Budget{TokensPerMinute: 1000}, 0.25, 800, Budget{TokensPerMinute: 800}},                               // room for the request
		{Budget{TokensPerMinute: 1000}, 0.25, 5000, Budget{TokensPerMinute: 1000}},                             // still too large
		{Budget{}, 0.5, 100, Budget{}},                                                                         // unlimited stays so
		{Budget{RequestsPerMinute: 3, TokensPerDay: 10}, 1, 1, Budget{RequestsPerMinute: 3, TokensPerDay: 10}}, // all of it
	}
	for _, tt := range tests {
		if got := tt.b.share(tt.f, tt.need); got != tt.want {
			t.Errorf("%+v.share(%v, %d) = %+v, want %+v", tt.b, tt.f, tt.need, got, tt.want)
		}
	}
}

// fakeNoticer is a fakeShared that also carries notices: it records the backoffs sent, and hands the table's
// listener to the test.
type fakeNoticer struct {
	fakeShared
	backoffs []cool
	listen   func(Notice)
}

func (f *fakeNoticer) Backoff(name string, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.backoffs = append(f.backoffs, cool{Name: name, D: d})
}

func (f *fakeNoticer) Listen(fn func(Notice)) { f.listen = fn }

// TestSharedNotices: a soft backoff is announced when it is set or grows and when a success ends it; another
// process's soft backoff and hard cooldown move traffic off the key here (headroom) without counting
// towards this table's failure streaks, and the end of a fault cooldown elsewhere ends it here.
func TestSharedNotices(t *testing.T) {
	c := newClock()
	f := &fakeNoticer{fakeShared: fakeShared{answer: SharedAnswer{Hold: Hold{Minute: 7, Day: 3}}}}
	tb := New(WithClock(c.Now), WithJitter(func() float64 { return 0.5 }), WithShared(f, 1))
	if f.listen == nil {
		t.Fatal("the table did not listen for notices")
	}
	b := Budget{RequestsPerMinute: 100}
	k2 := Key{Target: "acct2", Model: k1.Model}
	for _, k := range []Key{k1, k2} {
		if err := tb.SetBudget(k, b); err != nil {
			t.Fatal(err)
		}
	}
	name := SharedName(k1)

	tb.Failure(k1, CauseThrottled) // 1s soft backoff (jitter 0.5 → ×1)
	tb.Failure(k1, CauseThrottled) // during it: the same backoff, nothing new
	c.Advance(2 * time.Second)
	tb.Failure(k1, CauseFault) // after it: 2s
	tb.Success(k1)
	tb.Success(k1) // nothing to end
	want := []cool{{Name: name, D: time.Second}, {Name: name, D: 2 * time.Second}, {Name: name}}
	if diff := cmp.Diff(want, f.backoffs); diff != "" {
		t.Errorf("announced backoffs (-want +got):\n%s", diff)
	}

	// Another process's soft backoff: the key goes last, and this table's streak is untouched.
	f.listen(Notice{Name: SharedName(k2), For: 5 * time.Second})
	if h := tb.Headroom(k2); h > softFactor {
		t.Errorf("headroom during another process's backoff %v, want at most %v", h, softFactor)
	}
	c.Advance(6 * time.Second)
	if h := tb.Headroom(k2); h != 1 {
		t.Errorf("headroom after it %v, want 1", h)
	}
	f.listen(Notice{Name: SharedName(k2), For: 5 * time.Second})
	f.listen(Notice{Name: SharedName(k2)}) // its end: a success there
	if h := tb.Headroom(k2); h != 1 {
		t.Errorf("headroom after the backoff's end %v, want 1", h)
	}

	// A hard cooldown: out of rotation here too, with its cause; its end ends it.
	f.listen(Notice{Name: SharedName(k2), For: time.Minute, Hard: true, Cause: CauseFault})
	if h := tb.Headroom(k2); h != 0 {
		t.Errorf("headroom during another process's cooldown %v, want 0", h)
	}
	if _, err := tb.Reserve(k2, 1, 1, 1); !errors.Is(err, ErrCoolingDown) {
		t.Errorf("reserve during another process's cooldown: %v, want ErrCoolingDown", err)
	}
	f.listen(Notice{Name: SharedName(k2), Hard: true, Cause: CauseThrottled}) // the end of another cause's: kept
	if h := tb.Headroom(k2); h != 0 {
		t.Errorf("headroom after the end of a cooldown for another cause %v, want 0", h)
	}
	f.listen(Notice{Name: SharedName(k2), Hard: true, Cause: CauseFault})
	if h := tb.Headroom(k2); h != 1 {
		t.Errorf("headroom after the fault cooldown's end %v, want 1", h)
	}
	// The notices did not count as this table's own failures: no streak, so one failure is a 1s backoff.
	f.backoffs = nil
	tb.Failure(k2, CauseThrottled)
	if diff := cmp.Diff([]cool{{Name: SharedName(k2), D: time.Second}}, f.backoffs); diff != "" {
		t.Errorf("first own failure after notices (-want +got):\n%s", diff)
	}
	f.listen(Notice{Name: "tm:unknown/model", For: time.Minute, Hard: true, Cause: CauseFault}) // a key not here: ignored
}
