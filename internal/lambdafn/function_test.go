package lambdafn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bedrock-relay/bedrock-relay/internal/lambdafn"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

const seedEvent = `{"prompt": "クロスアカウントでのBedrock呼び出しテストです"}`

// syncBuffer collects logs written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	sb   *sandbox.Sandbox
	src  aws.Config
	logs *syncBuffer
	fn   *lambdafn.Function
}

// newEnv builds the function against a fresh sandbox with the environment vars (TARGET_ROLE_ARN defaults to
// the seed's role).
func newEnv(t *testing.T, vars map[string]string, setup ...func(*sandbox.Sandbox)) *env {
	t.Helper()
	sb, err := sandbox.New(sandbox.DefaultScenario())
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range setup {
		fn(sb)
	}
	ts := httptest.NewServer(sb)
	t.Cleanup(ts.Close)
	e := &env{sb: sb, logs: &syncBuffer{}, src: aws.Config{
		Region:           sandbox.SeedRegion,
		Credentials:      credentials.StaticCredentialsProvider{Value: sb.CallerCredentials()},
		BaseEndpoint:     aws.String(ts.URL),
		RetryMaxAttempts: 1,
		HTTPClient:       sandbox.SDKHTTPClient(nil),
	}}
	if _, ok := vars[lambdafn.EnvTargetRoleARN]; !ok {
		if vars == nil {
			vars = map[string]string{}
		}
		vars[lambdafn.EnvTargetRoleARN] = sandbox.TargetRoleARN(sandbox.SmallAccount)
	}
	cfg, err := lambdafn.ConfigFromEnv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	e.fn = lambdafn.New(t.Context(), cfg, e.src, slog.New(slog.NewJSONHandler(e.logs, nil)))
	return e
}

type answer struct {
	StatusCode int
	Raw        string
	Body       map[string]any
}

func (e *env) invoke(t *testing.T, event string) answer {
	t.Helper()
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "3174d738-45ca-4308-a114-35b250e23ba1"})
	out, err := e.fn.Invoke(ctx, []byte(event))
	if err != nil {
		t.Fatalf("Invoke returned an error, want an answer: %v", err)
	}
	var resp struct {
		StatusCode int    `json:"statusCode"`
		Body       string `json:"body"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("answer %s: %v", out, err)
	}
	a := answer{StatusCode: resp.StatusCode, Raw: resp.Body}
	if err := json.Unmarshal([]byte(resp.Body), &a.Body); err != nil {
		t.Fatalf("answer body %q is not JSON: %v", resp.Body, err)
	}
	return a
}

func (a answer) errorField(k string) string {
	m, _ := a.Body["error"].(map[string]any)
	s, _ := m[k].(string)
	return s
}

func TestSeedEvent(t *testing.T) {
	e := newEnv(t, nil)
	a := e.invoke(t, seedEvent)
	if a.StatusCode != 200 {
		t.Fatalf("statusCode = %d, want 200; body %s", a.StatusCode, a.Raw)
	}
	for k, want := range map[string]string{
		"message":         "Cross-account Bedrock access successful",
		"lambda_account":  "111111111111",
		"bedrock_account": "222222222222",
		"model_id":        "jp.anthropic.claude-sonnet-4-5-20250929-v1:0",
		"region":          "ap-northeast-1",
	} {
		if got := a.Body[k]; got != want {
			t.Errorf("body[%q] = %v, want %q", k, got, want)
		}
	}
	resp, _ := a.Body["response"].(string)
	if !strings.Contains(resp, "クロスアカウントでのBedrock呼び出しテストです") {
		t.Errorf("response = %q, want the sandbox's reply quoting the prompt", resp)
	}
	// ensure_ascii=False: the Japanese is there as is, not as \uXXXX.
	if !strings.Contains(a.Raw, "クロスアカウント") || strings.Contains(a.Raw, `\u`) {
		t.Errorf("body %q: want non-ASCII text unescaped", a.Raw)
	}
	if !strings.HasPrefix(a.Raw, `{"message":"Cross-account Bedrock access successful","lambda_account":"111111111111","bedrock_account":"222222222222","response":`) {
		t.Errorf("body %q: want the seed's keys first, in the seed's order", a.Raw)
	}
	u, _ := a.Body["usage"].(map[string]any)
	if in, _ := u["input_tokens"].(float64); in <= 0 {
		t.Errorf("usage = %v, want input_tokens > 0", a.Body["usage"])
	}
	if out, _ := u["output_tokens"].(float64); out <= 0 {
		t.Errorf("usage = %v, want output_tokens > 0", a.Body["usage"])
	}

	logs := e.logs.String()
	for _, want := range []string{`"msg":"lambda account"`, `"lambda_account":"111111111111"`, `"msg":"assuming role"`,
		`"target_account":"222222222222"`, `"msg":"role assumed 111111111111 -> 222222222222"`, `"msg":"invoking bedrock"`,
		`"msg":"bedrock invocation succeeded"`, `"duration_ms":`, `"input_tokens":`, `"output_tokens":`,
		`"aws_request_id":"3174d738-45ca-4308-a114-35b250e23ba1"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "クロスアカウント") {
		t.Errorf("logs contain the prompt or answer without LOG_PROMPTS:\n%s", logs)
	}
	creds, err := e.fn.Client().Credentials().Retrieve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{e.sb.CallerCredentials().SecretAccessKey, e.sb.CallerCredentials().SessionToken, creds.SecretAccessKey, creds.SessionToken} {
		if strings.Contains(logs, secret) || strings.Contains(a.Raw, secret) {
			t.Errorf("a secret appears in the logs or the answer")
		}
	}
}

func TestWarmInvocationsReuseCredentials(t *testing.T) {
	e := newEnv(t, map[string]string{lambdafn.EnvTargetRoleARN: sandbox.TargetRoleARN(sandbox.LargeAccount)})
	for i := range 10 {
		if a := e.invoke(t, seedEvent); a.StatusCode != 200 {
			t.Fatalf("invocation %d: statusCode %d, body %s", i, a.StatusCode, a.Raw)
		}
	}
	st := e.sb.Stats()
	if n := st.STSCalls("AssumeRole"); n != 1 {
		t.Errorf("AssumeRole calls = %d over 10 invocations, want 1", n)
	}
	if n := st.STSCalls("GetCallerIdentity"); n != 1 {
		t.Errorf("GetCallerIdentity calls = %d over 10 invocations, want 1", n)
	}
	if n := st.BedrockCalls(sandbox.LargeAccount, "ok"); n != 10 {
		t.Errorf("ok Bedrock calls = %d, want 10", n)
	}
}

func TestLogPrompts(t *testing.T) {
	e := newEnv(t, map[string]string{lambdafn.EnvLogPrompts: "true"})
	if a := e.invoke(t, seedEvent); a.StatusCode != 200 {
		t.Fatalf("statusCode %d, body %s", a.StatusCode, a.Raw)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"prompt":"クロスアカウントでのBedrock呼び出しテストです"`) || !strings.Contains(logs, `"response":"`) {
		t.Errorf("LOG_PROMPTS=true: logs lack the prompt and the response:\n%s", logs)
	}
}

func TestEventForms(t *testing.T) {
	e := newEnv(t, map[string]string{lambdafn.EnvTargetRoleARN: sandbox.TargetRoleARN(sandbox.LargeAccount)})
	for _, ev := range []string{
		`{"prompt": "hello", "max_tokens": 50, "temperature": 0.2, "system": "Answer briefly."}`,
		`{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": [{"type": "text", "text": "again"}]}], "system": [{"type": "text", "text": "Be brief."}]}`,
		`{"prompt": "hello", "model_id": "arn:aws:bedrock:ap-northeast-1:333333333333:inference-profile/jp.anthropic.claude-sonnet-4-5-20250929-v1:0"}`,
	} {
		if a := e.invoke(t, ev); a.StatusCode != 200 {
			t.Errorf("event %s: statusCode %d, body %s", ev, a.StatusCode, a.Raw)
		}
	}
}

func TestBadEvents(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		event string
		field string
		inMsg string
	}{
		{`not json`, "", "not valid JSON"},
		{``, "", "empty event"},
		{`["prompt"]`, "", "must be a JSON object"},
		{`{}`, "prompt", "missing"},
		{`{"prompt": 5}`, "prompt", "want a string"},
		{`{"promt": "hi"}`, "promt", "unknown field"},
		{`{"prompt": "hi", "max_tokens": "many"}`, "max_tokens", "whole number"},
		{`{"prompt": "hi", "max_tokens": 0}`, "max_tokens", "positive"},
		{`{"prompt": "hi", "temperature": 1.5}`, "temperature", "from 0 to 1"},
		{`{"prompt": "hi", "system": 3}`, "system", "string or an array"},
		{`{"prompt": "hi", "messages": [{"role": "user", "content": "x"}]}`, "messages", "not both"},
		{`{"messages": []}`, "messages", "non-empty array"},
		{`{"messages": [{"role": "system", "content": "x"}]}`, "messages[0]", "role"},
		{`{"prompt": "hi", "model_id": "amazon.nova-pro-v1:0"}`, "model_id", "Anthropic Messages"},
		{`{"prompt": "hi"} {"prompt": "again"}`, "", "after the event"},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			a := e.invoke(t, tt.event)
			if a.StatusCode != 400 {
				t.Fatalf("statusCode = %d, want 400; body %s", a.StatusCode, a.Raw)
			}
			if got := a.errorField("field"); got != tt.field {
				t.Errorf("error.field = %q, want %q", got, tt.field)
			}
			if got := a.errorField("code"); got != "ValidationException" {
				t.Errorf("error.code = %q, want ValidationException", got)
			}
			if msg := a.errorField("message"); !strings.Contains(msg, tt.inMsg) {
				t.Errorf("error.message = %q, want it to contain %q", msg, tt.inMsg)
			}
		})
	}
	if n := e.sb.Stats().BedrockCalls("", ""); n != 0 {
		t.Errorf("bad events made %d Bedrock calls, want 0", n)
	}
}

func TestFailuresAreAnswers(t *testing.T) {
	tests := []struct {
		name   string
		vars   map[string]string
		setup  func(*sandbox.Sandbox)
		before int // seed invocations made first
		status int
		code   string
		op     string
		inHint []string
	}{
		{
			name:   "assume role denied",
			vars:   map[string]string{lambdafn.EnvTargetRoleARN: sandbox.TargetRoleARN("444444444444")},
			status: 403, code: "AccessDenied", op: "AssumeRole",
			inHint: []string{"trust policy", sandbox.CallerRoleARN, "sts:AssumeRole"},
		},
		{
			name: "invoke denied in one destination region",
			setup: func(sb *sandbox.Sandbox) {
				sb.SetRolePolicy(sandbox.TargetRoleARN(sandbox.SmallAccount), "BedrockInvoke", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":[
					"arn:aws:bedrock:ap-northeast-1:222222222222:inference-profile/jp.anthropic.claude-sonnet-4-5-20250929-v1:0",
					"arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"]}]}`)
				sb.SetStrict(true)
			},
			status: 403, code: "AccessDeniedException", op: "InvokeModel",
			inHint: []string{"every destination region", "arn:aws:bedrock:ap-northeast-3::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"},
		},
		{
			name:   "seed account quota of 2 requests per minute",
			before: 2,
			status: 429, code: "ThrottlingException", op: "InvokeModel",
			inHint: []string{"222222222222", "quota", "pooling"},
		},
		{
			name:   "upstream fault",
			setup:  func(sb *sandbox.Sandbox) { sb.FailNext(sandbox.Fault{Code: "ServiceUnavailableException"}) },
			status: 502, code: "ServiceUnavailableException", op: "InvokeModel",
		},
		{
			name:   "unknown model",
			vars:   map[string]string{lambdafn.EnvModelID: "anthropic.claude-nonexistent-v9:0"},
			status: 0, // 400 or 404: whichever Bedrock says
			op:     "InvokeModel",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var setup []func(*sandbox.Sandbox)
			if tt.setup != nil {
				setup = append(setup, tt.setup)
			}
			e := newEnv(t, tt.vars, setup...)
			for i := range tt.before {
				if a := e.invoke(t, seedEvent); a.StatusCode != 200 {
					t.Fatalf("invocation %d: statusCode %d, body %s", i, a.StatusCode, a.Raw)
				}
			}
			a := e.invoke(t, seedEvent)
			if tt.status != 0 && a.StatusCode != tt.status || tt.status == 0 && a.StatusCode/100 != 4 {
				t.Fatalf("statusCode = %d, want %d; body %s", a.StatusCode, tt.status, a.Raw)
			}
			if tt.code != "" && a.errorField("code") != tt.code {
				t.Errorf("error.code = %q, want %q", a.errorField("code"), tt.code)
			}
			if a.errorField("message") == "" {
				t.Errorf("error.message is empty: %s", a.Raw)
			}
			if a.errorField("operation") != tt.op {
				t.Errorf("error.operation = %q, want %q", a.errorField("operation"), tt.op)
			}
			for _, s := range tt.inHint {
				if h := a.errorField("hint"); !strings.Contains(h, s) {
					t.Errorf("error.hint = %q, want it to mention %q", h, s)
				}
			}
			if !strings.Contains(e.logs.String(), `"msg":"invocation failed"`) {
				t.Errorf("the failure was not logged:\n%s", e.logs.String())
			}
		})
	}
}

func TestBadConfigurationIsAnswered(t *testing.T) {
	logs := &syncBuffer{}
	fn := lambdafn.NewFromEnv(t.Context(), func(k string) string {
		return map[string]string{lambdafn.EnvSessionDuration: "soon"}[k]
	}, slog.New(slog.NewJSONHandler(logs, nil)))
	out, err := fn.Invoke(t.Context(), []byte(seedEvent))
	if err != nil {
		t.Fatal(err)
	}
	var resp lambdafn.Response
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 500 {
		t.Errorf("statusCode = %d, want 500", resp.StatusCode)
	}
	for _, want := range []string{"InvalidConfiguration", "TARGET_ROLE_ARN: missing", "SESSION_DURATION_SECONDS: \\\"soon\\\""} {
		if !strings.Contains(resp.Body, want) {
			t.Errorf("body %s does not contain %s", resp.Body, want)
		}
	}
	if !strings.Contains(logs.String(), "TARGET_ROLE_ARN: missing") {
		t.Errorf("init did not log the configuration problems:\n%s", logs)
	}
}
