package anthropic

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name, body, beta string
		want             string // the InvokeModel body
		stream           bool
		maxTokens        int
	}{
		{
			name:      "model and stream out, anthropic_version in first",
			body:      `{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"hi"}],"stream":false}`,
			want:      `{"anthropic_version":"bedrock-2023-05-31","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`,
			maxTokens: 100,
		},
		{
			name:      "streamed, members kept in their order, whitespace dropped",
			body:      "{\n \"system\": \"be brief\",\n \"model\": \"m\", \"stream\": true,\n \"max_tokens\": 5, \"temperature\": 0.5,\n \"messages\": [ {\"role\": \"user\", \"content\": \"x\"} ],\n \"tools\": [{\"name\":\"f\",\"input_schema\":{\"type\":\"object\"}}], \"tool_choice\": {\"type\":\"auto\"}, \"metadata\": {\"user_id\":\"u\"}}",
			want:      `{"anthropic_version":"bedrock-2023-05-31","system":"be brief","max_tokens":5,"temperature":0.5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"auto"},"metadata":{"user_id":"u"}}`,
			stream:    true,
			maxTokens: 5,
		},
		{
			name:      "a version the body names is kept",
			body:      `{"model":"m","anthropic_version":"bedrock-2023-05-31","max_tokens":1,"messages":[]}`,
			want:      `{"anthropic_version":"bedrock-2023-05-31","max_tokens":1,"messages":[]}`,
			maxTokens: 1,
		},
		{
			name:      "a null version is Bedrock's",
			body:      `{"max_tokens":1,"anthropic_version":null,"model":"m","messages":[]}`,
			want:      `{"anthropic_version":"bedrock-2023-05-31","max_tokens":1,"messages":[]}`,
			maxTokens: 1,
		},
		{
			name:      "anthropic-beta header as a list",
			body:      `{"model":"m","max_tokens":1,"messages":[]}`,
			beta:      "interleaved-thinking-2025-05-14, context-1m-2025-08-07,,",
			want:      `{"anthropic_version":"bedrock-2023-05-31","max_tokens":1,"messages":[],"anthropic_beta":["interleaved-thinking-2025-05-14","context-1m-2025-08-07"]}`,
			maxTokens: 1,
		},
		{
			name:      "header betas after the body's, once each",
			body:      `{"model":"m","anthropic_beta":["a"],"max_tokens":1,"messages":[]}`,
			beta:      "b,a",
			want:      `{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["a","b"],"max_tokens":1,"messages":[]}`,
			maxTokens: 1,
		},
		{
			name:      "service_tier dropped; a member given twice counts once, its last value",
			body:      `{"model":"m","service_tier":"auto","max_tokens":1,"top_k":1,"messages":[],"top_k":2}`,
			want:      `{"anthropic_version":"bedrock-2023-05-31","max_tokens":1,"top_k":2,"messages":[]}`,
			maxTokens: 1,
		},
		{
			name:      "members Bedrock does not take are passed on for Bedrock to refuse",
			body:      `{"model":"m","max_tokens":1,"messages":[],"mcp_servers":[]}`,
			want:      `{"anthropic_version":"bedrock-2023-05-31","max_tokens":1,"messages":[],"mcp_servers":[]}`,
			maxTokens: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRequest([]byte(tt.body), tt.beta)
			if err != nil {
				t.Fatal(err)
			}
			if string(r.Body) != tt.want {
				t.Errorf("body:\n got %s\nwant %s", r.Body, tt.want)
			}
			if r.Stream != tt.stream || r.MaxTokens != tt.maxTokens {
				t.Errorf("got stream %v max_tokens %d, want %v %d", r.Stream, r.MaxTokens, tt.stream, tt.maxTokens)
			}
		})
	}
}

func TestParseRequestRefuses(t *testing.T) {
	tests := []struct{ name, body, inMsg string }{
		{"empty", ``, "empty"},
		{"not JSON", `{"model":`, "not valid JSON"},
		{"not an object", `[1]`, "JSON object"},
		{"trailing data", `{"model":"m","max_tokens":1,"messages":[]} {}`, "not valid JSON"},
		{"no model", `{"max_tokens":1,"messages":[]}`, "model: Field required"},
		{"model not a string", `{"model":5,"max_tokens":1,"messages":[]}`, "model: Input should be a valid string"},
		{"blank model", `{"model":" ","max_tokens":1,"messages":[]}`, "model: String should have at least 1 character"},
		{"no max_tokens", `{"model":"m","messages":[]}`, "max_tokens: Field required"},
		{"max_tokens not a number", `{"model":"m","max_tokens":"5","messages":[]}`, "max_tokens: Input should be a valid integer"},
		{"no messages", `{"model":"m","max_tokens":1}`, "messages: Field required"},
		{"stream not a boolean", `{"model":"m","max_tokens":1,"messages":[],"stream":"yes"}`, "stream: Input should be a valid boolean"},
		{"version not a string", `{"model":"m","max_tokens":1,"messages":[],"anthropic_version":1}`, "anthropic_version"},
		{"betas not strings", `{"model":"m","max_tokens":1,"messages":[],"anthropic_beta":"x"}`, "anthropic_beta"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRequest([]byte(tt.body), "")
			var e *Error
			if !errors.As(err, &e) || e.Status != 400 || e.Type != TypeInvalidRequest {
				t.Fatalf("got %v, want a 400 invalid_request_error", err)
			}
			if !strings.Contains(e.Message, tt.inMsg) {
				t.Errorf("message %q should mention %q", e.Message, tt.inMsg)
			}
		})
	}
}

func TestParseCountTokens(t *testing.T) {
	tests := []struct{ name, body, beta, wantInvoke string }{
		{
			name:       "max_tokens added",
			body:       `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}],"system":"s"}`,
			wantInvoke: `{"anthropic_version":"bedrock-2023-05-31","messages":[{"role":"user","content":"hi"}],"system":"s","max_tokens":1}`,
		},
		{
			name:       "above a thinking budget",
			body:       `{"model":"m","messages":[],"thinking":{"type":"enabled","budget_tokens":2048}}`,
			beta:       "interleaved-thinking-2025-05-14",
			wantInvoke: `{"anthropic_version":"bedrock-2023-05-31","messages":[],"thinking":{"type":"enabled","budget_tokens":2048},"max_tokens":2049,"anthropic_beta":["interleaved-thinking-2025-05-14"]}`,
		},
		{
			name:       "max_tokens and stream as sent",
			body:       `{"model":"m","max_tokens":7,"stream":true,"messages":[]}`,
			wantInvoke: `{"anthropic_version":"bedrock-2023-05-31","max_tokens":7,"messages":[]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseCountTokens([]byte(tt.body), tt.beta)
			if err != nil {
				t.Fatal(err)
			}
			var ct struct {
				Input struct {
					InvokeModel struct {
						Body string `json:"body"`
					} `json:"invokeModel"`
				} `json:"input"`
			}
			if err := json.Unmarshal(r.Body, &ct); err != nil {
				t.Fatalf("CountTokens body %s: %v", r.Body, err)
			}
			inner, err := base64.StdEncoding.DecodeString(ct.Input.InvokeModel.Body)
			if err != nil {
				t.Fatalf("input.invokeModel.body is not base64: %v", err)
			}
			if string(inner) != tt.wantInvoke {
				t.Errorf("invoke body:\n got %s\nwant %s", inner, tt.wantInvoke)
			}
			if r.Stream {
				t.Errorf("count_tokens is never a stream")
			}
		})
	}
	if _, err := ParseCountTokens([]byte(`{"model":"m"}`), ""); err == nil || !strings.Contains(err.Error(), "messages: Field required") {
		t.Errorf("no messages: got %v, want messages: Field required", err)
	}
}

func TestMessage(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"passed on as it came", `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[]}`,
			`{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[]}`},
		{"model added", `{"id":"msg_1","type":"message","content":[]}`, `{"id":"msg_1","type":"message","content":[],"model":"claude-sonnet-4-5"}`},
		{"empty model named", `{"model":"","content":[]}`, `{"model":"claude-sonnet-4-5","content":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Message([]byte(tt.body), "claude-sonnet-4-5")
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	if _, err := Message([]byte(`not json`), "m"); err == nil {
		t.Errorf("a body that is not JSON: got no error")
	}
}

func TestCountTokens(t *testing.T) {
	n, err := CountTokens([]byte(`{"inputTokens":42}`))
	if err != nil || n.InputTokens != 42 {
		t.Errorf("got %+v, %v, want 42", n, err)
	}
	got, _ := json.Marshal(n)
	if diff := cmp.Diff(`{"input_tokens":42}`, string(got)); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
	if _, err := CountTokens([]byte(`{}`)); err == nil {
		t.Errorf("an answer without inputTokens: got no error")
	}
}
