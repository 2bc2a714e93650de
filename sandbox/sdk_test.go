package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// env is a sandbox served on 127.0.0.1 and SDK configuration pointing at it as the caller role.
type env struct {
	sb  *sandbox.Sandbox
	url string
	cfg aws.Config
}

func newEnv(t *testing.T, sc *sandbox.Scenario) *env {
	t.Helper()
	sb, err := sandbox.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sb)
	t.Cleanup(ts.Close)
	return &env{sb: sb, url: ts.URL, cfg: sdkConfig(ts.URL, credentials.StaticCredentialsProvider{Value: sb.CallerCredentials()})}
}

func sdkConfig(url string, creds aws.CredentialsProvider) aws.Config {
	return aws.Config{
		Region:       sandbox.SeedRegion,
		Credentials:  creds,
		BaseEndpoint: aws.String(url),
		// No SDK retries: the tests look at what the service answered.
		RetryMaxAttempts: 1,
		HTTPClient:       sandbox.SDKHTTPClient(nil),
	}
}

func (e *env) assume(t *testing.T, roleARN string, opts ...func(*stscreds.AssumeRoleOptions)) aws.Config {
	t.Helper()
	p := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(e.cfg), roleARN, opts...)
	return sdkConfig(e.url, aws.NewCredentialsCache(p))
}

const seedBody = `{"anthropic_version":"bedrock-2023-05-31","max_tokens":1000,"messages":[{"role":"user","content":"クロスアカウントでのBedrock呼び出しテストです"}]}`

func invoke(ctx context.Context, cfg aws.Config, model string) (*bedrockruntime.InvokeModelOutput, error) {
	return bedrockruntime.NewFromConfig(cfg).InvokeModel(ctx, &bedrockruntime.InvokeModelInput{
		ModelId: aws.String(model), Body: []byte(seedBody), ContentType: aws.String("application/json"),
	})
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestSeedSequence is the acceptance sequence, with standard SDK calls only.
func TestSeedSequence(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)

	id, err := sts.NewFromConfig(e.cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if got, want := aws.ToString(id.Account), "111111111111"; got != want {
		t.Errorf("caller account = %s, want %s", got, want)
	}
	if got := aws.ToString(id.Arn); !strings.HasPrefix(got, "arn:aws:sts::111111111111:assumed-role/lambda-execution-role/") {
		t.Errorf("caller ARN = %s, want a lambda-execution-role session", got)
	}

	out, err := sts.NewFromConfig(e.cfg).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String(sandbox.TargetRoleARN("222222222222")), RoleSessionName: aws.String("lambda-bedrock-cross-account"), DurationSeconds: aws.Int32(900),
	})
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	if got, want := aws.ToString(out.AssumedRoleUser.Arn), "arn:aws:sts::222222222222:assumed-role/BedrockAccessRole/lambda-bedrock-cross-account"; got != want {
		t.Errorf("assumed role ARN = %s, want %s", got, want)
	}
	if d := time.Until(aws.ToTime(out.Credentials.Expiration)); d < 14*time.Minute || d > 16*time.Minute {
		t.Errorf("credentials expire in %v, want 15m", d)
	}
	c := out.Credentials
	target := sdkConfig(e.url, credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)))

	for i := 1; i <= 2; i++ {
		res, err := invoke(ctx, target, sandbox.SeedProfile)
		if err != nil {
			t.Fatalf("InvokeModel %d: %v", i, err)
		}
		var body struct {
			Content []struct{ Type, Text string } `json:"content"`
			Usage   struct {
				InputTokens  int `json:"input_tokens"`
				OutputTokens int `json:"output_tokens"`
			} `json:"usage"`
			Model string `json:"model"`
		}
		if err := json.Unmarshal(res.Body, &body); err != nil {
			t.Fatalf("response body %s: %v", res.Body, err)
		}
		if len(body.Content) == 0 || !strings.Contains(body.Content[0].Text, "222222222222") || !strings.Contains(body.Content[0].Text, "クロスアカウント") {
			t.Errorf("answer %q: want the serving account and the prompt in it", body.Content)
		}
		if body.Usage.InputTokens == 0 || body.Usage.OutputTokens == 0 {
			t.Errorf("usage = %+v, want tokens counted", body.Usage)
		}
	}
	_, err = invoke(ctx, target, sandbox.SeedProfile)
	if got := apiCode(err); got != "ThrottlingException" {
		t.Fatalf("third call within a minute: got %v, want ThrottlingException", err)
	}
	var te *brtypes.ThrottlingException
	if !errors.As(err, &te) || !strings.Contains(te.ErrorMessage(), "Too many requests") {
		t.Errorf("throttle error %v: want the SDK's typed ThrottlingException saying Too many requests", err)
	}

	st := e.sb.Stats()
	if got := st.STSCalls("AssumeRole"); got != 1 {
		t.Errorf("AssumeRole calls = %d, want 1", got)
	}
	if got := st.BedrockCalls("222222222222", "ok"); got != 2 {
		t.Errorf("successful Bedrock calls = %d, want 2", got)
	}
	if got := st.BedrockCalls("222222222222", "ThrottlingException"); got != 1 {
		t.Errorf("throttled Bedrock calls = %d, want 1", got)
	}
}

func TestTrustPolicyNotNamingCaller(t *testing.T) {
	e := newEnv(t, nil)
	role := sandbox.TargetRoleARN("222222222222")
	if err := e.sb.SetTrustPolicy(role, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:role/other-role"},"Action":"sts:AssumeRole"}]}`); err != nil {
		t.Fatal(err)
	}
	_, err := sts.NewFromConfig(e.cfg).AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("s1")})
	if apiCode(err) != "AccessDenied" {
		t.Fatalf("got %v, want AccessDenied", err)
	}
	want := "User: arn:aws:sts::111111111111:assumed-role/lambda-execution-role/bedrock-relay-sandbox is not authorized to perform: sts:AssumeRole on resource: " + role
	if !strings.Contains(err.Error(), want) {
		t.Errorf("message %q, want it to contain %q", err, want)
	}
}

func TestStrictModeNamesMissingRegion(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	role := sandbox.TargetRoleARN("333333333333")
	// The seed's permission policy without the ap-northeast-3 foundation-model ARN.
	if err := e.sb.SetRolePolicy(role, "BedrockInvoke", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":[
		"arn:aws:bedrock:ap-northeast-1:333333333333:inference-profile/jp.anthropic.claude-sonnet-4-5-20250929-v1:0",
		"arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"]}]}`); err != nil {
		t.Fatal(err)
	}
	e.sb.SetStrict(true)
	_, err := invoke(ctx, e.assume(t, role), sandbox.SeedProfile)
	if apiCode(err) != "AccessDeniedException" {
		t.Fatalf("got %v, want AccessDeniedException", err)
	}
	missing := "arn:aws:bedrock:ap-northeast-3::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"
	if !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "because no identity-based policy allows the bedrock:InvokeModel action") {
		t.Errorf("message %q: want it to name %s and say no identity-based policy allows it", err, missing)
	}
}

func TestNonStrictFailsOnlyWhenRoutedToMissingRegion(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	role := sandbox.TargetRoleARN("333333333333")
	e.sb.SetRolePolicy(role, "BedrockInvoke", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":[
		"arn:aws:bedrock:ap-northeast-1:333333333333:inference-profile/jp.anthropic.claude-sonnet-4-5-20250929-v1:0",
		"arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"]}]}`)
	cfg := e.assume(t, role)
	var ok, denied int
	for i := 0; i < 4; i++ {
		_, err := invoke(ctx, cfg, sandbox.SeedProfile)
		switch apiCode(err) {
		case "":
			ok++
		case "AccessDeniedException":
			denied++
		default:
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if ok == 0 || denied == 0 {
		t.Errorf("ok=%d denied=%d: want some calls served in ap-northeast-1 and some refused for ap-northeast-3", ok, denied)
	}
}

func TestDebugLogNamesCallsNotSecrets(t *testing.T) {
	var buf bytes.Buffer
	sb, err := sandbox.New(nil, sandbox.WithLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sb)
	defer ts.Close()
	cfg := sdkConfig(ts.URL, credentials.StaticCredentialsProvider{Value: sb.CallerCredentials()})
	out, err := sts.NewFromConfig(cfg).AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(sandbox.TargetRoleARN(sandbox.SmallAccount)), RoleSessionName: aws.String("s1")})
	if err != nil {
		t.Fatal(err)
	}
	log := buf.String()
	if !strings.Contains(log, `"operation":"AssumeRole"`) || !strings.Contains(log, `"outcome":"ok"`) {
		t.Errorf("debug log %q: want the AssumeRole call and its outcome", log)
	}
	for _, secret := range []string{aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken), sb.CallerCredentials().SecretAccessKey} {
		if strings.Contains(log, secret) {
			t.Errorf("debug log contains a secret")
		}
	}
}

func TestEmptyScenarioIsAnError(t *testing.T) {
	if _, err := sandbox.ParseScenario(nil); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("got %v, want an error saying the scenario is empty", err)
	}
}
