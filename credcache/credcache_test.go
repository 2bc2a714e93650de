package credcache_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	relay "github.com/bedrock-relay/bedrock-relay"
	"github.com/bedrock-relay/bedrock-relay/credcache"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// clock is a fake time for Options.Clock and sandbox.WithClock: it moves only when told to, so tests drive
// expiry without sleeping. It starts at the present (the sandbox accepts request signatures, which the SDK
// dates with the real time, within 15 minutes of its clock: keep advances well under that) on a whole second
// (the sandbox issues Expiration to the second), so that lifetimes and refresh points are exact.
type clock struct {
	mu      sync.Mutex
	now     time.Time
	hold    int // see Gate
	release chan struct{}
}

func newClock() *clock { return &clock{now: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	now := c.now
	if c.hold == 0 {
		c.mu.Unlock()
		return now
	}
	c.hold--
	release := c.release
	if c.hold == 0 {
		close(release)
	}
	c.mu.Unlock()
	select {
	case <-release:
	case <-time.After(10 * time.Second): // fewer than n came: let the test fail (Held) rather than hang
	}
	return now
}

// Gate makes the next n calls of Now wait until all n have been made. A test uses it to hold n concurrent
// Retrieves where they check the cached credentials against the clock, so that all have seen the same
// credentials due before any goes on to refresh them.
func (c *clock) Gate(n int) {
	c.mu.Lock()
	c.hold, c.release = n, make(chan struct{})
	c.mu.Unlock()
}

// Held is how many calls a Gate still waits for.
func (c *clock) Held() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hold
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newSandbox(t *testing.T, opts ...sandbox.Option) (*sandbox.Sandbox, *sts.Client) {
	t.Helper()
	sb, err := sandbox.New(sandbox.DefaultScenario(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sb)
	t.Cleanup(ts.Close)
	cfg := aws.Config{
		Region:           sandbox.SeedRegion,
		Credentials:      credentials.StaticCredentialsProvider{Value: sb.CallerCredentials()},
		BaseEndpoint:     aws.String(ts.URL),
		RetryMaxAttempts: 1,
		HTTPClient:       sandbox.SDKHTTPClient(nil),
	}
	return sb, sts.NewFromConfig(cfg)
}

func seedTarget(account string) relay.Target {
	return relay.Target{
		RoleARN:         sandbox.TargetRoleARN(account),
		Region:          sandbox.SeedRegion,
		SessionName:     "lambda-bedrock-cross-account",
		SessionDuration: 900 * time.Second,
	}
}

func TestOneAssumeRoleForManyConcurrentRequests(t *testing.T) {
	clk := newClock()
	sb, client := newSandbox(t, sandbox.WithClock(clk.Now))
	var refreshes []credcache.Refresh
	var mu sync.Mutex
	c, err := credcache.New(client, seedTarget(sandbox.SmallAccount), credcache.Options{Clock: clk.Now, OnRefresh: func(r credcache.Refresh) {
		mu.Lock()
		refreshes = append(refreshes, r)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	keys := make([]string, 64)
	for i := range keys {
		wg.Go(func() {
			creds, err := c.Retrieve(t.Context())
			if err != nil {
				t.Errorf("Retrieve: %v", err)
				return
			}
			keys[i] = creds.AccessKeyID
		})
	}
	wg.Wait()
	if n := sb.Stats().STSCalls("AssumeRole"); n != 1 {
		t.Errorf("AssumeRole calls = %d, want 1 for %d concurrent requests", n, len(keys))
	}
	for _, k := range keys {
		if k != keys[0] {
			t.Fatalf("requests got different credentials: %q and %q", k, keys[0])
		}
	}
	if c.Refreshes() != 1 || c.Failures() != 0 {
		t.Errorf("Refreshes, Failures = %d, %d; want 1, 0", c.Refreshes(), c.Failures())
	}
	if len(refreshes) != 1 {
		t.Fatalf("OnRefresh called %d times, want 1", len(refreshes))
	}
	r := refreshes[0]
	if left := r.Expires.Sub(clk.Now()); r.Account != sandbox.SmallAccount || r.Err != nil || left < 10*time.Minute {
		t.Errorf("Refresh = account %q, expires in %v, err %v; want %s, ~15m, nil", r.Account, left, r.Err, sandbox.SmallAccount)
	}
	if r.Took != 0 {
		t.Errorf("Refresh.Took = %v with a clock that stood still, want 0 (measured on Options.Clock)", r.Took)
	}
}

func TestOneAssumeRoleForManyConcurrentRequestsAtExpiry(t *testing.T) {
	clk := newClock()
	sb, client := newSandbox(t, sandbox.WithClock(clk.Now))
	sb.SetCredentialLifetime(4 * time.Minute)
	c, err := credcache.New(client, seedTarget(sandbox.SmallAccount), credcache.Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	first, err := c.Retrieve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// At the refresh point (half the 4m lifetime) by the clock only, the SDK's own real-time test still finding
	// the credentials valid: requests that all find them due must share one refresh.
	clk.Advance(2 * time.Minute)
	keys := make([]string, 64)
	clk.Gate(len(keys))
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			creds, err := c.Retrieve(t.Context())
			if err != nil {
				t.Errorf("Retrieve: %v", err)
				return
			}
			keys[i] = creds.AccessKeyID
		})
	}
	wg.Wait()
	if n := clk.Held(); n != 0 {
		t.Errorf("%d of %d requests never read the clock while the credentials were due", n, len(keys))
	}
	if n := sb.Stats().STSCalls("AssumeRole"); n != 2 {
		t.Errorf("AssumeRole calls = %d, want 2: one refresh for %d concurrent requests", n, len(keys))
	}
	for _, k := range keys {
		if k != keys[0] || k == first.AccessKeyID {
			t.Fatalf("requests got credentials %q and %q, want all the same refreshed ones (not %q)", k, keys[0], first.AccessKeyID)
		}
	}
}

func TestRefreshAheadOfExpiry(t *testing.T) {
	clk := newClock()
	sb, client := newSandbox(t, sandbox.WithClock(clk.Now))
	// 4 minutes: half of it (2m) is under the default window at any jitter (2.5-5m), so the cap always applies,
	// and the refresh point is minutes from the real time the SDK cache also checks, so only the clock decides.
	sb.SetCredentialLifetime(4 * time.Minute)
	c, err := credcache.New(client, seedTarget(sandbox.SmallAccount), credcache.Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	first, err := c.Retrieve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// The 5-minute default window is capped at half the 4m lifetime: reused at once and up to 2m, refreshed then.
	again, _ := c.Retrieve(t.Context())
	if again.AccessKeyID != first.AccessKeyID {
		t.Errorf("credentials refreshed right away; the expiry window should be capped at half their lifetime")
	}
	clk.Advance(2*time.Minute - time.Second)
	again, _ = c.Retrieve(t.Context())
	if again.AccessKeyID != first.AccessKeyID {
		t.Errorf("credentials refreshed 1m59s into a 4m lifetime; the expiry window should be capped at half of it")
	}
	clk.Advance(time.Second)
	second, err := c.Retrieve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if second.AccessKeyID == first.AccessKeyID {
		t.Errorf("credentials not refreshed 2m into a 4m lifetime")
	}
	if n := sb.Stats().STSCalls("AssumeRole"); n != 2 {
		t.Errorf("AssumeRole calls = %d, want 2", n)
	}
	if !clk.Now().Before(second.Expires) {
		t.Errorf("refreshed credentials already expired (%v)", second.Expires)
	}
}

func TestInvalidate(t *testing.T) {
	clk := newClock()
	sb, client := newSandbox(t, sandbox.WithClock(clk.Now))
	c, err := credcache.New(client, seedTarget(sandbox.SmallAccount), credcache.Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	before := clk.Now()
	clk.Advance(time.Millisecond)
	if _, err := c.Retrieve(t.Context()); err != nil {
		t.Fatal(err)
	}
	// A request that started before these credentials were fetched must not throw them away.
	if c.InvalidateIfOlder(before) {
		t.Errorf("InvalidateIfOlder(time before the refresh) = true, want false")
	}
	clk.Advance(time.Millisecond)
	if !c.InvalidateIfOlder(clk.Now()) {
		t.Errorf("InvalidateIfOlder(now) = false, want true")
	}
	if _, err := c.Retrieve(t.Context()); err != nil {
		t.Fatal(err)
	}
	c.Invalidate()
	if _, err := c.Retrieve(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := sb.Stats().STSCalls("AssumeRole"); n != 3 {
		t.Errorf("AssumeRole calls = %d, want 3", n)
	}
}

func TestAssumeRoleDenied(t *testing.T) {
	_, client := newSandbox(t)
	var got credcache.Refresh
	c, err := credcache.New(client, seedTarget("444444444444"), credcache.Options{OnRefresh: func(r credcache.Refresh) { got = r }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Retrieve(context.Background())
	var ce *credcache.Error
	if !errors.As(err, &ce) || ce.RoleARN != sandbox.TargetRoleARN("444444444444") {
		t.Fatalf("Retrieve error = %v, want a *credcache.Error naming the role", err)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" {
		t.Errorf("Retrieve error = %v, want API error AccessDenied", err)
	}
	if got.Err == nil || c.Failures() != 1 || c.Refreshes() != 0 {
		t.Errorf("OnRefresh err = %v, Failures = %d, Refreshes = %d; want an error, 1, 0", got.Err, c.Failures(), c.Refreshes())
	}
}

func TestNewRejectsBadTarget(t *testing.T) {
	_, client := newSandbox(t)
	_, err := credcache.New(client, relay.Target{RoleARN: "x"}, credcache.Options{})
	if !errors.Is(err, relay.ErrInvalidTarget) {
		t.Errorf("New(bad target) = %v, want ErrInvalidTarget", err)
	}
}
