package sandbox_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// thinkingRefusal is how a client script reports an error it caught.
type thinkingRefusal struct {
	Class   string `json:"class"`
	Code    string `json:"code"`
	Status  int    `json:"status"`
	Message string `json:"message"`
}

type thinkingFlow struct {
	Converse struct {
		Blocks        []string `json:"blocks"`
		Reasoning     string   `json:"reasoning"`
		Signature     string   `json:"signature"`
		RedactedBytes int      `json:"redacted_bytes"`
		Text          string   `json:"text"`
	} `json:"converse"`
	RoundTrip      string          `json:"round_trip"`
	Tampered       thinkingRefusal `json:"tampered"`
	ConverseStream struct {
		Reasoning     string `json:"reasoning"`
		Signature     string `json:"signature"`
		RedactedBytes int    `json:"redacted_bytes"`
		Text          string `json:"text"`
	} `json:"converse_stream"`
}

// checkThinkingFlow checks what the boto3 and JS scripts share: Converse's reasoningContent blocks, the round
// trip, the tampered block refused, and ConverseStream's deltas equal to Converse's blocks.
func checkThinkingFlow(t *testing.T, out []byte, prompt, wantClass string) thinkingFlow {
	t.Helper()
	var f thinkingFlow
	if err := json.Unmarshal(out, &f); err != nil {
		t.Fatalf("output %s: %v", out, err)
	}
	cv := f.Converse
	if strings.Join(cv.Blocks, ",") != "reasoningContent,reasoningContent,text" || !strings.Contains(cv.Reasoning, prompt) ||
		cv.Signature == "" || cv.RedactedBytes < 40 || !strings.Contains(cv.Text, prompt) {
		t.Errorf("converse: %+v, want thinking, redacted thinking and the answer", cv)
	}
	if f.RoundTrip != "ok" {
		t.Errorf("round trip: %q", f.RoundTrip)
	}
	want := thinkingRefusal{Class: wantClass, Status: 400, Message: "The model returned the following errors: messages.1.content.0: Invalid signature in thinking block"}
	if got := f.Tampered; got.Class != want.Class || got.Status != want.Status || got.Message != want.Message || (got.Code != "" && got.Code != "ValidationException") {
		t.Errorf("tampered: %+v, want %+v", got, want)
	}
	st := f.ConverseStream
	// The answer names the region that served it, which round-robin changes between the two calls.
	if st.Reasoning != cv.Reasoning || st.Signature != cv.Signature || st.RedactedBytes != cv.RedactedBytes || !strings.Contains(st.Text, prompt) {
		t.Errorf("converse_stream %+v, want Converse's blocks", st)
	}
	return f
}

func TestBoto3Thinking(t *testing.T) {
	_, err := exec.LookPath("python3")
	needTool(t, err == nil, "python3")
	needTool(t, exec.Command("python3", "-c", "import boto3").Run() == nil, "boto3")
	sb, url := startSandbox(t)
	out := runClient(t, clientEnv(t, url, sb, "TARGET_ROLE_ARN="+sandbox.TargetRoleARN(sandbox.LargeAccount), "MODEL_ID="+sandbox.SeedProfile, "PYTHONIOENCODING=utf-8"),
		"python3", "clients/boto3_thinking_check.py")
	checkThinkingFlow(t, out, "Sapporo", "ValidationException")
	var rest struct {
		InvokeStream struct {
			Blocks    []string `json:"blocks"`
			Reasoning string   `json:"reasoning"`
			Signature string   `json:"signature"`
		} `json:"invoke_stream"`
		Budget thinkingRefusal `json:"budget"`
	}
	must(t, json.Unmarshal(out, &rest))
	if is := rest.InvokeStream; strings.Join(is.Blocks, ",") != "thinking,redacted_thinking,text" || !strings.Contains(is.Reasoning, "Sapporo") || is.Signature == "" {
		t.Errorf("invoke_model_with_response_stream: %+v", is)
	}
	want := thinkingRefusal{Class: "ValidationException", Code: "ValidationException", Status: 400,
		Message: "The model returned the following errors: `max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"}
	if rest.Budget != want {
		t.Errorf("budget: %+v, want %+v", rest.Budget, want)
	}
}

func TestJSThinking(t *testing.T) {
	_, err := exec.LookPath("node")
	needTool(t, err == nil, "node")
	for _, pkg := range []string{"@aws-sdk/client-bedrock-runtime", "@anthropic-ai/bedrock-sdk"} {
		_, err = os.Stat("clients/node_modules/" + pkg)
		needTool(t, err == nil, "sandbox/clients/node_modules (.ci/install-js-deps)")
	}
	sb, url := startSandbox(t)
	role := sandbox.TargetRoleARN(sandbox.LargeAccount)
	must(t, sb.SetRolePolicy(role, "AllBedrock", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:*","Resource":"*"}]}`))
	out := runClient(t, clientEnv(t, url, sb, "TARGET_ROLE_ARN="+role, "MODEL_ID="+sandbox.SeedProfile, "OPUS_ID=jp.anthropic.claude-opus-4-7"),
		"node", "clients/js_thinking_check.mjs")
	checkThinkingFlow(t, out, "Fukuoka", "ValidationException")
	var rest struct {
		Temperature thinkingRefusal `json:"temperature"`
		Anthropic   struct {
			Blocks    []string `json:"blocks"`
			Thinking  string   `json:"thinking"`
			Signature string   `json:"signature"`
		} `json:"anthropic"`
		RoundTrip string          `json:"anthropic_round_trip"`
		Tampered  thinkingRefusal `json:"anthropic_tampered"`
		Stream    struct {
			Thinking  string   `json:"thinking"`
			Blocks    []string `json:"blocks"`
			Signature string   `json:"signature"`
		} `json:"anthropic_stream"`
		Enabled thinkingRefusal `json:"anthropic_enabled"`
	}
	must(t, json.Unmarshal(out, &rest))
	want := thinkingRefusal{Class: "ValidationException", Status: 400,
		Message: "The model returned the following errors: `temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#important-considerations-when-using-extended-thinking"}
	if rest.Temperature != want {
		t.Errorf("temperature: %+v, want %+v", rest.Temperature, want)
	}
	if a := rest.Anthropic; strings.Join(a.Blocks, ",") != "thinking,text" || !strings.Contains(a.Thinking, "Sendai") || a.Signature == "" {
		t.Errorf("@anthropic-ai/bedrock-sdk messages.create: %+v", a)
	}
	if rest.RoundTrip != "ok" {
		t.Errorf("@anthropic-ai/bedrock-sdk round trip: %q", rest.RoundTrip)
	}
	if want := (thinkingRefusal{Class: "BadRequestError", Status: 400, Message: "messages.1.content.0: Invalid signature in thinking block"}); rest.Tampered != want {
		t.Errorf("@anthropic-ai/bedrock-sdk tampered: %+v, want %+v", rest.Tampered, want)
	}
	if s := rest.Stream; s.Thinking != rest.Anthropic.Thinking || s.Signature != rest.Anthropic.Signature || strings.Join(s.Blocks, ",") != "thinking,text" {
		t.Errorf("@anthropic-ai/bedrock-sdk messages.stream: %+v, want messages.create's thinking", s)
	}
	want = thinkingRefusal{Class: "BadRequestError", Status: 400,
		Message: `"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" and "output_config.effort" to control thinking behavior.`}
	if rest.Enabled != want {
		t.Errorf("@anthropic-ai/bedrock-sdk enabled on Opus 4.7: %+v, want %+v", rest.Enabled, want)
	}
}
