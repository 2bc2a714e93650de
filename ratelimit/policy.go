package ratelimit

import (
	"math/rand/v2"
	"time"
)

// Policy says how a key answers failures recorded with [Table.Failure]: when Bedrock throttles or fails a
// target × model, the key first backs off softly (it is tried only when no other key is free), and is taken
// out of rotation (a hard cooldown, then one probe request) only when the failures say that it is really out:
// its own budget's window is full, or most of its recent attempts failed several times in a row.
//
// Why: a ThrottlingException while the relay's own budget shows headroom is usually a blip of Bedrock's shared
// capacity, not a quota, and Bedrock answers 5xx at some rate all the time. Cooling a target for its whole
// minute window on one such answer turned 5 % random throttles into a closed pool. A caller still gets the
// request answered by another target, or by this one on its next attempt.
type Policy struct {
	// BackoffBase is the first soft backoff after a failure, doubled for each consecutive one (with ±50 %
	// jitter) up to BackoffMax; a success ends it. Default 1s and 30s.
	BackoffBase, BackoffMax time.Duration
	// TripStreak and TripRatio decide a hard cooldown: at least TripStreak consecutive failures, each after
	// the soft backoff of the one before had run out (failures during a backoff, such as a burst of
	// concurrent requests failing together, count once), while the moving failure ratio (over about the last
	// 20 attempts) is at least TripRatio. Default 3 and 0.5.
	TripStreak int
	TripRatio  float64
	// TripBase is the first hard cooldown after a trip, doubled for each further trip without a success (with
	// ±50 % jitter), up to FaultMax for faults and up to the minute window's turnover for throttles. Default 1s.
	TripBase time.Duration
	// ProbeWait is the Retry-After given to requests refused while one probe is in flight. Default 250ms.
	ProbeWait time.Duration
}

// DefaultPolicy is the policy of a table built without [WithPolicy].
var DefaultPolicy = Policy{BackoffBase: time.Second, BackoffMax: 30 * time.Second, TripStreak: 3, TripRatio: 0.5,
	TripBase: time.Second, ProbeWait: 250 * time.Millisecond}

// ewmaAlpha weighs the newest attempt in the moving failure ratio: 1/20, about the last 20 attempts.
const ewmaAlpha = 0.05

// WithPolicy overrides the failure policy; zero fields keep the default.
func WithPolicy(p Policy) Option {
	return func(t *Table) {
		d := &t.policy
		if p.BackoffBase > 0 {
			d.BackoffBase = p.BackoffBase
		}
		if p.BackoffMax > 0 {
			d.BackoffMax = p.BackoffMax
		}
		if p.TripStreak > 0 {
			d.TripStreak = p.TripStreak
		}
		if p.TripRatio > 0 {
			d.TripRatio = p.TripRatio
		}
		if p.TripBase > 0 {
			d.TripBase = p.TripBase
		}
		if p.ProbeWait > 0 {
			d.ProbeWait = p.ProbeWait
		}
	}
}

// WithJitter replaces the source of jitter (a number in [0, 1)); tests pass a constant.
func WithJitter(f func() float64) Option { return func(t *Table) { t.jitter = f } }

func defaultJitter() float64 { return rand.Float64() }

// Outcome is what [Table.Failure] did to a key.
type Outcome struct {
	// Until is when the key's soft backoff or hard cooldown ends.
	Until time.Time
	// Hard is set when the key is out of rotation (a cooldown), clear for a soft backoff.
	Hard bool
}

// Failure records a failed attempt on k and applies the policy for cause:
//   - CauseThrottled: a hard cooldown as [Table.Cooldown] gives (until the minute window turns over) when
//     k's own budget has no headroom left in the minute; a hard cooldown growing from Policy.TripBase when
//     the failures trip (see Policy); otherwise a soft backoff.
//   - CauseFault: a hard cooldown growing from Policy.TripBase up to Cooldowns.FaultMax when the failures
//     trip; otherwise a soft backoff.
//   - CauseDaily, CauseSetup: the hard cooldown of [Table.Cooldown].
//
// After any hard cooldown set here the key takes one probe request before full traffic; the probe's
// success ([Table.Success]) reopens it, its failure cools it again, for longer.
func (t *Table) Failure(k Key, cause Cause) Outcome {
	now := t.since(t.now())
	e := t.entry(k)
	e.mu.Lock()
	defer e.mu.Unlock()
	now = e.advance(now)
	if e.store != nil {
		defer e.publish(now, e.coolUntil) // a hard cooldown set here is every process's
	}
	p := t.policy
	e.ewma += ewmaAlpha * (1 - e.ewma)
	probeFailed := e.probing
	e.probing = false
	if now < e.coolUntil && !probeFailed {
		// A request that was under way when the key went out: its failure is news of the same trouble, not
		// of more. Many concurrent requests failing together must not escalate the cooldown once each.
		return Outcome{Until: t.at(e.coolUntil), Hard: true}
	}
	// Likewise a failure during a soft backoff counts towards the streak only once the backoff has run out:
	// the streak counts rounds of trouble, not concurrent requests.
	if now >= e.softUntil {
		e.streak++
	}

	hard := func(d time.Duration) Outcome {
		e.trips++
		if end := now + int64(d); end > e.coolUntil {
			e.coolUntil, e.cause = end, cause
		}
		e.halfOpen = true
		return Outcome{Until: t.at(e.coolUntil), Hard: true}
	}
	grow := func(base, limit time.Duration, n int) time.Duration {
		d := limit
		if n <= 32 {
			d = min(base<<max(n-1, 0), limit)
		}
		return time.Duration(float64(d) * (0.5 + t.jitter()))
	}
	tripped := probeFailed || (e.streak >= p.TripStreak && e.ewma >= p.TripRatio)
	switch cause {
	case CauseDaily, CauseSetup:
		t.cooldownLocked(e, now, 0, cause)
		e.halfOpen = true
		return Outcome{Until: t.at(e.coolUntil), Hard: true}
	case CauseThrottled:
		b := e.budget
		count, tokens, _ := e.usage(now)
		full := (b.RequestsPerMinute > 0 && count >= b.RequestsPerMinute) ||
			(b.TokensPerMinute > 0 && tokens >= b.TokensPerMinute)
		if full {
			t.cooldownLocked(e, now, 0, CauseThrottled)
			e.halfOpen = true
			e.trips++
			return Outcome{Until: t.at(e.coolUntil), Hard: true}
		}
		if tripped {
			limit := max(time.Duration(e.minute.wait(now, 1, 0)), p.TripBase)
			return hard(grow(p.TripBase, limit, e.trips+1))
		}
	case CauseFault:
		if tripped {
			return hard(grow(p.TripBase, t.cooldowns.FaultMax, e.trips+1))
		}
	default:
		return Outcome{}
	}
	end := now + int64(min(grow(p.BackoffBase, p.BackoffMax, e.streak), p.BackoffMax))
	if end > e.softUntil {
		e.softUntil = end
		if e.store != nil {
			e.publishBackoff(time.Duration(end - now)) // every process moves its traffic off the key, too
		}
	}
	return Outcome{Until: t.at(e.softUntil)}
}

// softFactor scales the headroom of a key in soft backoff: it stays usable, last.
const softFactor = 1e-3
