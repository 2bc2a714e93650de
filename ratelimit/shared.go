package ratelimit

import "time"

// Shared is a store of budget windows and cooldowns that several relay processes share, so that together
// they keep to one budget: two processes in front of an account with 30 requests a minute admit 30 between
// them, not 30 each. Package ratelimit/redisstore keeps them in Redis. A [Table] given one with [WithShared]
// asks it on every [Table.Reserve], settles there what [Reservation.Commit] and [Reservation.Cancel] correct,
// and publishes there the hard cooldowns it sets.
//
// The store knows windows and cooldowns by name only, and takes the budget with each call, so that any
// counter can live there: a target × model is [SharedName] of its [Key]; a budget of another kind (a caller's
// API key, say) reserves under a name of its own.
//
// Implementations must be safe for concurrent use. Reserve is on the request path: it must answer or fail
// within a short, bounded time. Settle and Cooldown must not block: the store applies them later, in the
// background, or drops them when it cannot.
type Shared interface {
	// Reserve charges one request and need tokens to name's minute and day windows if budget b allows them
	// and name is not cooling down, in one atomic step, and says what the windows hold. A refusal is an
	// answer (SharedAnswer.Err set), not an error: an error means the store could not answer, and the table
	// then decides on its own windows.
	Reserve(name string, b Budget, need int) (SharedAnswer, error)
	// Settle adds requests and tokens (negative for a cancel, or a commit below the reservation) to the
	// buckets a granted Reserve charged, if they are still in the windows.
	Settle(name string, h Hold, requests, tokens int)
	// Cooldown takes name out of rotation for d, for cause; a cooldown already running that ends later is
	// kept. d <= 0 ends name's cooldown if it is for cause.
	Cooldown(name string, d time.Duration, cause Cause)
}

// Noticer is implemented by a [Shared] store that also carries notices between the processes sharing it, at
// once: the soft backoffs each sets (which are not kept in the store: they are advice, not limits) and the
// hard cooldowns it publishes with Cooldown. A table given such a store tells it of each soft backoff with
// Backoff and listens for the others' notices, so that a throttle one replica sees moves every replica's
// traffic off that target before they are throttled too, not after. Notices may be lost (a process that was
// not listening, a store in fallback): a lost one leaves a process to learn by its own failure, as without
// a store.
type Noticer interface {
	// Backoff tells the others that name backs off softly for d; d <= 0 says its backoff has ended (a
	// success). It must not block.
	Backoff(name string, d time.Duration)
	// Listen has fn called with each notice another process sends, from one goroutine of the store's.
	Listen(fn func(Notice))
}

// Leaser is implemented by a [Shared] store that can charge several requests in one round trip: Lease is
// Reserve for up to n requests of need tokens each, charging as many as fit (one at least, or none and a
// refusal) and saying how many in SharedAnswer.Granted. A table given such a store takes a lease when a key's
// shared windows have room to spare and its own traffic keeps up, and admits the next requests from the lease
// without a round trip (see [WithShared]).
type Leaser interface {
	Lease(name string, b Budget, n, need int) (SharedAnswer, error)
}

// Notice is one process's news of a key to the others.
type Notice struct {
	Name string
	// For is how long the backoff or cooldown lasts from when the notice was sent; <= 0 ends it.
	For time.Duration
	// Hard is set for a hard cooldown (Cause says why), clear for a soft backoff.
	Hard  bool
	Cause Cause
}

// Hold names the buckets a shared reservation charged, for [Shared.Settle]; what they mean is the store's
// business (Redis: the minute and day bucket numbers, -1 for a window not charged).
type Hold struct {
	Minute, Day int64
}

// SharedAnswer is a shared store's answer to [Shared.Reserve].
type SharedAnswer struct {
	// Granted is how many requests were charged (a [Leaser]'s lease may take several); 0 or 1 for Reserve,
	// where Err says which.
	Granted int
	// Hold is what Settle needs, when the reservation was charged.
	Hold Hold
	// Err is nil when the reservation was charged, else why not: ErrRequests, ErrTokens, ErrDaily,
	// ErrCoolingDown or ErrTooLarge, with the precedence of [LimitError].
	Err error
	// Wait is how long until a reservation of the same size would be charged, as LimitError.RetryAfter.
	Wait time.Duration
	// Cooldown is how long name stays out of rotation, and Cause why; 0 and CauseNone when it is not.
	Cooldown time.Duration
	Cause    Cause
	// The windows after the answer, over every process sharing the store: requests and tokens in the
	// minute, tokens in the day (0 for a window the budget leaves unlimited).
	MinuteRequests, MinuteTokens, DayTokens int
}

// SharedName is the name of k's windows and cooldown in a shared store.
func SharedName(k Key) string { return "tm:" + k.Target + "/" + k.Model }

// WithShared keeps the table's budget windows and hard cooldowns in s, shared with every process that uses
// the same store. The table still keeps its own windows (this process's share of the traffic) for Headroom,
// Snapshot and for deciding alone, at share (0 < share <= 1; anything else counts as 1) of each budget, while
// s cannot answer; what it admits then is not replayed to s later. The failure policy's soft backoffs and
// probes stay per process.
//
// When s is a [Leaser], a key whose shared windows have room to spare is charged a lease at a time: up to
// leaseMax requests (and their tokens, at the size of the request that took it) in one round trip, as many as
// fit in share / leaseFraction of what the windows have left, and never more than twice what the key's
// previous lease served (so a key with little traffic takes leases of one: a plain reservation). The next
// requests are admitted from the lease without a round trip while it lasts (leaseLife), and what it has left
// then is given back. The lease is charged in the shared windows when taken, so together the processes never
// admit more than a budget; near a limit, leases shrink to one request. A request admitted from a lease
// counts in the bucket the lease was charged in, up to leaseLife (one bucket) before its own: the window lets
// it out that much earlier, which leases being at most share / leaseFraction of what is left bounds.
func WithShared(s Shared, share float64) Option {
	return func(t *Table) {
		if share <= 0 || share > 1 {
			share = 1
		}
		t.shared, t.share = s, share
		t.names = make(map[string]*entry)
	}
}

// seenFresh is how long the shared store's view of a key's windows counts for Headroom after its answer:
// about one bucket, after which the table goes by its own windows until the next answer.
const seenFresh = int64(time.Second)

// seen is the shared store's latest answer about a key, over every process sharing it.
type seen struct {
	ok                 bool
	at                 int64 // when it answered
	count, tokens, day int   // requests and tokens in the minute, tokens in the day
	freeAt             int64 // after a refusal: when the store would take a reservation of that size
}

// see records a shared answer at now; a cooldown the store reports becomes this table's too (without
// publishing it back), so that the key drops out of Headroom and Snapshot. The caller holds e.mu.
func (e *entry) see(now int64, a SharedAnswer) {
	e.seen = seen{ok: true, at: now, count: a.MinuteRequests, tokens: a.MinuteTokens, day: a.DayTokens}
	if a.Err != nil && a.Err != ErrTooLarge {
		e.seen.freeAt = now + int64(a.Wait)
	}
	if a.Cooldown > 0 {
		if end := now + int64(a.Cooldown); end > e.coolUntil {
			e.coolUntil, e.cause = end, a.Cause
		}
	}
}

// usage is what the key's windows hold: this table's own sums, or the shared store's while its latest
// answer is fresh and larger. The caller holds e.mu.
func (e *entry) usage(now int64) (count, tokens, day int) {
	count, tokens, day = e.minute.count, e.minute.tokens, e.day.tokens
	if e.seen.ok && now-e.seen.at < seenFresh {
		count, tokens, day = max(count, e.seen.count), max(tokens, e.seen.tokens), max(day, e.seen.day)
	}
	return count, tokens, day
}

// notice applies another process's notice to the key it names, if this table has that key: a hard cooldown
// as one the store reported (see), a soft backoff as one of this table's own, except that neither counts
// towards the failure streaks (they are the other process's news). A key this table has not seen yet
// ignores it: its first reservation asks the store, which holds the hard cooldowns.
func (t *Table) notice(n Notice) {
	t.mu.RLock()
	e := t.names[n.Name]
	t.mu.RUnlock()
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.advance(t.since(t.now()))
	switch {
	case n.Hard && n.For > 0:
		if end := now + int64(n.For); end > e.coolUntil {
			e.coolUntil, e.cause = end, n.Cause
		}
	case n.Hard:
		if e.cause == n.Cause && now < e.coolUntil {
			e.coolUntil, e.cause = 0, CauseNone
		}
	case n.For > 0:
		e.softUntil = max(e.softUntil, now+int64(n.For))
	default:
		e.softUntil = 0
	}
}

// publishBackoff tells the other processes of a soft backoff this table set or ended. The caller holds
// e.mu.
func (e *entry) publishBackoff(d time.Duration) {
	if n, ok := e.store.(Noticer); ok {
		n.Backoff(e.name, d)
	}
}

// publish tells the shared store of a hard cooldown that now ends later than before. The caller holds e.mu.
func (e *entry) publish(now, before int64) {
	if e.store != nil && e.coolUntil > before && e.coolUntil > now {
		e.store.Cooldown(e.name, time.Duration(e.coolUntil-now), e.cause)
	}
}

// share is b cut to fraction f of each limit (at least 1), for a table deciding alone. The token limits stay
// at least need (up to the full limit), so that a request the full budget takes waits for room rather than
// being refused as too large.
func (b Budget) share(f float64, need int) Budget {
	part := func(limit, least int) int {
		if limit == 0 {
			return 0
		}
		return max(int(float64(limit)*f), 1, min(least, limit))
	}
	return Budget{RequestsPerMinute: part(b.RequestsPerMinute, 1), TokensPerMinute: part(b.TokensPerMinute, need),
		TokensPerDay: part(b.TokensPerDay, need)}
}

// Leases (WithShared with a Leaser).
const (
	leaseMax      = 256
	leaseFraction = 8
	leaseLife     = int64(time.Second)
)

// lease is what a key's latest lease has left.
type lease struct {
	id           uint64
	hold         Hold
	size         int   // requests it was granted
	left, tokens int   // requests and tokens it has left
	until        int64 // when it ends
	served       int   // requests it admitted
	ended        bool
}

// leaseSize is how many requests of need tokens the next reservation asks for: 1 without a Leaser, a fresh
// view of the shared windows, or traffic to use more; else as many as fit in share / leaseFraction of what
// the windows have left, up to twice what the previous lease served, and leaseMax. The caller holds e.mu.
func (t *Table) leaseSize(e *entry, now int64, need int, b Budget) int {
	if _, ok := t.shared.(Leaser); !ok || !e.seen.ok || now-e.seen.at >= seenFresh || e.seen.freeAt > now {
		return 1
	}
	n := min(leaseMax, max(e.leaseCap, 1))
	part := func(limit, used, per int) {
		if limit > 0 && per > 0 {
			n = min(n, int(t.share*float64(limit-used)/leaseFraction)/per)
		}
	}
	part(b.RequestsPerMinute, e.seen.count, 1)
	part(b.TokensPerMinute, e.seen.tokens, need)
	part(b.TokensPerDay, e.seen.day, need)
	return max(n, 1)
}

// fromLease admits one request of need tokens from the key's lease, if it has room and is still on; the
// caller holds e.mu and has checked the local budgets and cooldowns.
func (e *entry) fromLease(now int64, need int) (*lease, bool) {
	l := e.lease
	if l == nil || l.left < 1 || l.tokens < need || now >= l.until || e.halfOpen || e.probing {
		return nil, false
	}
	l.left--
	l.tokens -= need
	l.served++
	return l, true
}

// keepLease makes a newly granted lease (its first request already taken from it) the key's, ending the one
// before; the caller holds e.mu.
func (t *Table) keepLease(e *entry, now int64, a SharedAnswer, need int) *lease {
	e.leaseSeq++
	l := &lease{id: e.leaseSeq, hold: a.Hold, size: a.Granted, left: a.Granted - 1, tokens: (a.Granted - 1) * need,
		until: now + leaseLife, served: 1}
	if l.left == 0 {
		return l // nothing to keep: the windows had room for one
	}
	if old := e.lease; old != nil && !old.ended {
		t.endLease(e, old, now)
	}
	e.lease = l
	id := l.id
	time.AfterFunc(time.Duration(leaseLife), func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.lease != nil && e.lease.id == id && !e.lease.ended {
			t.endLease(e, e.lease, e.lease.until)
		}
	})
	return l
}

// endLease gives back what l has left and sizes the next lease by what it served: as much when it ran out of
// time with requests left, twice that when they were used up (or a request was too large for its tokens).
// The caller holds e.mu.
func (t *Table) endLease(e *entry, l *lease, now int64) {
	l.ended = true
	if l.left > 0 || l.tokens > 0 {
		e.store.Settle(e.name, l.hold, -l.left, -l.tokens)
	}
	if l.left > 0 && now >= l.until {
		e.leaseCap = max(l.served, 1)
	} else {
		e.leaseCap = min(2*l.served, leaseMax)
	}
	l.left, l.tokens = 0, 0
	if e.lease == l {
		e.lease = nil
	}
}

// reserveShared is Reserve with a shared store: the local checks first (they refuse without a round trip),
// then the key's lease if it has room, else the store's atomic check-and-charge (of a lease, when the
// windows have room for one), then the charge in this table's own windows.
func (t *Table) reserveShared(k Key, inputTokens, maxTokens, burndown int) (Reservation, error) {
	need := max(inputTokens, 0) + max(maxTokens, 0)
	e := t.entry(k)
	e.mu.Lock()
	now := e.advance(t.since(t.now()))
	// This process's own windows never hold more than the store's (unless the store lost them), so a
	// budget they already exceed, a cooldown this process knows of, or a probe in flight refuse at once.
	if wait, cause, err := e.refuse(now, need, e.budget); err != nil {
		e.mu.Unlock()
		return Reservation{}, &LimitError{Key: k, Err: err, RetryAfter: time.Duration(wait), Cause: cause}
	}
	if e.probing {
		cause := e.cause
		e.mu.Unlock()
		return Reservation{}, &LimitError{Key: k, Err: ErrCoolingDown, RetryAfter: t.policy.ProbeWait, Cause: cause}
	}
	if l, ok := e.fromLease(now, need); ok {
		slot, gen := e.charge(now, need, burndown)
		f := &e.flights[slot]
		f.hold, f.shared, f.lease = l.hold, true, l.id
		e.mu.Unlock()
		return Reservation{e: e, slot: slot, gen: gen}, nil
	}
	if l := e.lease; l != nil && !l.ended {
		t.endLease(e, l, now) // used up, too small for this request, or over
	}
	probe := e.halfOpen
	if probe { // this request is the probe: claim it now, so that the others wait while the store answers
		e.halfOpen, e.probing, e.probeSlot = false, true, -1
	}
	b := e.budget
	n := 1
	if !probe {
		n = t.leaseSize(e, now, need, b)
	}
	e.mu.Unlock()

	// The round trip runs outside the key's lock, so that one key's requests do not queue behind it.
	var ans SharedAnswer
	var serr error
	if n > 1 {
		ans, serr = t.shared.(Leaser).Lease(e.name, b, n, need)
	} else {
		ans, serr = t.shared.Reserve(e.name, b, need)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	now = e.advance(t.since(t.now()))
	var refused error
	switch {
	case serr != nil:
		// The store cannot answer: decide alone, on this process's windows, at its share of the budget.
		if wait, cause, err := e.refuse(now, need, b.share(t.share, need)); err != nil {
			refused = &LimitError{Key: k, Err: err, RetryAfter: time.Duration(wait), Cause: cause}
		}
	case ans.Err != nil:
		e.see(now, ans)
		refused = &LimitError{Key: k, Err: ans.Err, RetryAfter: ans.Wait, Cause: ans.Cause}
	default:
		e.see(now, ans)
	}
	claimed := probe && e.probing && e.probeSlot == -1 // nothing (Success, Failure) ended the claim meanwhile
	if refused != nil {
		if claimed {
			e.probing, e.halfOpen = false, true // the probe never went: the next request probes
		}
		return Reservation{}, refused
	}
	slot, gen := e.charge(now, need, burndown)
	if serr == nil {
		f := &e.flights[slot]
		f.hold, f.shared = ans.Hold, true
		if ans.Granted > 1 {
			f.lease = t.keepLease(e, now, ans, need).id
		} else if n == 1 {
			// Two plain reservations within a lease's life: the next may ask for two.
			if e.plainAt != 0 && now-e.plainAt < leaseLife {
				e.leaseCap = max(e.leaseCap, 2)
			}
			e.plainAt = now
		}
	}
	if claimed {
		e.probeSlot, e.probeGen = slot, gen
	}
	return Reservation{e: e, slot: slot, gen: gen}, nil
}
