package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"

	relay "github.com/bedrock-relay/bedrock-relay"
	"github.com/bedrock-relay/bedrock-relay/catalog"
	"github.com/bedrock-relay/bedrock-relay/ratelimit"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// Member is one place requests can go.
type Member struct {
	Name     string
	Account  string
	Region   string
	Priority int // lower is preferred; targets of a higher priority are used only when all lower ones are out
	Weight   int // relative share among targets of the same priority (default 1)
	// Models maps a foundation-model id to the id this target calls for it (a jp./us./global. profile id,
	// the foundation-model id itself, or an application-profile ARN).
	Models map[string]string
	// Budgets per model (by foundation-model id); a model missing here has no client-side limit.
	Budgets map[string]ratelimit.Budget
	Client  *upstream.Client
	// Credentials are the target's assumed-role credentials (for readiness checks); may be nil in tests.
	Credentials aws.CredentialsProvider
}

// Sender is what the router needs of an upstream client (an *upstream.Client; tests may substitute).
type Sender interface {
	Do(ctx context.Context, r *upstream.Request) (*http.Response, error)
}

// Router chooses targets. It is safe for concurrent use.
type Router struct {
	targets []*Member
	byModel map[string][]*Member
	aliases map[string]string
	limits  *ratelimit.Table
	cat     *catalog.Catalog
	opts    Options
	senders map[*Member]Sender
	// compat is the anthropic table compiled per model a target runs (compat.go); nil entries for models
	// without one (Nova).
	compat map[string]*modelCompat
	mu     sync.Mutex
	rr     uint64
}

// Options tune a Router.
type Options struct {
	// WaitForCapacity is how long a request may wait for a target when all are exhausted.
	WaitForCapacity time.Duration
	// Aliases map caller-facing names to foundation-model ids.
	Aliases map[string]string
	Clock   func() time.Time
	Logger  *slog.Logger
	Metrics *Metrics
	// Limits is the budget table; nil makes one.
	Limits *ratelimit.Table
	// MaxAttempts bounds the attempts one request makes across targets and retry rounds; 0 is
	// DefaultMaxAttempts. A request tries every target that can take it once per round; a round ends when
	// none is left, and another starts only after a transient failure (throttle, fault).
	MaxAttempts int
	// RetryBase is the pause before the second round, growing with each round; 0 is 100ms.
	RetryBase time.Duration
	// StreamIdleTimeout ends a stream whose upstream sends nothing for that long (with an exception frame,
	// counted as a fault of the target); 0 is DefaultStreamIdleTimeout.
	StreamIdleTimeout time.Duration
	// Catalog is the model catalogue (burndown, the anthropic compatibility table); nil is catalog.Default().
	Catalog *catalog.Catalog
	// Betas is what the compatibility shim does with anthropic_beta flags a target's model does not accept.
	Betas BetaPolicy
}

// New builds a router over targets.
func New(targets []*Member, o Options) (*Router, error) {
	if len(targets) == 0 {
		return nil, errors.New("router: no targets")
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Limits == nil {
		o.Limits = ratelimit.New(ratelimit.WithClock(o.Clock))
	}
	if o.Catalog == nil {
		o.Catalog = catalog.Default()
	}
	r := &Router{targets: targets, byModel: map[string][]*Member{}, aliases: map[string]string{}, limits: o.Limits,
		cat: o.Catalog, opts: o, senders: map[*Member]Sender{}, compat: map[string]*modelCompat{}}
	for k, v := range o.Aliases {
		r.aliases[k] = v
	}
	seen := map[string]bool{}
	for _, t := range targets {
		if seen[t.Name] {
			return nil, fmt.Errorf("router: two targets named %q", t.Name)
		}
		seen[t.Name] = true
		if t.Weight <= 0 {
			t.Weight = 1
		}
		if t.Client != nil {
			r.senders[t] = t.Client
		}
		for fm := range t.Models {
			r.byModel[fm] = append(r.byModel[fm], t)
			if m := modelOf(t, fm); r.compat[m] == nil {
				r.compat[m] = compileCompat(r.cat, m)
			}
			if b, ok := t.Budgets[fm]; ok {
				if err := r.limits.SetBudget(ratelimit.Key{Target: t.Name, Model: fm}, b); err != nil {
					return nil, fmt.Errorf("router: target %s: %w", t.Name, err)
				}
			}
		}
	}
	return r, nil
}

// SetSender replaces the upstream of a target (tests, benchmarks).
func (r *Router) SetSender(t *Member, s Sender) { r.senders[t] = s }

// Targets lists the targets.
func (r *Router) Targets() []*Member { return r.targets }

// Limits is the router's budget table (for metrics and admin views).
func (r *Router) Limits() *ratelimit.Table { return r.limits }

// Models lists the foundation-model ids served and the aliases, sorted.
func (r *Router) Models() (models []string, aliases map[string]string) {
	for m := range r.byModel {
		models = append(models, m)
	}
	sort.Strings(models)
	return models, r.aliases
}

// Resolve maps what a caller asked for (alias, foundation-model id, any geography's profile id, or a
// foundation-model ARN) to the foundation-model id targets serve.
func (r *Router) Resolve(model string) (string, error) {
	if fm, ok := r.aliases[model]; ok {
		return fm, nil
	}
	ref, err := catalog.ParseRef(model)
	if err != nil {
		return "", &CallerError{Code: "ValidationException", Message: err.Error()}
	}
	id := ref.ID
	if ref.Kind == catalog.KindSystemProfile {
		if _, fm, ok := catalog.SplitProfileID(id); ok {
			id = fm
		}
	}
	if _, ok := r.byModel[id]; ok {
		return id, nil
	}
	if ref.Kind == catalog.KindApplicationProfile {
		for fm, ts := range r.byModel {
			for _, t := range ts {
				if strings.HasSuffix(t.Models[fm], "/"+ref.ID) {
					return fm, nil
				}
			}
		}
	}
	return "", &CallerError{Code: "ValidationException", Message: fmt.Sprintf("The relay serves no model %q. Served: %s.", model, strings.Join(r.servedList(), ", "))}
}

func (r *Router) servedList() []string {
	m, a := r.Models()
	for k := range a {
		m = append(m, k)
	}
	sort.Strings(m)
	return m
}

// Request is one call to route.
type Request struct {
	Op     string // upstream.OpInvoke, ...
	Model  string // as the caller named it
	Body   []byte
	Header http.Header
	// MaxTokens and InputTokens size the budget reservation; 0 estimates them from the body.
	MaxTokens, InputTokens int
	// Key and Group are the caller's key name and its group ("" without keys, auth: none). They go with the
	// request to the target's upstream, which signs it with the key's own session when per-key sessions are
	// on (attribution.session_per_key), and with the target's shared session otherwise.
	Key, Group string
}

// Attempt records one try, for logs and headers.
type Attempt struct {
	Target string
	Code   string // "" on success
	Err    error
}

// Result is a successful answer.
type Result struct {
	Target   *Member
	Model    string // foundation-model id
	Called   string // id sent to the target
	Response *http.Response
	// Body is the whole body for non-stream operations (Response.Body is then closed).
	Body []byte
	// Stream is set for stream operations; it must be closed.
	Stream   *Stream
	Attempts []Attempt
	Usage    upstream.Usage
}

// CallerError is a request the relay refuses without trying a target (unknown model, bad body).
type CallerError struct {
	Code, Message string
}

func (e *CallerError) Error() string { return e.Code + ": " + e.Message }

// ExhaustedError says no target could take the request now.
type ExhaustedError struct {
	Model      string
	RetryAfter time.Duration
	Attempts   []Attempt
	// Setup is set when every target is out for a setup problem (AccessDenied, model not enabled): waiting
	// will not help.
	Setup bool
	// Faults is set when the targets are out because of upstream faults (5xx, broken connections, STS
	// failing), not budgets or throttles: the answer is then 503, not 429. Last is the latest upstream
	// failure of this request, when it made one.
	Faults    bool
	Last      error
	none      bool // no untried target was left to ask
	faultOnly bool // every untried target is backing off after transient faults
}

func (e *ExhaustedError) Error() string {
	switch {
	case e.Setup:
		return fmt.Sprintf("every target for %s is out with a setup problem (%s); run `bedrock-relay check`", e.Model, Summary(e.Attempts))
	case e.Faults:
		return fmt.Sprintf("every target for %s is backing off after upstream faults (%s); retry after %s", e.Model, Summary(e.Attempts), e.RetryAfter.Round(time.Second))
	}
	return fmt.Sprintf("Too many requests, please wait before trying again. Every target for %s is at its limit; retry after %s.", e.Model, e.RetryAfter.Round(time.Second))
}

// Summary names each failed attempt as "target: code", joined; none reads "no target was tried".
func Summary(as []Attempt) string {
	var parts []string
	for _, a := range as {
		if a.Code != "" {
			parts = append(parts, a.Target+": "+a.Code)
		}
	}
	if len(parts) == 0 {
		return "no target was tried"
	}
	return strings.Join(parts, ", ")
}

// FinalError is the last upstream failure after failover had nowhere left to go, or a caller error from
// upstream (ValidationException) that must not be retried. It carries the upstream error to pass on.
type FinalError struct {
	Err      *upstream.Error // nil for connection errors
	Cause    error
	Attempts []Attempt
}

func (e *FinalError) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return e.Cause.Error()
}

func (e *FinalError) Unwrap() error { return e.Cause }

// classify is what a failed attempt means, from the one table of AWS error codes (relay.LookupCode), and the
// code to record for it. A failure that is no AWS answer is the caller going away (Canceled), credentials
// that could not be had, or a connection that failed (a transient fault). Credentials are a setup problem
// only when STS refused them for a reason waiting cannot fix (AccessDenied, a malformed policy, an expired
// source session); STS throttling, 5xx, timeouts and unreachable endpoints are transient faults.
func classify(err error) (relay.Class, string) {
	var ce *upstream.CredentialsError
	if errors.As(err, &ce) {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			switch relay.ClassOf(ae.ErrorCode(), 0, ae.ErrorMessage()) {
			case relay.ClassThrottle, relay.ClassDaily, relay.ClassFault:
				return relay.ClassFault, "CredentialsUnavailable"
			}
			return relay.ClassSetup, "CredentialsUnavailable"
		}
		return relay.ClassFault, "CredentialsUnavailable"
	}
	var ue *upstream.Error
	if errors.As(err, &ue) {
		return relay.ClassOf(ue.Code, ue.Status, ue.Message), ue.Code
	}
	if errors.Is(err, context.Canceled) {
		return relay.ClassCaller, "Canceled"
	}
	// Connection refused, reset, timeouts: transient.
	return relay.ClassFault, "ConnectionError"
}

// Do routes req: it tries targets until one answers, the deadline passes, or failover has nowhere to go.
func (r *Router) Do(ctx context.Context, req *Request) (*Result, error) {
	fm, err := r.Resolve(req.Model)
	if err != nil {
		return nil, err
	}
	if req.MaxTokens == 0 {
		req.MaxTokens = ScanMaxTokens(req.Body)
	}
	if req.InputTokens == 0 {
		req.InputTokens = EstimateInputTokens(req.Body)
	}
	burndown := 1
	if m, ok := r.cat.Model(fm); ok {
		burndown = m.OutputBurndown
	}
	stream := req.Op == upstream.OpInvokeStream || req.Op == upstream.OpConverseStream
	maxAttempts := r.opts.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = max(DefaultMaxAttempts, len(r.byModel[fm]))
	}
	var attempts []Attempt
	tried := map[*Member]bool{}
	// refused are the targets whose model cannot take this body (the compatibility shim said why in
	// refusal): they stay tried across rounds, and the request fails with refusal only if every target was.
	var refused map[*Member]bool
	var refusal *CallerError
	resetTried := func() {
		tried = map[*Member]bool{}
		for t := range refused {
			tried[t] = true
		}
	}
	var adapted adaptedBody
	start := r.opts.Clock()
	round := 0
	for {
		var t *Member
		var resv ratelimit.Reservation
		var exhausted *ExhaustedError
		if len(attempts) < maxAttempts {
			t, resv, exhausted = r.pick(fm, req, burndown, tried)
		} else {
			exhausted = &ExhaustedError{Model: fm, Setup: true, none: true}
		}
		if t == nil {
			if refusal != nil && len(attempts) == 0 && r.allRefused(fm, refused) {
				return nil, refusal
			}
			last := lastFinal(attempts)
			transient := false
			if last != nil {
				cls, _ := classify(last.Err)
				transient = cls == relay.ClassFault || cls == relay.ClassThrottle
			}
			if transient && len(attempts) < maxAttempts && len(tried) > len(refused) {
				// Every target has had this request once and failed it in a way the next try may not: go
				// round again after a short, jittered pause, as an SDK retries, if the deadline allows.
				round++
				pause := retryPause(round, r.opts.RetryBase)
				if dl, ok := ctx.Deadline(); !ok || r.opts.Clock().Add(pause).Before(dl) {
					if err := sleep(ctx, pause); err != nil {
						return nil, &FinalError{Err: asUpstream(last.Err), Cause: err, Attempts: attempts}
					}
					resetTried()
					continue
				}
			}
			if last != nil && (exhausted.none || exhausted.faultOnly) {
				if cls, _ := classify(last.Err); cls == relay.ClassFault {
					// Every target was tried and the last one failed: pass its answer on.
					return nil, &FinalError{Err: asUpstream(last.Err), Cause: last.Err, Attempts: attempts}
				}
			}
			setup := exhausted.Setup
			for _, a := range attempts {
				if cls, _ := classify(a.Err); cls != relay.ClassSetup {
					setup = false
				}
			}
			exhausted.Setup = setup && (len(attempts) > 0 || !exhausted.none)
			exhausted.Faults = !exhausted.Setup && exhausted.faultOnly
			if last != nil {
				exhausted.Last = last.Err
			}
			exhausted.Attempts = attempts
			exhausted.RetryAfter = r.earliestFree(fm)
			if wait := exhausted.RetryAfter; r.opts.WaitForCapacity > 0 && !exhausted.Setup && wait > 0 {
				deadline := start.Add(r.opts.WaitForCapacity)
				if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
					deadline = dl
				}
				if !r.opts.Clock().Add(wait).After(deadline) {
					if err := sleep(ctx, wait); err != nil {
						return nil, err
					}
					resetTried() // capacity may be back anywhere
					continue
				}
			}
			r.opts.Metrics.exhausted(fm)
			return nil, exhausted
		}
		tried[t] = true
		called := t.Models[fm]
		if req.Op == upstream.OpCountTokens {
			// CountTokens takes a foundation-model id (FoundationModelVersionIdentifier), not a profile: it
			// invokes nothing, so the profile's routing has no meaning for it.
			called = fm
		}
		body, cerr := adapted.forTarget(r, t, fm, req)
		if cerr != nil {
			resv.Cancel()
			if refused == nil {
				refused = map[*Member]bool{}
			}
			refused[t], refusal = true, cerr
			continue
		}
		res, err := r.try(ctx, t, called, body, req, stream)
		if err == nil {
			res.Model, res.Called, res.Attempts = fm, called, append(attempts, Attempt{Target: t.Name})
			r.finish(ctx, t, fm, resv, res, stream)
			if len(attempts) > 0 {
				r.opts.Metrics.failover(fm, len(attempts))
			}
			return res, nil
		}
		resv.Cancel()
		if ctx.Err() != nil {
			// The relay's own deadline or the caller hanging up cut the attempt: that says nothing about the
			// target, which is neither cooled nor counted.
			attempts = append(attempts, Attempt{Target: t.Name, Code: contextCode(ctx.Err()), Err: ctx.Err()})
			return nil, &FinalError{Err: asUpstream(err), Cause: ctx.Err(), Attempts: attempts}
		}
		cls, code := classify(err)
		attempts = append(attempts, Attempt{Target: t.Name, Code: code, Err: err})
		r.opts.Metrics.upstreamError(t.Name, fm, code)
		key := ratelimit.Key{Target: t.Name, Model: fm}
		var out ratelimit.Outcome
		switch cls {
		case relay.ClassCaller:
			return nil, &FinalError{Err: asUpstream(err), Cause: err, Attempts: attempts}
		case relay.ClassThrottle:
			out = r.limits.Failure(key, ratelimit.CauseThrottled)
			r.opts.Metrics.backoff(t.Name, fm, "throttled", out.Hard)
		case relay.ClassDaily:
			out = r.limits.Failure(key, ratelimit.CauseDaily)
			r.opts.Metrics.backoff(t.Name, fm, "daily", out.Hard)
		case relay.ClassFault:
			out = r.limits.Failure(key, ratelimit.CauseFault)
			r.opts.Metrics.backoff(t.Name, fm, "fault", out.Hard)
		case relay.ClassSetup, relay.ClassExpired:
			out = r.limits.Failure(key, ratelimit.CauseSetup)
			r.opts.Metrics.backoff(t.Name, fm, "setup", out.Hard)
			logSetup(r.opts.Logger, t, fm, code, err)
		}
		_ = out
	}
}

// logSetup logs a target taken out for a setup problem, with what to do about it when the error says
// (credcache.Error's Hint: a per-key session's tags refused for want of sts:TagSession).
func logSetup(l *slog.Logger, t *Member, fm, code string, err error) {
	var h interface{ Hint() string }
	if errors.As(err, &h) && h.Hint() != "" {
		l.Warn("target taken out: setup problem", "target", t.Name, "model", fm, "code", code, "error", err.Error(), "fix", h.Hint())
		return
	}
	l.Warn("target taken out: setup problem", "target", t.Name, "model", fm, "code", code, "error", err.Error())
}

// DefaultMaxAttempts is how many attempts one request may make across targets and rounds when
// Options.MaxAttempts is 0 (or the number of targets serving the model, if that is more).
const DefaultMaxAttempts = 3

// retryPause is the pause before retry round n: base (default 100ms) times n, with ±50 % jitter.
func retryPause(n int, base time.Duration) time.Duration {
	if base <= 0 {
		base = 100 * time.Millisecond
	}
	d := base * time.Duration(n)
	return d/2 + time.Duration(rand.Int64N(int64(d)))
}

// contextCode is the code an attempt cut by the request's context is recorded with.
func contextCode(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "RequestTimeout"
	}
	return "Canceled"
}

// earliestFree is when the first target for fm can take a request again, at least one second so that a
// Retry-After header is meaningful.
func (r *Router) earliestFree(fm string) time.Duration {
	keys := make([]ratelimit.Key, 0, len(r.byModel[fm]))
	for _, t := range r.byModel[fm] {
		keys = append(keys, ratelimit.Key{Target: t.Name, Model: fm})
	}
	d := r.limits.EarliestFree(keys...)
	if d < time.Second {
		d = time.Second
	}
	return d
}

func lastFinal(as []Attempt) *Attempt {
	for i := len(as) - 1; i >= 0; i-- {
		if as[i].Err != nil {
			return &as[i]
		}
	}
	return nil
}

func asUpstream(err error) *upstream.Error {
	var ue *upstream.Error
	if errors.As(err, &ue) {
		return ue
	}
	return nil
}

// pick chooses the untried eligible target with the most headroom among the best priority and reserves its
// budget; a target in a soft backoff (after a throttle or fault that did not take it out of rotation, here or
// in another relay sharing the state) comes after every other, of any priority. When none can take the
// request it says when the first frees up.
func (r *Router) pick(fm string, req *Request, burndown int, tried map[*Member]bool) (*Member, ratelimit.Reservation, *ExhaustedError) {
	cands := r.byModel[fm]
	type scored struct {
		t     *Member
		idx   int
		score float64
		soft  bool // in a soft backoff: after every target that is not, whatever the priorities
	}
	var buf [16]scored // most pools are small: keep the candidate list on the stack
	list := buf[:0]
	for i, t := range cands {
		if tried[t] || r.senders[t] == nil {
			continue
		}
		h, soft := r.limits.Standing(ratelimit.Key{Target: t.Name, Model: fm})
		list = append(list, scored{t, i, h * float64(t.Weight), soft})
	}
	r.mu.Lock()
	r.rr++
	rot := r.rr
	r.mu.Unlock()
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].soft != list[j].soft {
			return !list[i].soft
		}
		if list[i].t.Priority != list[j].t.Priority {
			return list[i].t.Priority < list[j].t.Priority
		}
		if math.Abs(list[i].score-list[j].score) > 1e-9 {
			return list[i].score > list[j].score
		}
		// Equal headroom: rotate so ties spread.
		return (uint64(list[i].idx)+rot)%uint64(len(cands)) < (uint64(list[j].idx)+rot)%uint64(len(cands))
	})
	// Built on the refusal path only: a success allocates no error.
	setup, faultOnly := true, len(list) > 0
	var earliest time.Duration = -1
	for _, c := range list {
		key := ratelimit.Key{Target: c.t.Name, Model: fm}
		resv, err := r.limits.Reserve(key, req.InputTokens, req.MaxTokens, burndown)
		if err == nil {
			return c.t, resv, nil
		}
		var le *ratelimit.LimitError
		if errors.As(err, &le) {
			if le.Cause != ratelimit.CauseSetup {
				setup = false
			}
			if le.Cause != ratelimit.CauseFault {
				faultOnly = false
			}
			if earliest < 0 || le.RetryAfter < earliest {
				earliest = le.RetryAfter
			}
		}
	}
	if earliest < 0 {
		earliest = 0
	}
	return nil, ratelimit.Reservation{}, &ExhaustedError{Model: fm, Setup: setup, none: len(list) == 0, faultOnly: faultOnly, RetryAfter: earliest}
}

func (r *Router) try(ctx context.Context, t *Member, called string, body []byte, req *Request, stream bool) (*Result, error) {
	resp, err := r.senders[t].Do(ctx, &upstream.Request{Op: req.Op, ModelID: called, Body: body, Header: req.Header, Key: req.Key, Group: req.Group})
	if err != nil {
		return nil, err
	}
	res := &Result{Target: t, Response: resp}
	if !stream {
		body, err := readAll(resp)
		if err != nil {
			return nil, err
		}
		res.Body = body
		res.Usage = upstream.UsageFromResponse(req.Op, resp.Header, body)
		return res, nil
	}
	s, err := openStream(resp, req.Op)
	if err != nil {
		resp.Body.Close()
		return nil, err
	}
	res.Stream = s
	return res, nil
}

// finish records a success: the budget is corrected when usage is known (at once, or when the stream ends).
// A stream that the upstream breaks, cuts short or stalls counts as a fault of the target when it ends; one
// the caller or the relay's deadline ends does not.
func (r *Router) finish(ctx context.Context, t *Member, fm string, resv ratelimit.Reservation, res *Result, stream bool) {
	key := ratelimit.Key{Target: t.Name, Model: fm}
	r.limits.Success(key)
	if !stream {
		u := res.Usage
		resv.Commit(u.InputTokens, u.OutputTokens)
		r.opts.Metrics.served(t.Name, fm, u)
		return
	}
	res.Stream.onEnd = func(u upstream.Usage, upstreamFault bool) {
		res.Usage = u
		resv.Commit(u.InputTokens, u.OutputTokens)
		r.opts.Metrics.served(t.Name, fm, u)
		if upstreamFault && ctx.Err() == nil {
			out := r.limits.Failure(key, ratelimit.CauseFault)
			r.opts.Metrics.upstreamError(t.Name, fm, "ModelStreamErrorException")
			r.opts.Metrics.backoff(t.Name, fm, "fault", out.Hard)
		}
	}
	idle := r.opts.StreamIdleTimeout
	if idle <= 0 {
		idle = DefaultStreamIdleTimeout
	}
	res.Stream.watchIdle(idle)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
