package httpapi

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/ratelimit"
	"github.com/bedrock-relay/bedrock-relay/router"
	"github.com/bedrock-relay/bedrock-relay/usage"
)

// The status page (GET / on the admin port) is one server-rendered HTML page that refreshes itself every
// statusRefresh seconds: the pool's targets and their models (state, budgets' headroom, cooldowns, last
// error, credentials' expiry), the callers' keys and groups against their budgets, and the request and error
// rates. It has no JavaScript at all (its Content-Security-Policy forbids any), and shows names only: never a
// key's hash, a credential, a prompt or an error message from upstream (only error codes).

// statusRefresh is how often the page reloads itself, in seconds.
const statusRefresh = 5

// statusCredTimeout bounds the credential look-ups of one page: the caches answer from memory while their
// session is valid, so this is reached only when an STS call is under way.
const statusCredTimeout = 2 * time.Second

// StatusKey is a caller key or a group on the status page: its name (never its hash) and its budgets.
type StatusKey struct {
	Name, Group string // Group: the key's group ("" for none; unused for groups)
	Budgets     config.KeyBudgets
}

// The StatusBoard's bounds.
const (
	boardSeconds    = 300  // the span of its rates: 5 minutes of per-second buckets
	boardMaxTargets = 1024 // the targets whose last error it keeps; the oldest goes first beyond that
	boardMaxCode    = 64   // an error code is cut to this many bytes
)

// StatusBoard counts the relay's finished requests for the status page: requests and errors in per-second
// buckets over the last 5 minutes, and the last error of each target. Its memory is fixed (300 buckets and
// at most boardMaxTargets last errors) whatever the traffic. It is safe for concurrent use, and Observe is
// O(1) and allocation-free but for a target's first error. A nil *StatusBoard observes nothing.
type StatusBoard struct {
	now func() time.Time

	mu   sync.Mutex
	secs [boardSeconds]boardBucket
	last map[string]BoardError
}

type boardBucket struct {
	sec int64 // the Unix second the counts are of; tells a live bucket from a stale one in its slot
	n   BoardCounts
}

// BoardCounts are the requests a StatusBoard saw over a window.
type BoardCounts struct {
	Requests int64
	// Errors are the requests that failed (an AWS error code, or a status of 400 or more), whoever's fault;
	// Throttled those answered 429 and Faults those answered 5xx, among them.
	Errors, Throttled, Faults int64
}

// BoardError is a target's last error.
type BoardError struct {
	Code   string // the AWS error code ("HTTP 503" when there was none)
	Status int
	At     time.Time
}

// NewStatusBoard returns an empty board on clock now (nil: time.Now).
func NewStatusBoard(now func() time.Time) *StatusBoard {
	if now == nil {
		now = time.Now
	}
	return &StatusBoard{now: now, last: map[string]BoardError{}}
}

func boardSlot(sec int64) int { return int(((sec % boardSeconds) + boardSeconds) % boardSeconds) }

// Observe records one finished request: the target that answered or last failed ("" when none was tried),
// its AWS error code ("" on success) and its HTTP status.
func (b *StatusBoard) Observe(target, code string, status int) {
	if b == nil {
		return
	}
	now := b.now()
	sec := now.Unix()
	failed := code != "" || status >= 400
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := &b.secs[boardSlot(sec)]
	if bk.sec != sec {
		*bk = boardBucket{sec: sec}
	}
	bk.n.Requests++
	if !failed {
		return
	}
	bk.n.Errors++
	switch {
	case status == http.StatusTooManyRequests:
		bk.n.Throttled++
	case status >= 500 && status != statusClientClosed:
		bk.n.Faults++
	}
	if code == "" {
		code = "HTTP " + strconv.Itoa(status)
	}
	if len(code) > boardMaxCode {
		code = cut(code, boardMaxCode)
	}
	if _, ok := b.last[target]; !ok && len(b.last) >= boardMaxTargets {
		oldest := ""
		first := true
		for t, e := range b.last {
			if first || e.At.Before(b.last[oldest].At) {
				oldest, first = t, false
			}
		}
		delete(b.last, oldest)
	}
	b.last[target] = BoardError{Code: code, Status: status, At: now}
}

// Counts sums the requests of the last window (whole seconds, the current one included; at most 5 minutes).
func (b *StatusBoard) Counts(window time.Duration) BoardCounts {
	if b == nil {
		return BoardCounts{}
	}
	n := int64(window / time.Second)
	n = min(max(n, 1), boardSeconds)
	now := b.now().Unix()
	var c BoardCounts
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.secs {
		bk := &b.secs[i]
		if bk.sec > now-n && bk.sec <= now {
			c.Requests += bk.n.Requests
			c.Errors += bk.n.Errors
			c.Throttled += bk.n.Throttled
			c.Faults += bk.n.Faults
		}
	}
	return c
}

// LastError is target's last error; ok is false when it has had none (since the board began, or since it
// was evicted past boardMaxTargets).
func (b *StatusBoard) LastError(target string) (e BoardError, ok bool) {
	if b == nil {
		return BoardError{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok = b.last[target]
	return e, ok
}

// LastErrors is a copy of every target's last error.
func (b *StatusBoard) LastErrors() map[string]BoardError {
	out := map[string]BoardError{}
	if b == nil {
		return out
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for t, e := range b.last {
		out[t] = e
	}
	return out
}

//go:embed status.html
var statusHTML string

var statusTemplate = template.Must(template.New("status").Parse(statusHTML))

// statusCSP allows the page's own inline style and nothing else: no script, no frame, no form, no fetch.
const statusCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// newStatusHandler serves the status page.
func newStatusHandler(d AdminDeps) http.Handler {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page := buildStatus(r.Context(), d, now())
		var buf bytes.Buffer
		if err := statusTemplate.Execute(&buf, page); err != nil {
			http.Error(w, "the status page cannot be rendered", http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", statusCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Length", strconv.Itoa(buf.Len()))
		if r.Method == http.MethodHead {
			return
		}
		w.Write(buf.Bytes())
	})
}

// statusPage is what the template shows; every string is ready to print (the template escapes it).
type statusPage struct {
	Refresh   int
	Generated string
	Metrics   bool

	Traffic []rateRow // nil: no board
	// Untargeted is the last error of a request that reached no target (refused before routing).
	Untargeted, UntargetedAgo string

	ShowTargets bool
	Targets     []targetView

	ShowKeys bool
	KeysErr  string
	Keys     []scopeView
	Groups   []scopeView
}

type rateRow struct {
	Window, Requests, PerSecond, Errors, ErrorShare, Throttled, Faults string
	ErrorClass                                                         string
}

type targetView struct {
	Name, Account, Region string
	Creds, CredsClass     string
	LastError, LastAgo    string
	Models                []modelView
}

type modelView struct {
	Model, Via        string
	State, StateClass string
	Detail            string // cooldown cause and time left, backoff time left
	Budgets           []budgetView
	Headroom          string
	HeadroomPct       int
	HeadroomClass     string
}

// budgetView is one budget's use: Used of Limit, Pct for its bar (only when Limited).
type budgetView struct {
	Label, Used, Limit string
	Limited            bool
	Pct                int
	Class              string // ok, warn, full
}

type scopeView struct {
	Name, Group                             string
	TodayRequests, TodayErrors, TodayTokens string
	TodayCost, MonthRequests, MonthTokens   string
	MonthCost                               string
	Budgets                                 []budgetView
	NoBudgets                               bool
}

func buildStatus(ctx context.Context, d AdminDeps, now time.Time) *statusPage {
	p := &statusPage{Refresh: statusRefresh, Generated: clock(now), Metrics: d.Gatherer != nil}
	if d.Board != nil {
		p.Traffic = trafficRows(d.Board)
		if e, ok := d.Board.LastError(""); ok {
			p.Untargeted, p.UntargetedAgo = e.Code, ago(now, e.At)
		}
	}
	if d.Router != nil {
		p.ShowTargets = true
		p.Targets = targetViews(ctx, d.Router, d.Board, now)
	}
	if len(d.Keys) > 0 || len(d.Groups) > 0 || d.Usage != nil {
		p.ShowKeys = true
		p.Keys, p.Groups, p.KeysErr = scopeViews(d, now)
	}
	return p
}

func trafficRows(b *StatusBoard) []rateRow {
	var rows []rateRow
	for _, w := range []struct {
		name string
		d    time.Duration
	}{{"last 1 min", time.Minute}, {"last 5 min", 5 * time.Minute}} {
		c := b.Counts(w.d)
		row := rateRow{Window: w.name, Requests: Count(c.Requests), PerSecond: fmt.Sprintf("%.2f/s", float64(c.Requests)/w.d.Seconds()),
			Errors: Count(c.Errors), Throttled: Count(c.Throttled), Faults: Count(c.Faults), ErrorShare: "—", ErrorClass: "ok"}
		if c.Requests > 0 {
			share := float64(c.Errors) / float64(c.Requests)
			row.ErrorShare = fmt.Sprintf("%.1f%%", 100*share)
			switch {
			case share >= 0.2:
				row.ErrorClass = "full"
			case share > 0:
				row.ErrorClass = "warn"
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// credsView describes a target's cached STS session: when it expires, never the credentials.
type credsView struct{ text, class string }

func targetCreds(ctx context.Context, ts []*router.Member, now time.Time) []credsView {
	ctx, cancel := context.WithTimeout(ctx, statusCredTimeout)
	defer cancel()
	out := make([]credsView, len(ts))
	var wg sync.WaitGroup
	for i, t := range ts {
		if t.Credentials == nil {
			out[i] = credsView{"—", "muted"}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := t.Credentials.Retrieve(ctx)
			switch {
			case err != nil:
				msg := "cannot be obtained"
				if ctx.Err() != nil {
					msg = "no answer within " + statusCredTimeout.String()
				} else if s := err.Error(); s != "" {
					msg += ": " + cut(s, 200)
				}
				out[i] = credsView{msg, "full"}
			case !c.CanExpire:
				out[i] = credsView{"static (no expiry)", "ok"}
			case !c.Expires.After(now):
				out[i] = credsView{"expired at " + clock(c.Expires), "full"}
			default:
				left := c.Expires.Sub(now)
				cls := "ok"
				if left < 5*time.Minute {
					cls = "warn"
				}
				out[i] = credsView{"session expires in " + span(left) + " (" + clock(c.Expires) + ")", cls}
			}
		}()
	}
	wg.Wait()
	return out
}

func targetViews(ctx context.Context, r *router.Router, b *StatusBoard, now time.Time) []targetView {
	ts := r.Targets()
	creds := targetCreds(ctx, ts, now)
	states := map[ratelimit.Key]ratelimit.State{}
	for _, st := range r.Limits().Snapshot() {
		states[st.Key] = st
	}
	last := b.LastErrors()
	out := make([]targetView, 0, len(ts))
	for i, t := range ts {
		tv := targetView{Name: t.Name, Account: orDash(t.Account), Region: orDash(t.Region), Creds: creds[i].text, CredsClass: creds[i].class,
			LastError: "none", LastAgo: ""}
		if b == nil {
			tv.LastError = "—"
		} else if e, ok := last[t.Name]; ok {
			tv.LastError, tv.LastAgo = e.Code, ago(now, e.At)
		}
		models := make([]string, 0, len(t.Models))
		for m := range t.Models {
			models = append(models, m)
		}
		slices.Sort(models)
		for _, m := range models {
			k := ratelimit.Key{Target: t.Name, Model: m}
			st, seen := states[k]
			if !seen {
				st = ratelimit.State{Key: k, Budget: t.Budgets[m], Headroom: 1}
			}
			tv.Models = append(tv.Models, modelRow(st, t.Models[m], now))
		}
		out = append(out, tv)
	}
	return out
}

func modelRow(st ratelimit.State, via string, now time.Time) modelView {
	mv := modelView{Model: st.Key.Model, State: "ready", StateClass: "ready"}
	if via != st.Key.Model {
		mv.Via = via
	}
	switch {
	case !st.CooldownUntil.IsZero():
		mv.State, mv.StateClass = "cooling down", "cooling"
		mv.Detail = causeText(st.Cause) + ", " + span(st.CooldownUntil.Sub(now)) + " left (until " + clock(st.CooldownUntil) + ")"
	case st.Probing:
		mv.State, mv.StateClass = "probing", "probing"
		mv.Detail = "one request is finding out whether it works again"
	case !st.SoftUntil.IsZero():
		mv.State, mv.StateClass = "soft backoff", "soft"
		mv.Detail = "tried only when no other target is free, " + span(st.SoftUntil.Sub(now)) + " left"
	}
	mv.Budgets = []budgetView{
		budget("requests/min", int64(st.MinuteRequests), int64(st.Budget.RequestsPerMinute)),
		budget("tokens/min", int64(st.MinuteTokens), int64(st.Budget.TokensPerMinute)),
		budget("tokens/day", int64(st.DayTokens), int64(st.Budget.TokensPerDay)),
	}
	h := min(max(st.Headroom, 0), 1)
	mv.HeadroomPct = int(math.Round(100 * h))
	mv.Headroom = strconv.Itoa(mv.HeadroomPct) + "%"
	mv.HeadroomClass = "ok"
	switch {
	case h <= 0:
		mv.HeadroomClass = "full"
	case h < 0.2:
		mv.HeadroomClass = "warn"
	}
	return mv
}

func causeText(c ratelimit.Cause) string {
	switch c {
	case ratelimit.CauseThrottled:
		return "throttled (ThrottlingException)"
	case ratelimit.CauseDaily:
		return "daily token quota spent"
	case ratelimit.CauseSetup:
		return "setup error (access denied or model not enabled)"
	case ratelimit.CauseFault:
		return "server errors"
	}
	return c.String()
}

// budget is used of limit (0: none) for a bar.
func budget(label string, used, limit int64) budgetView {
	bv := budgetView{Label: label, Used: Count(used), Limit: "no limit"}
	if limit > 0 {
		bv.Limited, bv.Limit = true, Count(limit)
		bv.Pct, bv.Class = share(float64(used), float64(limit))
	}
	return bv
}

func moneyBudget(label string, used, limit float64) budgetView {
	bv := budgetView{Label: label, Used: dollars(used), Limit: "no limit"}
	if limit > 0 {
		bv.Limited, bv.Limit = true, dollars(limit)
		bv.Pct, bv.Class = share(used, limit)
	}
	return bv
}

func share(used, limit float64) (int, string) {
	f := used / limit
	pct := int(math.Round(100 * min(max(f, 0), 1)))
	switch {
	case f >= 1:
		return pct, "full"
	case f >= 0.8:
		return pct, "warn"
	}
	return pct, "ok"
}

// scopeTotals are one key's or group's usage rows summed.
type scopeTotals struct {
	requests, errors, tokens int64
	cost                     float64
	unpriced                 int64
}

func (s *scopeTotals) add(r usage.Row) {
	s.requests += r.Requests
	s.errors += r.Errors
	s.tokens += r.InputTokens + r.OutputTokens + r.CacheReadTokens + r.CacheWriteTokens
	s.cost += r.CostUSD
	s.unpriced += r.Unpriced
}

func scopeViews(d AdminDeps, now time.Time) (keys, groups []scopeView, errText string) {
	today, month := map[string]*scopeTotals{}, map[string]*scopeTotals{}
	gToday, gMonth := map[string]*scopeTotals{}, map[string]*scopeTotals{}
	seenKeys, seenGroups := map[string]string{}, map[string]bool{}
	if d.Usage != nil {
		day := usage.Day(now)
		first := now.UTC().Format("2006-01") + "-01"
		rows, err := d.Usage.Rows(first, day)
		if err != nil {
			errText = "usage cannot be read: " + cut(err.Error(), 200)
		}
		tot := func(m map[string]*scopeTotals, k string) *scopeTotals {
			if m[k] == nil {
				m[k] = &scopeTotals{}
			}
			return m[k]
		}
		for _, r := range rows {
			tot(month, r.Key).add(r)
			if r.Group != "" {
				tot(gMonth, r.Group).add(r)
				seenGroups[r.Group] = true
			}
			if r.Day == day {
				tot(today, r.Key).add(r)
				if r.Group != "" {
					tot(gToday, r.Group).add(r)
				}
			}
			if _, ok := seenKeys[r.Key]; !ok || r.Group != "" {
				seenKeys[r.Key] = r.Group
			}
		}
	}
	limits := map[ratelimit.Key]ratelimit.State{}
	if d.KeyLimits != nil {
		for _, st := range d.KeyLimits.Snapshot() {
			limits[st.Key] = st
		}
	}
	// The configured keys first, in their order, then any other key the ledger has rows of (a removed key,
	// or "" for requests with no key).
	list := slices.Clone(d.Keys)
	configured := map[string]bool{}
	for _, k := range d.Keys {
		configured[k.Name] = true
	}
	var extra []string
	for k := range seenKeys {
		if !configured[k] {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	for _, k := range extra {
		list = append(list, StatusKey{Name: k, Group: seenKeys[k]})
	}
	for _, k := range list {
		keys = append(keys, scopeRow(d, "key:", k, today[k.Name], month[k.Name], limits, now))
	}
	glist := slices.Clone(d.Groups)
	gconf := map[string]bool{}
	for _, g := range d.Groups {
		gconf[g.Name] = true
	}
	var gextra []string
	for g := range seenGroups {
		if !gconf[g] {
			gextra = append(gextra, g)
		}
	}
	slices.Sort(gextra)
	for _, g := range gextra {
		glist = append(glist, StatusKey{Name: g})
	}
	for _, g := range glist {
		g.Group = ""
		groups = append(groups, scopeRow(d, "group:", g, gToday[g.Name], gMonth[g.Name], limits, now))
	}
	return keys, groups, errText
}

func scopeRow(d AdminDeps, prefix string, k StatusKey, today, month *scopeTotals, limits map[ratelimit.Key]ratelimit.State, now time.Time) scopeView {
	if today == nil {
		today = &scopeTotals{}
	}
	if month == nil {
		month = &scopeTotals{}
	}
	name := k.Name
	if name == "" {
		name = "(no key)"
	}
	sv := scopeView{Name: name, Group: k.Group,
		TodayRequests: Count(today.requests), TodayErrors: Count(today.errors), TodayTokens: Count(today.tokens),
		MonthRequests: Count(month.requests), MonthTokens: Count(month.tokens)}
	dayCost, monthCost := today.cost, month.cost
	if d.Spend != nil && k.Name != "" {
		// The money budgets hold what the spend ledger says, reservations of requests under way included.
		if dc, mc, err := d.Spend.Spent(prefix+k.Name, now); err == nil {
			dayCost, monthCost = max(dc, dayCost), max(mc, monthCost)
		}
	}
	sv.TodayCost, sv.MonthCost = dollars(dayCost), dollars(monthCost)
	if today.unpriced > 0 {
		sv.TodayCost += " + " + Count(today.unpriced) + " unpriced"
	}
	if month.unpriced > 0 {
		sv.MonthCost += " + " + Count(month.unpriced) + " unpriced"
	}
	b := k.Budgets
	st, live := limits[ratelimit.Key{Target: prefix + k.Name, Model: "*"}]
	if b.RequestsPerMinute > 0 {
		bv := budget("requests/min", int64(st.MinuteRequests), int64(b.RequestsPerMinute))
		if !live {
			bv.Used = "—"
		}
		sv.Budgets = append(sv.Budgets, bv)
	}
	if b.TokensPerMinute > 0 {
		bv := budget("tokens/min", int64(st.MinuteTokens), int64(b.TokensPerMinute))
		if !live {
			bv.Used = "—"
		}
		sv.Budgets = append(sv.Budgets, bv)
	}
	if b.TokensPerDay > 0 {
		// The budget's own window (the last 24 h) when the relay has it, else the UTC day's usage.
		used, label := today.tokens, "tokens/day (today)"
		if live {
			used, label = int64(st.DayTokens), "tokens/day (24 h)"
		}
		sv.Budgets = append(sv.Budgets, budget(label, used, int64(b.TokensPerDay)))
	}
	if b.USDPerDay > 0 {
		sv.Budgets = append(sv.Budgets, moneyBudget("USD/day", dayCost, b.USDPerDay))
	}
	if b.USDPerMonth > 0 {
		sv.Budgets = append(sv.Budgets, moneyBudget("USD/month", monthCost, b.USDPerMonth))
	}
	sv.NoBudgets = len(sv.Budgets) == 0
	return sv
}

// clock is t in UTC, to the second.
func clock(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// ago is how long before now t was, and t.
func ago(now, t time.Time) string { return span(now.Sub(t)) + " ago (" + clock(t) + ")" }

// span is d for a person: 4.2s, 3m05s, 2h10m, 3d4h.
func span(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < 10*time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// Count is n with thousands separators (1234567 → 1,234,567), for the status page and `bedrock-relay usage`.
func Count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// dollars is an amount in USD: cents, or more digits for an amount under a cent.
func dollars(v float64) string {
	if v != 0 && math.Abs(v) < 0.01 {
		return fmt.Sprintf("$%.4f", v)
	}
	return fmt.Sprintf("$%.2f", v)
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
