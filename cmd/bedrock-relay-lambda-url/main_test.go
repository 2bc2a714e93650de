package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdaurl"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

const testKey = "brk-lambda-url-test-key"

// newFunction is the relay's handler as the Lambda runtime would call it, in front of a sandbox, with the
// sandbox's caller session as the execution role.
func newFunction(t *testing.T) func(context.Context, *events.LambdaFunctionURLRequest) (*events.LambdaFunctionURLStreamingResponse, error) {
	t.Helper()
	sb, err := sandbox.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	c := sb.CallerCredentials()
	dir := t.TempDir()
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": c.AccessKeyID, "AWS_SECRET_ACCESS_KEY": c.SecretAccessKey,
		"AWS_SESSION_TOKEN": c.SessionToken, "AWS_CONFIG_FILE": filepath.Join(dir, "none"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"), "AWS_PROFILE": "", "AWS_BEARER_TOKEN_BEDROCK": ""} {
		t.Setenv(k, v)
	}
	yaml := "auth:\n  mode: keys\n  keys:\n    - name: fn-caller\n      sha256: " + config.HashKey(testKey) + "\n      models: [\"*\"]\n" +
		"source:\n  endpoint: " + srv.URL + "\n" +
		"targets:\n  - role_arn: " + sandbox.TargetRoleARN(sandbox.LargeAccount) + "\n    region: ap-northeast-1\n    models: [" + sandbox.SeedProfile + "]\n"
	env := map[string]string{"BEDROCK_RELAY_CONFIG_YAML": yaml, "AWS_REGION": "ap-northeast-1"}
	var logs bytes.Buffer
	h, err := setup(context.Background(), func(k string) string { return env[k] }, &logs)
	if err != nil {
		t.Fatal(err)
	}
	return lambdaurl.Wrap(h)
}

func urlRequest(path, key, body string) *events.LambdaFunctionURLRequest {
	r := &events.LambdaFunctionURLRequest{RawPath: path, Body: body,
		Headers: map[string]string{"content-type": "application/json", "authorization": "Bearer " + key}}
	r.RequestContext.DomainName = "abcdefghij.lambda-url.ap-northeast-1.on.aws"
	r.RequestContext.HTTP.Method = "POST"
	r.RequestContext.HTTP.SourceIP = "203.0.113.7"
	return r
}

func TestFunctionURL(t *testing.T) {
	fn := newFunction(t)
	ctx := context.Background()
	model := "/model/jp.anthropic.claude-sonnet-4-5-20250929-v1%3A0"

	resp, err := fn(ctx, urlRequest(model+"/invoke", testKey,
		`{"anthropic_version":"bedrock-2023-05-31","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	var msg struct{ Type string }
	if resp.StatusCode != 200 || json.Unmarshal(body, &msg) != nil || msg.Type != "message" {
		t.Fatalf("invoke: %d %s, want an Anthropic message", resp.StatusCode, body)
	}
	if resp.Headers["X-Bedrock-Relay-Target"] == "" || resp.Headers["X-Amzn-Bedrock-Input-Token-Count"] == "" {
		t.Errorf("invoke headers %v: want the target and token counts", resp.Headers)
	}

	resp, err = fn(ctx, urlRequest(model+"/converse-stream", testKey, `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Headers["Content-Type"] != "application/vnd.amazon.eventstream" {
		t.Fatalf("converse-stream: %d %v", resp.StatusCode, resp.Headers)
	}
	dec := eventstream.NewDecoder()
	var types []string
	for {
		m, err := dec.Decode(resp.Body, nil)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("decode stream: %v", err)
		}
		types = append(types, m.Headers.Get(":event-type").String())
	}
	if got := strings.Join(types, ","); !strings.HasPrefix(got, "messageStart,") || !strings.HasSuffix(got, "metadata") {
		t.Errorf("stream events %s: want messageStart ... metadata", got)
	}

	resp, err = fn(ctx, urlRequest(model+"/invoke", "brk-wrong", `{}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 403 || resp.Headers["X-Amzn-Errortype"] != "UnrecognizedClientException" {
		t.Errorf("wrong key: %d %v, want 403 UnrecognizedClientException", resp.StatusCode, resp.Headers)
	}
}

func TestFunctionURLConfig(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"none":      {},
		"both":      {"BEDROCK_RELAY_CONFIG": "/x.yaml", "BEDROCK_RELAY_CONFIG_YAML": "auth: {mode: keys}"},
		"auth none": {"BEDROCK_RELAY_CONFIG_YAML": "auth: {mode: none}\ntargets: []\n"},
		"bad yaml":  {"BEDROCK_RELAY_CONFIG_YAML": "auth: [\n"},
	} {
		if _, err := setup(context.Background(), func(k string) string { return env[k] }, io.Discard); err == nil {
			t.Errorf("%s: setup succeeded, want an error", name)
		}
	}
}
