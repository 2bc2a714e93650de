package sandbox

import (
	"encoding/base64"
	"encoding/json"
	"testing"
)

// The parsers take untrusted bodies: whatever the input, they return a conversation or a ValidationException,
// and what they accept must carry through generateReply and every response writer without a panic.

func fuzzReply(t *testing.T, c conversation) {
	r := replyWithThinking(c, testServedBy)
	if r.OutputTokens > max(c.MaxTokens, 1) {
		t.Fatalf("output tokens %d > max %d", r.OutputTokens, c.MaxTokens)
	}
	for _, b := range [][]byte{invokeResponseBody(claudeModel, r, testServedBy), invokeResponseBody(novaModel, r, testServedBy),
		converseResponseBody(r, 1)} {
		if !json.Valid(b) {
			t.Fatalf("invalid response JSON: %s", b)
		}
	}
	for _, e := range append(invokeStreamEvents(claudeModel, r, testServedBy, 1, 2), converseStreamEvents(r, 2)...) {
		if !json.Valid(e.Payload) {
			t.Fatalf("invalid event JSON: %s", e.Payload)
		}
	}
}

func checkParseResult(t *testing.T, c conversation, err *awsError) {
	if err != nil {
		if err.Code != "ValidationException" || err.Status != 400 || err.Message == "" {
			t.Fatalf("error: %+v", err)
		}
		return
	}
	if len(c.Messages) == 0 || c.Messages[0].Role != "user" || c.MaxTokens < 1 {
		t.Fatalf("accepted an invalid conversation: %+v", c)
	}
	fuzzReply(t, c)
}

func FuzzParseInvokeBody(f *testing.F) {
	f.Add(true, []byte(anthropicToolBody))
	f.Add(true, []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"words:50 東京"}],"stop_sequences":["the"]}`))
	f.Add(true, []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":100,"messages":[{"role":"user","content":"use a tool"}],"tools":[{"name":"t","input_schema":{"type":"object","properties":{"a":{"type":"array","items":{"type":"object","required":["b"]}}},"required":["a"]}}],"tool_choice":{"type":"any"}}`))
	f.Add(false, []byte(`{"schemaVersion":"messages-v1","messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"max_new_tokens":5}}`))
	f.Add(true, []byte(`{"max_tokens":1e99,"stream":true}`))
	f.Add(true, []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":1500,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"think:2000 redacted thinking"}]}`))
	f.Add(true, []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"thinking":{"type":"enabled","budget_tokens":"x"},"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"thinking","thinking":1,"signature":null},{"type":"redacted_thinking"}]}]}`))
	f.Fuzz(func(t *testing.T, anthropic bool, body []byte) {
		m := novaModel
		if anthropic {
			m = claudeModel
		}
		c, err := parseInvokeBody(m, body)
		checkParseResult(t, c, err)
		ct, err := parseCountTokensBody(m, []byte(`{"input":{"invokeModel":{"body":"`+base64.StdEncoding.EncodeToString(body)+`"}}}`))
		if err == nil && ct.inputTokens() != c.inputTokens() {
			t.Fatalf("CountTokens %d, InvokeModel %d", ct.inputTokens(), c.inputTokens())
		}
	})
}

func FuzzParseConverseBody(f *testing.F) {
	f.Add([]byte(converseToolBody))
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"text":"hello words:20"}]}],"inferenceConfig":{"maxTokens":5,"stopSequences":["a"]}}`))
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"text":"call get"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"get","inputSchema":{"json":{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}}}}],"toolChoice":{"auto":{}}}}`))
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"image":{"format":"png","source":{"bytes":"` + pngBase64 + `"}}}]}]}`))
	f.Add([]byte(`{"messages":null,"system":[{"text":""}]}`))
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"text":"a"}]},{"role":"assistant","content":[{"reasoningContent":{"reasoningText":{"text":"t","signature":"s"},"redactedContent":"eA=="}}]}],"additionalModelRequestFields":{"thinking":{"type":"adaptive"}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := parseConverseBody(body)
		checkParseResult(t, c, err)
		var obj map[string]json.RawMessage
		if json.Unmarshal(body, &obj) == nil {
			wrapped, _ := json.Marshal(map[string]any{"input": map[string]any{"converse": obj}})
			ct, err := parseCountTokensBody(claudeModel, wrapped)
			if err == nil {
				fuzzReply(t, ct)
			}
		}
	})
}
