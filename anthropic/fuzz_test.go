package anthropic

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// FuzzStream feeds arbitrary bytes to a Stream three ways: as a raw frame, as the payload of a chunk frame,
// and as the Anthropic event inside a chunk. Nothing panics, every refusal is an *Error, and what goes out
// (events, then an error event if the stream failed) is well-formed SSE: an event name Anthropic could use,
// one line of JSON whose type is the event's, a blank line.
func FuzzStream(f *testing.F) {
	for _, s := range []string{
		`{"type":"message_start","message":{"id":"m","content":[]}}`,
		`{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":1}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\nb\r\n\u2028"}}`,
		`{"type":"error","error":{"type":"overloaded_error","message":"x"}}`,
		`{"type":"x\ny"}`, `{"type":""}`, `{"type":1}`, `{"bytes":"e30="}`, `[]`, `{`, ``, "\x00\x00\x00\x10",
	} {
		f.Add([]byte(s))
	}
	f.Add(upstream.ExceptionFrame("throttlingException", "slow down"))
	f.Fuzz(func(t *testing.T, data []byte) {
		chunkPayload, _ := json.Marshal(map[string]string{"bytes": base64.StdEncoding.EncodeToString(data)})
		for _, fr := range [][]byte{data, frame(t, "event", "chunk", data), frame(t, "event", "chunk", chunkPayload)} {
			s := NewStream("claude-fuzz")
			var out bytes.Buffer
			events, err := s.Frame(fr)
			for _, e := range events {
				if err := WriteEvent(&out, e); err != nil {
					t.Fatal(err)
				}
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("got %T %v, want an *Error", err, err)
				}
				if len(events) > 0 {
					t.Fatalf("events and an error at once")
				}
				WriteEvent(&out, e.Event())
			}
			for _, e := range parseSSE(t, out.String()) {
				if bytes.Contains([]byte(e.Data), []byte(metricsKey)) && e.Event == "message_stop" {
					t.Fatalf("message_stop still carries %s: %s", metricsKey, e.Data)
				}
			}
		}
	})
}

// FuzzParseRequest: no body panics; a refusal is a 400 invalid_request_error; an accepted body is a JSON
// object without model or stream, naming an anthropic_version.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","stream":true,"max_tokens":1,"messages":[],"anthropic_beta":["a"],"model":"n"}`,
		`{"model":"m","max_tokens":1e400,"messages":[]}`, `{"model":null}`, `[]`, `{`, ``,
	} {
		f.Add([]byte(s), "a,b")
	}
	f.Fuzz(func(t *testing.T, body []byte, beta string) {
		for _, parse := range []func([]byte, string) (*Request, error){ParseRequest, ParseCountTokens} {
			r, err := parse(body, beta)
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || e.Status != 400 || e.Type != TypeInvalidRequest || e.Message == "" {
					t.Fatalf("got %v, want a 400 invalid_request_error with a message", err)
				}
				continue
			}
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(r.Body, &obj); err != nil {
				t.Fatalf("the Bedrock body %s is not a JSON object: %v", r.Body, err)
			}
			if _, ok := obj["input"]; ok && len(obj) == 1 {
				continue // CountTokens
			}
			if _, ok := obj["model"]; ok {
				t.Fatalf("model left in %s", r.Body)
			}
			if _, ok := obj["stream"]; ok {
				t.Fatalf("stream left in %s", r.Body)
			}
			if _, ok := obj["anthropic_version"]; !ok {
				t.Fatalf("no anthropic_version in %s", r.Body)
			}
		}
	})
}
