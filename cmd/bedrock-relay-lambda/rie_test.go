package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bedrock-relay/bedrock-relay/internal/testlambda"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

const seedEvent = `{"prompt": "クロスアカウントでのBedrock呼び出しテストです"}`

// rie runs the packaged bootstrap under the Lambda Runtime Interface Emulator, pointed at a sandbox.
type rie struct {
	sb   *sandbox.Sandbox
	url  string
	logs *testlambda.LockedBuffer
}

func startRIE(t *testing.T) *rie {
	t.Helper()
	bootstrap := testlambda.HostBootstrap(t, "bedrock-relay-lambda")
	sb, err := sandbox.New(sandbox.DefaultScenario())
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sb)
	t.Cleanup(ts.Close)
	c := sb.CallerCredentials()
	// The bearer token must be ignored: the function signs as the assumed role.
	r := testlambda.StartRIE(t, bootstrap, testlambda.Env(t, sandbox.SeedRegion,
		testlambda.Session{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken}, ts.URL, 30*time.Second,
		"AWS_MAX_ATTEMPTS=1", // answer a throttle at once instead of backing off
		"AWS_BEARER_TOKEN_BEDROCK=ABSKQmVkcm9ja0FQSUtleS1leGFtcGxl",
		"TARGET_ROLE_ARN="+sandbox.TargetRoleARN(sandbox.SmallAccount),
	))
	return &rie{sb: sb, url: r.URL, logs: r.Logs}
}

type lambdaAnswer struct {
	StatusCode int    `json:"statusCode"`
	Body       string `json:"body"`
}

// invoke makes one invocation (the emulator takes one at a time).
func (r *rie) invoke(t *testing.T, event string) (lambdaAnswer, map[string]any) {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Post(r.url, "application/json", strings.NewReader(event))
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("emulator answered HTTP %d: %s", resp.StatusCode, raw)
	}
	var a lambdaAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("function answer %s: %v", raw, err)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(a.Body), &body); err != nil {
		t.Fatalf("answer body %q is not JSON: %v", a.Body, err)
	}
	return a, body
}

// TestUnderLambdaEmulator runs the seed's scenario against the packaged function: the seed's event and answer,
// its log milestones, the seed account's 2-requests-per-minute quota answered as 429, and warm invocations
// sharing one AssumeRole.
func TestUnderLambdaEmulator(t *testing.T) {
	r := startRIE(t)

	a, body := r.invoke(t, seedEvent)
	if a.StatusCode != 200 {
		t.Fatalf("statusCode = %d, want 200; body %s", a.StatusCode, a.Body)
	}
	for k, want := range map[string]string{
		"message":         "Cross-account Bedrock access successful",
		"lambda_account":  sandbox.CallerAccount,
		"bedrock_account": sandbox.SmallAccount,
		"model_id":        sandbox.SeedProfile,
		"region":          sandbox.SeedRegion,
	} {
		if body[k] != want {
			t.Errorf("body[%q] = %v, want %q", k, body[k], want)
		}
	}
	if resp, _ := body["response"].(string); !strings.Contains(resp, "クロスアカウントでのBedrock呼び出しテストです") {
		t.Errorf("response = %q, want the model's reply to the seed prompt", resp)
	}
	if !strings.Contains(a.Body, "クロスアカウント") || strings.Contains(a.Body, `\u`) {
		t.Errorf("body %q: want non-ASCII text unescaped, as the seed's ensure_ascii=False", a.Body)
	}

	// The seed account allows 2 requests a minute: the second passes, the third is throttled.
	if a, _ := r.invoke(t, seedEvent); a.StatusCode != 200 {
		t.Fatalf("second invocation: statusCode %d, body %s", a.StatusCode, a.Body)
	}
	a, body = r.invoke(t, seedEvent)
	if a.StatusCode != 429 {
		t.Fatalf("third invocation within a minute: statusCode %d, want 429; body %s", a.StatusCode, a.Body)
	}
	e, _ := body["error"].(map[string]any)
	if e["code"] != "ThrottlingException" || !strings.Contains(fmt.Sprint(e["hint"]), "pooling") {
		t.Errorf("throttled answer error = %v, want ThrottlingException with a hint about quotas and pooling", e)
	}

	// Warm invocations: with room in the quota, many more calls reuse the credentials assumed at init.
	r.sb.SetQuota(sandbox.SmallAccount, sandbox.SeedProfile, sandbox.Quota{RequestsPerMinute: 1000, TokensPerMinute: 10_000_000})
	for i := range 8 {
		if a, _ := r.invoke(t, seedEvent); a.StatusCode != 200 {
			t.Fatalf("warm invocation %d: statusCode %d, body %s", i, a.StatusCode, a.Body)
		}
	}
	st := r.sb.Stats()
	if n := st.STSCalls("AssumeRole"); n != 1 {
		t.Errorf("AssumeRole calls = %d over 11 invocations, want 1", n)
	}
	if n := st.STSCalls("GetCallerIdentity"); n != 1 {
		t.Errorf("GetCallerIdentity calls = %d over 11 invocations, want 1", n)
	}
	if n := st.BedrockCalls(sandbox.SmallAccount, "ok"); n != 10 {
		t.Errorf("ok Bedrock calls = %d, want 10", n)
	}
	for _, c := range r.sb.Calls() {
		if c.Service == "bedrock" && !strings.Contains(c.Principal, "assumed-role/BedrockAccessRole/lambda-bedrock-cross-account") {
			t.Errorf("Bedrock %s made as %q, want the assumed role's session (SigV4, not the bearer token)", c.Operation, c.Principal)
		}
	}

	logs := r.logs.String()
	for _, want := range []string{`"msg":"lambda account"`, `"msg":"assuming role"`, `"target_account":"222222222222"`,
		`"msg":"role assumed 111111111111 -> 222222222222"`, `"msg":"invoking bedrock"`, `"msg":"bedrock invocation succeeded"`,
		`"input_tokens":`, `"aws_request_id":`} {
		if !strings.Contains(logs, want) {
			t.Errorf("function logs lack %s", want)
		}
	}
	creds := r.sb.CallerCredentials()
	for _, secret := range []string{creds.SecretAccessKey, creds.SessionToken, "クロスアカウント"} {
		if strings.Contains(logs, secret) {
			t.Errorf("function logs contain a secret or the prompt (%.8s...)", secret)
		}
	}
}
