package redisstore

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/bedrock-relay/bedrock-relay/ratelimit"
)

var (
	//go:embed reserve.lua
	reserveSrc string
	//go:embed settle.lua
	settleSrc string
	//go:embed cooldown.lua
	cooldownSrc string

	reserveScript  = redis.NewScript(reserveSrc)
	settleScript   = redis.NewScript(settleSrc)
	cooldownScript = redis.NewScript(cooldownSrc)
)

// The windows, in ms, as package ratelimit keeps them: a minute of 1 s buckets, a day of 12 min buckets.
const (
	minuteSpan  = 60_000
	minuteWidth = 1_000
	daySpan     = 86_400_000
	dayWidth    = 720_000
)

// Defaults of Options.
const (
	DefaultKeyPrefix     = "bedrock-relay:"
	DefaultTimeout       = 50 * time.Millisecond
	DefaultProbeInterval = time.Second
)

// queueSize bounds the writes waiting for the background writer; past it they are dropped (and counted).
// maxBatch bounds one pipeline.
const (
	queueSize = 8192
	maxBatch  = 256
)

// probeName is the name the health probe runs the reserve script on (an unlimited budget: it reads the
// cooldown key only and writes nothing).
const probeName = "probe"

// Options configure a Store.
type Options struct {
	// Addrs are host:port addresses: one for a single node (or, with Cluster, a cluster's configuration
	// endpoint), several for a Cluster's nodes, or the Sentinels with MasterName.
	Addrs []string
	// Cluster speaks the Cluster protocol to a single address (an ElastiCache or MemoryDB configuration
	// endpoint); several addresses always do.
	Cluster bool
	// MasterName is the Sentinel master's name: Addrs are then Sentinels.
	MasterName string
	// Username and Password authenticate (ACL user, or the password alone for requirepass); empty: none.
	Username, Password string
	// TLS, when set, is the client's TLS configuration (ElastiCache and MemoryDB in-transit encryption).
	TLS *tls.Config
	// KeyPrefix starts every key; default DefaultKeyPrefix. Relays sharing a prefix share budgets.
	KeyPrefix string
	// Timeout bounds every call, a reservation's round trip included; default DefaultTimeout.
	Timeout time.Duration
	// ProbeInterval is how often the store checks whether Redis is back while in fallback; default
	// DefaultProbeInterval.
	ProbeInterval time.Duration
	// Share is the fallback share the table was given (ratelimit.WithShared), for the log and Status only.
	Share float64
	// Logger is told once of each switch to fallback and back; nil discards.
	Logger *slog.Logger
	// Registerer takes the store's metrics; nil: none.
	Registerer prometheus.Registerer
}

// Store is a ratelimit.Shared in Redis. Its methods are safe for concurrent use.
type Store struct {
	c        redis.UniversalClient
	prefix   string
	timeout  time.Duration
	interval time.Duration
	share    float64
	log      *slog.Logger
	m        *metrics

	names sync.Map // name → *keys

	origin  string // this store's id in the notices it sends, so that it ignores its own
	channel string // the notices' Pub/Sub channel
	ps      *redis.PubSub
	listen  []func(ratelimit.Notice) // under mu

	ledgerOnce sync.Once
	ledger     *Ledger // Usage

	up     atomic.Bool
	mu     sync.Mutex
	reason string // why the store is in fallback

	q    chan write
	wake chan struct{}
	// The corrections waiting for the writer, summed by buckets (Settle).
	smu     sync.Mutex
	settles map[settleKey][2]int
	swake   chan struct{}
	stop    chan struct{}
	wg      sync.WaitGroup
	close   sync.Once
}

var (
	_ ratelimit.Shared  = (*Store)(nil)
	_ ratelimit.Noticer = (*Store)(nil)
	_ ratelimit.Leaser  = (*Store)(nil)
)

// keys are one name's keys, built once: minute, day, cooldown; then the first two for settle and the last
// alone for cooldown.
type keys struct {
	reserve, settle, cool []string
}

// write is one queued settlement or cooldown (script set), notice (notice set), or (done set) a marker for
// Flush.
type write struct {
	script *redis.Script
	keys   []string
	args   []any
	notice string
	done   chan struct{}
}

// New connects to Redis and starts the store's background writer and probe. It does not fail when Redis
// cannot be reached: the store then starts in fallback, and shares once Redis answers.
func New(o Options) *Store {
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = DefaultProbeInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	quietOnce.Do(func() { redis.SetLogger(quiet{}) })
	var id [8]byte
	rand.Read(id[:])
	s := &Store{
		origin:   hex.EncodeToString(id[:]),
		channel:  o.KeyPrefix + "notices",
		c:        redis.NewUniversalClient(clientOptions(o)),
		prefix:   o.KeyPrefix,
		timeout:  o.Timeout,
		interval: o.ProbeInterval,
		share:    o.Share,
		log:      o.Logger,
		m:        newMetrics(o.Registerer),
		q:        make(chan write, queueSize),
		wake:     make(chan struct{}, 1),
		settles:  make(map[settleKey][2]int),
		swake:    make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}
	s.up.Store(true)
	if err := s.ping(); err != nil {
		s.fail("probe", err)
	} else {
		s.m.setUp(true)
	}
	s.wg.Add(2)
	go s.writer()
	go s.prober()
	return s
}

// quiet drops go-redis's own log lines (a failed dial on every probe while Redis is down, on stderr): the
// store logs each switch to fallback and back once instead. go-redis has one logger per process.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

var quietOnce sync.Once

// clientOptions are go-redis's options for o: one address is a single node (unless Cluster), several a
// Cluster, MasterName Sentinel. No retries (a retry would double a slow call; the table falls back
// instead), timeouts on every step, and no optional handshakes that managed services refuse.
func clientOptions(o Options) *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs:                 o.Addrs,
		IsClusterMode:         o.Cluster,
		MasterName:            o.MasterName,
		Username:              o.Username,
		Password:              o.Password,
		TLSConfig:             o.TLS,
		Protocol:              2,
		DisableIdentity:       true,
		MaxRetries:            -1,
		DialerRetries:         1,
		DialTimeout:           o.Timeout,
		ReadTimeout:           o.Timeout,
		WriteTimeout:          o.Timeout,
		PoolTimeout:           o.Timeout,
		ContextTimeoutEnabled: true,
		MaintNotificationsConfig: &maintnotifications.Config{
			Mode: maintnotifications.ModeDisabled,
		},
	}
}

// Close stops the background goroutines, writing what is queued first (within one timeout), and closes
// the connections.
func (s *Store) Close() error {
	var err error
	s.close.Do(func() {
		close(s.stop)
		s.mu.Lock()
		if s.ps != nil {
			s.ps.Close() // ends the listener's channel
		}
		s.mu.Unlock()
		s.wg.Wait()
		err = s.c.Close()
	})
	return err
}

func (s *Store) keys(name string) *keys {
	if k, ok := s.names.Load(name); ok {
		return k.(*keys)
	}
	base := s.prefix + "{" + name + "}:"
	all := []string{base + "m", base + "d", base + "cool"}
	k, _ := s.names.LoadOrStore(name, &keys{reserve: all, settle: all[:2:2], cool: all[2:]})
	return k.(*keys)
}

// errFallback is Reserve's answer while Redis cannot be reached.
var errFallback = errors.New("redisstore: redis cannot be reached; deciding on local budgets")

// Reserve runs the reserve script: one round trip, bounded by the timeout. While the store is in fallback
// it answers an error at once.
func (s *Store) Reserve(name string, b ratelimit.Budget, need int) (ratelimit.SharedAnswer, error) {
	return s.Lease(name, b, 1, need)
}

// Lease is Reserve for up to n requests of need tokens each, in the same round trip: as many as fit, one at
// least (SharedAnswer.Granted says how many).
func (s *Store) Lease(name string, b ratelimit.Budget, n, need int) (ratelimit.SharedAnswer, error) {
	if !s.up.Load() {
		s.m.local.Inc()
		return ratelimit.SharedAnswer{}, errFallback
	}
	kind := "reserve"
	if n > 1 {
		kind = "lease"
	}
	s.m.calls.WithLabelValues(kind).Inc()
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	v, err := reserveScript.Run(ctx, s.c, s.keys(name).reserve, b.RequestsPerMinute, b.TokensPerMinute, b.TokensPerDay,
		max(need, 0), minuteSpan, minuteWidth, daySpan, dayWidth, max(n, 1)).Slice()
	if err == nil {
		var a ratelimit.SharedAnswer
		if a, err = answer(v); err == nil {
			return a, nil
		}
	}
	s.fail("reserve", err)
	s.m.local.Inc()
	return ratelimit.SharedAnswer{}, fmt.Errorf("redisstore: reserve %s: %w", name, err)
}

// answer reads the reserve script's reply (see reserve.lua).
func answer(v []any) (ratelimit.SharedAnswer, error) {
	if len(v) != 10 {
		return ratelimit.SharedAnswer{}, fmt.Errorf("reserve script answered %d values, want 10", len(v))
	}
	var n [10]int64
	for i := range n {
		if i == 8 {
			continue // the cause
		}
		x, ok := v[i].(int64)
		if !ok {
			return ratelimit.SharedAnswer{}, fmt.Errorf("reserve script answered %T at %d, want an integer", v[i], i)
		}
		n[i] = x
	}
	cause, _ := v[8].(string)
	a := ratelimit.SharedAnswer{
		Granted:        int(n[9]),
		Hold:           ratelimit.Hold{Minute: n[2], Day: n[3]},
		Wait:           time.Duration(n[1]) * time.Millisecond,
		MinuteRequests: int(n[4]), MinuteTokens: int(n[5]), DayTokens: int(n[6]),
		Cooldown: time.Duration(n[7]) * time.Millisecond,
	}
	switch n[0] {
	case 0:
	case 1:
		a.Err = ratelimit.ErrRequests
	case 2:
		a.Err = ratelimit.ErrTokens
	case 3:
		a.Err = ratelimit.ErrDaily
	case 4:
		a.Err, a.Cause = ratelimit.ErrCoolingDown, causeOf(cause)
	case 5:
		a.Err = ratelimit.ErrTooLarge
	default:
		return ratelimit.SharedAnswer{}, fmt.Errorf("reserve script answered code %d", n[0])
	}
	if a.Cooldown > 0 {
		a.Cause = causeOf(cause)
	}
	return a, nil
}

// causes are the causes a cooldown key may hold, by name.
var causes = []ratelimit.Cause{ratelimit.CauseThrottled, ratelimit.CauseDaily, ratelimit.CauseSetup, ratelimit.CauseFault}

func causeOf(name string) ratelimit.Cause {
	for _, c := range causes {
		if c.String() == name {
			return c
		}
	}
	return ratelimit.CauseFault // a cause this relay does not know: out of rotation all the same
}

// settleLinger is how long a correction waits for others to the same buckets: within it, the corrections
// of every request a bucket holds are summed and written as one (a round trip costs the relay more in
// wake-ups than in the call itself). Most corrections give back what a reservation estimated beyond the
// answer, so their waiting leaves a window stricter meanwhile; one that takes more (an answer longer than
// estimated) is late by at most this.
const settleLinger = 250 * time.Millisecond

// settleKey is the buckets corrections are summed by.
type settleKey struct {
	name        string
	minute, day int64
}

// Settle sums a correction of a granted reservation's buckets into those waiting (settleLinger) for the
// background writer.
func (s *Store) Settle(name string, h ratelimit.Hold, requests, tokens int) {
	if (h.Minute < 0 && h.Day < 0) || (requests == 0 && tokens == 0) {
		return
	}
	if !s.up.Load() {
		s.m.dropped.Inc()
		return
	}
	k := settleKey{name, h.Minute, h.Day}
	s.smu.Lock()
	first := len(s.settles) == 0
	if len(s.settles) >= queueSize {
		s.smu.Unlock()
		s.m.dropped.Inc()
		return
	}
	d := s.settles[k]
	s.settles[k] = [2]int{d[0] + requests, d[1] + tokens}
	s.smu.Unlock()
	if first {
		select {
		case s.swake <- struct{}{}:
		default:
		}
	}
}

// takeSettles appends the waiting corrections to batch, one write per buckets, and empties them.
func (s *Store) takeSettles(batch []write) []write {
	s.smu.Lock()
	defer s.smu.Unlock()
	for k, d := range s.settles {
		if d[0] != 0 || d[1] != 0 {
			batch = append(batch, write{script: settleScript, keys: s.keys(k.name).settle, args: []any{k.minute, k.day, d[0], d[1]}})
		}
		delete(s.settles, k)
	}
	return batch
}

// Cooldown queues a cooldown, or its end (d <= 0), and its notice to the other processes.
func (s *Store) Cooldown(name string, d time.Duration, cause ratelimit.Cause) {
	ms := int64(0)
	if d > 0 {
		ms = max(d.Milliseconds(), 1)
	}
	s.enqueue(write{script: cooldownScript, keys: s.keys(name).cool, args: []any{ms, cause.String()}})
	s.enqueue(write{notice: s.encode(ratelimit.Notice{Name: name, For: time.Duration(ms) * time.Millisecond, Hard: true, Cause: cause})})
}

// Backoff queues the notice of a soft backoff (or its end) to the other processes. Nothing is stored.
func (s *Store) Backoff(name string, d time.Duration) {
	s.enqueue(write{notice: s.encode(ratelimit.Notice{Name: name, For: d})})
}

// A notice on the channel is one line: "1 ORIGIN KIND MS CAUSE NAME", KIND "soft" or "hard", the name last
// (it may hold spaces).
const noticeVersion = "1"

func (s *Store) encode(n ratelimit.Notice) string {
	kind := "soft"
	if n.Hard {
		kind = "hard"
	}
	return noticeVersion + " " + s.origin + " " + kind + " " + strconv.FormatInt(max(n.For.Milliseconds(), 0), 10) + " " +
		n.Cause.String() + " " + n.Name
}

// decode reads a notice of another process's; ok is false for this store's own, and for a line it does not
// understand (a newer relay's).
func (s *Store) decode(line string) (n ratelimit.Notice, ok bool) {
	f := strings.SplitN(line, " ", 6)
	if len(f) != 6 || f[0] != noticeVersion || f[1] == s.origin || (f[2] != "soft" && f[2] != "hard") {
		return n, false
	}
	ms, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		return n, false
	}
	n = ratelimit.Notice{Name: f[5], For: time.Duration(ms) * time.Millisecond, Hard: f[2] == "hard"}
	if n.Hard {
		n.Cause = causeOf(f[4])
	}
	return n, true
}

// Listen subscribes to the other processes' notices and calls fn (and every function given to Listen
// before) with each, from one goroutine, until Close. go-redis keeps the subscription: it reconnects and
// subscribes again after Redis goes away, so notices resume with sharing (those sent meanwhile are lost).
func (s *Store) Listen(fn func(ratelimit.Notice)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listen = append(s.listen, fn)
	if s.ps != nil {
		return
	}
	s.ps = s.c.Subscribe(context.Background(), s.channel)
	ch := s.ps.Channel()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for msg := range ch {
			if n, ok := s.decode(msg.Payload); ok {
				s.m.notices.Inc()
				s.mu.Lock()
				fns := s.listen
				s.mu.Unlock()
				for _, fn := range fns {
					fn(n)
				}
			}
		}
	}()
}

// enqueue hands w to the background writer without waiting; while in fallback, or with the queue full, w
// is dropped.
func (s *Store) enqueue(w write) {
	if !s.up.Load() {
		s.m.dropped.Inc()
		return
	}
	select {
	case s.q <- w:
	default:
		s.m.dropped.Inc()
	}
}

// Flush waits until every write queued before it has been written (or dropped).
func (s *Store) Flush(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case s.q <- write{done: done}:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stop:
		return errors.New("redisstore: closed")
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writer writes the queued cooldowns and notices in batches (what has queued up while the previous batch was
// written goes in one pipeline), and the summed corrections settleLinger after the first of them; a Flush
// marker takes those along at once.
func (s *Store) writer() {
	defer s.wg.Done()
	batch := make([]write, 0, maxBatch)
	var linger <-chan time.Time
	for {
		batch = batch[:0]
		select {
		case w := <-s.q:
			batch = append(batch, w)
		case <-s.swake:
			if linger == nil {
				linger = time.After(settleLinger)
			}
			continue
		case <-linger:
			linger = nil
			batch = s.takeSettles(batch)
		case <-s.stop:
			for len(batch) < maxBatch && len(s.q) > 0 {
				batch = append(batch, <-s.q)
			}
			s.write(s.takeSettles(batch))
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case w := <-s.q:
				batch = append(batch, w)
			default:
				break more
			}
		}
		for _, w := range batch {
			if w.done != nil { // Flush: the corrections too, before the marker is closed
				batch = s.takeSettles(batch)
				linger = nil
				break
			}
		}
		if len(batch) > 0 {
			s.write(batch)
		}
	}
}

// write sends one batch as a pipeline of EVALSHAs; a script the server has lost (NOSCRIPT: a restart, a
// SCRIPT FLUSH) is run again with EVAL.
func (s *Store) write(batch []write) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	cmds := make([]redis.Cmder, len(batch))
	if s.up.Load() {
		pipe := s.c.Pipeline()
		n := 0
		for i, w := range batch {
			switch {
			case w.notice != "":
				cmds[i] = pipe.Publish(ctx, s.channel, w.notice)
				n++
			case w.done == nil:
				cmds[i] = w.script.EvalSha(ctx, pipe, w.keys, w.args...)
				n++
			}
		}
		if n > 0 {
			pipe.Exec(ctx) // each command's error is looked at below
		}
	}
	var failed error
	// Flush markers are closed last, once every write of the batch (a NOSCRIPT one run again) is done.
	defer func() {
		for _, w := range batch {
			if w.done != nil {
				close(w.done)
			}
		}
	}()
	for i, w := range batch {
		if w.done != nil {
			continue
		}
		cmd := cmds[i]
		if cmd == nil {
			s.m.dropped.Inc()
			continue
		}
		err := cmd.Err()
		if redis.HasErrorPrefix(err, "NOSCRIPT") && w.script != nil {
			err = w.script.Run(ctx, s.c, w.keys, w.args...).Err()
		}
		if err != nil && !errors.Is(err, redis.Nil) {
			s.m.dropped.Inc()
			failed = err
		}
	}
	if failed != nil {
		s.fail("write", failed)
	}
}

// prober checks Redis every probe interval while the store is in fallback, and resumes sharing when it
// answers.
func (s *Store) prober() {
	defer s.wg.Done()
	t := time.NewTimer(s.interval)
	t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
		}
		for !s.up.Load() {
			t.Reset(s.interval)
			select {
			case <-s.stop:
				t.Stop()
				return
			case <-t.C:
			}
			if err := s.ping(); err != nil {
				s.m.errors.WithLabelValues("probe").Inc()
				continue
			}
			if s.up.CompareAndSwap(false, true) {
				s.m.setUp(true)
				s.log.Info("state backend answers again: budgets and cooldowns are shared again", "backend", "redis")
			}
		}
	}
}

// ping runs the reserve script on the probe name: it answers only when Redis takes connections, commands
// and scripts.
func (s *Store) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	return reserveScript.Run(ctx, s.c, s.keys(probeName).reserve, 0, 0, 0, 0, minuteSpan, minuteWidth, daySpan, dayWidth).Err()
}

// fail switches the store to fallback after a failed call, logging the switch once.
func (s *Store) fail(op string, err error) {
	s.m.errors.WithLabelValues(op).Inc()
	if !s.up.CompareAndSwap(true, false) {
		return
	}
	why := s.describe(err)
	s.mu.Lock()
	s.reason = why
	s.mu.Unlock()
	s.m.setUp(false)
	s.m.fallbacks.Inc()
	s.log.Warn("state backend unreachable: budgets fall back to this process's share of each until it answers",
		"backend", "redis", "op", op, "reason", why, "share", s.share)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// describe says what went wrong, without anything secret: go-redis's errors name addresses and Redis's
// own messages, never the password.
func (s *Store) describe(err error) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return "redis did not answer within " + s.timeout.String() + " (state.redis.timeout)"
	}
	return "redis call failed: " + err.Error()
}

// Status says whether budgets are shared now, and if not why, with the fallback share.
func (s *Store) Status() (shared bool, reason string) {
	if s.up.Load() {
		return true, ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return false, s.reason + "; budgets are this relay's alone, at " + strconv.FormatFloat(s.share, 'g', -1, 64) + " of each, until it answers"
}
