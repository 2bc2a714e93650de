package sandbox_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// TestStopReasons reaches every StopReason of the service model through Converse and ConverseStream, as the
// SDK parses them: the ordinary ones the ordinary way, the others by a stop directive. guardrail_intervened is
// a guardrail's to give (the guardrail tests), never a directive's.
func TestStopReasons(t *testing.T) {
	ctx := context.Background()
	_, c, _, _ := outputEnv(t)
	schema := brtypes.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(map[string]any{"type": "object"})}
	tools := &brtypes.ToolConfiguration{Tools: []brtypes.Tool{&brtypes.ToolMemberToolSpec{Value: brtypes.ToolSpecification{Name: aws.String("search"), InputSchema: &schema}}}}
	tests := []struct {
		want   brtypes.StopReason
		prompt string
		inf    *brtypes.InferenceConfiguration
		tools  *brtypes.ToolConfiguration
	}{
		{brtypes.StopReasonEndTurn, "hello", nil, nil},
		{brtypes.StopReasonToolUse, "use search", nil, tools},
		{brtypes.StopReasonMaxTokens, "long answer", &brtypes.InferenceConfiguration{MaxTokens: aws.Int32(5)}, nil},
		{brtypes.StopReasonStopSequence, "hello", &brtypes.InferenceConfiguration{StopSequences: []string{"You said"}}, nil},
		{brtypes.StopReasonContentFiltered, "tell me stop:content_filtered", nil, nil},
		{brtypes.StopReasonContentFiltered, "stop:refusal", nil, nil},
		{brtypes.StopReasonMalformedModelOutput, "stop:malformed_model_output", nil, nil},
		{brtypes.StopReasonMalformedToolUse, "use search stop:malformed_tool_use", nil, tools},
		{brtypes.StopReasonModelContextWindowExceeded, "stop:model_context_window_exceeded", nil, nil},
		{brtypes.StopReasonEndTurn, "stop:pause_turn", nil, nil},
	}
	covered := map[brtypes.StopReason]bool{brtypes.StopReasonGuardrailIntervened: true}
	for _, tt := range tests {
		covered[tt.want] = true
		out, err := c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(sandbox.SeedProfile), Messages: userText(tt.prompt),
			InferenceConfig: tt.inf, ToolConfig: tt.tools})
		if err != nil {
			t.Fatalf("%q: %v", tt.prompt, err)
		}
		if out.StopReason != tt.want {
			t.Errorf("Converse %q: stopReason %q, want %q", tt.prompt, out.StopReason, tt.want)
		}
		if tt.want == brtypes.StopReasonMalformedToolUse {
			for _, b := range out.Output.(*brtypes.ConverseOutputMemberMessage).Value.Content {
				if _, ok := b.(*brtypes.ContentBlockMemberToolUse); ok {
					t.Errorf("malformed_tool_use with a toolUse block: Bedrock drops the malformed call")
				}
			}
		}
		st, err := c.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String(sandbox.SeedProfile), Messages: userText(tt.prompt),
			InferenceConfig: tt.inf, ToolConfig: tt.tools})
		if err != nil {
			t.Fatalf("stream %q: %v", tt.prompt, err)
		}
		var stop brtypes.StopReason
		for ev := range st.GetStream().Events() {
			if m, ok := ev.(*brtypes.ConverseStreamOutputMemberMessageStop); ok {
				stop = m.Value.StopReason
			}
		}
		if stop != tt.want {
			t.Errorf("ConverseStream %q: stopReason %q, want %q", tt.prompt, stop, tt.want)
		}
	}
	for _, v := range brtypes.StopReason("").Values() {
		if !covered[v] {
			t.Errorf("StopReason %q is not reached by any case", v)
		}
	}
}

// TestStopDirectivesInvokeModel checks each directive in the Anthropic and Nova bodies, streamed and not.
func TestStopDirectivesInvokeModel(t *testing.T) {
	ctx := context.Background()
	_, c, _, _ := outputEnv(t)
	tests := []struct{ directive, anthropic, nova string }{
		{"content_filtered", "refusal", "content_filtered"},
		{"refusal", "refusal", "content_filtered"},
		{"malformed_model_output", "end_turn", "malformed_model_output"},
		{"malformed_tool_use", "end_turn", "malformed_tool_use"},
		{"model_context_window_exceeded", "model_context_window_exceeded", "model_context_window_exceeded"},
		{"pause_turn", "pause_turn", "end_turn"},
	}
	for _, tt := range tests {
		prompt := "please stop:" + tt.directive
		anth := `{"anthropic_version":"bedrock-2023-05-31","max_tokens":100,"messages":[{"role":"user","content":"` + prompt + `"}]}`
		out, err := c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile), Body: []byte(anth), ContentType: aws.String("application/json")})
		if err != nil {
			t.Fatal(err)
		}
		var a anthropicAnswer
		must(t, json.Unmarshal(out.Body, &a))
		if a.StopReason != tt.anthropic {
			t.Errorf("InvokeModel stop:%s: stop_reason %q, want %q", tt.directive, a.StopReason, tt.anthropic)
		}
		st, err := c.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: aws.String(sandbox.SeedProfile), Body: []byte(anth), ContentType: aws.String("application/json")})
		if err != nil {
			t.Fatal(err)
		}
		var streamed string
		for ev := range st.GetStream().Events() {
			if ch, ok := ev.(*brtypes.ResponseStreamMemberChunk); ok {
				var e struct {
					Type  string
					Delta struct {
						StopReason string `json:"stop_reason"`
					}
				}
				must(t, json.Unmarshal(ch.Value.Bytes, &e))
				if e.Type == "message_delta" {
					streamed = e.Delta.StopReason
				}
			}
		}
		if streamed != tt.anthropic {
			t.Errorf("InvokeModelWithResponseStream stop:%s: stop_reason %q, want %q", tt.directive, streamed, tt.anthropic)
		}

		nova := `{"messages":[{"role":"user","content":[{"text":"` + prompt + `"}]}]}`
		out, err = c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String("amazon.nova-pro-v1:0"), Body: []byte(nova), ContentType: aws.String("application/json")})
		if err != nil {
			t.Fatal(err)
		}
		var n struct {
			StopReason string `json:"stopReason"`
		}
		must(t, json.Unmarshal(out.Body, &n))
		if n.StopReason != tt.nova {
			t.Errorf("Nova stop:%s: stopReason %q, want %q", tt.directive, n.StopReason, tt.nova)
		}
	}
}
