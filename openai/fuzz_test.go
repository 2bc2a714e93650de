package openai

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzParseRequest: no input panics; a refusal is a 400 naming the field at fault (unless the body is not a
// JSON object at all); an accepted request is a Converse body Bedrock's structural rules accept.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","stream":true,"stream_options":{"include_usage":true},"max_tokens":5,"stop":"x","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:image/png;base64,` + png1x1 + `"}}]}]}`,
		`{"model":"m","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":{"type":"function","function":{"name":"f"}},"messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"c","content":"r"}]}`,
		`{"model":"m","n":2,"messages":[]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x"}}]}]}`,
		`{"model":"m","messages":[{"role":"assistant","content":null},{"role":"tool"}]}`,
		`{"model":"m","temperature":1e400,"messages":[{"role":"user","content":"x"}]}`,
		`[]`, `null`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseRequest(body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %T %v, want an *Error", err, err)
			}
			if e.Status != 400 || e.Type != TypeInvalidRequest || e.Message == "" {
				t.Fatalf("got %+v, want a 400 invalid_request_error with a message", e)
			}
			var obj map[string]json.RawMessage
			if json.Unmarshal(body, &obj) == nil && obj != nil && e.Param == "" {
				t.Fatalf("refusal of a JSON object names no param: %+v", e)
			}
			return
		}
		var c converseRequest
		if err := json.Unmarshal(r.Body, &c); err != nil {
			t.Fatalf("the Converse body is not JSON: %v", err)
		}
		if r.Model == "" || len(c.Messages) == 0 || c.Messages[0].Role != "user" {
			t.Fatalf("accepted a request without a model or starting without a user message: %s", r.Body)
		}
		for i, m := range c.Messages {
			if len(m.Content) == 0 {
				t.Fatalf("message %d is empty: %s", i, r.Body)
			}
			if i > 0 && m.Role == c.Messages[i-1].Role {
				t.Fatalf("messages %d and %d are both %s: %s", i-1, i, m.Role, r.Body)
			}
			for _, b := range m.Content {
				n := 0
				for _, set := range []bool{b.Text != nil, b.Image != nil, b.ToolUse != nil, b.ToolResult != nil} {
					if set {
						n++
					}
				}
				if n != 1 {
					t.Fatalf("a content block sets %d members: %s", n, r.Body)
				}
			}
		}
	})
}
