package mainlib_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/internal/mainlib"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

const body = `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// replica is one relay process built by Build, serving on test servers.
type replica struct {
	api, admin *httptest.Server
	log        *syncBuffer
}

// newReplicas builds n relays from one config with state.backend redis at addr, in front of one sandbox
// whose account allows far more than the relays' budget of 4 requests a minute.
func newReplicas(t *testing.T, addr string, n int, share float64) []*replica {
	t.Helper()
	sb, err := sandbox.New(sandbox.PoolScenario(map[string]int{"222222222222": 100}))
	if err != nil {
		t.Fatal(err)
	}
	sbSrv := httptest.NewServer(sb)
	t.Cleanup(sbSrv.Close)
	cfg := config.Default()
	cfg.Auth.Mode = "none"
	cfg.Source.Endpoint = sbSrv.URL
	tc := config.TargetSpec{Name: "acct-222", RoleARN: sandbox.TargetRoleARN("222222222222"), Region: sandbox.SeedRegion,
		Models: []string{sandbox.SeedProfile}}
	tc.Budgets.RequestsPerMinute = config.Limit{N: 4}
	cfg.Targets = []config.TargetSpec{tc}
	cfg.State = config.State{Backend: config.StateRedis, Redis: config.RedisState{Addrs: []string{addr},
		PasswordEnv: "TEST_REDIS_PASSWORD", FallbackShare: &share, Timeout: config.Duration(time.Second),
		ProbeInterval: config.Duration(10 * time.Millisecond)}}
	cfg.FillDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	base := aws.Config{Region: sandbox.SeedRegion, BaseEndpoint: aws.String(sbSrv.URL),
		Credentials: credentials.StaticCredentialsProvider{Value: sb.CallerCredentials()}, RetryMaxAttempts: 1}
	var out []*replica
	for range n {
		log := &syncBuffer{}
		rl, err := mainlib.Build(context.Background(), &cfg, base, mainlib.BuildOptions{
			Logger: slog.New(slog.NewTextHandler(log, nil)),
			Getenv: func(k string) string { return map[string]string{"TEST_REDIS_PASSWORD": "pw-not-logged"}[k] }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rl.Close() })
		r := &replica{api: httptest.NewServer(rl.Handler), admin: httptest.NewServer(rl.Admin), log: log}
		t.Cleanup(r.api.Close)
		t.Cleanup(r.admin.Close)
		out = append(out, r)
	}
	return out
}

func (r *replica) invoke(t *testing.T) int {
	t.Helper()
	resp, err := http.Post(r.api.URL+"/model/"+url.PathEscape(sandbox.SeedProfile)+"/invoke", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func (r *replica) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get(r.admin.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

type readyz struct {
	Status, Reason string
	State          *struct {
		Backend string
		Shared  bool
		Reason  string
	}
}

func (r *replica) ready(t *testing.T) readyz {
	t.Helper()
	var rz readyz
	if err := json.Unmarshal([]byte(r.get(t, "/readyz")), &rz); err != nil {
		t.Fatal(err)
	}
	return rz
}

// Two relays built from one config with state.backend redis keep to one budget between them; when Redis
// goes away each serves on its share of the budget, says so in /readyz, its metrics and its log, and shares
// again when Redis is back. The password read through password_env is never logged.
func TestBuildSharesBudgetsThroughRedis(t *testing.T) {
	m := miniredis.RunT(t)
	m.RequireAuth("pw-not-logged") // what password_env's variable holds
	rs := newReplicas(t, m.Addr(), 2, 0.75)
	a, b := rs[0], rs[1]
	if rz := a.ready(t); rz.Status != "ready" || rz.State == nil || !rz.State.Shared || rz.State.Backend != "redis" {
		t.Fatalf("/readyz with Redis up: %+v, want ready and shared", rz)
	}
	for i, r := range []*replica{a, b, a, b} {
		if s := r.invoke(t); s != 200 {
			t.Fatalf("request %d: status %d, want 200", i+1, s)
		}
	}
	// Each relay made 2 of the 4 it may: the fifth is refused by both, from the shared windows.
	for name, r := range map[string]*replica{"a": a, "b": b} {
		if s := r.invoke(t); s != 429 {
			t.Errorf("relay %s, fifth request in the minute: status %d, want 429", name, s)
		}
	}

	m.Close()
	// Alone, relay a allows itself 3 of the 4 (fallback_share 0.75): one more besides its own 2.
	if s := a.invoke(t); s != 200 {
		t.Errorf("with Redis down: status %d, want 200 on local budgets", s)
	}
	if s := a.invoke(t); s != 429 {
		t.Errorf("with Redis down, past the share: status %d, want 429", s)
	}
	rz := a.ready(t)
	if rz.Status != "degraded" || rz.State == nil || rz.State.Shared || !strings.Contains(rz.Reason, "redis") ||
		!strings.Contains(rz.State.Reason, "0.75 of each") {
		t.Errorf("/readyz with Redis down: %+v, want degraded, not shared, naming the share", rz)
	}
	metrics := a.get(t, "/metrics")
	for _, want := range []string{"bedrock_relay_state_backend_up 0", "bedrock_relay_state_fallbacks_total 1", "bedrock_relay_state_local_reservations_total 2"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics: no %q", want)
		}
	}

	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); a.ready(t).Status != "ready"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz after Redis came back: %+v, want ready", a.ready(t))
		}
	}
	if s := a.invoke(t); s != 429 { // shared again: the 4 in Redis's minute
		t.Errorf("Redis back, the shared minute full: status %d, want 429", s)
	}
	log := a.log.String()
	if strings.Count(log, "state backend unreachable") != 1 || strings.Count(log, "state backend answers again") != 1 {
		t.Errorf("log: want one line for the fallback and one for the recovery:\n%s", log)
	}
	if strings.Contains(log+metrics, "pw-not-logged") {
		t.Errorf("the Redis password is in the log or the metrics")
	}
}
