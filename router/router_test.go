package router_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/internal/mainlib"
	"github.com/bedrock-relay/bedrock-relay/router"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// pool is a sandbox with three Bedrock accounts (2, 3 and 5 requests/minute) and a router over them.
type pool struct {
	sb *sandbox.Sandbox
	r  *router.Router
}

var poolAccounts = []struct {
	id  string
	rpm int
}{{"222222222222", 2}, {"333333333333", 3}, {"444444444444", 5}}

func threeAccountScenario() *sandbox.Scenario {
	rpm := map[string]int{}
	for _, a := range poolAccounts {
		rpm[a.id] = a.rpm
	}
	return sandbox.PoolScenario(rpm)
}

func newPool(t *testing.T, budgets bool, mutate func(*config.Config)) *pool {
	t.Helper()
	sb, err := sandbox.New(threeAccountScenario())
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sb)
	t.Cleanup(ts.Close)
	cfg := config.Default()
	cfg.Auth.Mode = "none"
	for _, a := range poolAccounts {
		tc := config.TargetSpec{Name: "acct-" + a.id[:3], RoleARN: sandbox.TargetRoleARN(a.id), Region: sandbox.SeedRegion, Models: []string{sandbox.SeedProfile}}
		if budgets {
			tc.Budgets.RequestsPerMinute = config.Limit{N: a.rpm}
		}
		cfg.Targets = append(cfg.Targets, tc)
	}
	if mutate != nil {
		mutate(&cfg)
	}
	cfgp := &cfg
	cfgp.FillDefaults()
	if err := cfgp.Validate(); err != nil {
		t.Fatal(err)
	}
	base := aws.Config{Region: sandbox.SeedRegion, BaseEndpoint: aws.String(ts.URL),
		Credentials: credentials.StaticCredentialsProvider{Value: sb.CallerCredentials()}, RetryMaxAttempts: 1}
	r, err := mainlib.NewRouter(context.Background(), cfgp, base, mainlib.RouterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &pool{sb: sb, r: r}
}

const body = `{"anthropic_version":"bedrock-2023-05-31","max_tokens":100,"messages":[{"role":"user","content":"hello"}]}`

func (p *pool) invoke(ctx context.Context, model string) (*router.Result, error) {
	return p.r.Do(ctx, &router.Request{Op: upstream.OpInvoke, Model: model, Body: []byte(body)})
}

func TestPooledCapacityIsAllUsable(t *testing.T) {
	for _, budgets := range []bool{true, false} {
		name := "client budgets"
		if !budgets {
			name = "no budgets: learn from throttles"
		}
		t.Run(name, func(t *testing.T) {
			p := newPool(t, budgets, nil)
			ctx := context.Background()
			served := map[string]int{}
			for i := 0; i < 10; i++ {
				res, err := p.invoke(ctx, "anthropic.claude-sonnet-4-5-20250929-v1:0")
				if err != nil {
					t.Fatalf("call %d: %v", i+1, err)
				}
				served[res.Target.Account]++
			}
			for _, a := range poolAccounts {
				if served[a.id] != a.rpm {
					t.Errorf("account %s served %d, want its quota %d (all served: %v)", a.id, served[a.id], a.rpm, served)
				}
			}
			_, err := p.invoke(ctx, sandbox.SeedProfile)
			var ex *router.ExhaustedError
			if !errors.As(err, &ex) {
				t.Fatalf("11th call: got %v, want ExhaustedError", err)
			}
			if ex.RetryAfter < time.Second || ex.RetryAfter > time.Minute {
				t.Errorf("RetryAfter = %v, want within the minute window", ex.RetryAfter)
			}
			if budgets {
				if got := p.sb.Stats().Throttles; got != 0 {
					t.Errorf("sandbox throttled %d requests; with budgets the relay should not send over quota", got)
				}
			}
		})
	}
}

func TestFailoverOn503(t *testing.T) {
	p := newPool(t, true, nil)
	p.sb.FailNext(sandbox.Fault{Code: "ServiceUnavailableException", Count: 2})
	res, err := p.invoke(context.Background(), sandbox.SeedProfile)
	if err != nil {
		t.Fatalf("got %v, want the request served after failover", err)
	}
	if n := len(res.Attempts); n != 3 {
		t.Errorf("attempts = %v, want two failed targets then a served one", res.Attempts)
	}

	// When every target fails, the last upstream answer is passed on.
	p.sb.FailNext(sandbox.Fault{Code: "ServiceUnavailableException", Count: 3})
	_, err = p.invoke(context.Background(), sandbox.SeedProfile)
	var fe *router.FinalError
	if !errors.As(err, &fe) || fe.Err == nil || fe.Err.Code != "ServiceUnavailableException" {
		t.Fatalf("all targets failing: got %v, want the ServiceUnavailableException passed on", err)
	}
}

func TestValidationIsNotRetried(t *testing.T) {
	p := newPool(t, true, nil)
	_, err := p.r.Do(context.Background(), &router.Request{Op: upstream.OpInvoke, Model: sandbox.SeedProfile, Body: []byte(`{"max_tokens":10,"messages":[]}`)})
	var fe *router.FinalError
	if !errors.As(err, &fe) || fe.Err == nil || fe.Err.Code != "ValidationException" {
		t.Fatalf("got %v, want the ValidationException passed on", err)
	}
	if len(fe.Attempts) != 1 {
		t.Errorf("attempts = %d, want 1 (no failover on a caller error)", len(fe.Attempts))
	}
}

func TestStreamFailsOverBeforeFirstEvent(t *testing.T) {
	p := newPool(t, true, nil)
	p.sb.FailNext(sandbox.Fault{Code: "ThrottlingException", Count: 1, Operation: "InvokeModelWithResponseStream"})
	res, err := p.r.Do(context.Background(), &router.Request{Op: upstream.OpInvokeStream, Model: sandbox.SeedProfile, Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Stream.Close()
	frames := 0
	for {
		_, err := res.Stream.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		frames++
	}
	if frames < 3 || res.Stream.Err() != nil {
		t.Errorf("frames = %d, err = %v; want a whole stream", frames, res.Stream.Err())
	}
	if u := res.Stream.Usage(); u.InputTokens == 0 || u.OutputTokens == 0 {
		t.Errorf("usage = %+v, want it read from the stream", u)
	}
	if len(res.Attempts) != 2 {
		t.Errorf("attempts = %v, want a failover", res.Attempts)
	}
}

func TestMidStreamFaultBecomesExceptionFrame(t *testing.T) {
	p := newPool(t, true, nil)
	p.sb.FailNext(sandbox.Fault{Code: "ModelStreamErrorException", AfterEvents: 2, Drop: true, Count: 3})
	res, err := p.r.Do(context.Background(), &router.Request{Op: upstream.OpConverseStream, Model: sandbox.SeedProfile,
		Body: []byte(`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Stream.Close()
	var last []byte
	for {
		f, err := res.Stream.Next()
		if err == io.EOF {
			break
		}
		last = f
	}
	if !strings.Contains(string(last), "modelStreamErrorException") {
		t.Errorf("last frame %q: want a modelStreamErrorException frame", last)
	}
	if res.Stream.Err() == nil {
		t.Errorf("Err() = nil, want the upstream break")
	}
}

func TestExpiredCredentialsAreRefreshed(t *testing.T) {
	p := newPool(t, false, nil)
	ctx := context.Background()
	if _, err := p.invoke(ctx, sandbox.SeedProfile); err != nil {
		t.Fatal(err)
	}
	p.sb.ExpireSessions("")
	for i := 0; i < 3; i++ {
		if _, err := p.invoke(ctx, sandbox.SeedProfile); err != nil {
			t.Fatalf("after expiry, call %d: %v", i, err)
		}
	}
	if got := p.sb.Stats().BedrockCalls("", "ExpiredTokenException"); got == 0 {
		t.Errorf("the sandbox saw no expired token; the test did not test expiry")
	}
}

func TestUnknownModelIsCallerError(t *testing.T) {
	p := newPool(t, true, nil)
	_, err := p.invoke(context.Background(), "amazon.nova-pro-v1:0")
	var ce *router.CallerError
	if !errors.As(err, &ce) || ce.Code != "ValidationException" {
		t.Fatalf("got %v, want a ValidationException naming the served models", err)
	}
}

func TestAutoBudgetsFromServiceQuotas(t *testing.T) {
	p := newPool(t, false, func(c *config.Config) {
		for i := range c.Targets {
			c.Targets[i].Budgets.RequestsPerMinute = config.Limit{Auto: true}
			c.Targets[i].Budgets.TokensPerMinute = config.Limit{Auto: true}
		}
	})
	for _, st := range p.r.Limits().Snapshot() {
		want := map[string]int{"acct-222": 2, "acct-333": 3, "acct-444": 5}[st.Key.Target]
		if st.Budget.RequestsPerMinute != want || st.Budget.TokensPerMinute != 1_000_000 {
			t.Errorf("%s budget = %+v, want %d requests and 1,000,000 tokens per minute read from Service Quotas", st.Key, st.Budget, want)
		}
	}
	// With budgets known up front the pool never makes the sandbox throttle.
	for i := 0; i < 10; i++ {
		if _, err := p.invoke(context.Background(), sandbox.SeedProfile); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	if got := p.sb.Stats().Throttles; got != 0 {
		t.Errorf("sandbox throttles = %d, want 0", got)
	}
}

func TestWaitForCapacity(t *testing.T) {
	p := newPool(t, true, func(c *config.Config) {
		c.Targets = c.Targets[:1] // 2 requests/minute
		c.Routing.WaitForCapacity = config.Duration(2 * time.Minute)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	for i := 0; i < 2; i++ {
		if _, err := p.invoke(context.Background(), sandbox.SeedProfile); err != nil {
			t.Fatal(err)
		}
	}
	// The third would wait up to a minute for the window; the caller's deadline is sooner, so it is
	// answered at once instead of waiting in vain.
	start := time.Now()
	_, err := p.invoke(ctx, sandbox.SeedProfile)
	if err == nil {
		t.Fatal("third call succeeded; want it to wait and hit the deadline")
	}
	var ex *router.ExhaustedError
	if !errors.As(err, &ex) && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want exhaustion or the deadline", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("waited %v: the wait must respect the request's deadline", time.Since(start))
	}
}

// TestSoftBackoffBeforePriority: a preferred target (priority 0) that was throttled while its budget had room
// backs off softly; until the backoff ends, requests go to the next priority's target first rather than to
// it, and it is still used when nothing else is free.
func TestSoftBackoffBeforePriority(t *testing.T) {
	p := newPool(t, true, func(c *config.Config) {
		c.Targets = c.Targets[1:] // 333 (3 rpm) and 444 (5 rpm)
		c.Targets[1].Priority = 1
	})
	ctx := context.Background()
	p.sb.FailNext(sandbox.Fault{Code: "ThrottlingException", Account: "333333333333"})
	res, err := p.invoke(ctx, sandbox.SeedProfile)
	if err != nil || res.Target.Account != "444444444444" || len(res.Attempts) != 2 {
		t.Fatalf("throttled on the preferred target: %v, %+v; want it served by the next priority after one attempt", err, res)
	}
	for i := range 4 {
		res, err := p.invoke(ctx, sandbox.SeedProfile)
		if err != nil || res.Target.Account != "444444444444" || len(res.Attempts) != 1 {
			t.Fatalf("request %d during the backoff: %v, %+v; want the next priority's target at once", i, err, res)
		}
	}
	// 444's budget is spent (5); the backing-off target still serves.
	res, err = p.invoke(ctx, sandbox.SeedProfile)
	if err != nil || res.Target.Account != "333333333333" {
		t.Fatalf("with the other target spent: %v, %+v; want the backing-off target used", err, res)
	}
}
