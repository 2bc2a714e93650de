package sandbox_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// TestSigV4Errors checks that each way a signature can be wrong is answered in the words of the service
// called: STS's query-protocol codes and Bedrock's rest-json ones.
func TestSigV4Errors(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	caller := e.sb.CallerCredentials()
	role := sandbox.TargetRoleARN(sandbox.SmallAccount)
	good, err := e.sb.SessionFor(role, "sigv4-test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                string
		cfg                 aws.Config
		stsCode, brCode     string
		stsStatus, brStatus int
	}{
		{"unknown access key", e.static("ASIAUNKNOWNKEY000000", "x", "y"), "InvalidClientTokenId", "UnrecognizedClientException", 403, 403},
		{"wrong secret", e.static(caller.AccessKeyID, "wrong-secret", caller.SessionToken), "SignatureDoesNotMatch", "InvalidSignatureException", 403, 403},
		{"wrong session token", e.static(good.AccessKeyID, good.SecretAccessKey, "not-the-token"), "InvalidClientTokenId", "UnrecognizedClientException", 403, 403},
		{"no session token", e.static(good.AccessKeyID, good.SecretAccessKey, ""), "InvalidClientTokenId", "UnrecognizedClientException", 403, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sts.NewFromConfig(tt.cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			if got := apiCode(err); got != tt.stsCode {
				t.Errorf("STS: got %v, want %s", err, tt.stsCode)
			}
			if got := httpStatus(err); got != tt.stsStatus {
				t.Errorf("STS status: got %d, want %d", got, tt.stsStatus)
			}
			_, err = invoke(ctx, tt.cfg, sandbox.SeedProfile)
			if got := apiCode(err); got != tt.brCode {
				t.Errorf("Bedrock: got %v, want %s", err, tt.brCode)
			}
			if got := httpStatus(err); got != tt.brStatus {
				t.Errorf("Bedrock status: got %d, want %d", got, tt.brStatus)
			}
		})
	}
}

// TestExpiredSessions expires sessions by each of the sandbox's means and checks STS says ExpiredToken and
// Bedrock ExpiredTokenException, both with status 403 (aws/aws-sdk-java-v2#1649, pulumi/pulumi-aws#2560).
func TestExpiredSessions(t *testing.T) {
	ctx := context.Background()
	role := sandbox.TargetRoleARN(sandbox.SmallAccount)
	var (
		mu  sync.Mutex
		now = time.Now()
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	tests := []struct {
		name   string
		expire func(t *testing.T, e *env)
	}{
		{"ExpireSessions of the role", func(t *testing.T, e *env) { e.sb.ExpireSessions(role) }},
		{"ExpireSessions of every role", func(t *testing.T, e *env) { e.sb.ExpireSessions("") }},
		{"injected clock past the lifetime", func(t *testing.T, e *env) {
			// Two minutes: past a 60 s session, well within SigV4's 15 minute clock-skew window.
			advance(2 * time.Minute)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnvWith(t, nil, sandbox.WithClock(clock))
			e.sb.SetCredentialLifetime(60 * time.Second)
			out, err := sts.NewFromConfig(e.cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("expiry")})
			if err != nil {
				t.Fatalf("AssumeRole: %v", err)
			}
			if got, want := aws.ToTime(out.Credentials.Expiration), clock().Add(time.Minute).Truncate(time.Second); !got.Equal(want) {
				t.Errorf("Expiration: got %v, want %v (the credential lifetime knob)", got, want)
			}
			c := out.Credentials
			cfg := e.static(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
			if _, err := invoke(ctx, cfg, sandbox.SeedProfile); err != nil {
				t.Fatalf("InvokeModel before expiry: %v", err)
			}
			tt.expire(t, e)
			_, err = sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			if got, want := apiCode(err), "ExpiredToken"; got != want {
				t.Errorf("STS: got %v, want %s", err, want)
			}
			if got, want := httpStatus(err), 403; got != want {
				t.Errorf("STS status: got %d, want %d", got, want)
			}
			_, err = invoke(ctx, cfg, sandbox.SeedProfile)
			if got, want := apiCode(err), "ExpiredTokenException"; got != want {
				t.Errorf("Bedrock: got %v, want %s", err, want)
			}
			if got, want := httpStatus(err), 403; got != want {
				t.Errorf("Bedrock status: got %d, want %d", got, want)
			}
			// The caller's pre-issued session never expires.
			if _, err := sts.NewFromConfig(e.cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
				t.Errorf("caller session after expiry: %v", err)
			}
		})
	}
}

// TestForgottenSessions: ForgetSessions and Reset (Go or admin API) make the sessions issued before them
// unknown keys, as a restart would: Bedrock answers UnrecognizedClientException (403) and STS
// InvalidClientTokenId, while sessions assumed afterwards and the caller's own session work. ForgetSessions
// keeps the rest (here a fault); Reset drops it.
func TestForgottenSessions(t *testing.T) {
	ctx := context.Background()
	role := sandbox.TargetRoleARN(sandbox.LargeAccount)
	admin := func(path string) func(t *testing.T, e *env) {
		return func(t *testing.T, e *env) {
			if code, out := adminDo(t, e.url, "POST", path, ""); code != 200 {
				t.Fatalf("POST %s: got %d %s, want 200", path, code, out)
			}
		}
	}
	tests := []struct {
		name       string
		forget     func(t *testing.T, e *env)
		keepsFault bool
	}{
		{"ForgetSessions", func(t *testing.T, e *env) { e.sb.ForgetSessions() }, true},
		{"POST /_sandbox/forget-sessions", admin("/_sandbox/forget-sessions"), true},
		{"Reset", func(t *testing.T, e *env) { must(t, e.sb.Reset()) }, false},
		{"POST /_sandbox/reset", admin("/_sandbox/reset"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			assume := func() aws.Config {
				t.Helper()
				out, err := sts.NewFromConfig(e.cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("restart")})
				if err != nil {
					t.Fatalf("AssumeRole: %v", err)
				}
				c := out.Credentials
				return e.static(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
			}
			assumed, outOfBand := assume(), e.session(t, role)
			for _, cfg := range []aws.Config{assumed, outOfBand} {
				if _, err := invoke(ctx, cfg, sandbox.SeedProfile); err != nil {
					t.Fatalf("InvokeModel before: %v", err)
				}
			}
			must(t, e.sb.AddFault(sandbox.Fault{Code: "ServiceUnavailableException", Operation: "InvokeModel", Count: 1}))
			tt.forget(t, e)
			for name, cfg := range map[string]aws.Config{"AssumeRole session": assumed, "SessionFor session": outOfBand} {
				_, err := bedrockruntime.NewFromConfig(cfg).Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(sandbox.SeedProfile), Messages: userText("hi")})
				if got, want := apiCode(err), "UnrecognizedClientException"; got != want {
					t.Errorf("%s, Bedrock: got %v, want %s", name, err, want)
				}
				if got, want := httpStatus(err), 403; got != want {
					t.Errorf("%s, Bedrock status: got %d, want %d", name, got, want)
				}
				if err != nil && !strings.Contains(err.Error(), "The security token included in the request is invalid.") {
					t.Errorf("%s, Bedrock message %q: want AWS's wording for an unknown key", name, err)
				}
				_, err = sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
				if got, want := apiCode(err), "InvalidClientTokenId"; got != want {
					t.Errorf("%s, STS: got %v, want %s", name, err, want)
				}
			}
			fresh := assume() // the caller's session still works
			_, err := invoke(ctx, fresh, sandbox.SeedProfile)
			if tt.keepsFault {
				if apiCode(err) != "ServiceUnavailableException" {
					t.Errorf("a new session's first call: got %v, want the fault installed before (kept)", err)
				}
				_, err = invoke(ctx, fresh, sandbox.SeedProfile)
			}
			if err != nil {
				t.Errorf("a session assumed afterwards: %v", err)
			}
		})
	}
}

// TestSignatureTimeSkew: a request signed more than 15 minutes away from the server's clock is refused.
func TestSignatureTimeSkew(t *testing.T) {
	skew := 20 * time.Minute
	e := newEnvWith(t, nil, sandbox.WithClock(func() time.Time { return time.Now().Add(skew) }))
	_, err := sts.NewFromConfig(e.cfg, func(o *sts.Options) { o.Retryer = aws.NopRetryer{} }).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if got, want := apiCode(err), "SignatureDoesNotMatch"; got != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	if !strings.Contains(err.Error(), "Signature expired") {
		t.Errorf("message %q: want it to say Signature expired", err)
	}
}

// TestModelIDEncodings: the SDK escapes ':' and '/' in the model id; other clients leave ':' raw. Both verify.
func TestModelIDEncodings(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	role := sandbox.TargetRoleARN(sandbox.SmallAccount)
	creds, err := e.sb.SessionFor(role, "encodings", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.sb.SetQuota(sandbox.SmallAccount, sandbox.SeedProfile, sandbox.Quota{})
	profileARN := "arn:aws:bedrock:ap-northeast-1:" + sandbox.SmallAccount + ":inference-profile/" + sandbox.SeedProfile

	t.Run("SDK escapes the profile ARN", func(t *testing.T) {
		if _, err := invoke(ctx, sdkConfig(e.url, credentials.StaticCredentialsProvider{Value: creds}), profileARN); err != nil {
			t.Errorf("got %v, want success", err)
		}
	})
	for _, tt := range []struct{ name, path string }{
		{"raw colon", "/model/" + sandbox.SeedProfile + "/invoke"},
		{"escaped colon", "/model/" + strings.ReplaceAll(sandbox.SeedProfile, ":", "%3A") + "/invoke"},
		{"fully escaped ARN", "/model/" + url.PathEscape(profileARN) + "/invoke"},
		{"ARN with raw colons and escaped slash", "/model/" + strings.ReplaceAll(profileARN, "/", "%2F") + "/invoke"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := signedPost(t, e.url, tt.path, "bedrock", creds, []byte(seedBody))
			if resp.StatusCode != 200 {
				t.Errorf("POST %s: got %d %s %s, want 200", tt.path, resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), readAll(resp))
			}
		})
	}
}

// signedPost sends body to base+path signed with the SDK's v4 signer as service in the seed region.
func signedPost(t *testing.T, base, path, service string, creds aws.Credentials, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, sandbox.SeedRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readAll(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestBearerAPIKey: a Bedrock API key configured for an account, sent the way the SDK sends
// AWS_BEARER_TOKEN_BEDROCK (bearer auth needs TLS in smithy-go).
func TestBearerAPIKey(t *testing.T) {
	const key = "ABSKQmVkcm9ja0FQSUtleS1zYW5kYm94LXRlc3Qta2V5"
	sc := sandbox.DefaultScenario()
	sc.Accounts[sandbox.LargeAccount].APIKeys = []string{key}
	sb, err := sandbox.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(sb)
	t.Cleanup(ts.Close)
	rec := &headerRecorder{base: sandbox.SDKHTTPClient(ts.Client())}
	ctx := context.Background()

	client := func(t *testing.T, token string) *bedrockruntime.Client {
		t.Setenv("AWS_BEARER_TOKEN_BEDROCK", token)
		// No SigV4 credentials at all: the env var alone must switch the client to bearer auth.
		return bedrockruntime.NewFromConfig(aws.Config{Region: sandbox.SeedRegion, BaseEndpoint: aws.String(ts.URL), HTTPClient: rec, RetryMaxAttempts: 1})
	}
	t.Run("valid key", func(t *testing.T) {
		out, err := client(t, key).InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile), Body: []byte(seedBody), ContentType: aws.String("application/json")})
		if err != nil {
			t.Fatalf("got %v, want success", err)
		}
		if !bytes.Contains(out.Body, []byte(sandbox.LargeAccount)) {
			t.Errorf("answer %s: want it served by account %s, the key's", out.Body, sandbox.LargeAccount)
		}
		if got, want := rec.Header().Get("X-Sandbox-Served-By"), sandbox.LargeAccount+"/"; !strings.HasPrefix(got, want) {
			t.Errorf("served by %q, want prefix %q", got, want)
		}
	})
	t.Run("ConverseStream with a key", func(t *testing.T) {
		out, err := client(t, key).ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String(sandbox.SeedProfile),
			Messages: []brtypes.Message{{Role: brtypes.ConversationRoleUser, Content: []brtypes.ContentBlock{&brtypes.ContentBlockMemberText{Value: "hello"}}}}})
		if err != nil {
			t.Fatalf("got %v, want success", err)
		}
		stream := out.GetStream()
		n := 0
		for range stream.Events() {
			n++
		}
		if err := stream.Err(); err != nil || n == 0 {
			t.Errorf("stream: %d events, err %v; want events and no error", n, err)
		}
		stream.Close()
	})
	t.Run("wrong key", func(t *testing.T) {
		_, err := client(t, "ABSKwrong").InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile), Body: []byte(seedBody), ContentType: aws.String("application/json")})
		if got, want := apiCode(err), "UnrecognizedClientException"; got != want {
			t.Errorf("got %v, want %s", err, want)
		}
		if got, want := httpStatus(err), 403; got != want {
			t.Errorf("status: got %d, want %d", got, want)
		}
	})
	t.Run("bearer to STS", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/", strings.NewReader("Action=GetCallerIdentity&Version=2011-06-15"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Errorf("got %d, want 403", resp.StatusCode)
		}
	})
}
