package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/google/go-cmp/cmp"
)

var testMeta = Meta{ID: "chatcmpl-test", Model: "claude", Created: time.Unix(1700000000, 0)}

func TestFinishReason(t *testing.T) {
	for stop, want := range map[string]string{
		"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "model_context_window_exceeded": "length",
		"tool_use": "tool_calls", "content_filtered": "content_filter", "guardrail_intervened": "content_filter",
		"malformed_model_output": "stop", "": "stop",
	} {
		if got := FinishReason(stop); got != want {
			t.Errorf("FinishReason(%q) = %q, want %q", stop, got, want)
		}
	}
}

func TestCompletion(t *testing.T) {
	tests := []struct{ name, converse, want string }{
		{
			name:     "text",
			converse: `{"output":{"message":{"role":"assistant","content":[{"text":"Hello"},{"text":" there"}]}},"stopReason":"end_turn","usage":{"inputTokens":5,"outputTokens":2,"totalTokens":7},"metrics":{"latencyMs":9}}`,
			want:     `{"id":"chatcmpl-test","object":"chat.completion","created":1700000000,"model":"claude","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there","refusal":null},"finish_reason":"stop","logprobs":null}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}`,
		},
		{
			name:     "text and a tool call",
			converse: `{"output":{"message":{"role":"assistant","content":[{"text":"Let me look."},{"toolUse":{"toolUseId":"tooluse_1","name":"get_weather","input":{"city": "Tokyo"}}}]}},"stopReason":"tool_use","usage":{"inputTokens":50,"outputTokens":20}}`,
			want:     `{"id":"chatcmpl-test","object":"chat.completion","created":1700000000,"model":"claude","choices":[{"index":0,"message":{"role":"assistant","content":"Let me look.","refusal":null,"tool_calls":[{"id":"tooluse_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Tokyo\"}"}}]},"finish_reason":"tool_calls","logprobs":null}],"usage":{"prompt_tokens":50,"completion_tokens":20,"total_tokens":70}}`,
		},
		{
			name:     "only tool calls: content is null",
			converse: `{"output":{"message":{"role":"assistant","content":[{"toolUse":{"toolUseId":"a","name":"f","input":{}}},{"toolUse":{"toolUseId":"b","name":"g","input":null}}]}},"stopReason":"tool_use","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2}}`,
			want:     `{"id":"chatcmpl-test","object":"chat.completion","created":1700000000,"model":"claude","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":null,"tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}},{"id":"b","type":"function","function":{"name":"g","arguments":"{}"}}]},"finish_reason":"tool_calls","logprobs":null}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`,
		},
		{
			name:     "cut at max tokens, reasoning left out",
			converse: `{"output":{"message":{"role":"assistant","content":[{"reasoningContent":{"reasoningText":{"text":"hmm"}}},{"text":"The an"}]}},"stopReason":"max_tokens","usage":{"inputTokens":3,"outputTokens":2,"totalTokens":5}}`,
			want:     `{"id":"chatcmpl-test","object":"chat.completion","created":1700000000,"model":"claude","choices":[{"index":0,"message":{"role":"assistant","content":"The an","refusal":null},"finish_reason":"length","logprobs":null}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`,
		},
		{
			name:     "guardrail",
			converse: `{"output":{"message":{"role":"assistant","content":[]}},"stopReason":"guardrail_intervened","usage":{"inputTokens":3,"outputTokens":0,"totalTokens":3}}`,
			want:     `{"id":"chatcmpl-test","object":"chat.completion","created":1700000000,"model":"claude","choices":[{"index":0,"message":{"role":"assistant","content":"","refusal":null},"finish_reason":"content_filter","logprobs":null}],"usage":{"prompt_tokens":3,"completion_tokens":0,"total_tokens":3}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Completion([]byte(tt.converse), testMeta)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(c)
			if diff := cmp.Diff(decode(t, tt.want), decode(t, string(got))); diff != "" {
				t.Errorf("chat.completion (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := Completion([]byte(`{"output":{}}`), testMeta); err == nil {
		t.Errorf("a response without a message: got no error")
	}
}

func frame(t *testing.T, messageType, typ string, payload string) []byte {
	t.Helper()
	var m eventstream.Message
	m.Headers.Set(":message-type", eventstream.StringValue(messageType))
	if messageType == "event" {
		m.Headers.Set(":event-type", eventstream.StringValue(typ))
	} else {
		m.Headers.Set(":exception-type", eventstream.StringValue(typ))
	}
	m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	m.Payload = []byte(payload)
	var b bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestStream(t *testing.T) {
	events := []struct{ typ, payload string }{
		{"messageStart", `{"role":"assistant"}`},
		{"contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"Calling"}}`},
		{"contentBlockDelta", `{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"x"}}}`},
		{"contentBlockStop", `{"contentBlockIndex":0}`},
		{"contentBlockStart", `{"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"tooluse_a","name":"f"}}}`},
		{"contentBlockDelta", `{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"a\":"}}}`},
		{"contentBlockDelta", `{"contentBlockIndex":1,"delta":{"toolUse":{"input":"1}"}}}`},
		{"contentBlockStop", `{"contentBlockIndex":1}`},
		{"contentBlockStart", `{"contentBlockIndex":2,"start":{"toolUse":{"toolUseId":"tooluse_b","name":"g"}}}`},
		{"contentBlockDelta", `{"contentBlockIndex":2,"delta":{"toolUse":{"input":"{}"}}}`},
		{"messageStop", `{"stopReason":"tool_use"}`},
		{"metadata", `{"usage":{"inputTokens":10,"outputTokens":4,"totalTokens":14},"metrics":{"latencyMs":3}}`},
	}
	head := `"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude"`
	choice := func(delta, finish string) string {
		return `{` + head + `,"choices":[{"index":0,"delta":` + delta + `,"finish_reason":` + finish + `,"logprobs":null}]}`
	}
	wantChunks := []string{
		choice(`{"role":"assistant","content":""}`, "null"),
		choice(`{"content":"Calling"}`, "null"),
		choice(`{"tool_calls":[{"index":0,"id":"tooluse_a","type":"function","function":{"name":"f","arguments":""}}]}`, "null"),
		choice(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}`, "null"),
		choice(`{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}`, "null"),
		choice(`{"tool_calls":[{"index":1,"id":"tooluse_b","type":"function","function":{"name":"g","arguments":""}}]}`, "null"),
		choice(`{"tool_calls":[{"index":1,"function":{"arguments":"{}"}}]}`, "null"),
		choice(`{}`, `"tool_calls"`),
		`{` + head + `,"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":4,"total_tokens":14}}`,
	}
	for _, includeUsage := range []bool{true, false} {
		t.Run(fmt.Sprintf("include_usage=%v", includeUsage), func(t *testing.T) {
			s := NewStream(testMeta, includeUsage)
			var got []any
			for _, e := range events {
				chunks, err := s.Frame(frame(t, "event", e.typ, e.payload))
				if err != nil {
					t.Fatalf("%s: %v", e.typ, err)
				}
				for _, c := range chunks {
					b, _ := json.Marshal(c)
					got = append(got, decode(t, string(b)))
				}
			}
			var want []any
			for _, w := range wantChunks {
				want = append(want, decode(t, w))
			}
			if !includeUsage {
				want = want[:len(want)-1]
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("chunks (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStreamException(t *testing.T) {
	s := NewStream(testMeta, false)
	_, err := s.Frame(frame(t, "exception", "throttlingException", `{"message":"Too many tokens, please wait before trying again."}`))
	var e *Error
	if !errors.As(err, &e) || e.Status != 429 || e.Code != "ThrottlingException" || e.Type != TypeRateLimit {
		t.Fatalf("got %v, want a 429 ThrottlingException", err)
	}
	var buf bytes.Buffer
	if err := WriteEvent(&buf, e); err != nil {
		t.Fatal(err)
	}
	want := "data: {\"error\":{\"message\":\"Bedrock: Too many tokens, please wait before trying again.\",\"type\":\"rate_limit_error\",\"param\":null,\"code\":\"ThrottlingException\"}}\n\n"
	if buf.String() != want {
		t.Errorf("error event %q, want %q", buf.String(), want)
	}
	if _, err := s.Frame([]byte("garbage that is not a frame")); err == nil {
		t.Errorf("a broken frame: got no error")
	}
}
