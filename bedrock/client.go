package bedrock

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	relay "github.com/bedrock-relay/bedrock-relay"
	"github.com/bedrock-relay/bedrock-relay/credcache"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// Options tune a Client. The zero value is fine.
type Options struct {
	// Credentials tunes the target's credential cache.
	Credentials credcache.Options
	// Runtime is applied last to the Bedrock Runtime client's options (say, RetryMaxAttempts = 1 for a router
	// that fails over to another target instead of waiting). It cannot turn bearer-token auth back on.
	Runtime []func(*bedrockruntime.Options)
}

// Client calls Bedrock Runtime in one target's account. It is safe for concurrent use; build one per target
// and keep it.
type Client struct {
	target relay.Target
	creds  *credcache.Cache
	rt     *bedrockruntime.Client
	sts    *sts.Client

	expiredRetries atomic.Int64

	mu     sync.Mutex
	caller *Identity // the source identity, once looked up
}

// Identity is an STS caller identity.
type Identity struct {
	Account string
	ARN     string
	UserID  string
}

// New builds the client of target t. src is the source configuration: its credentials (the SDK default
// chain; in Lambda, the execution role) call AssumeRole, and its endpoint, retry and HTTP settings are kept.
// Missing SessionName and SessionDuration are defaulted (relay.Target.WithDefaults). No AWS call is made.
func New(src aws.Config, t relay.Target, opts Options) (*Client, error) {
	t = t.WithDefaults()
	if err := t.Validate(); err != nil {
		return nil, err
	}
	stsClient := sts.NewFromConfig(src, func(o *sts.Options) {
		if o.Region == "" {
			o.Region = t.Region
		}
	})
	cache, err := credcache.New(stsClient, t, opts.Credentials)
	if err != nil {
		return nil, err
	}
	rt := bedrockruntime.NewFromConfig(src, func(o *bedrockruntime.Options) {
		o.Region = t.Region
		o.Credentials = cache
		for _, fn := range opts.Runtime {
			fn(o)
		}
		// bedrockruntime.New switches to bearer auth when AWS_BEARER_TOKEN_BEDROCK is set. The relay acts
		// as the assumed role, so it always signs with SigV4 and never hands out the token.
		o.AuthSchemePreference = []string{"sigv4"}
		o.BearerAuthTokenProvider = nil
	})
	return &Client{target: t, creds: cache, rt: rt, sts: stsClient}, nil
}

// Target is the client's target, with defaults applied.
func (c *Client) Target() relay.Target { return c.target }

// Credentials is the target's credential cache (for metrics, and to invalidate from outside).
func (c *Client) Credentials() *credcache.Cache { return c.creds }

// ExpiredRetries counts requests retried because Bedrock answered ExpiredTokenException.
func (c *Client) ExpiredRetries() int64 { return c.expiredRetries.Load() }

// CallerIdentity is sts:GetCallerIdentity of the source credentials: who assumes the target role. A success
// is remembered, and used in the hints of later errors.
func (c *Client) CallerIdentity(ctx context.Context) (Identity, error) {
	c.mu.Lock()
	if c.caller != nil {
		id := *c.caller
		c.mu.Unlock()
		return id, nil
	}
	c.mu.Unlock()
	out, err := c.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return Identity{}, c.wrap(OpGetCallerIdentity, "", err)
	}
	id := Identity{Account: aws.ToString(out.Account), ARN: aws.ToString(out.Arn), UserID: aws.ToString(out.UserId)}
	c.mu.Lock()
	c.caller = &id
	c.mu.Unlock()
	return id, nil
}

// Caller is the source identity if CallerIdentity has found it, without calling STS.
func (c *Client) Caller() (Identity, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.caller == nil {
		return Identity{}, false
	}
	return *c.caller, true
}

func (c *Client) callerARN() string {
	id, _ := c.Caller()
	return id.ARN
}

// AssumedAccount makes sure the target's credentials are at hand (calling AssumeRole if they are not) and
// returns the account they belong to.
func (c *Client) AssumedAccount(ctx context.Context) (string, error) {
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return "", c.wrap(OpAssumeRole, "", err)
	}
	if creds.AccountID != "" {
		return creds.AccountID, nil
	}
	return c.target.Account(), nil
}

// Usage is what an invocation cost, from Bedrock's response headers (Invoke) or invocation metrics (streams),
// read by package upstream, the one place that knows where Bedrock reports it.
type Usage = upstream.Usage

// Response is a model's answer to Invoke.
type Response struct {
	Body        []byte
	ContentType string
	Usage       Usage
	RequestID   string
}

// Invoke calls InvokeModel with body (the model's native request JSON) on modelID: a foundation-model id, an
// inference profile id or an ARN. opts may set further fields of the SDK input (guardrail, trace,
// performance configuration, service tier). On ExpiredTokenException the credentials are refreshed and the
// call is made once more.
func (c *Client) Invoke(ctx context.Context, body []byte, modelID string, opts ...func(*bedrockruntime.InvokeModelInput)) (*Response, error) {
	in := &bedrockruntime.InvokeModelInput{
		ModelId:     aws.String(modelID),
		Body:        body,
		ContentType: aws.String("application/json"),
		Accept:      aws.String("application/json"),
	}
	for _, fn := range opts {
		fn(in)
	}
	var out *bedrockruntime.InvokeModelOutput
	err := c.retryExpired(func() (err error) {
		out, err = c.rt.InvokeModel(ctx, in)
		return err
	})
	if err != nil {
		return nil, c.wrap(OpInvokeModel, modelID, err)
	}
	resp := &Response{Body: out.Body, ContentType: aws.ToString(out.ContentType)}
	resp.RequestID, _ = awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
	if raw, ok := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response); ok {
		resp.Usage = upstream.UsageFromHeaders(raw.Header)
	}
	return resp, nil
}

// retryExpired makes call, and once more if Bedrock refused the credentials as expired. Only credentials
// older than this request are dropped, so a burst of requests failing together causes one AssumeRole.
func (c *Client) retryExpired(call func() error) error {
	start := time.Now()
	err := call()
	if err == nil || !isExpired(err) {
		return err
	}
	c.expiredRetries.Add(1)
	c.creds.InvalidateIfOlder(start)
	return call()
}

// isExpired reports an ExpiredToken(Exception) answered by Bedrock, not by STS to AssumeRole: dropping the
// assumed-role credentials cannot help the latter.
func isExpired(err error) bool {
	var ce *credcache.Error
	if errors.As(err, &ce) {
		return false
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && relay.IsExpired(ae.ErrorCode())
}

func (c *Client) wrap(op, modelID string, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Op: op, Target: c.target, ModelID: modelID, Caller: c.callerARN(), Err: err}
	var ce *credcache.Error
	if errors.As(err, &ce) {
		e.Op = OpAssumeRole
		e.During = op
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		e.Code, e.Message = ae.ErrorCode(), ae.ErrorMessage()
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		e.StatusCode = re.HTTPStatusCode()
	}
	var rid interface{ ServiceRequestID() string }
	if errors.As(err, &rid) {
		e.RequestID = rid.ServiceRequestID()
	}
	if e.Message == "" {
		e.Message = strings.TrimSpace(err.Error())
	}
	return e
}

// String names the client in logs.
func (c *Client) String() string { return fmt.Sprintf("bedrock client for %s", c.target) }
