package upstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/smithy-go/encoding/httpbinding"

	relay "github.com/bedrock-relay/bedrock-relay"
)

// Operations by the path suffix of /model/{modelId}/{op}.
const (
	OpInvoke          = "invoke"
	OpInvokeStream    = "invoke-with-response-stream"
	OpConverse        = "converse"
	OpConverseStream  = "converse-stream"
	OpCountTokens     = "count-tokens"
	maxErrorBodyBytes = 64 << 10
)

// Client forwards requests to one region with one set of credentials. It is safe for concurrent use and
// meant to live as long as the target.
type Client struct {
	region   string
	base     *url.URL
	creds    aws.CredentialsProvider
	keyCreds KeyCredentials
	http     *http.Client
	signer   *v4.Signer
	now      func() time.Time
	basePath string   // c.base's path, escaped, without the trailing slash
	escaped  sync.Map // model ID → its path segment, escaped (see modelSegment)
	nEscaped atomic.Int32
}

// Options configure a Client.
type Options struct {
	Region string
	// BaseEndpoint overrides the regional endpoint (the sandbox, a VPC endpoint); empty resolves
	// bedrock-runtime.{region}.amazonaws.com with the SDK's endpoint rules.
	BaseEndpoint string
	// Credentials sign the requests; a provider with an InvalidateIfOlder (credcache.Cache) or Invalidate
	// (aws.CredentialsCache) method has its cached credentials dropped on ExpiredTokenException.
	Credentials aws.CredentialsProvider
	// KeyCredentials, if set, gives the credentials of a caller key's own session (credcache.Keyed, with
	// attribution.session_per_key): a Request naming a Key is signed with them instead of Credentials.
	KeyCredentials KeyCredentials
	HTTPClient     *http.Client
}

// KeyCredentials are per-caller-key sessions of the target: ForKey returns the credentials of key's session
// tagged with group (a *credcache.Cache, which InvalidateIfOlder drops on ExpiredTokenException). An error
// is a key that cannot have a session.
type KeyCredentials interface {
	ForKey(key, group string) (aws.CredentialsProvider, error)
}

// New makes a Client.
func New(ctx context.Context, o Options) (*Client, error) {
	if o.Region == "" {
		return nil, errors.New("upstream: region is required")
	}
	if o.Credentials == nil {
		return nil, errors.New("upstream: credentials are required")
	}
	endpoint := o.BaseEndpoint
	if endpoint == "" {
		ep, err := bedrockruntime.NewDefaultEndpointResolverV2().ResolveEndpoint(ctx, bedrockruntime.EndpointParameters{Region: aws.String(o.Region)})
		if err != nil {
			return nil, fmt.Errorf("upstream: resolve the Bedrock Runtime endpoint of %s: %w", o.Region, err)
		}
		endpoint = ep.URI.String()
	}
	base, err := url.Parse(strings.TrimSuffix(endpoint, "/"))
	if err != nil || base.Host == "" {
		return nil, fmt.Errorf("upstream: endpoint %q is not a URL", endpoint)
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = DefaultHTTPClient()
	}
	return &Client{region: o.Region, base: base, creds: o.Credentials, keyCreds: o.KeyCredentials, http: hc, signer: v4.NewSigner(), now: time.Now,
		basePath: base.EscapedPath()}, nil
}

// DefaultHTTPClient is tuned for a relay: many idle connections per host, no overall timeout (streams last
// as long as they last; the request's context bounds them).
func DefaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return &http.Client{Transport: t}
}

// Region is the client's region.
func (c *Client) Region() string { return c.region }

// Error is an error answer from Bedrock Runtime: its status, code, message and the raw body, so that a relay
// can pass it on verbatim.
type Error struct {
	Status    int
	Code      string
	Message   string
	RequestID string
	Header    http.Header
	Body      []byte
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%s (HTTP %d)", e.Code, e.Status)
	}
	return e.Code + ": " + e.Message
}

// ErrorCode is the AWS error code, as smithy.APIError names it.
func (e *Error) ErrorCode() string { return e.Code }

// ErrorMessage is the AWS error message.
func (e *Error) ErrorMessage() string { return e.Message }

// staleCredentials reports the codes after which assuming the role again may help.
func staleCredentials(code string) bool {
	return relay.IsExpired(code) || code == "UnrecognizedClientException" || code == "InvalidSignatureException"
}

// CredentialsError is a request that was not sent because the target's credentials could not be had (the
// AssumeRole behind them failed). It wraps the provider's error (a *credcache.Error, for a credcache.Cache).
type CredentialsError struct{ Err error }

func (e *CredentialsError) Error() string { return "credentials: " + e.Err.Error() }
func (e *CredentialsError) Unwrap() error { return e.Err }

// Request is one call.
type Request struct {
	Op      string // OpInvoke, ...
	ModelID string // as Bedrock takes it: id, profile id or ARN (not escaped)
	Body    []byte
	// Header carries the caller's Bedrock headers to pass on (Content-Type, Accept, X-Amzn-Bedrock-*).
	Header http.Header
	// Key and Group are the caller's key and its group. With Options.KeyCredentials, a request naming a key
	// is signed with that key's own session; without either, with the target's shared session.
	Key, Group string
}

// passHeaders are the request headers Bedrock Runtime reads; everything else the caller sent stays behind.
// They are kept in their canonical form (textproto.CanonicalMIMEHeaderKey), as an http.Header holds them,
// so that each is one map lookup.
var passHeaders = canonical("Content-Type", "Accept", "X-Amzn-Bedrock-Accept", "X-Amzn-Bedrock-Trace",
	"X-Amzn-Bedrock-GuardrailIdentifier", "X-Amzn-Bedrock-GuardrailVersion",
	"X-Amzn-Bedrock-PerformanceConfig-Latency", "X-Amzn-Bedrock-Service-Tier")

func canonical(keys ...string) []string {
	for i, k := range keys {
		keys[i] = textproto.CanonicalMIMEHeaderKey(k)
	}
	return keys
}

// maxEscaped bounds the model IDs whose escaped path segment a Client remembers: a relay serves a few
// models, but the IDs come from callers.
const maxEscaped = 1024

// modelSegment is id escaped as one path segment ("us.anthropic.claude…-v1:0" → "us.anthropic.claude…-v1%3A0"),
// remembered for the IDs seen first.
func (c *Client) modelSegment(id string) string {
	if v, ok := c.escaped.Load(id); ok {
		return v.(string)
	}
	seg := httpbinding.EscapePath(id, true)
	if c.nEscaped.Load() < maxEscaped {
		if _, loaded := c.escaped.LoadOrStore(id, seg); !loaded {
			c.nEscaped.Add(1)
		}
	}
	return seg
}

// Do sends r. A 2xx answer is returned with its body unread: the caller must close it. Any other answer is
// read and returned as *Error with a nil response. An ExpiredTokenException, UnrecognizedClientException or
// InvalidSignatureException (Bedrock no longer knowing the session: expired, or an endpoint that forgot it)
// drops the cached credentials and retries once with freshly assumed ones before anything is concluded. Only credentials obtained before this request are dropped (credcache.Cache's
// InvalidateIfOlder), so a burst of requests refused together causes one AssumeRole, not one each.
func (c *Client) Do(ctx context.Context, r *Request) (*http.Response, error) {
	creds, err := c.credentials(r.Key, r.Group)
	if err != nil {
		return nil, err
	}
	start := c.now()
	resp, err := c.do(ctx, creds, r)
	if err == nil {
		return resp, nil
	}
	var ue *Error
	if errors.As(err, &ue) && staleCredentials(ue.Code) && invalidate(creds, start) {
		return c.do(ctx, creds, r)
	}
	return resp, err
}

// credentials are what a request of key (and group) is signed with: the key's own session with
// KeyCredentials, else the target's shared one. A request without a key, or any request of a client without
// KeyCredentials, takes the shared session and allocates nothing here.
func (c *Client) credentials(key, group string) (aws.CredentialsProvider, error) {
	if key == "" || c.keyCreds == nil {
		return c.creds, nil
	}
	p, err := c.keyCreds.ForKey(key, group)
	if err != nil {
		return nil, &CredentialsError{Err: err}
	}
	return p, nil
}

// invalidate drops creds' cached credentials obtained before start (credcache.Cache), or all of them
// (aws.CredentialsCache), and reports whether a retry may help: false for a provider that caches nothing.
func invalidate(creds aws.CredentialsProvider, start time.Time) bool {
	switch cache := creds.(type) {
	case interface{ InvalidateIfOlder(time.Time) bool }:
		cache.InvalidateIfOlder(start)
	case interface{ Invalidate() }:
		cache.Invalidate()
	default:
		return false
	}
	return true
}

var jsonType = []string{"application/json"}

func (c *Client) do(ctx context.Context, credsProvider aws.CredentialsProvider, r *Request) (*http.Response, error) {
	creds, err := credsProvider.Retrieve(ctx)
	if err != nil {
		return nil, &CredentialsError{Err: err}
	}
	// The URL is put together rather than printed and parsed again: the request is the same one
	// http.NewRequest makes of its string.
	u := new(url.URL)
	*u = *c.base
	u.Path = c.base.Path + "/model/" + r.ModelID + "/" + r.Op
	u.RawPath = c.basePath + "/model/" + c.modelSegment(r.ModelID) + "/" + r.Op
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "", bytes.NewReader(r.Body))
	if err != nil {
		return nil, err
	}
	req.URL, req.Host = u, u.Host
	for _, h := range passHeaders {
		if v := r.Header[h]; len(v) > 0 && v[0] != "" {
			req.Header[h] = v[:1:1]
		}
	}
	if len(req.Header["Content-Type"]) == 0 {
		req.Header["Content-Type"] = jsonType
	}
	sum := sha256.Sum256(r.Body)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "bedrock", c.region, c.now()); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
	return nil, parseError(resp, body)
}

// parseError reads a rest-json error: the code from X-Amzn-ErrorType (up to the first ':'), or the body's
// __type / code; the message from the body.
func parseError(resp *http.Response, body []byte) *Error {
	e := &Error{Status: resp.StatusCode, Header: resp.Header.Clone(), Body: body, RequestID: resp.Header.Get("X-Amzn-Requestid")}
	code := resp.Header.Get("X-Amzn-Errortype")
	var b struct {
		Message  string `json:"message"`
		Message2 string `json:"Message"`
		Type     string `json:"__type"`
		Code     string `json:"code"`
	}
	_ = json.Unmarshal(body, &b)
	if code == "" {
		code = b.Type
	}
	if code == "" {
		code = b.Code
	}
	code, _, _ = strings.Cut(code, ":")
	if i := strings.LastIndex(code, "#"); i >= 0 {
		code = code[i+1:]
	}
	if code == "" {
		code = fmt.Sprintf("HTTP%d", resp.StatusCode)
	}
	e.Code = code
	e.Message = b.Message
	if e.Message == "" {
		e.Message = b.Message2
	}
	return e
}
