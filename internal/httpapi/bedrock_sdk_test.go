package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/internal/mainlib"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// bedrockSDKCheck is what sandbox/clients/bedrock_sdk_check.mjs prints.
type bedrockSDKCheck struct {
	Create struct {
		Text         string `json:"text"`
		StopReason   string `json:"stop_reason"`
		InputTokens  int    `json:"input_tokens"`
		OutputTokens int    `json:"output_tokens"`
	} `json:"create"`
	Stream struct {
		Text       string `json:"text"`
		Events     int    `json:"events"`
		StopReason string `json:"stop_reason"`
		FinalText  string `json:"final_text"`
	} `json:"stream"`
	Tool struct {
		StopReason string         `json:"stop_reason"`
		Name       string         `json:"name"`
		Input      map[string]any `json:"input"`
		Answer     string         `json:"answer"`
		AnswerStop string         `json:"answer_stop"`
	} `json:"tool"`
	Thinking struct {
		StopReason string `json:"stop_reason"`
		Text       string `json:"text"`
	} `json:"thinking"`
	Beta struct {
		Text       string `json:"text"`
		StopReason string `json:"stop_reason"`
	} `json:"beta"`
}

// needBedrockSDK skips when node or the npm packages are missing, except in CI (CI set), where they must be
// there.
func needBedrockSDK(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is missing, and CI is set: run .ci/install-deps", what)
	}
	t.Skipf("%s is missing (run .ci/install-deps); skipping outside CI", what)
}

// TestAnthropicBedrockSDK drives the relay with Anthropic's own Bedrock client, @anthropic-ai/bedrock-sdk
// 1.x, which sends anthropic_version 2026-10-21 in every InvokeModel body: Claude Sonnet 4.5 serves only
// bedrock-2023-05-31, so this passes only through the relay's compatibility shim (the sandbox, like
// Bedrock, refuses the newer version for that model). The relay runs with auth: none on plain HTTP, where
// it takes the client's SigV4 signature as it comes.
func TestAnthropicBedrockSDK(t *testing.T) {
	_, err := exec.LookPath("node")
	needBedrockSDK(t, err == nil, "node")
	clients, err := filepath.Abs("../../sandbox/clients")
	if err != nil {
		t.Fatal(err)
	}
	_, err = os.Stat(filepath.Join(clients, "node_modules/@anthropic-ai/bedrock-sdk"))
	needBedrockSDK(t, err == nil, "sandbox/clients/node_modules (.ci/install-js-deps)")

	sb, err := sandbox.New(threeAccountScenario())
	if err != nil {
		t.Fatal(err)
	}
	sbSrv := httptest.NewServer(sb)
	t.Cleanup(sbSrv.Close)
	cfg := relayConfig(sbSrv.URL)
	cfg.Auth = config.Auth{Mode: "none"}
	cfg.FillDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	base := aws.Config{Region: sandbox.SeedRegion, BaseEndpoint: aws.String(sbSrv.URL),
		Credentials: credentials.StaticCredentialsProvider{Value: sb.CallerCredentials()}, RetryMaxAttempts: 1}
	rl, err := mainlib.Build(context.Background(), cfg, base, mainlib.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rl.Handler)
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(clients, "bedrock_sdk_check.mjs"))
	cmd.Dir = clients
	// No AWS or Anthropic settings of this machine: a bearer token or a base URL there would change how the
	// client authenticates or where it goes.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "ANTHROPIC_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "RELAY_ENDPOINT="+srv.URL, "MODEL_ID="+sonnet)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node bedrock_sdk_check.mjs: %v\nstdout: %s\nstderr: %s", err, out, stderr.String())
	}
	t.Logf("bedrock_sdk_check.mjs: %s", out)
	var got bedrockSDKCheck
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output %s: %v", out, err)
	}
	if !strings.Contains(got.Create.Text, "Hello from the Anthropic Bedrock SDK") || got.Create.StopReason != "end_turn" ||
		got.Create.InputTokens <= 0 || got.Create.OutputTokens <= 0 {
		t.Errorf("messages.create: %+v", got.Create)
	}
	if got.Stream.Text == "" || got.Stream.Text != got.Stream.FinalText || got.Stream.Events < 3 || got.Stream.StopReason == "" {
		t.Errorf("messages.stream: %+v, want the streamed text to be finalMessage's", got.Stream)
	}
	if got.Tool.StopReason != "tool_use" || got.Tool.Name != "get_weather" || got.Tool.Input["city"] == nil || got.Tool.Answer == "" || got.Tool.AnswerStop != "end_turn" {
		t.Errorf("tool round trip: %+v", got.Tool)
	}
	if got.Thinking.StopReason != "end_turn" || got.Thinking.Text == "" {
		t.Errorf("thinking: %+v", got.Thinking)
	}
	if got.Beta.Text == "" || got.Beta.StopReason != "end_turn" {
		t.Errorf("beta.messages.create with a flag Bedrock refuses: %+v, want it served without that flag", got.Beta)
	}
	// Every call reached the sandbox once and was served: none was refused there for its version or betas.
	st := sb.Stats()
	if n, ok := st.BedrockCalls("", ""), st.BedrockCalls("", "ok"); n != 6 || ok != 6 {
		t.Errorf("sandbox Bedrock calls: %d, %d ok; want 6 served (create, stream, tool use twice, thinking, beta)", n, ok)
	}
}
