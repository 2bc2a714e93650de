package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/internal/httpapi"
	"github.com/bedrock-relay/bedrock-relay/ratelimit"
	"github.com/bedrock-relay/bedrock-relay/router"
	"github.com/bedrock-relay/bedrock-relay/usage"
)

// testClock is a clock the test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock(t time.Time) *testClock { return &testClock{t: t} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// The secrets the fake credentials carry: none may reach the page.
const (
	statusAccessKey    = "ASIASTATUSPAGETEST01"
	statusSecretKey    = "status-page-secret-access-key-do-not-show"
	statusSessionToken = "status-page-session-token-do-not-show"
)

// fakeCreds answers as a credential cache does: from memory, with the session's expiry.
type fakeCreds struct {
	expires time.Time
	err     error
}

func (f fakeCreds) Retrieve(context.Context) (aws.Credentials, error) {
	if f.err != nil {
		return aws.Credentials{}, f.err
	}
	return aws.Credentials{AccessKeyID: statusAccessKey, SecretAccessKey: statusSecretKey, SessionToken: statusSessionToken,
		CanExpire: true, Expires: f.expires}, nil
}

const (
	statusHaiku = "anthropic.claude-haiku-4-5-20251001-v1:0"
	evilTarget  = `<script>alert("target")</script>`
	evilKey     = `<img src=x onerror=alert(1)>key`
	evilModel   = `evil"><script>alert('model')</script>`
)

// statusFixture is a router over three targets in every state, a board, usage and spend, on one clock.
type statusFixture struct {
	clock *testClock
	deps  httpapi.AdminDeps
	r     *router.Router
}

func newStatusFixture(t *testing.T) *statusFixture {
	t.Helper()
	clk := newTestClock(time.Date(2026, 5, 14, 12, 0, 0, 0, time.UTC))
	limits := ratelimit.New(ratelimit.WithClock(clk.Now), ratelimit.WithJitter(func() float64 { return 0.5 }))
	members := []*router.Member{
		{Name: "acct-a", Account: "111111111111", Region: "us-east-1",
			Models:      map[string]string{sonnet: "us." + sonnet, statusHaiku: "us." + statusHaiku},
			Budgets:     map[string]ratelimit.Budget{sonnet: {RequestsPerMinute: 10, TokensPerMinute: 10_000, TokensPerDay: 1_000_000}},
			Credentials: fakeCreds{expires: clk.Now().Add(47*time.Minute + 11*time.Minute)}},
		{Name: "acct-b", Account: "222222222222", Region: "us-west-2", Models: map[string]string{sonnet: "us." + sonnet},
			Budgets:     map[string]ratelimit.Budget{sonnet: {RequestsPerMinute: 4}},
			Credentials: fakeCreds{err: errors.New("AccessDenied: not authorized to perform sts:AssumeRole")}},
		{Name: evilTarget, Account: "333333333333", Region: "eu-west-1", Models: map[string]string{evilModel: evilModel}},
	}
	r, err := router.New(members, router.Options{Clock: clk.Now, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	// Probing: a setup error (a hard cooldown of 10 minutes, then one probe), the probe now in flight.
	limits.Failure(ratelimit.Key{Target: evilTarget, Model: evilModel}, ratelimit.CauseSetup)
	clk.Add(11 * time.Minute)
	if _, err := limits.Reserve(ratelimit.Key{Target: evilTarget, Model: evilModel}, 10, 10, 1); err != nil {
		t.Fatal(err)
	}
	// The board: 10 requests, 3 failed (the last at the page's time, 3 s after the others).
	board := httpapi.NewStatusBoard(clk.Now)
	for range 7 {
		board.Observe("acct-a", "", 200)
	}
	board.Observe("acct-b", "ThrottlingException", 429)
	board.Observe("", "ValidationException", 400)
	clk.Add(3 * time.Second)
	board.Observe("acct-a", "InternalServerException", 500)

	// acct-a/sonnet: 3 requests this minute, 1,500 tokens.
	for range 3 {
		resv, err := limits.Reserve(ratelimit.Key{Target: "acct-a", Model: sonnet}, 400, 100, 1)
		if err != nil {
			t.Fatal(err)
		}
		resv.Commit(400, 100)
	}
	// acct-a/haiku: a soft backoff after a fault.
	if out := limits.Failure(ratelimit.Key{Target: "acct-a", Model: statusHaiku}, ratelimit.CauseFault); out.Hard {
		t.Fatalf("one fault: %+v, want a soft backoff", out)
	}
	// acct-b/sonnet: throttled with its budget spent, a hard cooldown.
	for range 4 {
		resv, err := limits.Reserve(ratelimit.Key{Target: "acct-b", Model: sonnet}, 10, 10, 1)
		if err != nil {
			t.Fatal(err)
		}
		resv.Commit(10, 10)
	}
	if out := limits.Failure(ratelimit.Key{Target: "acct-b", Model: sonnet}, ratelimit.CauseThrottled); !out.Hard {
		t.Fatalf("a throttle with the budget spent: %+v, want a hard cooldown", out)
	}

	mem := &usage.Memory{}
	now := clk.Now()
	add := func(at time.Time, key, group string, in, out int64, cost float64, failed bool) {
		mem.Add(usage.Record{Time: at, Key: key, Group: group, Model: sonnet, Target: "acct-a", InputTokens: in, OutputTokens: out,
			CostUSD: cost, Priced: true, Error: failed})
		if key != "" {
			if h, err := mem.Reserve("key:"+key, at, cost, 0, 0); err == nil {
				mem.Settle(h, cost)
			}
		}
		if group != "" {
			if h, err := mem.Reserve("group:"+group, at, cost, 0, 0); err == nil {
				mem.Settle(h, cost)
			}
		}
	}
	add(now.Add(-time.Hour), "team-a", "devs", 1000, 500, 1.25, false)
	add(now.Add(-time.Minute), "team-a", "devs", 2000, 500, 0.25, true)
	add(now.AddDate(0, 0, -3), "team-a", "devs", 10_000, 5000, 40, false)
	add(now.AddDate(0, -1, 0), "team-a", "devs", 99_999, 99_999, 999, false) // last month: not shown
	add(now.Add(-2*time.Hour), evilKey, "", 10, 10, 0.001, false)

	keyLimits := ratelimit.New(ratelimit.WithClock(clk.Now))
	if err := keyLimits.SetBudget(ratelimit.Key{Target: "key:team-a", Model: "*"}, ratelimit.Budget{RequestsPerMinute: 60, TokensPerDay: 100_000}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		resv, err := keyLimits.Reserve(ratelimit.Key{Target: "key:team-a", Model: "*"}, 1000, 250, 1)
		if err != nil {
			t.Fatal(err)
		}
		resv.Commit(1000, 250)
	}

	deps := httpapi.AdminDeps{Router: r, Board: board, Usage: mem, Spend: mem, KeyLimits: keyLimits, Now: clk.Now,
		Keys: []httpapi.StatusKey{
			{Name: "team-a", Group: "devs", Budgets: config.KeyBudgets{RequestsPerMinute: 60, TokensPerDay: 100_000, USDPerDay: 2, USDPerMonth: 50}},
			{Name: evilKey},
			{Name: "idle-key", Budgets: config.KeyBudgets{USDPerMonth: 10}},
		},
		Groups: []httpapi.StatusKey{{Name: "devs", Budgets: config.KeyBudgets{USDPerMonth: 100}}},
	}
	return &statusFixture{clock: clk, deps: deps, r: r}
}

func getStatus(t *testing.T, h http.Handler, method, path string) (*http.Response, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// between is the part of page from the first from (included) to the next to after it (excluded), or to the
// end.
func between(t *testing.T, page, from, to string) string {
	t.Helper()
	i := strings.Index(page, from)
	if i < 0 {
		t.Fatalf("the page has no %q:\n%s", from, page)
	}
	rest := page[i:]
	if j := strings.Index(rest[len(from):], to); j >= 0 {
		return rest[:len(from)+j]
	}
	return rest
}

var tagRe = regexp.MustCompile(`<[^>]*>`)

// text is html with its tags removed and its spaces collapsed, for checks of what a reader sees.
func text(html string) string {
	return strings.Join(strings.Fields(tagRe.ReplaceAllString(html, " ")), " ")
}

func wantIn(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s lacks %q:\n%s", what, sub, s)
		}
	}
}

func TestStatusPage(t *testing.T) {
	f := newStatusFixture(t)
	resp, page := getStatus(t, httpapi.NewAdminHandler(f.deps), http.MethodGet, "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %d %s", resp.StatusCode, page)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q, want text/html; charset=utf-8", ct)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("Content-Security-Policy %q, want one that allows no script", csp)
	}
	if !strings.HasPrefix(page, "<!DOCTYPE html>") || !strings.HasSuffix(strings.TrimSpace(page), "</html>") {
		t.Errorf("the page is not a whole HTML document:\n%s", page)
	}
	wantIn(t, "the page", page, `<meta http-equiv="refresh" content="5">`, `<meta charset="utf-8">`)
	if n := strings.Count(strings.ToLower(page), "<script"); n != 0 {
		t.Errorf("the page has %d script elements, want none", n)
	}
	wantIn(t, "the page", text(page), "As of 2026-05-14 12:11:03 UTC")

	// Rates: 10 requests, 3 of them errors, one throttled and one 5xx, in the last minute and the last 5.
	traffic := text(between(t, page, `<section id="traffic">`, "</section>"))
	wantIn(t, "the requests section", traffic, "last 1 min 10 0.17/s 3 30.0% 1 1", "last 5 min 10 0.03/s 3 30.0% 1 1",
		"Last error of a request that reached no target: ValidationException 3.0s ago (2026-05-14 12:11:00 UTC)")

	targets := between(t, page, `<section id="targets">`, "</section>")
	a := text(between(t, targets, `<h3 class="target-name">acct-a</h3>`, `<div class="target">`))
	wantIn(t, "acct-a", a, "account 111111111111", "region us-east-1",
		"credentials: session expires in 46m57s (2026-05-14 12:58:00 UTC)",
		"last error: InternalServerException 0.0s ago (2026-05-14 12:11:03 UTC)",
		sonnet+" via us."+sonnet+" ready", "requests/min 3 / 10", "tokens/min 1,500 / 10,000", "tokens/day 1,500 / 1,000,000", "70%",
		statusHaiku+" via us."+statusHaiku+" soft backoff tried only when no other target is free",
		"requests/min 0 / no limit")
	b := text(between(t, targets, `<h3 class="target-name">acct-b</h3>`, `<div class="target">`))
	wantIn(t, "acct-b", b, "credentials: cannot be obtained: AccessDenied",
		"last error: ThrottlingException 3.0s ago (2026-05-14 12:11:00 UTC)",
		"cooling down throttled (ThrottlingException), ", " left (until 2026-05-14 12:1", "requests/min 4 / 4", "0%")
	// The bar of a spent budget is full, and says so.
	wantIn(t, "acct-b", between(t, targets, `<h3 class="target-name">acct-b</h3>`, `<div class="target">`),
		`<span class="fill full" style="width: 100%">`)
	evil := text(between(t, targets, `&lt;script&gt;alert(&#34;target&#34;)&lt;/script&gt;`, `<div class="target">`))
	wantIn(t, "the third target", evil, "probing", "last error: none")

	keys := between(t, page, `<section id="keys">`, "</section>")
	teamA := text(between(t, keys, `<span class="scope-name">team-a</span>`, `<tr class="scope">`))
	// Today: 2 requests (1 failed), 4,000 tokens, $1.50; this month: 3 requests, 19,000 tokens, $41.50.
	wantIn(t, "team-a", teamA, "group devs 2 1 4,000 $1.50 3 19,000 $41.50",
		"requests/min 2 / 60", "tokens/day (24 h) 2,500 / 100,000", "USD/day $1.50 / $2.00", "USD/month $41.50 / $50.00")
	wantIn(t, "team-a", between(t, keys, `<span class="scope-name">team-a</span>`, `<tr class="scope">`),
		`<span class="fill warn" style="width: 83%">`, `<span class="fill ok" style="width: 75%">`, `<span class="fill ok" style="width: 3%">`)
	wantIn(t, "idle-key", text(between(t, keys, `<span class="scope-name">idle-key</span>`, `<tr class="scope">`)), "0 0 0 $0.00 0 0 $0.00 USD/month $0.00 / $10.00")
	wantIn(t, "evil key", text(keys), "no budgets", "$0.0010")
	devs := text(between(t, keys, "<h2>Groups</h2>", "</table>"))
	wantIn(t, "the groups", devs, "devs 2 1 4,000 $1.50 3 19,000 $41.50 USD/month $41.50 / $100.00")

	// No secret: no credential, no key hash, nothing of last month's.
	for _, secret := range []string{statusAccessKey, statusSecretKey, statusSessionToken, "sha256", "999"} {
		if strings.Contains(page, secret) {
			t.Errorf("the page shows %q", secret)
		}
	}
}

// Every name on the page is escaped: a target, model or key named with markup shows as text.
func TestStatusPageEscapes(t *testing.T) {
	f := newStatusFixture(t)
	_, page := getStatus(t, httpapi.NewAdminHandler(f.deps), http.MethodGet, "/")
	for _, raw := range []string{evilTarget, evilKey, evilModel, "<script", "<img"} {
		if strings.Contains(page, raw) {
			t.Errorf("the page has %q unescaped", raw)
		}
	}
	wantIn(t, "the page", page,
		`&lt;script&gt;alert(&#34;target&#34;)&lt;/script&gt;`,
		`&lt;img src=x onerror=alert(1)&gt;key`,
		`evil&#34;&gt;&lt;script&gt;alert(&#39;model&#39;)&lt;/script&gt;`)
}

func TestStatusPageMethodsAndPaths(t *testing.T) {
	f := newStatusFixture(t)
	h := httpapi.NewAdminHandler(f.deps)
	resp, body := getStatus(t, h, http.MethodHead, "/")
	if resp.StatusCode != http.StatusOK || body != "" || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("HEAD /: %d %q %q, want 200 text/html with no body", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp.ContentLength <= 0 {
		t.Errorf("HEAD /: Content-Length %d, want the page's length", resp.ContentLength)
	}
	for _, path := range []string{"/nope", "/index.html", "/status", "/healthz/", "/x/", "/metrics"} { // no Gatherer: no /metrics
		if resp, body := getStatus(t, h, http.MethodGet, path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d %.80q, want 404", path, resp.StatusCode, body)
		}
	}
	if resp, _ := getStatus(t, h, http.MethodPost, "/"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d, want 405", resp.StatusCode)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, body := getStatus(t, h, http.MethodGet, path); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s beside the status page: %d %s", path, resp.StatusCode, body)
		}
	}
}

// With nothing to show, the page has no section; each source shows its own.
func TestStatusPageSections(t *testing.T) {
	f := newStatusFixture(t)
	sections := func(d httpapi.AdminDeps) []string {
		resp, page := getStatus(t, httpapi.NewAdminHandler(d), http.MethodGet, "/")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /: %d %s", resp.StatusCode, page)
		}
		var out []string
		for _, id := range []string{"traffic", "targets", "keys"} {
			if strings.Contains(page, `<section id="`+id+`">`) {
				out = append(out, id)
			}
		}
		return out
	}
	for _, c := range []struct {
		deps httpapi.AdminDeps
		want string
	}{
		{httpapi.AdminDeps{}, ""},
		{httpapi.AdminDeps{Board: f.deps.Board}, "traffic"},
		{httpapi.AdminDeps{Router: f.r}, "targets"},
		{httpapi.AdminDeps{Keys: f.deps.Keys}, "keys"},
		{httpapi.AdminDeps{Usage: f.deps.Usage}, "keys"},
		{f.deps, "traffic,targets,keys"},
	} {
		if got := strings.Join(sections(c.deps), ","); got != c.want {
			t.Errorf("sections %q, want %q", got, c.want)
		}
	}
}

// A ledger that cannot be read says so on the page, which still shows the rest.
func TestStatusPageUsageError(t *testing.T) {
	f := newStatusFixture(t)
	f.deps.Usage = brokenStore{}
	resp, page := getStatus(t, httpapi.NewAdminHandler(f.deps), http.MethodGet, "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %d", resp.StatusCode)
	}
	wantIn(t, "the page", page, "usage cannot be read: redis: connection refused", `<section id="targets">`, "team-a")
}

type brokenStore struct{}

func (brokenStore) Add(usage.Record) {}
func (brokenStore) Rows(string, string) ([]usage.Row, error) {
	return nil, errors.New("redis: connection refused")
}

// The relay's own admin port serves the page at / and still answers 404 elsewhere.
func TestStatusPageOnRelayAdmin(t *testing.T) {
	e := newEnv(t, nil)
	if _, err := invoke(context.Background(), e.client(keyAll), sonnet); err != nil {
		t.Fatal(err)
	}
	get := func(path string) (*http.Response, string) {
		resp, err := http.Get(e.admin.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, page := get("/")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	wantIn(t, "the page", page, "acct-222", "acct-333", "acct-444", "session expires in")
	for _, secret := range []string{keyAll, "sha256", prompt} {
		if strings.Contains(page, secret) {
			t.Errorf("the page shows %q", secret)
		}
	}
	if resp, _ := get("/no-such-page"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /no-such-page: %d, want 404", resp.StatusCode)
	}
}

func TestStatusBoardRates(t *testing.T) {
	clk := newTestClock(time.Date(2026, 5, 14, 12, 0, 0, 0, time.UTC))
	b := httpapi.NewStatusBoard(clk.Now)
	want := func(what string, got, want httpapi.BoardCounts) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %+v, want %+v", what, got, want)
		}
	}
	want("empty", b.Counts(time.Minute), httpapi.BoardCounts{})
	if _, ok := b.LastError("acct-a"); ok {
		t.Error("a last error on an empty board")
	}
	// t=0: 4 requests, one throttled. t=30s: 2 more, one a 503. t=2m: 1.
	for range 3 {
		b.Observe("acct-a", "", 200)
	}
	b.Observe("acct-a", "ThrottlingException", 429)
	clk.Add(30 * time.Second)
	b.Observe("acct-b", "", 200)
	b.Observe("acct-b", "ServiceUnavailableException", 503)
	want("at 30s, 1 min", b.Counts(time.Minute), httpapi.BoardCounts{Requests: 6, Errors: 2, Throttled: 1, Faults: 1})
	want("at 30s, 5 min", b.Counts(5*time.Minute), httpapi.BoardCounts{Requests: 6, Errors: 2, Throttled: 1, Faults: 1})
	want("at 30s, 10 s", b.Counts(10*time.Second), httpapi.BoardCounts{Requests: 2, Errors: 1, Faults: 1})
	clk.Add(90 * time.Second)
	b.Observe("", "ValidationException", 400)
	want("at 2m, 1 min", b.Counts(time.Minute), httpapi.BoardCounts{Requests: 1, Errors: 1})
	want("at 2m, 5 min", b.Counts(5*time.Minute), httpapi.BoardCounts{Requests: 7, Errors: 3, Throttled: 1, Faults: 1})
	// A window past 5 minutes is 5 minutes.
	want("at 2m, 1 h", b.Counts(time.Hour), httpapi.BoardCounts{Requests: 7, Errors: 3, Throttled: 1, Faults: 1})
	clk.Add(4 * time.Minute)
	want("at 6m, 5 min", b.Counts(5*time.Minute), httpapi.BoardCounts{Requests: 1, Errors: 1})
	clk.Add(5 * time.Minute)
	want("at 11m, 5 min", b.Counts(5*time.Minute), httpapi.BoardCounts{})

	// The last errors stay, with their time.
	for target, w := range map[string]httpapi.BoardError{
		"acct-a": {Code: "ThrottlingException", Status: 429, At: time.Date(2026, 5, 14, 12, 0, 0, 0, time.UTC)},
		"acct-b": {Code: "ServiceUnavailableException", Status: 503, At: time.Date(2026, 5, 14, 12, 0, 30, 0, time.UTC)},
		"":       {Code: "ValidationException", Status: 400, At: time.Date(2026, 5, 14, 12, 2, 0, 0, time.UTC)},
	} {
		if got, ok := b.LastError(target); !ok || got != w {
			t.Errorf("last error of %q: %+v %v, want %+v", target, got, ok, w)
		}
	}
	// A status of 400 or more without a code is an error too; a success leaves the last error.
	b.Observe("acct-a", "", 502)
	b.Observe("acct-a", "", 200)
	if got, _ := b.LastError("acct-a"); got.Code != "HTTP 502" {
		t.Errorf("last error after a bare 502: %+v", got)
	}
	var nilBoard *httpapi.StatusBoard
	nilBoard.Observe("acct-a", "x", 500) // a nil board observes nothing, and does not panic
	if c := nilBoard.Counts(time.Minute); c != (httpapi.BoardCounts{}) {
		t.Errorf("a nil board counts %+v", c)
	}
}

// The board's memory is fixed: 5 minutes of buckets whatever the traffic, a bounded number of targets, codes
// cut short; Observe does not allocate once a target has had an error.
func TestStatusBoardBounded(t *testing.T) {
	clk := newTestClock(time.Date(2026, 5, 14, 12, 0, 0, 0, time.UTC))
	b := httpapi.NewStatusBoard(clk.Now)
	for i := range 5000 {
		b.Observe(fmt.Sprintf("target-%d", i), "ThrottlingException", 429)
		clk.Add(time.Millisecond)
	}
	last := b.LastErrors()
	if len(last) > 1024 {
		t.Errorf("%d last errors kept, want at most 1024", len(last))
	}
	if _, ok := last["target-4999"]; !ok {
		t.Error("the newest target's last error was evicted")
	}
	if _, ok := last["target-0"]; ok {
		t.Error("the oldest target's last error was kept past the bound")
	}
	b.Observe("long", strings.Repeat("X", 10_000), 500)
	if e, _ := b.LastError("long"); len(e.Code) > 70 {
		t.Errorf("a 10,000-byte code kept at %d bytes", len(e.Code))
	}
	// An hour of one request a second: only the last 5 minutes count.
	for range 3600 {
		b.Observe("acct-a", "", 200)
		clk.Add(time.Second)
	}
	if c := b.Counts(5 * time.Minute); c.Requests != 299 {
		t.Errorf("after an hour at 1/s: %d requests in the last 5 minutes, want 299 (the current second has none yet)", c.Requests)
	}
	if n := testing.AllocsPerRun(1000, func() {
		b.Observe("acct-a", "", 200)
		b.Observe("acct-a", "ThrottlingException", 429)
	}); n != 0 {
		t.Errorf("Observe allocates %.1f times a call pair", n)
	}
}

func TestStatusBoardConcurrent(t *testing.T) {
	b := httpapi.NewStatusBoard(nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				code, status := "", 200
				if i%10 == 0 {
					code, status = "ThrottlingException", 429
				}
				b.Observe(fmt.Sprintf("t%d", g%2), code, status)
				if i%100 == 0 {
					b.Counts(time.Minute)
					b.LastErrors()
				}
			}
		})
	}
	wg.Wait()
	// The test runs within a few seconds: every request is still in the 5-minute window.
	if c := b.Counts(5 * time.Minute); c.Requests != 8000 || c.Errors != 800 || c.Throttled != 800 {
		t.Errorf("counts %+v, want 8000 requests, 800 throttled", c)
	}
}
