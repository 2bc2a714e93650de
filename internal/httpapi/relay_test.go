package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/auth/bearer"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/internal/httpapi"
	"github.com/bedrock-relay/bedrock-relay/internal/mainlib"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// The keys the test relay knows. Their values must never appear in logs or metrics.
const (
	keyAll    = "brk-test-key-all-0123456789abcdef"
	keyHaiku  = "brk-test-key-haiku-0123456789abcdef"
	keyAlias  = "brk-test-key-alias-0123456789abcdef"
	prompt    = "tell me about the secret prompt pineapple"
	sonnet    = "anthropic.claude-sonnet-4-5-20250929-v1:0"
	invokeReq = `{"anthropic_version":"bedrock-2023-05-31","max_tokens":100,"messages":[{"role":"user","content":"` + prompt + `"}]}`
)

var poolAccounts = []struct {
	id  string
	rpm int
}{{"222222222222", 2}, {"333333333333", 3}, {"444444444444", 5}}

// threeAccountScenario is the default sandbox with a third Bedrock account, and quotas of 2, 3 and 5
// requests a minute.
func threeAccountScenario() *sandbox.Scenario {
	rpm := map[string]int{}
	for _, a := range poolAccounts {
		rpm[a.id] = a.rpm
	}
	return sandbox.PoolScenario(rpm)
}

// env is the sandbox, a relay in front of it on a TLS test server, and the relay's access log.
type env struct {
	sb    *sandbox.Sandbox
	relay *mainlib.Relay
	srv   *httptest.Server
	admin *httptest.Server
	log   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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

func relayConfig(sbURL string) *config.Config {
	cfg := config.Default()
	cfg.Source.Endpoint = sbURL
	cfg.Aliases = map[string]string{"sonnet": sonnet}
	cfg.Auth.Keys = []config.Key{
		{Name: "team-all", SHA256: config.HashKey(keyAll), Models: []string{"*"}},
		{Name: "team-haiku", SHA256: config.HashKey(keyHaiku), Models: []string{"anthropic.claude-haiku-4-5-20251001-v1:0"}},
		{Name: "team-alias", SHA256: config.HashKey(keyAlias), Models: []string{"sonnet"}},
	}
	for _, a := range poolAccounts {
		tc := config.TargetSpec{Name: "acct-" + a.id[:3], RoleARN: sandbox.TargetRoleARN(a.id), Region: sandbox.SeedRegion,
			Models: []string{sandbox.SeedProfile}}
		tc.Budgets.RequestsPerMinute = config.Limit{N: a.rpm}
		cfg.Targets = append(cfg.Targets, tc)
	}
	return &cfg
}

func newEnv(t *testing.T, mutate func(*config.Config)) *env {
	t.Helper()
	sb, err := sandbox.New(threeAccountScenario())
	if err != nil {
		t.Fatal(err)
	}
	sbSrv := httptest.NewServer(sb)
	t.Cleanup(sbSrv.Close)
	cfg := relayConfig(sbSrv.URL)
	if mutate != nil {
		mutate(cfg)
	}
	cfg.FillDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	base := aws.Config{Region: sandbox.SeedRegion, BaseEndpoint: aws.String(sbSrv.URL),
		Credentials: credentials.StaticCredentialsProvider{Value: sb.CallerCredentials()}, RetryMaxAttempts: 1}
	log := &syncBuffer{}
	rl, err := mainlib.Build(context.Background(), cfg, base, mainlib.BuildOptions{AccessLog: slog.New(slog.NewJSONHandler(log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(rl.Handler)
	t.Cleanup(srv.Close)
	admin := httptest.NewServer(rl.Admin)
	t.Cleanup(admin.Close)
	return &env{sb: sb, relay: rl, srv: srv, admin: admin, log: log}
}

// client is the official SDK client pointed at the relay, authenticating with key as a Bedrock API key, with
// SDK retries off so that every relay answer is seen.
func (e *env) client(key string) *bedrockruntime.Client {
	return bedrockruntime.New(bedrockruntime.Options{
		Region:                  sandbox.SeedRegion,
		BaseEndpoint:            aws.String(e.srv.URL),
		HTTPClient:              e.srv.Client(),
		RetryMaxAttempts:        1,
		BearerAuthTokenProvider: bearer.StaticTokenProvider{Token: bearer.Token{Value: key}},
		AuthSchemePreference:    []string{"httpBearerAuth"},
	})
}

func invoke(ctx context.Context, c *bedrockruntime.Client, model string) (*bedrockruntime.InvokeModelOutput, error) {
	return c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(model), Body: []byte(invokeReq),
		ContentType: aws.String("application/json"), Accept: aws.String("application/json")})
}

// errHeader is a header of the HTTP answer behind an SDK error.
func errHeader(t *testing.T, err error, name string) string {
	t.Helper()
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("%v: no HTTP response in the error", err)
	}
	return re.Response.Header.Get(name)
}

// outHeader is a header of the HTTP answer behind an SDK result.
func outHeader(t *testing.T, md middleware.Metadata, name string) string {
	t.Helper()
	resp, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response)
	if !ok {
		t.Fatalf("no raw response in the result metadata")
	}
	return resp.Header.Get(name)
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func TestPooledQuotaThroughSDK(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(keyAll)
	ctx := context.Background()
	for i := range 10 {
		out, err := invoke(ctx, c, sandbox.SeedProfile)
		if err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
		var b struct {
			Content []struct{ Text string } `json:"content"`
		}
		if err := json.Unmarshal(out.Body, &b); err != nil || len(b.Content) == 0 {
			t.Fatalf("call %d: body %s is not an Anthropic message", i+1, out.Body)
		}
	}
	st := e.sb.Stats()
	for _, a := range poolAccounts {
		if got := st.BedrockCalls(a.id, "ok"); got != a.rpm {
			t.Errorf("account %s served %d, want its quota %d", a.id, got, a.rpm)
		}
	}
	_, err := invoke(ctx, c, sandbox.SeedProfile)
	var te *types.ThrottlingException
	if !errors.As(err, &te) {
		t.Fatalf("11th call: got %v, want a ThrottlingException", err)
	}
	if s := httpStatus(err); s != http.StatusTooManyRequests {
		t.Errorf("11th call: status %d, want 429", s)
	}
	if ra := errHeader(t, err, "Retry-After"); ra == "" || ra == "0" {
		t.Errorf("11th call: Retry-After %q, want whole seconds >= 1", ra)
	}
	if st := e.sb.Stats(); st.Throttles != 0 {
		t.Errorf("the sandbox throttled %d calls; the relay's budgets should have kept it under quota", st.Throttles)
	}
}

func TestBearerTokenFromEnvironment(t *testing.T) {
	e := newEnv(t, nil)
	t.Setenv("AWS_BEARER_TOKEN_BEDROCK", keyAll)
	c := bedrockruntime.New(bedrockruntime.Options{Region: sandbox.SeedRegion, BaseEndpoint: aws.String(e.srv.URL),
		HTTPClient: e.srv.Client(), RetryMaxAttempts: 1})
	if _, err := invoke(context.Background(), c, sandbox.SeedProfile); err != nil {
		t.Fatalf("with AWS_BEARER_TOKEN_BEDROCK set: %v", err)
	}
}

func TestFailoverOn503(t *testing.T) {
	e := newEnv(t, nil)
	e.sb.FailNext(sandbox.Fault{Code: "ServiceUnavailableException", Count: 1})
	out, err := invoke(context.Background(), e.client(keyAll), sandbox.SeedProfile)
	if err != nil {
		t.Fatalf("got %v, want the request served by another target", err)
	}
	if got := outHeader(t, out.ResultMetadata, "X-Bedrock-Relay-Attempts"); got != "2" {
		t.Errorf("X-Bedrock-Relay-Attempts = %q, want 2", got)
	}
	if got := outHeader(t, out.ResultMetadata, "X-Bedrock-Relay-Target"); !strings.HasPrefix(got, "acct-") {
		t.Errorf("X-Bedrock-Relay-Target = %q, want the serving target's name", got)
	}
	for _, h := range []string{"X-Amzn-Requestid", "X-Amzn-Bedrock-Input-Token-Count", "X-Amzn-Bedrock-Output-Token-Count", "X-Amzn-Bedrock-Invocation-Latency"} {
		if outHeader(t, out.ResultMetadata, h) == "" {
			t.Errorf("response header %s missing", h)
		}
	}
	if got := e.sb.Stats().BedrockCalls("", "ServiceUnavailableException"); got != 1 {
		t.Errorf("sandbox saw %d 503s, want 1", got)
	}

	// Every target failing: the last upstream answer is passed on verbatim.
	e.sb.FailNext(sandbox.Fault{Code: "ServiceUnavailableException", Count: 3})
	_, err = invoke(context.Background(), e.client(keyAll), sandbox.SeedProfile)
	var su *types.ServiceUnavailableException
	if !errors.As(err, &su) || httpStatus(err) != http.StatusServiceUnavailable {
		t.Fatalf("all targets failing: got %v (status %d), want the upstream 503 ServiceUnavailableException", err, httpStatus(err))
	}
	if got := errHeader(t, err, "X-Amzn-Errortype"); !strings.HasPrefix(got, "ServiceUnavailableException:") {
		t.Errorf("X-Amzn-ErrorType = %q, want the upstream's, verbatim", got)
	}
}

func converseStream(ctx context.Context, c *bedrockruntime.Client) (text string, events int, err error) {
	out, err := c.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String(sandbox.SeedProfile),
		Messages: []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: prompt}}}}})
	if err != nil {
		return "", 0, err
	}
	s := out.GetStream()
	defer s.Close()
	var b strings.Builder
	for ev := range s.Events() {
		events++
		if d, ok := ev.(*types.ConverseStreamOutputMemberContentBlockDelta); ok {
			if t, ok := d.Value.Delta.(*types.ContentBlockDeltaMemberText); ok {
				b.WriteString(t.Value)
			}
		}
	}
	return b.String(), events, s.Err()
}

func invokeStream(ctx context.Context, c *bedrockruntime.Client) (chunks int, err error) {
	out, err := c.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{
		ModelId: aws.String(sandbox.SeedProfile), Body: []byte(invokeReq), ContentType: aws.String("application/json")})
	if err != nil {
		return 0, err
	}
	s := out.GetStream()
	defer s.Close()
	for ev := range s.Events() {
		if _, ok := ev.(*types.ResponseStreamMemberChunk); ok {
			chunks++
		}
	}
	return chunks, s.Err()
}

func TestStreamsFailOverBeforeFirstByte(t *testing.T) {
	for _, op := range []string{"ConverseStream", "InvokeModelWithResponseStream"} {
		t.Run(op, func(t *testing.T) {
			e := newEnv(t, nil)
			e.sb.FailNext(sandbox.Fault{Code: "ThrottlingException", Count: 1, Operation: op})
			c := e.client(keyAll)
			var n int
			var err error
			if op == "ConverseStream" {
				var text string
				text, n, err = converseStream(context.Background(), c)
				if err == nil && text == "" {
					t.Errorf("no text in the stream")
				}
			} else {
				n, err = invokeStream(context.Background(), c)
			}
			if err != nil {
				t.Fatalf("got %v, want a whole stream from another target", err)
			}
			if n < 3 {
				t.Errorf("%d events, want a whole stream", n)
			}
			if got := e.sb.Stats().BedrockCalls("", "ThrottlingException"); got != 1 {
				t.Errorf("sandbox throttled %d calls, want the 1 injected", got)
			}
		})
	}
}

func TestMidStreamFaultReachesSDKAsTypedError(t *testing.T) {
	for _, drop := range []bool{false, true} {
		name := "exception frame"
		if drop {
			name = "dropped connection"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.sb.FailNext(sandbox.Fault{Code: "ModelStreamErrorException", AfterEvents: 2, Drop: drop})
			_, n, err := converseStream(context.Background(), e.client(keyAll))
			var mse *types.ModelStreamErrorException
			if !errors.As(err, &mse) {
				t.Fatalf("stream Err() = %v (%T) after %d events, want a ModelStreamErrorException", err, err, n)
			}
			if n != 2 {
				t.Errorf("%d events before the error, want 2", n)
			}
			waitFor(t, func() bool { return strings.Contains(e.log.String(), `"code":"ModelStreamErrorException"`) })
			t.Log(e.log.String())
		})
	}
}

func TestExpiredCredentialsCauseNoError(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		for i := range c.Targets {
			c.Targets[i].Budgets.RequestsPerMinute = config.Limit{}
		}
	})
	c := e.client(keyAll)
	ctx := context.Background()
	if _, err := invoke(ctx, c, sandbox.SeedProfile); err != nil {
		t.Fatal(err)
	}
	e.sb.ExpireSessions("")
	for i := range 4 {
		if _, err := invoke(ctx, c, sandbox.SeedProfile); err != nil {
			t.Fatalf("after expiry, call %d: %v", i+1, err)
		}
	}
	if _, _, err := converseStream(ctx, c); err != nil {
		t.Fatalf("stream after expiry: %v", err)
	}
	if e.sb.Stats().BedrockCalls("", "ExpiredTokenException") == 0 {
		t.Errorf("the sandbox saw no expired token; the test did not test expiry")
	}
	metrics := scrape(t, e)
	if !strings.Contains(metrics, `bedrock_relay_sts_refreshes_total{outcome="ok",target="acct-`) {
		t.Errorf("no STS refresh counted:\n%s", grep(metrics, "sts_refreshes"))
	}
}

func TestValidationExceptionIsNotRetried(t *testing.T) {
	e := newEnv(t, nil)
	_, err := e.client(keyAll).InvokeModel(context.Background(), &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile),
		Body: []byte(`{"max_tokens":10,"messages":[]}`), ContentType: aws.String("application/json")})
	var ve *types.ValidationException
	if !errors.As(err, &ve) || httpStatus(err) != http.StatusBadRequest {
		t.Fatalf("got %v, want the upstream ValidationException", err)
	}
	if got := e.sb.Stats().BedrockCalls("", ""); got != 1 {
		t.Errorf("the sandbox saw %d calls, want 1: a ValidationException must not fail over", got)
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	tests := []struct {
		name, key, model string
		status           int
		code, mention    string
	}{
		{"unknown key", "brk-not-a-key", sandbox.SeedProfile, 403, "UnrecognizedClientException", "security token"},
		{"model not allowed", keyHaiku, sandbox.SeedProfile, 403, "AccessDeniedException", `"team-haiku"`},
		{"allowed through an alias", keyAlias, sandbox.SeedProfile, 200, "", ""},
		{"alias as the model id", keyAlias, "sonnet", 200, "", ""},
		{"unknown model", keyAll, "amazon.nova-pro-v1:0", 400, "ValidationException", "serves no model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := invoke(ctx, e.client(tt.key), tt.model)
			if tt.status == 200 {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
				return
			}
			if httpStatus(err) != tt.status || apiCode(err) != tt.code {
				t.Fatalf("got %v (status %d, code %s), want %d %s", err, httpStatus(err), apiCode(err), tt.status, tt.code)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("message %q should mention %s", err.Error(), tt.mention)
			}
			if strings.Contains(err.Error(), tt.key) {
				t.Errorf("message %q contains the key", err.Error())
			}
		})
	}

	// No Authorization header at all, and a SigV4 one, are refused the same way.
	for _, authz := range []string{"", "AWS4-HMAC-SHA256 Credential=AKIA/20250101/ap-northeast-1/bedrock/aws4_request, SignedHeaders=host, Signature=00"} {
		req, _ := http.NewRequest("POST", e.srv.URL+"/model/"+sandbox.SeedProfile+"/invoke", strings.NewReader(invokeReq))
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		status, code, _ := do(t, e.srv.Client(), req)
		if status != 403 || code != "UnrecognizedClientException" {
			t.Errorf("Authorization %q: got %d %s, want 403 UnrecognizedClientException", authz, status, code)
		}
	}
}

// do sends req and returns the status, X-Amzn-ErrorType and the body's message.
func do(t *testing.T, c *http.Client, req *http.Request) (int, string, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var b struct {
		Message string `json:"message"`
	}
	if resp.StatusCode != 200 {
		if err := json.Unmarshal(body, &b); err != nil {
			t.Errorf("%s %s: error body %q is not JSON", req.Method, req.URL.Path, body)
		}
	}
	return resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), b.Message
}

func TestBadInput(t *testing.T) {
	e := newEnv(t, nil)
	base := e.srv.URL
	big := strings.Repeat("x", httpapi.DefaultMaxBodyBytes+1)
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"body over 25,000,000 bytes", "POST", "/model/" + sandbox.SeedProfile + "/invoke", big, 400, "ValidationException"},
		{"converse body not JSON", "POST", "/model/" + sandbox.SeedProfile + "/converse", "hello", 400, "ValidationException"},
		{"converse body a JSON string", "POST", "/model/" + sandbox.SeedProfile + "/converse", `"hello"`, 400, "ValidationException"},
		{"invoke body not JSON", "POST", "/model/" + sandbox.SeedProfile + "/invoke", "{hello", 400, "ValidationException"},
		{"count-tokens body not JSON", "POST", "/model/" + sandbox.SeedProfile + "/count-tokens", "<xml/>", 400, "ValidationException"},
		{"empty body", "POST", "/model/" + sandbox.SeedProfile + "/invoke", "", 400, "ValidationException"},
		{"unknown operation", "POST", "/model/" + sandbox.SeedProfile + "/explode", "{}", 404, "UnknownOperationException"},
		{"unknown path", "GET", "/provisioned-model-throughput", "", 404, "UnknownOperationException"},
		{"root", "GET", "/", "", 404, "UnknownOperationException"},
		{"no model", "POST", "/model//invoke", "{}", 404, "UnknownOperationException"},
		{"wrong method", "GET", "/model/" + sandbox.SeedProfile + "/invoke", "", 405, "UnknownOperationException"},
		{"unknown model", "POST", "/model/not.a-model/invoke", invokeReq, 400, "ValidationException"},
		{"openai path not served yet", "GET", "/v1/nothing", "", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+keyAll)
			status, code, msg := do(t, e.srv.Client(), req)
			if status != tt.status || code != tt.code {
				t.Errorf("got %d %q (%s), want %d %q", status, code, msg, tt.status, tt.code)
			}
		})
	}
	if got := e.sb.Stats().BedrockCalls("", ""); got != 0 {
		t.Errorf("the sandbox saw %d calls; bad input must be refused by the relay", got)
	}
}

func TestModelIDInPath(t *testing.T) {
	e := newEnv(t, nil)
	for _, id := range []string{
		"jp.anthropic.claude-sonnet-4-5-20250929-v1%3A0",
		"jp.anthropic.claude-sonnet-4-5-20250929-v1:0",
		"arn%3Aaws%3Abedrock%3Aap-northeast-1%3A222222222222%3Ainference-profile%2Fjp.anthropic.claude-sonnet-4-5-20250929-v1%3A0",
		"arn:aws:bedrock:ap-northeast-1:222222222222:inference-profile%2Fjp.anthropic.claude-sonnet-4-5-20250929-v1:0",
		"sonnet",
	} {
		req, _ := http.NewRequest("POST", e.srv.URL+"/model/"+id+"/invoke", strings.NewReader(invokeReq))
		req.Header.Set("Authorization", "Bearer "+keyAll)
		if status, code, msg := do(t, e.srv.Client(), req); status != 200 {
			t.Errorf("model %s: got %d %s %s, want 200", id, status, code, msg)
		}
	}
}

func TestMetricsAndAccessLog(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	c := e.client(keyAll)
	for range 2 {
		if _, err := invoke(ctx, c, sandbox.SeedProfile); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := converseStream(ctx, c); err != nil {
		t.Fatal(err)
	}
	invoke(ctx, e.client("brk-wrong"), sandbox.SeedProfile)
	invoke(ctx, e.client(keyHaiku), sandbox.SeedProfile)

	metrics := scrape(t, e)
	for _, want := range []string{
		`bedrock_relay_requests_total{code="ok",model="anthropic.claude-sonnet-4-5-20250929-v1:0",operation="invoke",status="2xx",target="acct-`,
		`bedrock_relay_requests_total{code="ok",model="anthropic.claude-sonnet-4-5-20250929-v1:0",operation="converse-stream",status="2xx",target="acct-`,
		`bedrock_relay_requests_total{code="UnrecognizedClientException",model="unknown",operation="invoke",status="4xx",target="none"} 1`,
		`bedrock_relay_requests_total{code="AccessDeniedException",model="anthropic.claude-sonnet-4-5-20250929-v1:0",operation="invoke",status="4xx",target="none"} 1`,
		`bedrock_relay_request_duration_seconds_count{model="anthropic.claude-sonnet-4-5-20250929-v1:0",operation="invoke",target="acct-`,
		`bedrock_relay_time_to_first_byte_seconds_count{model="anthropic.claude-sonnet-4-5-20250929-v1:0",operation="converse-stream",target="acct-`,
		`bedrock_relay_tokens_total{direction="output",model="anthropic.claude-sonnet-4-5-20250929-v1:0",target="acct-`,
		`bedrock_relay_upstream_served_total{`,
		`bedrock_relay_sts_refreshes_total{outcome="ok",target="acct-`,
		`bedrock_relay_requests_in_flight 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, secret := range []string{keyAll, keyHaiku, "brk-wrong", prompt, "pineapple"} {
		if strings.Contains(metrics, secret) {
			t.Errorf("metrics contain %q", secret)
		}
	}

	waitFor(t, func() bool { return strings.Count(e.log.String(), "\n") >= 5 })
	log := e.log.String()
	for _, secret := range []string{keyAll, keyHaiku, "brk-wrong", "pineapple", "secret prompt"} {
		if strings.Contains(log, secret) {
			t.Errorf("access log contains %q:\n%s", secret, log)
		}
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("access log line %q is not JSON: %v", l, err)
		}
		lines = append(lines, m)
	}
	first := lines[0]
	for _, k := range []string{"time", "method", "op", "model", "key", "target", "status", "code", "attempts", "latency_ms", "input_tokens", "output_tokens"} {
		if _, ok := first[k]; !ok {
			t.Errorf("access log line lacks %q: %v", k, first)
		}
	}
	if first["key"] != "team-all" || first["status"] != float64(200) || first["op"] != "invoke" || first["input_tokens"] == float64(0) {
		t.Errorf("first access log line = %v, want key team-all, status 200, op invoke, tokens", first)
	}
	if stream := lines[2]; stream["op"] != "converse-stream" || stream["output_tokens"] == float64(0) {
		t.Errorf("stream access log line = %v, want its tokens", stream)
	}
}

func TestAdminEndpoints(t *testing.T) {
	e := newEnv(t, nil)
	get := func(path string) (int, string) {
		resp, err := http.Get(e.admin.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if s, _ := get("/healthz"); s != 200 {
		t.Errorf("/healthz: %d", s)
	}
	if s, b := get("/readyz"); s != 200 || !strings.Contains(b, `"status": "ready"`) {
		t.Errorf("/readyz: %d %s, want every target ready", s, b)
	}
	// A target whose role no longer trusts the relay is reported; the pool is degraded, still serving.
	if err := e.sb.SetTrustPolicy(sandbox.TargetRoleARN("444444444444"), `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}`); err != nil {
		t.Fatal(err)
	}
	e.sb.ExpireSessions(sandbox.TargetRoleARN("444444444444"))
	for _, tg := range e.relay.Router.Targets() {
		if tg.Name == "acct-444" {
			tg.Credentials.(interface{ Invalidate() }).Invalidate()
		}
	}
	s, b := get("/readyz")
	if s != 200 || !strings.Contains(b, `"status": "degraded"`) || !strings.Contains(b, "AccessDenied") {
		t.Errorf("/readyz with one broken target: %d %s, want degraded naming the AccessDenied", s, b)
	}
}

func scrape(t *testing.T, e *env) string {
	t.Helper()
	resp, err := http.Get(e.admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// waitFor polls cond: the access log line of a stream is written after the caller has read the stream's end.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 200 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("condition not met within 2s")
}

func TestStreamClientDisconnect(t *testing.T) {
	e := newEnv(t, nil)
	e.sb.SetLatency("*", sandbox.Latency{FirstTokenMillis: 5, TokensPerSecond: 20})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", e.srv.URL+"/model/"+sandbox.SeedProfile+"/converse-stream",
		strings.NewReader(`{"messages":[{"role":"user","content":[{"text":"write two hundred words please"}]}]}`))
	req.Header.Set("Authorization", "Bearer "+keyAll)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	waitFor(t, func() bool { return strings.Contains(e.log.String(), `"status":499`) })
	// The upstream stream was closed: the sandbox saw its caller go away rather than finishing the answer.
	waitFor(t, func() bool {
		for _, c := range e.sb.Calls() {
			if c.Operation == "ConverseStream" && c.Outcome == "client-gone" {
				return true
			}
		}
		return false
	})
	if t.Failed() {
		t.Logf("log: %s", e.log.String())
		for _, c := range e.sb.Calls() {
			t.Logf("call: %+v", c)
		}
	}
}

func TestStreamRequestTimeout(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Routing.RequestTimeout = config.Duration(300 * time.Millisecond) })
	e.sb.SetLatency("*", sandbox.Latency{FirstTokenMillis: 5, TokensPerSecond: 10})
	_, n, err := converseStream(context.Background(), e.client(keyAll))
	var mse *types.ModelStreamErrorException
	if !errors.As(err, &mse) {
		t.Fatalf("ConverseStream Err() = %v after %d events, want a ModelStreamErrorException when the request timeout passes", err, n)
	}
	_, err = invokeStream(context.Background(), e.client(keyAll))
	var mte *types.ModelTimeoutException
	if !errors.As(err, &mte) {
		t.Fatalf("InvokeModelWithResponseStream Err() = %v, want a ModelTimeoutException when the request timeout passes", err)
	}
	waitFor(t, func() bool { return strings.Contains(e.log.String(), `"code":"ModelTimeoutException"`) })
}
