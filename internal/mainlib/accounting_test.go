package mainlib_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/internal/httpapi"
	"github.com/bedrock-relay/bedrock-relay/internal/mainlib"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

func keyStanza(name, group string, b config.KeyBudgets) config.Key {
	sum := sha256.Sum256([]byte("brk-" + name))
	return config.Key{Name: name, SHA256: hex.EncodeToString(sum[:]), Models: []string{"*"}, Group: group, Budgets: b}
}

// keyedRelay is a relay with keys and budgets in front of the sandbox's pool (an account with room to spare),
// with its API and admin served on loopback.
type keyedRelay struct {
	api, admin *httptest.Server
	rl         *mainlib.Relay
	sb         *sandbox.Sandbox
}

func newKeyedRelay(t *testing.T, redisAddr string, mutate func(*config.Config)) *keyedRelay {
	t.Helper()
	sb, err := sandbox.New(sandbox.PoolScenario(map[string]int{"222222222222": 1000}))
	if err != nil {
		t.Fatal(err)
	}
	sbSrv := httptest.NewServer(sb)
	t.Cleanup(sbSrv.Close)
	cfg := config.Default()
	cfg.Auth.Mode = "keys"
	cfg.Source.Endpoint = sbSrv.URL
	cfg.Targets = []config.TargetSpec{{Name: "acct-222", RoleARN: sandbox.TargetRoleARN("222222222222"), Region: sandbox.SeedRegion,
		Models: []string{sandbox.SeedProfile}}}
	if redisAddr != "" {
		cfg.State = config.State{Backend: config.StateRedis, Redis: config.RedisState{Addrs: []string{redisAddr}, Timeout: config.Duration(time.Second)}}
	}
	mutate(&cfg)
	cfg.FillDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	base := aws.Config{Region: sandbox.SeedRegion, BaseEndpoint: aws.String(sbSrv.URL),
		Credentials: credentials.StaticCredentialsProvider{Value: sb.CallerCredentials()}, RetryMaxAttempts: 1}
	rl, err := mainlib.Build(context.Background(), &cfg, base, mainlib.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rl.Close() })
	k := &keyedRelay{api: httptest.NewServer(rl.Handler), admin: httptest.NewServer(rl.Admin), rl: rl, sb: sb}
	t.Cleanup(k.api.Close)
	t.Cleanup(k.admin.Close)
	return k
}

// answer is what one request got back.
type answer struct {
	status int
	header http.Header
	body   string
}

// call sends one request of api (bedrock, openai, anthropic) with key's token and maxTokens.
func (k *keyedRelay) call(t *testing.T, api, key string, maxTokens int) answer {
	t.Helper()
	var path, body string
	switch api {
	case "bedrock":
		path = "/model/" + url.PathEscape(sandbox.SeedProfile) + "/invoke"
		body = `{"anthropic_version":"bedrock-2023-05-31","max_tokens":` + strconv.Itoa(maxTokens) + `,"messages":[{"role":"user","content":"hi"}]}`
	case "openai":
		path = "/v1/chat/completions"
		body = `{"model":"` + sandbox.SeedProfile + `","max_tokens":` + strconv.Itoa(maxTokens) + `,"messages":[{"role":"user","content":"hi"}]}`
	case "anthropic":
		path = "/v1/messages"
		body = `{"model":"claude-sonnet-4-5-20250929","max_tokens":` + strconv.Itoa(maxTokens) + `,"messages":[{"role":"user","content":"hi"}]}`
	}
	req, _ := http.NewRequest(http.MethodPost, k.api.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer brk-"+key)
	if api == "anthropic" {
		req.Header.Set("Anthropic-Version", "2023-06-01")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// TestKeyBudgets: each budget kind of a key, and a group's over two keys, refuses in each API's own shape
// (Bedrock 429 ThrottlingException, OpenAI and Anthropic 429 rate_limit_error, all with Retry-After) naming
// the budget, never the pool; the token and money budgets reserve max_tokens and settle with the real use.
func TestKeyBudgets(t *testing.T) {
	k := newKeyedRelay(t, "", func(c *config.Config) {
		c.Groups = []config.Group{{Name: "chat", Budgets: config.KeyBudgets{RequestsPerMinute: 3}}}
		c.Auth.Keys = []config.Key{
			keyStanza("rpm", "", config.KeyBudgets{RequestsPerMinute: 2}),
			keyStanza("tpm", "", config.KeyBudgets{TokensPerMinute: 1000}),
			keyStanza("tpd", "", config.KeyBudgets{TokensPerDay: 600}),
			keyStanza("usd", "", config.KeyBudgets{USDPerDay: 0.01}),
			keyStanza("usd-month", "", config.KeyBudgets{USDPerMonth: 0.004}),
			keyStanza("chat-1", "chat", config.KeyBudgets{}),
			keyStanza("chat-2", "chat", config.KeyBudgets{}),
			keyStanza("free", "", config.KeyBudgets{}),
		}
	})
	refused := func(a answer, api, budget string) {
		t.Helper()
		if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" || !strings.Contains(a.body, budget) ||
			!strings.Contains(a.body, "not the pool's capacity") {
			t.Fatalf("%s: got %d (Retry-After %q) %s; want 429 naming %s", api, a.status, a.header.Get("Retry-After"), a.body, budget)
		}
		switch api {
		case "bedrock":
			if a.header.Get("X-Amzn-ErrorType") != "ThrottlingException" && !strings.Contains(a.body, "ThrottlingException") {
				t.Errorf("bedrock: %v %s, want ThrottlingException", a.header, a.body)
			}
		case "openai", "anthropic":
			if !strings.Contains(a.body, `"rate_limit_error"`) {
				t.Errorf("%s: %s, want type rate_limit_error", api, a.body)
			}
		}
	}
	ok := func(a answer, what string) {
		t.Helper()
		if a.status != http.StatusOK {
			t.Fatalf("%s: %d %s", what, a.status, a.body)
		}
	}

	// requests_per_minute: 2, over the three APIs; the third is refused in each one's shape.
	ok(k.call(t, "bedrock", "rpm", 10), "rpm 1")
	ok(k.call(t, "openai", "rpm", 10), "rpm 2")
	for _, api := range []string{"bedrock", "openai", "anthropic"} {
		refused(k.call(t, api, "rpm", 10), api, "requests_per_minute")
	}
	ok(k.call(t, "bedrock", "free", 10), "another key is not held by rpm's budget")

	// tokens_per_minute: 1000. A request reserves input + max_tokens (900 + a few): a second at once does
	// not fit while it is reserved... but it was settled at its real use (a few tokens), so it does.
	ok(k.call(t, "bedrock", "tpm", 900), "tpm 1")
	ok(k.call(t, "bedrock", "tpm", 900), "tpm 2, after the first settled at its use")
	refused(k.call(t, "anthropic", "tpm", 5000), "anthropic", "tokens_per_minute") // larger than the whole budget

	// tokens_per_day: 600; an answer uses some tens of tokens, after which one asking 560 does not fit.
	ok(k.call(t, "openai", "tpd", 100), "tpd 1")
	refused(k.call(t, "openai", "tpd", 560), "openai", "tokens_per_day")
	refused(k.call(t, "openai", "tpd", 5000), "openai", "tokens_per_day") // larger than the whole day

	// usd_per_day: $0.01. Sonnet 4.5 output is $15 per million: 1,000 max_tokens is $0.015, refused up front;
	// 100 is $0.0015 reserved, settled at the real cost.
	refused(k.call(t, "bedrock", "usd", 1000), "bedrock", "usd_per_day")
	for range 3 {
		ok(k.call(t, "bedrock", "usd", 100), "usd small")
	}
	// usd_per_month likewise.
	refused(k.call(t, "anthropic", "usd-month", 300), "anthropic", "usd_per_month")
	ok(k.call(t, "anthropic", "usd-month", 100), "usd-month small")

	// The group chat's 3 requests a minute, over its two keys.
	ok(k.call(t, "bedrock", "chat-1", 10), "chat-1")
	ok(k.call(t, "openai", "chat-2", 10), "chat-2")
	ok(k.call(t, "anthropic", "chat-1", 10), "chat-1 again")
	a := k.call(t, "bedrock", "chat-2", 10)
	refused(a, "bedrock", "requests_per_minute")
	if !strings.Contains(a.body, "group chat") {
		t.Errorf("the group's refusal %s, want it to name group chat", a.body)
	}
	if a.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}

	// Refusals are counted by scope and budget.
	resp, err := http.Get(k.admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`bedrock_relay_key_budget_refusals_total{budget="requests_per_minute",scope="group:chat"} 1`,
		`bedrock_relay_key_budget_refusals_total{budget="usd_per_day",scope="key:usd"} 1`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestUsageEndpoint: the usage of each key × model, with its cost, in JSON and CSV; bad parameters are 400.
func TestUsageEndpoint(t *testing.T) {
	k := newKeyedRelay(t, "", func(c *config.Config) {
		c.Auth.Keys = []config.Key{keyStanza("team-chat", "", config.KeyBudgets{}), keyStanza("batch", "", config.KeyBudgets{})}
	})
	for range 2 {
		if a := k.call(t, "bedrock", "team-chat", 50); a.status != 200 {
			t.Fatal(a.body)
		}
	}
	if a := k.call(t, "openai", "batch", 50); a.status != 200 {
		t.Fatal(a.body)
	}
	get := func(q string) (int, string, string) {
		resp, err := http.Get(k.admin.URL + "/usage" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	status, ctype, body := get("")
	var rep httpapi.UsageReport
	if err := json.Unmarshal([]byte(body), &rep); status != 200 || ctype != "application/json" || err != nil {
		t.Fatalf("GET /usage: %d %s %s (%v)", status, ctype, body, err)
	}
	if len(rep.Rows) != 2 || rep.Rows[0].Key != "batch" || rep.Rows[1].Key != "team-chat" || rep.Rows[1].Requests != 2 ||
		rep.Rows[1].Model != "anthropic.claude-sonnet-4-5-20250929-v1:0" || rep.Rows[1].InputTokens == 0 || rep.Rows[1].OutputTokens == 0 ||
		rep.Rows[1].CostUSD <= 0 || rep.Total.Requests != 3 {
		t.Errorf("usage report %+v", rep)
	}
	for _, field := range []string{`"rows"`, `"key"`, `"model"`, `"requests"`, `"input_tokens"`, `"output_tokens"`, `"cost_usd"`} {
		if !strings.Contains(body, field) {
			t.Errorf("the JSON lacks %s", field)
		}
	}
	status, ctype, body = get("?format=csv&key=team-chat&group_by=day,key,model,target")
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if status != 200 || ctype != "text/csv; charset=utf-8" || len(lines) != 2 || !strings.HasPrefix(lines[0], "day,key,group,model,target,requests") ||
		!strings.Contains(lines[1], ",team-chat,,anthropic.claude-sonnet-4-5-20250929-v1:0,acct-222,2,0,") {
		t.Errorf("CSV: %d %s\n%s", status, ctype, body)
	}
	for _, q := range []string{"?from=yesterday", "?group_by=colour", "?format=xml", "?from=2026-01-02&to=2026-01-01", "?nonsense=1"} {
		if status, _, body := get(q); status != 400 || !strings.Contains(body, `"error"`) {
			t.Errorf("GET /usage%s: %d %s, want 400 with an error", q, status, body)
		}
	}
}

// TestUsageSharedThroughRedis: two relays with state in Redis add their usage up in one ledger.
func TestUsageSharedThroughRedis(t *testing.T) {
	m := miniredis.RunT(t)
	keys := func(c *config.Config) {
		c.Auth.Keys = []config.Key{keyStanza("team-chat", "", config.KeyBudgets{USDPerDay: 1})}
	}
	a, b := newKeyedRelay(t, m.Addr(), keys), newKeyedRelay(t, m.Addr(), keys)
	for _, k := range []*keyedRelay{a, b, b} {
		if got := k.call(t, "bedrock", "team-chat", 20); got.status != 200 {
			t.Fatal(got.body)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(a.admin.URL + "/usage")
		if err != nil {
			t.Fatal(err)
		}
		var rep httpapi.UsageReport
		json.NewDecoder(resp.Body).Decode(&rep)
		resp.Body.Close()
		if rep.Total.Requests == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay a's report %+v, want the 3 requests of both relays within 5s", rep)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestKeyBudgetsUnderFaults: a request the pool fails (Bedrock throttling every attempt, or answering 503)
// reaches the caller as the pool's error, not the key's, and gives its reservation back: the key's budget is
// spent only by what was answered. The failures are in the usage as errors.
func TestKeyBudgetsUnderFaults(t *testing.T) {
	k := newKeyedRelay(t, "", func(c *config.Config) {
		c.Auth.Keys = []config.Key{keyStanza("team-chat", "", config.KeyBudgets{RequestsPerMinute: 3, USDPerDay: 0.01})}
		c.Routing.WaitForCapacity = 0
	})
	for _, f := range []sandbox.Fault{{Code: "ThrottlingException"}, {Code: "ServiceUnavailableException"}} {
		if err := k.sb.AddFault(f); err != nil { // every request, until cleared
			t.Fatal(err)
		}
		for _, api := range []string{"bedrock", "openai", "anthropic"} {
			a := k.call(t, api, "team-chat", 50)
			if a.status < 429 || strings.Contains(a.body, "not the pool's capacity") || strings.Contains(a.body, "key_budget_exceeded") {
				t.Errorf("%s with Bedrock answering %s: %d %s; want the pool's error, not the key's budget", api, f.Code, a.status, a.body)
			}
		}
		k.sb.ClearFaults()
	}
	// Six failures gave their reservations back: the key's 3 requests a minute are all there.
	for i := range 3 {
		if a := k.call(t, "bedrock", "team-chat", 50); a.status != 200 {
			t.Fatalf("request %d after the faults: %d %s", i, a.status, a.body)
		}
	}
	if a := k.call(t, "bedrock", "team-chat", 50); a.status != 429 || !strings.Contains(a.body, "requests_per_minute") {
		t.Errorf("the 4th answered request: %d %s, want the key's budget", a.status, a.body)
	}
	resp, err := http.Get(k.admin.URL + "/usage")
	if err != nil {
		t.Fatal(err)
	}
	var rep httpapi.UsageReport
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// 6 failed, 3 answered, 1 refused by the budget (refused before routing: recorded as an error too).
	if rep.Total.Requests != 10 || rep.Total.Errors != 7 || rep.Total.CostUSD <= 0 {
		t.Errorf("usage %+v, want 10 requests, 7 errors and the answered ones' cost", rep.Total)
	}
}
