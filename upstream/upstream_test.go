package upstream_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

func setup(t *testing.T) (*sandbox.Sandbox, *upstream.Client, *aws.CredentialsCache) {
	t.Helper()
	sb, err := sandbox.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sb)
	t.Cleanup(ts.Close)
	src := aws.Config{Region: sandbox.SeedRegion, BaseEndpoint: aws.String(ts.URL), Credentials: credentials.StaticCredentialsProvider{Value: sb.CallerCredentials()}}
	creds := aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(src), sandbox.TargetRoleARN(sandbox.LargeAccount)))
	c, err := upstream.New(context.Background(), upstream.Options{Region: sandbox.SeedRegion, BaseEndpoint: ts.URL, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	return sb, c, creds
}

const body = `{"anthropic_version":"bedrock-2023-05-31","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`

func TestForwardsSignedBytes(t *testing.T) {
	_, c, _ := setup(t)
	for _, model := range []string{
		sandbox.SeedProfile,
		"arn:aws:bedrock:ap-northeast-1:333333333333:inference-profile/" + sandbox.SeedProfile, // the ARN's slash must stay escaped
	} {
		resp, err := c.Do(context.Background(), &upstream.Request{Op: upstream.OpInvoke, ModelID: model, Body: []byte(body)})
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), `"type":"message"`) || resp.Header.Get("X-Amzn-Bedrock-Output-Token-Count") == "" {
			t.Errorf("%s: body %s headers %v: want an Anthropic message with token headers", model, b, resp.Header)
		}
	}
}

func TestErrorsCarryCodeAndBody(t *testing.T) {
	_, c, _ := setup(t)
	_, err := c.Do(context.Background(), &upstream.Request{Op: upstream.OpInvoke, ModelID: sandbox.SeedProfile, Body: []byte(`{"max_tokens":5}`)})
	var ue *upstream.Error
	if !errors.As(err, &ue) {
		t.Fatalf("got %v, want *upstream.Error", err)
	}
	if ue.Status != 400 || ue.Code != "ValidationException" || ue.Message == "" || !strings.Contains(string(ue.Body), ue.Message[:10]) || ue.RequestID == "" {
		t.Errorf("error = %+v, want a 400 ValidationException with message, raw body and request id", ue)
	}
}

func TestExpiredTokenRefreshesOnce(t *testing.T) {
	sb, c, _ := setup(t)
	ctx := context.Background()
	do := func() error {
		resp, err := c.Do(ctx, &upstream.Request{Op: upstream.OpInvoke, ModelID: sandbox.SeedProfile, Body: []byte(body)})
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := do(); err != nil {
		t.Fatal(err)
	}
	sb.ExpireSessions("")
	if err := do(); err != nil {
		t.Fatalf("after the session expired: %v, want a transparent refresh", err)
	}
	st := sb.Stats()
	if got := st.STSCalls("AssumeRole"); got != 2 {
		t.Errorf("AssumeRole calls = %d, want 2 (initial + one refresh)", got)
	}
	if got := st.BedrockCalls("", "ExpiredTokenException"); got != 1 {
		t.Errorf("expired-token answers = %d, want 1", got)
	}
}

func TestStreamPassesFramesThrough(t *testing.T) {
	_, c, _ := setup(t)
	resp, err := c.Do(context.Background(), &upstream.Request{Op: upstream.OpConverseStream, ModelID: sandbox.SeedProfile,
		Body: []byte(`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.amazon.eventstream" {
		t.Errorf("Content-Type = %q", ct)
	}
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), "messageStart") || !strings.Contains(string(b), "metadata") {
		t.Errorf("stream lacks messageStart/metadata frames: %q", b)
	}
}
