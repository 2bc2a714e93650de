package ratelimit

import (
	"errors"
	"testing"
	"time"
)

// newPolicyTable is a table with a fake clock and no jitter (the factor is exactly 1).
func newPolicyTable(t *testing.T, b Budget) (*Table, *clock) {
	t.Helper()
	c := newClock()
	tb := New(WithClock(c.Now), WithJitter(func() float64 { return 0.5 }))
	if err := tb.SetBudget(k1, b); err != nil {
		t.Fatal(err)
	}
	return tb, c
}

func TestFailureSoftBackoffKeepsKeyUsable(t *testing.T) {
	for _, cause := range []Cause{CauseThrottled, CauseFault} {
		t.Run(cause.String(), func(t *testing.T) {
			tb, c := newPolicyTable(t, Budget{RequestsPerMinute: 100})
			out := tb.Failure(k1, cause)
			if out.Hard || out.Until.Sub(c.Now()) != time.Second {
				t.Fatalf("first failure: got %+v, want a soft backoff of 1s", out)
			}
			if h := tb.Headroom(k1); h <= 0 || h > softFactor {
				t.Errorf("headroom in soft backoff = %v, want above 0 and at most %v", h, softFactor)
			}
			r, err := tb.Reserve(k1, 1, 1, 1)
			if err != nil {
				t.Fatalf("a key in soft backoff must still take requests: %v", err)
			}
			r.Commit(1, 1)
			tb.Success(k1)
			if h := tb.Headroom(k1); h < 0.9 {
				t.Errorf("headroom after a success = %v, want the budget's", h)
			}
		})
	}
}

func TestFailureTripsAfterRepeatedFailures(t *testing.T) {
	tb, c := newPolicyTable(t, Budget{})
	var out Outcome
	fail := func() {
		out = tb.Failure(k1, CauseFault)
		if !out.Hard {
			c.Advance(out.Until.Sub(c.Now())) // the next failure comes once the backoff has run out
		}
	}
	for i := 1; i <= DefaultPolicy.TripStreak; i++ {
		fail()
		if i < DefaultPolicy.TripStreak && out.Hard {
			t.Fatalf("failure %d: tripped already (the ratio is still low)", i)
		}
	}
	// Three failures raise the moving ratio only to ~0.14: a few in a row on a healthy key stay soft.
	if out.Hard {
		t.Fatalf("3 failures after a clean history: got a hard cooldown, want a soft backoff")
	}
	for i := 0; i < 20 && !out.Hard; i++ {
		fail()
	}
	if !out.Hard || out.Until.Sub(c.Now()) != time.Second {
		t.Fatalf("a key failing most attempts: got %+v, want a hard cooldown of 1s", out)
	}
	if _, err := tb.Reserve(k1, 1, 1, 1); !errors.Is(err, ErrCoolingDown) {
		t.Fatalf("during the cooldown: got %v, want ErrCoolingDown", err)
	}
	c.Advance(time.Second)
	probe, err := tb.Reserve(k1, 1, 1, 1)
	if err != nil {
		t.Fatalf("after the cooldown the first request probes: %v", err)
	}
	_, err = tb.Reserve(k1, 1, 1, 1)
	var le *LimitError
	if !errors.As(err, &le) || le.Err != ErrCoolingDown || le.RetryAfter != DefaultPolicy.ProbeWait {
		t.Fatalf("while the probe is out: got %v, want ErrCoolingDown retry %v", err, DefaultPolicy.ProbeWait)
	}
	// The probe fails: a longer cooldown (the second trip doubles).
	probe.Cancel()
	if _, err := tb.Reserve(k1, 1, 1, 1); err != nil {
		t.Fatalf("a cancelled probe lets the next request probe: %v", err)
	}
	out = tb.Failure(k1, CauseFault)
	if !out.Hard || out.Until.Sub(c.Now()) != 2*time.Second {
		t.Fatalf("a failed probe: got %+v, want a hard cooldown of 2s", out)
	}
	c.Advance(2 * time.Second)
	r, err := tb.Reserve(k1, 1, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	r.Commit(1, 1)
	tb.Success(k1)
	for i := 0; i < 3; i++ {
		r, err := tb.Reserve(k1, 1, 1, 1)
		if err != nil {
			t.Fatalf("after a successful probe: got %v, want full traffic", err)
		}
		r.Cancel()
	}
}

func TestThrottleWithFullBudgetCoolsForTheWindow(t *testing.T) {
	tb, c := newPolicyTable(t, Budget{RequestsPerMinute: 2})
	for i := 0; i < 2; i++ {
		r, err := tb.Reserve(k1, 1, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		r.Commit(1, 1)
		c.Advance(10 * time.Second)
	}
	out := tb.Failure(k1, CauseThrottled)
	if !out.Hard || out.Until.Sub(c.Now()) != 40*time.Second {
		t.Fatalf("throttled with the minute's budget spent: got %+v, want a hard cooldown until the oldest request leaves (40s)", out)
	}
}

func TestThrottleWithHeadroomIsABlip(t *testing.T) {
	tb, c := newPolicyTable(t, Budget{RequestsPerMinute: 100})
	// 5 % random throttles: one in twenty attempts fails, the rest succeed. The key never goes hard.
	for i := 0; i < 2000; i++ {
		if i%20 == 0 {
			if out := tb.Failure(k1, CauseThrottled); out.Hard {
				t.Fatalf("attempt %d: a 5%% throttle rate tripped the key: %+v", i, out)
			}
			continue
		}
		tb.Success(k1)
		c.Advance(10 * time.Millisecond)
	}
}

func TestDailyAndSetupStayHard(t *testing.T) {
	for _, cause := range []Cause{CauseDaily, CauseSetup} {
		tb, _ := newPolicyTable(t, Budget{})
		if out := tb.Failure(k1, cause); !out.Hard {
			t.Errorf("%v: got a soft backoff, want a hard cooldown", cause)
		}
	}
}

// A burst of concurrent requests failing together is one round of trouble: it neither trips the key at once
// nor, once it is out, stretches the cooldown once per request.
func TestConcurrentFailuresCountOnce(t *testing.T) {
	tb, c := newPolicyTable(t, Budget{})
	var out Outcome
	for i := 0; i < 64; i++ {
		out = tb.Failure(k1, CauseFault)
	}
	if out.Hard || out.Until.Sub(c.Now()) != time.Second {
		t.Fatalf("64 failures at one instant: got %+v, want the first soft backoff (1s)", out)
	}
	for !out.Hard {
		c.Advance(out.Until.Sub(c.Now()))
		out = tb.Failure(k1, CauseFault)
	}
	first := out.Until
	for i := 0; i < 64; i++ {
		if o := tb.Failure(k1, CauseFault); !o.Until.Equal(first) {
			t.Fatalf("failures during the cooldown stretched it from %v to %v", first, o.Until)
		}
	}
}
