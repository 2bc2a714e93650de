package credcache

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"

	relay "github.com/bedrock-relay/bedrock-relay"
)

// Defaults for Options.
const (
	// DefaultExpiryWindow refreshes credentials between 2.5 and 5 minutes before they expire (with the default
	// jitter), so that a request never leaves with credentials about to lapse.
	DefaultExpiryWindow    = 5 * time.Minute
	DefaultExpiryJitter    = 0.5
	defaultRefreshAttempts = 3
)

// Options tune a Cache. The zero value is the defaults.
type Options struct {
	// ExpiryWindow is how long before expiry credentials are refreshed (aws.CredentialsCacheOptions). It is
	// capped at half the lifetime of the credentials at hand, so short-lived sessions are still reused.
	// Negative disables refreshing early.
	ExpiryWindow time.Duration
	// ExpiryWindowJitterFrac randomizes the window so that many caches do not refresh in step.
	// Negative disables jitter.
	ExpiryWindowJitterFrac float64
	// OnRefresh, if set, is called after each AssumeRole with its outcome. It runs on the refreshing request's
	// goroutine, inside the single flight: keep it quick.
	OnRefresh func(Refresh)
	// Clock, if set, is what the cache reads the time from instead of time.Now: when credentials are due for
	// refresh, Refresh.Took, and when they were fetched (InvalidateIfOlder, whose argument should come from
	// the same clock). It is for tests that drive expiry without sleeping; nil is time.Now.
	Clock func() time.Time
}

// Refresh is one AssumeRole a Cache made. It holds no secret.
type Refresh struct {
	Target relay.Target
	// Key is the caller key of a per-key session (Keyed), "" for the target's shared session.
	Key     string
	Account string    // the assumed role's account, from AssumedRoleUser
	Expires time.Time // when the credentials expire (before the expiry window is applied)
	Took    time.Duration
	Err     error
}

// Error is a failed AssumeRole. It wraps the SDK's error, so errors.As finds smithy.APIError in it.
type Error struct {
	RoleARN string
	// Key is the caller key of a per-key session (Keyed), "" for the target's shared session.
	Key string
	Err error
}

func (e *Error) Error() string {
	if e.Key != "" {
		return "assume role " + e.RoleARN + " for key " + e.Key + ": " + e.Err.Error()
	}
	return "assume role " + e.RoleARN + ": " + e.Err.Error()
}
func (e *Error) Unwrap() error { return e.Err }

// TagSessionDenied reports whether STS refused the session tags: AccessDenied naming sts:TagSession, which is
// what AWS answers when the role's trust policy (or, across accounts, the caller's own policy) allows
// sts:AssumeRole but not sts:TagSession.
func (e *Error) TagSessionDenied() bool {
	var ae smithy.APIError
	return errors.As(e.Err, &ae) && ae.ErrorCode() == "AccessDenied" && strings.Contains(ae.ErrorMessage(), "sts:TagSession")
}

// Hint is what to do about e, for logs, or "" when there is nothing specific to say.
func (e *Error) Hint() string {
	if !e.TagSessionDenied() {
		return ""
	}
	return "per-key sessions (attribution.session_per_key) pass session tags: allow sts:TagSession for the relay's role in the trust policy of " +
		e.RoleARN + " and, across accounts, in the relay role's own policy; `bedrock-relay policy --config` prints both, `bedrock-relay check --config` tests them"
}

// Cache is the assumed-role credentials of one target. It is an aws.CredentialsProvider: give it to SDK clients
// as their Credentials. It is safe for concurrent use.
type Cache struct {
	target    relay.Target
	key       string // the caller key of a per-key session (Keyed)
	now       func() time.Time
	creds     *aws.CredentialsCache
	staleMu   sync.Mutex // serializes dropping credentials that Clock says are due (Retrieve)
	refreshes atomic.Int64
	failures  atomic.Int64
	// fetched is when the cached credentials were obtained (UnixNano), for InvalidateIfOlder.
	fetched atomic.Int64
}

// New makes the cache of target t. client is an STS client signing with the source credentials (in Lambda, the
// execution role's). No STS call is made until the first Retrieve.
func New(client stscreds.AssumeRoleAPIClient, t relay.Target, opts Options) (*Cache, error) {
	return newCache(client, t, opts, "", nil)
}

// newCache is New for the session of key ("" for the target's shared one), passing extra session tags after
// t.Tags, in their order.
func newCache(client stscreds.AssumeRoleAPIClient, t relay.Target, opts Options, key string, extra []types.Tag) (*Cache, error) {
	if client == nil {
		return nil, errors.New("credcache: nil STS client")
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	arp := stscreds.NewAssumeRoleProvider(client, t.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = t.SessionName
		o.Duration = t.SessionDuration
		if t.ExternalID != "" {
			o.ExternalID = aws.String(t.ExternalID)
		}
		if t.SessionPolicy != "" {
			o.Policy = aws.String(t.SessionPolicy)
		}
		if t.SourceIdentity != "" {
			o.SourceIdentity = aws.String(t.SourceIdentity)
		}
		for k, v := range t.Tags {
			o.Tags = append(o.Tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
		// No TransitiveTagKeys: the tags name the caller to this session's account and bill, and are not
		// meant to follow the session into any role it might assume.
		o.Tags = append(o.Tags, extra...)
	})
	window, jitter := opts.ExpiryWindow, opts.ExpiryWindowJitterFrac
	if window == 0 {
		window = DefaultExpiryWindow
	}
	if jitter == 0 {
		jitter = DefaultExpiryJitter
	}
	c := &Cache{target: t, key: key, now: opts.Clock}
	if c.now == nil {
		c.now = time.Now
	}
	p := &provider{cache: c, assume: arp, onRefresh: opts.OnRefresh}
	c.creds = aws.NewCredentialsCache(p, func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = max(window, 0)
		o.ExpiryWindowJitterFrac = max(jitter, 0)
	})
	return c, nil
}

// Target is the target the cache assumes.
func (c *Cache) Target() relay.Target { return c.target }

// Retrieve returns valid credentials, calling AssumeRole only when there are none or they are about to expire.
// A failure is an *Error.
func (c *Cache) Retrieve(ctx context.Context) (aws.Credentials, error) {
	creds, err := c.creds.Retrieve(ctx)
	if err != nil || !c.due(creds) {
		return creds, err
	}
	// Why: the SDK cache decides expiry with aws.Credentials.Expired, which reads the SDK's internal clock
	// (internal/sdk.NowTime, time.Now) and cannot be given Options.Clock. So when Clock says the cached
	// credentials are due (their Expires already has the expiry window applied), drop them and let the SDK
	// refresh them in its single flight. With the default clock this path is all but never taken: the SDK
	// has just found the credentials valid. The lock keeps callers that saw the same due credentials from
	// dropping them once each: each looks again under it, and only the first still finds them due.
	c.staleMu.Lock()
	defer c.staleMu.Unlock()
	if creds, err = c.creds.Retrieve(ctx); err != nil || !c.due(creds) {
		return creds, err
	}
	c.creds.Invalidate()
	return c.creds.Retrieve(ctx)
}

// due reports whether creds, as the SDK cache returned them (Expires less the expiry window), are due for
// refresh by Clock: the SDK's Expired test, on Clock.
func (c *Cache) due(creds aws.Credentials) bool {
	return creds.CanExpire && !creds.Expires.After(c.now().Round(0))
}

// Invalidate drops the cached credentials: the next Retrieve calls AssumeRole.
func (c *Cache) Invalidate() { c.creds.Invalidate() }

// InvalidateIfOlder drops the cached credentials only if they were obtained before t, and reports whether it
// did. A request that failed with ExpiredToken passes its start time, so that many requests failing together
// cause one refresh, not one each.
func (c *Cache) InvalidateIfOlder(t time.Time) bool {
	if c.fetched.Load() >= t.UnixNano() {
		return false
	}
	c.creds.Invalidate()
	return true
}

// Refreshes is how many AssumeRole calls succeeded; Failures how many failed.
func (c *Cache) Refreshes() int64 { return c.refreshes.Load() }

// Failures is how many AssumeRole calls failed.
func (c *Cache) Failures() int64 { return c.failures.Load() }

// provider is the AssumeRoleProvider with counting, error context and a cap on the expiry window.
type provider struct {
	cache     *Cache
	assume    *stscreds.AssumeRoleProvider
	onRefresh func(Refresh)
}

var _ aws.AdjustExpiresByCredentialsCacheStrategy = (*provider)(nil)

func (p *provider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	start := p.cache.now()
	creds, err := p.assume.Retrieve(ctx)
	r := Refresh{Target: p.cache.target, Key: p.cache.key, Took: p.cache.now().Sub(start)}
	if err != nil {
		p.cache.failures.Add(1)
		err = &Error{RoleARN: p.cache.target.RoleARN, Key: p.cache.key, Err: err}
		r.Err = err
	} else {
		p.cache.refreshes.Add(1)
		p.cache.fetched.Store(start.UnixNano())
		r.Account, r.Expires = creds.AccountID, creds.Expires
	}
	if p.onRefresh != nil {
		p.onRefresh(r)
	}
	return creds, err
}

// AdjustExpiresBy applies the cache's expiry window (dur is negative), but never by more than half the
// credentials' remaining lifetime: a window longer than the session would otherwise make every request
// call STS.
func (p *provider) AdjustExpiresBy(creds aws.Credentials, dur time.Duration) (aws.Credentials, error) {
	if !creds.CanExpire {
		return creds, nil
	}
	if half := creds.Expires.Sub(p.cache.now()) / 2; -dur > half {
		dur = -max(half, 0)
	}
	creds.Expires = creds.Expires.Add(dur)
	return creds, nil
}
