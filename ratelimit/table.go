package ratelimit

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Budget is what one target may spend on one model. 0 means unlimited.
type Budget struct {
	RequestsPerMinute int
	TokensPerMinute   int
	TokensPerDay      int
}

// Validate reports every negative field: budgets are 0 (unlimited) or positive.
func (b Budget) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{{"RequestsPerMinute", b.RequestsPerMinute}, {"TokensPerMinute", b.TokensPerMinute}, {"TokensPerDay", b.TokensPerDay}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s is %d: use 0 for unlimited or a positive budget", f.name, f.v))
		}
	}
	return errors.Join(errs...)
}

// Key names one budget: a target (an account × region the relay calls through) and a model id.
type Key struct {
	Target string
	Model  string
}

func (k Key) String() string { return k.Target + "/" + k.Model }

// Cooldowns are the lengths the table applies for each [Cause]. Zero fields take the default.
type Cooldowns struct {
	Throttled time.Duration // minimum for CauseThrottled; default 5s
	Daily     time.Duration // minimum for CauseDaily; default 15m
	Setup     time.Duration // CauseSetup; default 10m
	FaultBase time.Duration // CauseFault after the first consecutive fault, doubling after each; default 1s
	FaultMax  time.Duration // cap for CauseFault; default 30s
}

// DefaultCooldowns are the cooldowns of a table built without [WithCooldowns].
var DefaultCooldowns = Cooldowns{
	Throttled: 5 * time.Second,
	Daily:     15 * time.Minute,
	Setup:     10 * time.Minute,
	FaultBase: time.Second,
	FaultMax:  30 * time.Second,
}

// An Option configures a [Table].
type Option func(*Table)

// WithClock sets the clock; the default is time.Now.
func WithClock(now func() time.Time) Option { return func(t *Table) { t.now = now } }

// WithCooldowns overrides the cooldown lengths; zero fields keep the default.
func WithCooldowns(c Cooldowns) Option {
	return func(t *Table) {
		d := &t.cooldowns
		for _, f := range []struct{ dst, src *time.Duration }{
			{&d.Throttled, &c.Throttled}, {&d.Daily, &c.Daily}, {&d.Setup, &c.Setup},
			{&d.FaultBase, &c.FaultBase}, {&d.FaultMax, &c.FaultMax},
		} {
			if *f.src > 0 {
				*f.dst = *f.src
			}
		}
	}
}

// unlimitedInFlight is the in-flight count at which a key with an unlimited budget reports half its headroom:
// unlimited is worth a lot, but not so much that one target takes every request.
const unlimitedInFlight = 100

// Table holds the budgets, usage and cooldowns of every key. Keys are created on first use with an unlimited
// budget; use [Table.SetBudget] to set one. Its methods are safe for concurrent use. The zero Table is not
// usable; call [New].
type Table struct {
	now       func() time.Time
	epoch     time.Time // internal times are nanoseconds since epoch, so monotonic clock readings are kept
	cooldowns Cooldowns
	policy    Policy
	jitter    func() float64
	shared    Shared  // nil: budgets and cooldowns are this process's alone (shared.go)
	share     float64 // the fraction of each budget the table allows itself while shared cannot answer

	mu      sync.RWMutex
	entries map[Key]*entry
	names   map[string]*entry // with a shared store: the entries by their name there, for its notices
}

// New returns an empty table.
func New(opts ...Option) *Table {
	t := &Table{now: time.Now, cooldowns: DefaultCooldowns, policy: DefaultPolicy, jitter: defaultJitter, entries: make(map[Key]*entry)}
	for _, o := range opts {
		o(t)
	}
	t.epoch = t.now()
	if n, ok := t.shared.(Noticer); ok {
		n.Listen(t.notice)
	}
	return t
}

type entry struct {
	mu     sync.Mutex
	key    Key
	budget Budget
	last   int64 // latest time seen; a clock that steps back is held here so windows stay ordered
	minute window
	day    window

	inFlight       int
	inFlightTokens int
	flights        []flight // slots for outstanding reservations, reused through free
	free           []int32

	coolUntil int64
	cause     Cause
	faults    int // consecutive CauseFault cooldowns since the last Success

	// The failure policy's state (policy.go), all reset by Success.
	streak    int     // consecutive failures recorded by Failure
	ewma      float64 // moving failure ratio of the attempts recorded by Failure and Success
	trips     int     // hard cooldowns Failure set since the last success
	softUntil int64   // end of the soft backoff
	halfOpen  bool    // after the current hard cooldown, one probe request before full traffic
	probing   bool    // that probe is in flight
	probeSlot int32   // its reservation
	probeGen  uint32

	// With a shared store (shared.go): the key's name there, and what the store said of it last.
	store Shared
	name  string
	seen  seen
	// With a Leaser: the current lease, and how the next is sized.
	lease    *lease
	leaseSeq uint64
	leaseCap int   // requests the next lease may ask for at most (0: 1)
	plainAt  int64 // when the latest plain reservation was granted
}

// flight is one outstanding reservation.
type flight struct {
	gen      uint32 // bumped when the slot is released, so a stale Reservation is a no-op
	reserved int    // tokens charged at Reserve
	burndown int
	minute   int64 // buckets holding the charge
	day      int64
	hold     Hold // the shared store's buckets holding it, when shared
	shared   bool
	lease    uint64 // the lease it came from (0: none)
}

func (t *Table) since(tm time.Time) int64 { return int64(tm.Sub(t.epoch)) }
func (t *Table) at(ns int64) time.Time    { return t.epoch.Add(time.Duration(ns)) }

func (t *Table) lookup(k Key) *entry {
	t.mu.RLock()
	e := t.entries[k]
	t.mu.RUnlock()
	return e
}

func (t *Table) entry(k Key) *entry {
	if e := t.lookup(k); e != nil {
		return e
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[k]
	if e == nil {
		e = &entry{
			key:    k,
			minute: newWindow(time.Minute, time.Second),
			day:    newWindow(24*time.Hour, 12*time.Minute),
		}
		if t.shared != nil {
			e.store, e.name = t.shared, SharedName(k)
			t.names[e.name] = e
		}
		t.entries[k] = e
	}
	return e
}

// advance moves the entry to now (or keeps it at the latest time seen) and expires the windows. The caller
// holds e.mu.
func (e *entry) advance(now int64) int64 {
	if now < e.last {
		now = e.last
	}
	e.last = now
	e.minute.expire(now)
	e.day.expire(now)
	return now
}

// SetBudget sets the budget for a key, creating the key if needed. Usage already in the windows stays; a
// lowered budget refuses requests until enough of it has left.
func (t *Table) SetBudget(k Key, b Budget) error {
	if err := b.Validate(); err != nil {
		return fmt.Errorf("ratelimit: %s: %w", k, err)
	}
	e := t.entry(k)
	e.mu.Lock()
	e.budget = b
	e.mu.Unlock()
	return nil
}

// Reservation is a charge against a key's budgets, to be ended by exactly one [Reservation.Commit] or
// [Reservation.Cancel]; further calls, on it or on copies of it, do nothing. The zero Reservation is valid
// and does nothing. It is a small value rather than a pointer so that Reserve does not allocate.
type Reservation struct {
	e    *entry
	slot int32
	gen  uint32
}

// Reserve charges one request and inputTokens + maxTokens tokens to the key, if its budgets allow, and
// remembers burndown (the model's output token burndown rate, 1 if less) for Commit. Negative token counts
// count as 0.
//
// A refusal is a *[LimitError] wrapping ErrCoolingDown, ErrRequests, ErrTokens, ErrDaily or ErrTooLarge,
// with the Retry-After.
func (t *Table) Reserve(k Key, inputTokens, maxTokens, burndown int) (Reservation, error) {
	if t.shared != nil {
		return t.reserveShared(k, inputTokens, maxTokens, burndown)
	}
	now := t.since(t.now())
	e := t.entry(k)
	e.mu.Lock()
	defer e.mu.Unlock()
	now = e.advance(now)

	need := max(inputTokens, 0) + max(maxTokens, 0)
	if wait, cause, err := e.refuse(now, need, e.budget); err != nil {
		return Reservation{}, &LimitError{Key: k, Err: err, RetryAfter: time.Duration(wait), Cause: cause}
	}
	if e.probing {
		// Half open: one probe is finding out whether the key works again; the others wait for it.
		return Reservation{}, &LimitError{Key: k, Err: ErrCoolingDown, RetryAfter: t.policy.ProbeWait, Cause: e.cause}
	}
	slot, gen := e.charge(now, need, burndown)
	if e.halfOpen {
		e.halfOpen, e.probing, e.probeSlot, e.probeGen = false, true, slot, gen
	}
	return Reservation{e: e, slot: slot, gen: gen}, nil
}

// charge records a reservation of need tokens in the windows and a flight slot; the caller holds e.mu and
// has advanced the entry to now.
func (e *entry) charge(now int64, need, burndown int) (int32, uint32) {
	var slot int32
	if n := len(e.free); n > 0 {
		slot = e.free[n-1]
		e.free = e.free[:n-1]
	} else {
		e.flights = append(e.flights, flight{})
		slot = int32(len(e.flights) - 1)
	}
	f := &e.flights[slot]
	f.reserved = need
	f.burndown = max(burndown, 1)
	f.minute = e.minute.add(now, 1, need)
	f.day = e.day.add(now, 0, need)
	f.hold, f.shared, f.lease = Hold{}, false, 0
	e.inFlight++
	e.inFlightTokens += need
	return slot, f.gen
}

// refuse says whether one more request of need tokens does not fit budget b now, and how long until it
// would. A cooldown takes precedence in the error, but the wait counts the budgets too so that a retry after
// it is not refused again. The caller holds e.mu and has advanced the entry to now.
func (e *entry) refuse(now int64, need int, b Budget) (wait int64, cause Cause, err error) {
	if (b.TokensPerMinute > 0 && need > b.TokensPerMinute) || (b.TokensPerDay > 0 && need > b.TokensPerDay) {
		return 0, CauseNone, ErrTooLarge
	}
	short := func(w int64, sentinel error) {
		if err == nil || w > wait {
			err, wait = sentinel, w
		}
	}
	if b.RequestsPerMinute > 0 && e.minute.count+1 > b.RequestsPerMinute {
		short(e.minute.wait(now, e.minute.count+1-b.RequestsPerMinute, 0), ErrRequests)
	}
	if b.TokensPerMinute > 0 && e.minute.tokens+need > b.TokensPerMinute {
		short(e.minute.wait(now, 0, e.minute.tokens+need-b.TokensPerMinute), ErrTokens)
	}
	if b.TokensPerDay > 0 && e.day.tokens+need > b.TokensPerDay {
		short(e.day.wait(now, 0, e.day.tokens+need-b.TokensPerDay), ErrDaily)
	}
	if now < e.coolUntil {
		return max(wait, e.coolUntil-now), e.cause, ErrCoolingDown
	}
	return wait, CauseNone, err
}

// take ends the reservation if it is still outstanding and returns its flight; the caller holds e.mu.
func (r Reservation) take() (flight, bool) {
	if r.e == nil || int(r.slot) >= len(r.e.flights) {
		return flight{}, false
	}
	f := &r.e.flights[r.slot]
	if f.gen != r.gen {
		return flight{}, false
	}
	out := *f
	f.gen++
	r.e.free = append(r.e.free, r.slot)
	r.e.inFlight--
	r.e.inFlightTokens -= out.reserved
	return out, true
}

// Commit corrects the reservation to the usage Bedrock reported: inputTokens + outputTokens × burndown. If
// the response carried no usage, pass the best estimate (the request's input tokens and max_tokens).
func (r Reservation) Commit(inputTokens, outputTokens int) {
	if r.e == nil {
		return
	}
	r.e.mu.Lock()
	defer r.e.mu.Unlock()
	f, ok := r.take()
	if !ok {
		return
	}
	d := max(inputTokens, 0) + max(outputTokens, 0)*f.burndown - f.reserved
	r.e.minute.adjust(f.minute, 0, d)
	r.e.day.adjust(f.day, 0, d)
	if f.shared && d != 0 {
		r.e.store.Settle(r.e.name, f.hold, 0, d)
	}
}

// Cancel takes back a reservation whose request never reached Bedrock: the request and its tokens leave the
// windows as if never made.
func (r Reservation) Cancel() {
	if r.e == nil {
		return
	}
	r.e.mu.Lock()
	defer r.e.mu.Unlock()
	if r.e.probing && r.e.probeSlot == r.slot && r.e.probeGen == r.gen {
		r.e.probing, r.e.halfOpen = false, true // the probe never reached Bedrock: the next request probes
	}
	f, ok := r.take()
	if !ok {
		return
	}
	r.e.minute.adjust(f.minute, -1, -f.reserved)
	r.e.day.adjust(f.day, 0, -f.reserved)
	if l := r.e.lease; f.lease != 0 && l != nil && l.id == f.lease && !l.ended {
		l.left++ // back into the lease it came from, still charged in the shared windows
		l.tokens += f.reserved
		l.served--
	} else if f.shared {
		r.e.store.Settle(r.e.name, f.hold, -1, -f.reserved)
	}
}

// Headroom is the fraction of the key's tightest budget left, from 0 (exhausted or cooling down) to 1, with
// outstanding reservations counted as spent. An unlimited budget counts as plenty, but each request in
// flight still lowers it a little (to 1/2 at 100 in flight), so load spreads over unlimited targets too.
// A key never seen has headroom 1.
func (t *Table) Headroom(k Key) float64 {
	e := t.lookup(k)
	if e == nil {
		return 1
	}
	now := t.since(t.now())
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.headroom(e.advance(now))
}

// Standing is Headroom, and whether the key is in a soft backoff (its own, or one another process sharing
// the store announced): such a key is to be tried only when no other is free, whatever its priority.
func (t *Table) Standing(k Key) (headroom float64, backingOff bool) {
	e := t.lookup(k)
	if e == nil {
		return 1, false
	}
	now := t.since(t.now())
	e.mu.Lock()
	defer e.mu.Unlock()
	now = e.advance(now)
	return e.headroom(now), now < e.softUntil && now >= e.coolUntil
}

func (e *entry) headroom(now int64) float64 {
	if now < e.coolUntil {
		return 0
	}
	b := e.budget
	h := 1.0
	left := func(used, limit int) {
		if limit == 0 {
			h = min(h, unlimitedInFlight/float64(unlimitedInFlight+e.inFlight))
			return
		}
		h = min(h, max(float64(limit-used)/float64(limit), 0))
	}
	count, tokens, day := e.usage(now)
	left(count, b.RequestsPerMinute)
	left(tokens, b.TokensPerMinute)
	left(day, b.TokensPerDay)
	if now < e.softUntil {
		h *= softFactor
	}
	return h
}

// Cooldown takes the key out of rotation until at least until, extended to the cause's own length:
//   - CauseThrottled: until the oldest request in the minute window leaves, and at least Cooldowns.Throttled;
//   - CauseDaily: until the oldest tokens in the day window leave, and at least Cooldowns.Daily;
//   - CauseSetup: Cooldowns.Setup;
//   - CauseFault: Cooldowns.FaultBase doubled for each consecutive fault since the last [Table.Success],
//     capped at Cooldowns.FaultMax.
//
// Pass the zero time to get just the cause's length, or a later time from Bedrock's answer. A cooldown
// already running that ends later is kept. Any other cause cools down until until. Cooldown returns when
// the key's cooldown ends.
func (t *Table) Cooldown(k Key, until time.Time, cause Cause) time.Time {
	now := t.since(t.now())
	e := t.entry(k)
	e.mu.Lock()
	defer e.mu.Unlock()
	now = e.advance(now)

	before := e.coolUntil
	t.cooldownLocked(e, now, t.since(until), cause)
	e.publish(now, before)
	return t.at(e.coolUntil)
}

// cooldownLocked applies Cooldown's rule; the caller holds e.mu and has advanced e to now.
func (t *Table) cooldownLocked(e *entry, now, until int64, cause Cause) {
	end := max(until, now)
	c := t.cooldowns
	switch cause {
	case CauseThrottled:
		end = max(end, now+int64(c.Throttled), now+e.minute.wait(now, 1, 0))
	case CauseDaily:
		end = max(end, now+int64(c.Daily), now+e.day.wait(now, 0, 1))
	case CauseSetup:
		end = max(end, now+int64(c.Setup))
	case CauseFault:
		e.faults++
		d := c.FaultMax
		if e.faults <= 32 {
			d = min(c.FaultBase<<(e.faults-1), c.FaultMax)
		}
		end = max(end, now+int64(d))
	}
	if end > e.coolUntil {
		e.coolUntil, e.cause = end, cause
	}
}

// Success records a request that Bedrock answered: the fault backoff starts again from FaultBase, and a
// cooldown for a fault ends.
func (t *Table) Success(k Key) {
	e := t.lookup(k)
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = 0
	if e.store != nil && e.softUntil > e.last {
		e.publishBackoff(0) // the key works: end its soft backoff for every process
	}
	e.streak, e.trips, e.softUntil, e.halfOpen, e.probing = 0, 0, 0, false, false
	e.ewma -= ewmaAlpha * e.ewma
	if e.cause == CauseFault {
		e.coolUntil, e.cause = 0, CauseNone
		if e.store != nil {
			e.store.Cooldown(e.name, 0, CauseFault) // the key works: end the fault cooldown for every process
		}
	}
}

// EarliestFree is how long until the first of keys could take a one-token request: 0 if one can now or if
// a key has never been seen. Use it for the Retry-After of a 429 when every target is exhausted. With no
// keys it returns 0.
func (t *Table) EarliestFree(keys ...Key) time.Duration {
	if len(keys) == 0 {
		return 0
	}
	now := t.since(t.now())
	best := time.Duration(-1)
	for _, k := range keys {
		e := t.lookup(k)
		if e == nil {
			return 0
		}
		e.mu.Lock()
		n := e.advance(now)
		wait, _, err := e.refuse(n, 1, e.budget)
		if e.seen.freeAt > n { // the shared store refused this key until then
			wait, err = max(wait, e.seen.freeAt-n), cmp.Or(err, ErrRequests)
		}
		e.mu.Unlock()
		if err == nil {
			return 0
		}
		if err == ErrTooLarge { // a budget below one token never frees
			continue
		}
		if best < 0 || time.Duration(wait) < best {
			best = time.Duration(wait)
		}
	}
	return max(best, 0)
}

// State is a copy of one key's state, for metrics, the admin view and tables.
type State struct {
	Key            Key
	Budget         Budget
	InFlight       int       // reservations neither committed nor cancelled
	InFlightTokens int       // tokens they reserved
	MinuteRequests int       // requests in the last 60 s, in flight included
	MinuteTokens   int       // tokens in the last 60 s, as reserved or, once committed, as used
	DayTokens      int       // tokens in the last 24 h, likewise
	CooldownUntil  time.Time // zero when not cooling down
	Cause          Cause     // CauseNone when not cooling down
	Faults         int       // consecutive faults since the last Success
	Headroom       float64   // as Table.Headroom
	SoftUntil      time.Time // end of a soft backoff (Failure), zero when none
	Probing        bool      // a probe request is in flight after a hard cooldown
}

// Snapshot returns the state of every key, sorted by target then model.
func (t *Table) Snapshot() []State {
	t.mu.RLock()
	entries := make([]*entry, 0, len(t.entries))
	for _, e := range t.entries {
		entries = append(entries, e)
	}
	t.mu.RUnlock()

	now := t.since(t.now())
	out := make([]State, 0, len(entries))
	for _, e := range entries {
		e.mu.Lock()
		n := e.advance(now)
		s := State{
			Key:            e.key,
			Budget:         e.budget,
			InFlight:       e.inFlight,
			InFlightTokens: e.inFlightTokens,
			MinuteRequests: e.minute.count,
			MinuteTokens:   e.minute.tokens,
			DayTokens:      e.day.tokens,
			Faults:         e.faults,
			Headroom:       e.headroom(n),
		}
		if n < e.coolUntil {
			s.CooldownUntil, s.Cause = t.at(e.coolUntil), e.cause
		}
		if n < e.softUntil {
			s.SoftUntil = t.at(e.softUntil)
		}
		s.Probing = e.probing
		e.mu.Unlock()
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b State) int {
		return cmp.Or(cmp.Compare(a.Key.Target, b.Key.Target), cmp.Compare(a.Key.Model, b.Key.Model))
	})
	return out
}
