package bedrock_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"

	relay "github.com/bedrock-relay/bedrock-relay"
	"github.com/bedrock-relay/bedrock-relay/bedrock"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

const seedPrompt = "クロスアカウントでのBedrock呼び出しテストです"

type env struct {
	sb  *sandbox.Sandbox
	cfg aws.Config
}

func newEnv(t *testing.T) *env {
	t.Helper()
	sb, err := sandbox.New(sandbox.DefaultScenario())
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sb)
	t.Cleanup(ts.Close)
	return &env{sb: sb, cfg: aws.Config{
		Region:           sandbox.SeedRegion,
		Credentials:      credentials.StaticCredentialsProvider{Value: sb.CallerCredentials()},
		BaseEndpoint:     aws.String(ts.URL),
		RetryMaxAttempts: 1,
		HTTPClient:       sandbox.SDKHTTPClient(nil),
	}}
}

func (e *env) client(t *testing.T, account string) *bedrock.Client {
	t.Helper()
	c, err := bedrock.New(e.cfg, relay.Target{
		RoleARN:         sandbox.TargetRoleARN(account),
		Region:          sandbox.SeedRegion,
		SessionName:     "lambda-bedrock-cross-account",
		SessionDuration: 900 * time.Second,
	}, bedrock.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func seedBody(t *testing.T) []byte {
	t.Helper()
	b, err := bedrock.AnthropicPrompt(seedPrompt, "", 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestInvokeSeed(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, sandbox.LargeAccount)
	ctx := t.Context()

	id, err := c.CallerIdentity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id.Account != sandbox.CallerAccount {
		t.Errorf("CallerIdentity().Account = %q, want %q", id.Account, sandbox.CallerAccount)
	}
	acct, err := c.AssumedAccount(ctx)
	if err != nil || acct != sandbox.LargeAccount {
		t.Errorf("AssumedAccount() = %q, %v; want %q", acct, err, sandbox.LargeAccount)
	}
	for i := range 5 {
		resp, err := c.Invoke(ctx, seedBody(t), sandbox.SeedProfile)
		if err != nil {
			t.Fatalf("Invoke %d: %v", i, err)
		}
		reply, err := bedrock.ParseAnthropicReply(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if reply.Text() == "" {
			t.Errorf("reply has no text: %s", resp.Body)
		}
		if resp.Usage.InputTokens == 0 || resp.Usage.OutputTokens == 0 {
			t.Errorf("Usage = %+v, want token counts from the response headers", resp.Usage)
		}
		if resp.Usage.InputTokens != reply.Usage.InputTokens || resp.Usage.OutputTokens != reply.Usage.OutputTokens {
			t.Errorf("header usage %+v differs from body usage %+v", resp.Usage, reply.Usage)
		}
		if resp.RequestID == "" {
			t.Errorf("RequestID is empty")
		}
	}
	st := e.sb.Stats()
	if n := st.STSCalls("AssumeRole"); n != 1 {
		t.Errorf("AssumeRole calls = %d over 5 invocations, want 1", n)
	}
	if n := st.BedrockCalls(sandbox.LargeAccount, "ok"); n != 5 {
		t.Errorf("ok Bedrock calls in %s = %d, want 5", sandbox.LargeAccount, n)
	}
}

func TestConcurrentInvokesShareOneAssumeRole(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, sandbox.LargeAccount)
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			if _, err := c.Invoke(t.Context(), seedBody(t), sandbox.SeedProfile); err != nil {
				t.Errorf("Invoke: %v", err)
			}
		})
	}
	wg.Wait()
	if n := e.sb.Stats().STSCalls("AssumeRole"); n != 1 {
		t.Errorf("AssumeRole calls = %d for 40 concurrent invocations, want 1", n)
	}
}

// The SDK switches bedrockruntime clients to bearer auth when AWS_BEARER_TOKEN_BEDROCK is set; the relay must
// keep signing with the assumed role. (smithy refuses bearer tokens over plain HTTP, so a leak would fail.)
func TestBearerTokenEnvIgnored(t *testing.T) {
	t.Setenv("AWS_BEARER_TOKEN_BEDROCK", "ABSKQmVkcm9ja0FQSUtleS1leGFtcGxl")
	e := newEnv(t)
	c := e.client(t, sandbox.LargeAccount)
	if _, err := c.Invoke(t.Context(), seedBody(t), sandbox.SeedProfile); err != nil {
		t.Fatalf("Invoke with AWS_BEARER_TOKEN_BEDROCK set: %v", err)
	}
	s, err := c.InvokeStream(t.Context(), seedBody(t), sandbox.SeedProfile)
	if err != nil {
		t.Fatalf("InvokeStream with AWS_BEARER_TOKEN_BEDROCK set: %v", err)
	}
	drain(t, s)
	var seen int
	for _, call := range e.sb.Calls() {
		if call.Service != "bedrock" {
			continue
		}
		seen++
		if !strings.Contains(call.Principal, "assumed-role/BedrockAccessRole/") {
			t.Errorf("%s was made as %q, want the assumed role's session", call.Operation, call.Principal)
		}
	}
	if seen != 2 {
		t.Errorf("sandbox recorded %d Bedrock calls, want 2", seen)
	}
}

func TestExpiredTokenRefreshesAndRetriesOnce(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, sandbox.LargeAccount)
	ctx := t.Context()
	if _, err := c.Invoke(ctx, seedBody(t), sandbox.SeedProfile); err != nil {
		t.Fatal(err)
	}
	e.sb.ExpireSessions(sandbox.TargetRoleARN(sandbox.LargeAccount))
	if _, err := c.Invoke(ctx, seedBody(t), sandbox.SeedProfile); err != nil {
		t.Fatalf("Invoke after the session expired: %v", err)
	}
	e.sb.ExpireSessions(sandbox.TargetRoleARN(sandbox.LargeAccount))
	s, err := c.InvokeStream(ctx, seedBody(t), sandbox.SeedProfile)
	if err != nil {
		t.Fatalf("InvokeStream after the session expired: %v", err)
	}
	drain(t, s)
	st := e.sb.Stats()
	if n := st.STSCalls("AssumeRole"); n != 3 {
		t.Errorf("AssumeRole calls = %d, want 3 (first use and one per expiry)", n)
	}
	// The sandbox records a refused expired session without its account: count every account.
	if n := st.BedrockCalls("", "ExpiredTokenException"); n != 2 {
		t.Errorf("ExpiredTokenException answers = %d, want 2", n)
	}
	if n := c.ExpiredRetries(); n != 2 {
		t.Errorf("ExpiredRetries() = %d, want 2", n)
	}
}

func drain(t *testing.T, s *bedrock.Stream) string {
	t.Helper()
	defer s.Close()
	var text strings.Builder
	for {
		chunk, err := s.Recv()
		if err == io.EOF {
			return text.String()
		}
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		if d, ok := bedrock.AnthropicTextDelta(chunk); ok {
			text.WriteString(d)
		}
	}
}

func TestInvokeStream(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, sandbox.LargeAccount)
	want, err := c.Invoke(t.Context(), seedBody(t), sandbox.SeedProfile)
	if err != nil {
		t.Fatal(err)
	}
	reply, _ := bedrock.ParseAnthropicReply(want.Body)
	s, err := c.InvokeStream(t.Context(), seedBody(t), sandbox.SeedProfile)
	if err != nil {
		t.Fatal(err)
	}
	// The two calls may be served in different regions of the profile, which the sandbox's reply names.
	got := drain(t, s)
	_, wantTail, _ := strings.Cut(reply.Text(), "]")
	if _, gotTail, _ := strings.Cut(got, "]"); gotTail == "" || gotTail != wantTail {
		t.Errorf("streamed text = %q, want the InvokeModel text %q", got, reply.Text())
	}
	if u := s.Usage(); u.InputTokens != want.Usage.InputTokens || u.OutputTokens != want.Usage.OutputTokens {
		t.Errorf("stream Usage() = %+v, want %+v", u, want.Usage)
	}
	if s.RequestID() == "" {
		t.Errorf("stream RequestID is empty")
	}
	if _, err := s.Recv(); err != io.EOF {
		t.Errorf("Recv after the end = %v, want io.EOF", err)
	}
}

func TestStreamErrorMidway(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, sandbox.LargeAccount)
	e.sb.FailNext(sandbox.Fault{Code: "ModelStreamErrorException", AfterEvents: 2, Operation: "InvokeModelWithResponseStream"})
	s, err := c.InvokeStream(t.Context(), seedBody(t), sandbox.SeedProfile)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	for {
		_, err = s.Recv()
		if err != nil {
			break
		}
		n++
	}
	if n != 2 {
		t.Errorf("got %d chunks before the failure, want 2", n)
	}
	var be *bedrock.Error
	if !errors.As(err, &be) || be.Code != "ModelStreamErrorException" || be.Op != bedrock.OpInvokeModelStream {
		t.Fatalf("Recv error = %v, want a *bedrock.Error with ModelStreamErrorException from %s", err, bedrock.OpInvokeModelStream)
	}
	var typed *types.ModelStreamErrorException
	if !errors.As(err, &typed) {
		t.Errorf("Recv error = %v, does not unwrap to *types.ModelStreamErrorException", err)
	}
	if !errors.Is(err, relay.ErrUpstream) {
		t.Errorf("Recv error = %v, want it to match relay.ErrUpstream", err)
	}
}

func TestErrors(t *testing.T) {
	profileARN := "arn:aws:bedrock:ap-northeast-1:" + sandbox.LargeAccount + ":inference-profile/" + sandbox.SeedProfile
	osakaARN := "arn:aws:bedrock:ap-northeast-3::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"
	tests := []struct {
		name     string
		account  string
		model    string
		setup    func(*testing.T, *sandbox.Sandbox)
		op       string
		code     string
		sentinel error
		as       any      // an SDK error type errors.As must find
		inMsg    []string // the error message names these
		inHint   []string
	}{
		{
			name: "assume role denied", account: "444444444444", model: sandbox.SeedProfile,
			op: bedrock.OpAssumeRole, code: "AccessDenied", sentinel: relay.ErrAccessDenied,
			inMsg:  []string{"assume role arn:aws:iam::444444444444:role/BedrockAccessRole", sandbox.SeedProfile, "ap-northeast-1", "not authorized"},
			inHint: []string{"trust policy", sandbox.CallerRoleARN, "sts:AssumeRole"},
		},
		{
			name: "trust policy missing caller", account: sandbox.SmallAccount, model: sandbox.SeedProfile,
			setup: func(t *testing.T, sb *sandbox.Sandbox) {
				if err := sb.SetTrustPolicy(sandbox.TargetRoleARN(sandbox.SmallAccount),
					`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"sts:AssumeRole"}]}`); err != nil {
					t.Fatal(err)
				}
			},
			op: bedrock.OpAssumeRole, code: "AccessDenied", sentinel: relay.ErrAccessDenied,
			inHint: []string{"trust policy of arn:aws:iam::222222222222:role/BedrockAccessRole must name arn:aws:iam::111111111111:role/lambda-execution-role"},
		},
		{
			name: "invoke denied for one destination region", account: sandbox.LargeAccount, model: sandbox.SeedProfile,
			setup: func(t *testing.T, sb *sandbox.Sandbox) {
				if err := sb.SetRolePolicy(sandbox.TargetRoleARN(sandbox.LargeAccount), "BedrockInvoke", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":[
					"`+profileARN+`","arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"]}]}`); err != nil {
					t.Fatal(err)
				}
				sb.SetStrict(true)
			},
			op: bedrock.OpInvokeModel, code: "AccessDeniedException", sentinel: relay.ErrAccessDenied, as: new(*types.AccessDeniedException),
			inMsg:  []string{"InvokeModel " + sandbox.SeedProfile + " in ap-northeast-1 as arn:aws:iam::333333333333:role/BedrockAccessRole", "AccessDeniedException"},
			inHint: []string{"every destination region", profileARN, osakaARN},
		},
		{
			name: "throttled", account: sandbox.SmallAccount, model: sandbox.SeedProfile,
			setup: func(t *testing.T, sb *sandbox.Sandbox) {
				sb.FailNext(sandbox.Fault{Code: "ThrottlingException"})
			},
			op: bedrock.OpInvokeModel, code: "ThrottlingException", sentinel: relay.ErrThrottled, as: new(*types.ThrottlingException),
			inMsg:  []string{"ThrottlingException"},
			inHint: []string{"account 222222222222", "quota", "pooling"},
		},
		{
			name: "upstream fault", account: sandbox.LargeAccount, model: sandbox.SeedProfile,
			setup: func(t *testing.T, sb *sandbox.Sandbox) {
				sb.FailNext(sandbox.Fault{Code: "InternalServerException"})
			},
			op: bedrock.OpInvokeModel, code: "InternalServerException", sentinel: relay.ErrUpstream, as: new(*types.InternalServerException),
		},
		{
			name: "foundation model needs a profile", account: sandbox.LargeAccount, model: "anthropic.claude-sonnet-4-5-20250929-v1:0",
			op: bedrock.OpInvokeModel, code: "ValidationException", sentinel: relay.ErrInvalidRequest, as: new(*types.ValidationException),
			inHint: []string{"inference profile", "jp.anthropic.claude-sonnet-4-5-20250929-v1:0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.setup != nil {
				tt.setup(t, e.sb)
			}
			c := e.client(t, tt.account)
			if _, err := c.CallerIdentity(t.Context()); err != nil {
				t.Fatal(err)
			}
			_, err := c.Invoke(t.Context(), seedBody(t), tt.model)
			var be *bedrock.Error
			if !errors.As(err, &be) {
				t.Fatalf("Invoke error = %v (%T), want a *bedrock.Error", err, err)
			}
			if be.Op != tt.op || be.Code != tt.code {
				t.Errorf("Op, Code = %q, %q; want %q, %q", be.Op, be.Code, tt.op, tt.code)
			}
			if be.Message == "" {
				t.Errorf("Message is empty")
			}
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.sentinel)
			}
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tt.code {
				t.Errorf("errors.As(smithy.APIError) failed or code differs: %v", err)
			}
			if tt.as != nil && !errors.As(err, tt.as) {
				t.Errorf("errors.As(%T) failed for %v", tt.as, err)
			}
			for _, s := range tt.inMsg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			hint := be.Hint()
			for _, s := range tt.inHint {
				if !strings.Contains(hint, s) {
					t.Errorf("hint %q does not mention %q", hint, s)
				}
			}
			for _, secret := range []string{e.sb.CallerCredentials().SecretAccessKey, e.sb.CallerCredentials().SessionToken} {
				if strings.Contains(err.Error(), secret) || strings.Contains(hint, secret) {
					t.Errorf("error or hint contains a secret")
				}
			}
		})
	}
}

func TestCallerIdentityExpiredSource(t *testing.T) {
	e := newEnv(t)
	e.cfg.Credentials = credentials.StaticCredentialsProvider{Value: aws.Credentials{AccessKeyID: "AKIANOTKNOWN00000000", SecretAccessKey: "x"}}
	c := e.client(t, sandbox.LargeAccount)
	_, err := c.CallerIdentity(context.Background())
	var be *bedrock.Error
	if !errors.As(err, &be) || be.Op != bedrock.OpGetCallerIdentity || be.Code != "InvalidClientTokenId" {
		t.Fatalf("CallerIdentity with unknown keys = %v, want InvalidClientTokenId from %s", err, bedrock.OpGetCallerIdentity)
	}
	if !strings.Contains(be.Hint(), "AWS_ACCESS_KEY_ID") {
		t.Errorf("hint %q does not say which credentials to check", be.Hint())
	}
}
