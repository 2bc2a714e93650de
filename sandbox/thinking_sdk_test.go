package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

func thinkingFields(extra map[string]any) document.Interface {
	f := map[string]any{"thinking": map[string]any{"type": "enabled", "budget_tokens": 1024}}
	for k, v := range extra {
		f[k] = v
	}
	return document.NewLazyDocument(f)
}

// wantValidation checks that err is Bedrock's 400 ValidationException, as the Go SDK types it, with msg.
func wantValidation(t *testing.T, err error, msg string) {
	t.Helper()
	var ve *brtypes.ValidationException
	if !errors.As(err, &ve) || httpStatus(err) != 400 || ve.ErrorMessage() != msg {
		t.Fatalf("got %v (status %d), want 400 *types.ValidationException %q", err, httpStatus(err), msg)
	}
}

// Converse and ConverseStream with thinking, read through the Go SDK's types: the reasoningContent blocks, a
// signed block sent back and accepted, a tampered one refused.
func TestThinkingConverseThroughSDK(t *testing.T) {
	ctx := context.Background()
	_, c, _ := bedrockEnv(t)
	ask := userText("Think about Osaka, with redacted thinking")
	in := &bedrockruntime.ConverseInput{ModelId: aws.String(sandbox.SeedProfile), Messages: ask,
		InferenceConfig: &brtypes.InferenceConfiguration{MaxTokens: aws.Int32(2048)}, AdditionalModelRequestFields: thinkingFields(nil)}
	out, err := c.Converse(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	msg := out.Output.(*brtypes.ConverseOutputMemberMessage).Value
	if len(msg.Content) != 3 {
		t.Fatalf("content %#v, want thinking, redacted thinking and text", msg.Content)
	}
	rc, ok := msg.Content[0].(*brtypes.ContentBlockMemberReasoningContent)
	if !ok {
		t.Fatalf("first block %T, want *types.ContentBlockMemberReasoningContent", msg.Content[0])
	}
	rt, ok := rc.Value.(*brtypes.ReasoningContentBlockMemberReasoningText)
	if !ok || !strings.Contains(aws.ToString(rt.Value.Text), "Osaka") || aws.ToString(rt.Value.Signature) == "" {
		t.Fatalf("reasoning %#v, want a text about the prompt and a signature", rc.Value)
	}
	red, ok := msg.Content[1].(*brtypes.ContentBlockMemberReasoningContent).Value.(*brtypes.ReasoningContentBlockMemberRedactedContent)
	if !ok || len(red.Value) < 40 {
		t.Fatalf("second block %#v, want redacted content", msg.Content[1])
	}
	text := msg.Content[2].(*brtypes.ContentBlockMemberText).Value
	if !strings.Contains(text, "Osaka") || aws.ToInt32(out.Usage.OutputTokens) <= int32(len(strings.Fields(text))) {
		t.Errorf("answer %q with %d output tokens, want the prompt and the thinking's tokens counted", text, aws.ToInt32(out.Usage.OutputTokens))
	}

	// The assistant's message as it came, sent back: accepted.
	again := append(append([]brtypes.Message{}, ask...), msg, userText("And now?")[0])
	in.Messages = again
	if _, err := c.Converse(ctx, in); err != nil {
		t.Fatalf("the signed blocks sent back: %v", err)
	}
	// Tampered: the text edited, then the redacted content, then the signature dropped.
	tampered := msg
	tampered.Content = append([]brtypes.ContentBlock{}, msg.Content...)
	edited := rt.Value
	edited.Text = aws.String(aws.ToString(edited.Text) + " And Kyoto.")
	tampered.Content[0] = &brtypes.ContentBlockMemberReasoningContent{Value: &brtypes.ReasoningContentBlockMemberReasoningText{Value: edited}}
	in.Messages = []brtypes.Message{ask[0], tampered, userText("And now?")[0]}
	_, err = c.Converse(ctx, in)
	wantValidation(t, err, "The model returned the following errors: messages.1.content.0: Invalid signature in thinking block")

	tampered.Content[0] = msg.Content[0]
	bad := append([]byte{}, red.Value...)
	bad[len(bad)-1] ^= 1
	tampered.Content[1] = &brtypes.ContentBlockMemberReasoningContent{Value: &brtypes.ReasoningContentBlockMemberRedactedContent{Value: bad}}
	_, err = c.Converse(ctx, in)
	wantValidation(t, err, "The model returned the following errors: messages.1.content.1: Invalid data in redacted_thinking block")

	unsigned := rt.Value
	unsigned.Signature = nil
	tampered.Content[0] = &brtypes.ContentBlockMemberReasoningContent{Value: &brtypes.ReasoningContentBlockMemberReasoningText{Value: unsigned}}
	tampered.Content[1] = msg.Content[1]
	_, err = c.Converse(ctx, in)
	wantValidation(t, err, "The model returned the following errors: messages.1.content.0.thinking.signature: Field required")

	// ConverseStream: reasoningContent deltas, text then signature, then the redacted block, then the answer.
	st, err := c.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: in.ModelId, Messages: ask,
		InferenceConfig: in.InferenceConfig, AdditionalModelRequestFields: thinkingFields(nil)})
	if err != nil {
		t.Fatal(err)
	}
	var thought, signature, streamed strings.Builder
	var redacted []byte
	for ev := range st.GetStream().Events() {
		d, ok := ev.(*brtypes.ConverseStreamOutputMemberContentBlockDelta)
		if !ok {
			continue
		}
		switch v := d.Value.Delta.(type) {
		case *brtypes.ContentBlockDeltaMemberReasoningContent:
			switch r := v.Value.(type) {
			case *brtypes.ReasoningContentBlockDeltaMemberText:
				thought.WriteString(r.Value)
			case *brtypes.ReasoningContentBlockDeltaMemberSignature:
				signature.WriteString(r.Value)
			case *brtypes.ReasoningContentBlockDeltaMemberRedactedContent:
				redacted = r.Value
			}
		case *brtypes.ContentBlockDeltaMemberText:
			streamed.WriteString(v.Value)
		}
	}
	if err := st.GetStream().Err(); err != nil {
		t.Fatal(err)
	}
	st.GetStream().Close()
	if thought.String() != aws.ToString(rt.Value.Text) || signature.String() != aws.ToString(rt.Value.Signature) ||
		string(redacted) != string(red.Value) || !strings.Contains(streamed.String(), "Osaka") { // the answer names the region, which round-robin changes
		t.Errorf("stream: thinking %q, signature %q, %d redacted bytes, text %q; want Converse's", thought.String(), signature.String(), len(redacted), streamed.String())
	}
}

type thinkingAnswer struct {
	Content []map[string]any `json:"content"`
	Usage   struct {
		OutputTokens int `json:"output_tokens"`
	} `json:"usage"`
}

// InvokeModel and its stream with thinking through the Go SDK, and the history round trip.
func TestThinkingInvokeModelThroughSDK(t *testing.T) {
	ctx := context.Background()
	_, c, _ := bedrockEnv(t)
	const ask = `{"role":"user","content":"Think about Nagoya"}`
	body := func(msgs string) []byte {
		return []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[` + msgs + `]}`)
	}
	out, err := c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile), Body: body(ask), ContentType: aws.String("application/json")})
	if err != nil {
		t.Fatal(err)
	}
	var a thinkingAnswer
	if err := json.Unmarshal(out.Body, &a); err != nil || len(a.Content) != 2 || a.Content[0]["type"] != "thinking" || a.Content[1]["type"] != "text" {
		t.Fatalf("body %s, want a thinking block then text", out.Body)
	}
	thought, _ := a.Content[0]["thinking"].(string)
	sig, _ := a.Content[0]["signature"].(string)
	if !strings.Contains(thought, "Nagoya") || sig == "" {
		t.Fatalf("thinking block %v", a.Content[0])
	}
	content, _ := json.Marshal(a.Content)
	next := ask + `,{"role":"assistant","content":` + string(content) + `},{"role":"user","content":"And now?"}`
	if _, err := c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile), Body: body(next)}); err != nil {
		t.Fatalf("the signed block sent back: %v", err)
	}
	tampered := strings.Replace(next, "Nagoya", "Kobe", 2) // the prompt and the thinking that quotes it
	_, err = c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile), Body: body(tampered)})
	wantValidation(t, err, "messages.1.content.0: Invalid signature in thinking block")

	st, err := c.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: aws.String(sandbox.SeedProfile), Body: body(ask)})
	if err != nil {
		t.Fatal(err)
	}
	var thinking, signature strings.Builder
	var starts []string
	for ev := range st.GetStream().Events() {
		ch, ok := ev.(*brtypes.ResponseStreamMemberChunk)
		if !ok {
			continue
		}
		var e struct {
			Type         string
			ContentBlock struct{ Type string } `json:"content_block"`
			Delta        struct{ Type, Thinking, Signature string }
		}
		json.Unmarshal(ch.Value.Bytes, &e)
		switch {
		case e.Type == "content_block_start":
			starts = append(starts, e.ContentBlock.Type)
		case e.Delta.Type == "thinking_delta":
			thinking.WriteString(e.Delta.Thinking)
		case e.Delta.Type == "signature_delta":
			signature.WriteString(e.Delta.Signature)
		}
	}
	if err := st.GetStream().Err(); err != nil {
		t.Fatal(err)
	}
	st.GetStream().Close()
	if strings.Join(starts, ",") != "thinking,text" || thinking.String() != thought || signature.String() != sig {
		t.Errorf("stream: blocks %v, thinking %q, signature %q; want InvokeModel's", starts, thinking.String(), signature.String())
	}
}

// Each thinking rule's refusal through the Go SDK: the exception type, 400 and the message, on InvokeModel and
// on Converse (with "The model returned the following errors: ").
func TestThinkingRefusalsThroughSDK(t *testing.T) {
	ctx := context.Background()
	_, c, _ := bedrockEnv(t)
	const hi = `"messages":[{"role":"user","content":"hi"}]`
	invoke := []struct{ name, model, body, want string }{
		{"budget", sandbox.SeedProfile, `{"anthropic_version":"bedrock-2023-05-31","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":512},` + hi + `}`,
			"thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"},
		{"max_tokens", sandbox.SeedProfile, `{"anthropic_version":"bedrock-2023-05-31","max_tokens":1024,"thinking":{"type":"enabled","budget_tokens":1024},` + hi + `}`,
			"`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"},
		{"temperature", sandbox.SeedProfile, `{"anthropic_version":"bedrock-2023-05-31","max_tokens":2048,"temperature":0.7,"thinking":{"type":"enabled","budget_tokens":1024},` + hi + `}`,
			"`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#important-considerations-when-using-extended-thinking"},
		{"top_k", sandbox.SeedProfile, `{"anthropic_version":"bedrock-2023-05-31","max_tokens":2048,"top_k":3,"thinking":{"type":"enabled","budget_tokens":1024},` + hi + `}`,
			"`top_k` must be unset when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#important-considerations-when-using-extended-thinking"},
		{"top_p", sandbox.SeedProfile, `{"anthropic_version":"bedrock-2023-05-31","max_tokens":2048,"top_p":0.5,"thinking":{"type":"enabled","budget_tokens":1024},` + hi + `}`,
			"top_p must be unset when thinking is enabled."},
		{"unsigned history", sandbox.SeedProfile, `{"anthropic_version":"bedrock-2023-05-31","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[` +
			`{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"thinking","thinking":"x","signature":"forged"},{"type":"text","text":"Hello"}]},{"role":"user","content":"again"}]}`,
			"messages.1.content.0: Invalid signature in thinking block"},
		{"enabled on Opus 4.7", "jp.anthropic.claude-opus-4-7", `{"anthropic_version":"2026-10-21","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},` + hi + `}`,
			`"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" and "output_config.effort" to control thinking behavior.`},
	}
	for _, tt := range invoke {
		t.Run("InvokeModel "+tt.name, func(t *testing.T) {
			_, err := c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(tt.model), Body: []byte(tt.body), ContentType: aws.String("application/json")})
			wantValidation(t, err, tt.want)
		})
	}

	tools := &brtypes.ToolConfiguration{Tools: []brtypes.Tool{&brtypes.ToolMemberToolSpec{Value: brtypes.ToolSpecification{Name: aws.String("get"),
		InputSchema: &brtypes.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(map[string]any{"type": "object"})}}}},
		ToolChoice: &brtypes.ToolChoiceMemberAny{}}
	converse := []struct {
		name   string
		fields document.Interface
		max    int32
		temp   *float32
		tools  *brtypes.ToolConfiguration
		model  string
		want   string
	}{
		{"an unknown field", document.NewLazyDocument(map[string]any{"reasoning": map[string]any{"effort": "high"}}), 2048, nil, nil, sandbox.SeedProfile,
			"The model returned the following errors: reasoning: Extra inputs are not permitted"},
		{"a made-up beta", document.NewLazyDocument(map[string]any{"anthropic_beta": []string{"made-up-2099-01-01"}}), 2048, nil, nil, sandbox.SeedProfile,
			"The model returned the following errors: invalid beta flag"},
		{"budget", document.NewLazyDocument(map[string]any{"thinking": map[string]any{"type": "enabled", "budget_tokens": 100}}), 2048, nil, nil, sandbox.SeedProfile,
			"The model returned the following errors: thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"},
		{"maxTokens", thinkingFields(nil), 1000, nil, nil, sandbox.SeedProfile,
			"The model returned the following errors: `max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"},
		{"temperature", thinkingFields(nil), 2048, aws.Float32(0.3), nil, sandbox.SeedProfile,
			"The model returned the following errors: `temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#important-considerations-when-using-extended-thinking"},
		{"top_k", thinkingFields(map[string]any{"top_k": 10}), 2048, nil, nil, sandbox.SeedProfile,
			"The model returned the following errors: `top_k` must be unset when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#important-considerations-when-using-extended-thinking"},
		{"forced tool", thinkingFields(nil), 2048, nil, tools, sandbox.SeedProfile,
			"The model returned the following errors: Thinking may not be enabled when tool_choice forces tool use."},
		{"adaptive on Sonnet 4.5", document.NewLazyDocument(map[string]any{"thinking": map[string]any{"type": "adaptive"}}), 2048, nil, nil, sandbox.SeedProfile,
			"The model returned the following errors: adaptive thinking is not supported on this model"},
	}
	for _, tt := range converse {
		t.Run("Converse "+tt.name, func(t *testing.T) {
			_, err := c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(tt.model), Messages: userText("hi"), AdditionalModelRequestFields: tt.fields,
				InferenceConfig: &brtypes.InferenceConfiguration{MaxTokens: aws.Int32(tt.max), Temperature: tt.temp}, ToolConfig: tt.tools})
			wantValidation(t, err, tt.want)
		})
	}
}
