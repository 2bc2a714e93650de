package anthropic

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
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

// FuzzEventFastPath: an event that takes the fast path (passed on as it came) goes out exactly as the long
// way (decoded, checked, re-encoded) would send it, and so does a chunk payload read without JSON.
func FuzzEventFastPath(f *testing.F) {
	for _, s := range []string{
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hello \"there\" \\ x"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a b"}}`,
		`{"type":"content_block_delta", "index":0}`, `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_stop","index":0}`, `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}}`,
		`{"type":"message_delta","amazon-bedrock-invocationMetrics":{"inputTokenCount":1}}`, `{"type":"content_block_delta","index":0`,
		`{"type":"content_block_delta","type":"message_stop"}`, `{"type":"message_start","message":{}}`,
		`{"type":"content_block_delta","index":12,"delta":{"type":"thinking_delta","thinking":"\u00e9\n\/"}}`,
		`{"type":"content_block_delta","index":01,"delta":{"type":"text_delta","text":"x"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\x"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\u12g4"}}`,
		"{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\tb\"}}",
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}} `,
		`{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, ev []byte) {
		got, gotErr := NewStream("claude-fuzz").Event(ev)
		want, wantErr := NewStream("claude-fuzz").decodeEvent(ev)
		if (gotErr == nil) != (wantErr == nil) || len(got) != len(want) {
			t.Fatalf("%q: fast %v %v, long way %v %v", ev, got, gotErr, want, wantErr)
		}
		for i := range got {
			if got[i].Type != want[i].Type || !bytes.Equal(got[i].Data, want[i].Data) {
				t.Fatalf("%q: fast %s %s, long way %s %s", ev, got[i].Type, got[i].Data, want[i].Type, want[i].Data)
			}
		}
		// The chunk around it, read without JSON, gives the same event as the JSON decoder.
		payload, _ := json.Marshal(map[string]string{"bytes": base64.StdEncoding.EncodeToString(ev)})
		s := NewStream("claude-fuzz")
		if dec, ok := s.chunkBytes(payload); ok && !bytes.Equal(dec, ev) {
			t.Fatalf("chunkBytes(%s) = %q, want %q", payload, dec, ev)
		}
	})
}

// decodeObjectByTokens is decodeObject as encoding/json's token reader does it, which it replaced.
func decodeObjectByTokens(data []byte) (*object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errNotObject
	}
	o := &object{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errNotObject
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		o.set(key, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return o, nil
}

// FuzzDecodeObject holds the walk over valid JSON to the token reader: the same members, keys and raw
// values, for any input; an error where it errs.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{`{}`, ` { "a" : 1 , "b":[1,{"c":"}"}], "a":"x\"y" } `, `{"k\u00e9y":null,"t":true}`,
		`{"a":1}{"b":2}`, `[1]`, `{"a":`, `{"a":1,}`, `"s"`, `{"m":{"model":"claude","content":[]}}`, "{\"\xff\":1}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, gerr := decodeObject(data)
		want, werr := decodeObjectByTokens(data)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("%q: walk %v, tokens %v", data, gerr, werr)
		}
		if gerr != nil {
			return
		}
		if len(got.fields) != len(want.fields) {
			t.Fatalf("%q: walk %d members, tokens %d", data, len(got.fields), len(want.fields))
		}
		for i := range got.fields {
			if got.fields[i].key != want.fields[i].key || !bytes.Equal(got.fields[i].value, want.fields[i].value) {
				t.Fatalf("%q: member %d: walk %q=%s, tokens %q=%s", data, i, got.fields[i].key, got.fields[i].value, want.fields[i].key, want.fields[i].value)
			}
		}
	})
}
