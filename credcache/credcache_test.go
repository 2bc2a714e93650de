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

func newSandbox(t *testing.T) (*sandbox.Sandbox, *sts.Client) {
	t.Helper()
	sb, err := sandbox.New(sandbox.DefaultScenario())
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
	sb, client := newSandbox(t)
	var refreshes []credcache.Refresh
	var mu sync.Mutex
	c, err := credcache.New(client, seedTarget(sandbox.SmallAccount), credcache.Options{OnRefresh: func(r credcache.Refresh) {
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
	if r.Account != sandbox.SmallAccount || r.Err != nil || time.Until(r.Expires) < 10*time.Minute {
		t.Errorf("Refresh = account %q, expires in %v, err %v; want %s, ~15m, nil", r.Account, time.Until(r.Expires), r.Err, sandbox.SmallAccount)
	}
}

func TestRefreshAheadOfExpiry(t *testing.T) {
	sb, client := newSandbox(t)
	sb.SetCredentialLifetime(2 * time.Second)
	c, err := credcache.New(client, seedTarget(sandbox.SmallAccount), credcache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := c.Retrieve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// The 5-minute default window is capped at half the 2s lifetime: reused at once, refreshed after ~1s.
	again, _ := c.Retrieve(t.Context())
	if again.AccessKeyID != first.AccessKeyID {
		t.Errorf("credentials refreshed right away; the expiry window should be capped at half their lifetime")
	}
	time.Sleep(1100 * time.Millisecond)
	second, err := c.Retrieve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if second.AccessKeyID == first.AccessKeyID {
		t.Errorf("credentials not refreshed 1.1s into a 2s lifetime")
	}
	if n := sb.Stats().STSCalls("AssumeRole"); n != 2 {
		t.Errorf("AssumeRole calls = %d, want 2", n)
	}
	if !time.Now().Before(second.Expires) {
		t.Errorf("refreshed credentials already expired (%v)", second.Expires)
	}
}

func TestInvalidate(t *testing.T) {
	sb, client := newSandbox(t)
	c, err := credcache.New(client, seedTarget(sandbox.SmallAccount), credcache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if _, err := c.Retrieve(t.Context()); err != nil {
		t.Fatal(err)
	}
	// A request that started before these credentials were fetched must not throw them away.
	if c.InvalidateIfOlder(before) {
		t.Errorf("InvalidateIfOlder(time before the refresh) = true, want false")
	}
	if !c.InvalidateIfOlder(time.Now()) {
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
