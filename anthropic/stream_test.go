package anthropic

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/google/go-cmp/cmp"

	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// frame encodes an event-stream frame as Bedrock sends one.
func frame(t testing.TB, messageType, typ string, payload []byte) []byte {
	t.Helper()
	var m eventstream.Message
	m.Headers.Set(":message-type", eventstream.StringValue(messageType))
	switch messageType {
	case "event":
		m.Headers.Set(":event-type", eventstream.StringValue(typ))
	case "exception":
		m.Headers.Set(":exception-type", eventstream.StringValue(typ))
	}
	m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	m.Payload = payload
	var b bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// chunk is a chunk frame carrying one Anthropic event.
func chunk(t testing.TB, event string) []byte {
	t.Helper()
	payload, _ := json.Marshal(map[string]string{"bytes": base64.StdEncoding.EncodeToString([]byte(event))})
	return frame(t, "event", "chunk", payload)
}

func TestStream(t *testing.T) {
	type sse struct{ Event, Data string }
	tests := []struct {
		name    string
		frames  func(t *testing.T) [][]byte
		want    []sse
		wantErr string // the error event's type, if the stream ends with one
		done    bool
	}{
		{
			name: "a whole answer",
			frames: func(t *testing.T) [][]byte {
				return [][]byte{
					chunk(t, `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"usage":{"input_tokens":5,"output_tokens":1}}}`),
					chunk(t, `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
					chunk(t, "{\"type\": \"content_block_delta\",\n \"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\\nthere\"}}"),
					chunk(t, `{"type":"content_block_stop","index":0}`),
					chunk(t, `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":2}}`),
					chunk(t, `{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":5,"outputTokenCount":2,"invocationLatency":9,"firstByteLatency":3}}`),
				}
			},
			want: []sse{
				{"message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"usage":{"input_tokens":5,"output_tokens":1}}}`},
				{"ping", `{"type":"ping"}`},
				{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
				{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi\nthere"}}`},
				{"content_block_stop", `{"type":"content_block_stop","index":0}`},
				{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":2}}`},
				{"message_stop", `{"type":"message_stop"}`},
			},
			done: true,
		},
		{
			name: "a tool use, and a message_start without a model",
			frames: func(t *testing.T) [][]byte {
				return [][]byte{
					chunk(t, `{"type":"message_start","message":{"id":"msg_2","content":[]}}`),
					chunk(t, `{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}`),
					chunk(t, `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}`),
					frame(t, "event", "somethingNew", []byte(`{}`)),
					chunk(t, `{"type":"content_block_stop","index":0}`),
				}
			},
			want: []sse{
				{"message_start", `{"type":"message_start","message":{"id":"msg_2","content":[],"model":"claude-x"}}`},
				{"ping", `{"type":"ping"}`},
				{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}`},
				{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}`},
				{"content_block_stop", `{"type":"content_block_stop","index":0}`},
			},
		},
		{
			name: "an exception mid-way",
			frames: func(t *testing.T) [][]byte {
				return [][]byte{
					chunk(t, `{"type":"message_start","message":{"model":"m"}}`),
					upstream.ExceptionFrame("modelStreamErrorException", "The upstream stream ended before its last event; the answer is incomplete."),
				}
			},
			want:    []sse{{"message_start", `{"type":"message_start","message":{"model":"m"}}`}, {"ping", `{"type":"ping"}`}},
			wantErr: TypeAPI,
		},
		{
			name: "throttled mid-way",
			frames: func(t *testing.T) [][]byte {
				return [][]byte{frame(t, "exception", "throttlingException", []byte(`{"message":"Too many tokens"}`))}
			},
			wantErr: TypeRateLimit,
		},
		{
			name: "unavailable mid-way: overloaded",
			frames: func(t *testing.T) [][]byte {
				return [][]byte{frame(t, "exception", "serviceUnavailableException", []byte(`{"message":"try later"}`))}
			},
			wantErr: TypeOverloaded,
		},
		{
			name: "a chunk that is not base64",
			frames: func(t *testing.T) [][]byte {
				return [][]byte{frame(t, "event", "chunk", []byte(`{"bytes":"%%%"}`))}
			},
			wantErr: TypeAPI,
		},
		{
			name: "an event whose type cannot be an SSE event name",
			frames: func(t *testing.T) [][]byte {
				return [][]byte{chunk(t, `{"type":"message_start\ndata: x"}`)}
			},
			wantErr: TypeAPI,
		},
		{
			name: "a broken frame",
			frames: func(t *testing.T) [][]byte {
				f := chunk(t, `{"type":"ping"}`)
				f[len(f)-1] ^= 1
				return [][]byte{f}
			},
			wantErr: TypeAPI,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStream("claude-x")
			var out bytes.Buffer
			var gotErr *Error
			for _, f := range tt.frames(t) {
				events, err := s.Frame(f)
				if err != nil {
					if !errors.As(err, &gotErr) {
						t.Fatalf("got %T %v, want an *Error", err, err)
					}
					WriteEvent(&out, gotErr.Event())
					break
				}
				for _, e := range events {
					WriteEvent(&out, e)
				}
			}
			events := parseSSE(t, out.String())
			var got []sse
			for _, e := range events {
				if e.Event != "error" {
					got = append(got, sse{e.Event, e.Data})
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			switch {
			case tt.wantErr == "" && gotErr != nil:
				t.Errorf("got error %v, want none", gotErr)
			case tt.wantErr != "":
				if gotErr == nil || gotErr.Type != tt.wantErr {
					t.Fatalf("got error %v, want type %s", gotErr, tt.wantErr)
				}
				last := events[len(events)-1]
				var body struct {
					Type  string `json:"type"`
					Error struct{ Type, Message string }
				}
				if last.Event != "error" || json.Unmarshal([]byte(last.Data), &body) != nil || body.Type != "error" || body.Error.Type != tt.wantErr || body.Error.Message == "" {
					t.Errorf("last event %+v, want an error event of type %s with a message", last, tt.wantErr)
				}
			}
			if s.Done() != tt.done {
				t.Errorf("Done() = %v, want %v", s.Done(), tt.done)
			}
		})
	}
}

type sseEvent struct{ Event, Data string }

// parseSSE reads server-sent events as the Anthropic SDKs do, failing on anything but `event:` then `data:`
// lines ending in a blank line, with an event name and one line of JSON.
func parseSSE(t testing.TB, s string) []sseEvent {
	t.Helper()
	var out []sseEvent
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<24)
	var cur sseEvent
	state := 0 // 0: want event, 1: want data, 2: want blank
	for sc.Scan() {
		line := sc.Text()
		switch state {
		case 0:
			name, ok := strings.CutPrefix(line, "event: ")
			if !ok || !eventName(name) {
				t.Fatalf("want an event: line, got %q in\n%s", line, s)
			}
			cur.Event = name
		case 1:
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok || !json.Valid([]byte(data)) {
				t.Fatalf("want a data: line of JSON, got %q in\n%s", line, s)
			}
			var typed struct{ Type string }
			if json.Unmarshal([]byte(data), &typed) != nil || typed.Type != cur.Event {
				t.Fatalf("event %s carries data of type %q", cur.Event, typed.Type)
			}
			cur.Data = data
		case 2:
			if line != "" {
				t.Fatalf("want a blank line after an event, got %q", line)
			}
			out = append(out, cur)
			cur = sseEvent{}
		}
		state = (state + 1) % 3
	}
	if state != 0 {
		t.Fatalf("the stream ends inside an event:\n%s", s)
	}
	return out
}

func TestFromBedrock(t *testing.T) {
	tests := []struct {
		status     int
		code       string
		wantStatus int
		wantType   string
		retry      bool
		noRetry    bool
	}{
		{400, "ValidationException", 400, TypeInvalidRequest, false, false},
		{429, "ThrottlingException", 429, TypeRateLimit, true, false},
		{400, "ServiceQuotaExceededException", 429, TypeRateLimit, true, false},
		{403, "AccessDeniedException", 502, TypeAPI, false, true},
		{404, "ResourceNotFoundException", 502, TypeAPI, false, true},
		{503, "ServiceUnavailableException", 529, TypeOverloaded, true, false},
		{429, "ModelNotReadyException", 529, TypeOverloaded, true, false},
		{408, "ModelTimeoutException", 504, TypeTimeout, false, false},
		{500, "InternalServerException", 500, TypeAPI, false, false},
		{424, "ModelErrorException", 500, TypeAPI, false, false},
		{200, "ModelStreamErrorException", 500, TypeAPI, false, false},
		{502, "SomethingNew", 500, TypeAPI, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			e := FromBedrock(tt.status, tt.code, "it said so")
			if e.Status != tt.wantStatus || e.Type != tt.wantType || (e.RetryAfter > 0) != tt.retry || e.NoRetry != tt.noRetry || e.Code != tt.code {
				t.Errorf("got %d %s retry-after %s no-retry %v code %s, want %d %s retry %v no-retry %v",
					e.Status, e.Type, e.RetryAfter, e.NoRetry, e.Code, tt.wantStatus, tt.wantType, tt.retry, tt.noRetry)
			}
			if !strings.Contains(e.Message, "it said so") {
				t.Errorf("message %q drops Bedrock's", e.Message)
			}
		})
	}
	b, _ := json.Marshal(Invalid("max_tokens: Field required"))
	if want := `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}`; string(b) != want {
		t.Errorf("error body %s, want %s", b, want)
	}
	if e := Unauthorized(true); e.Status != 401 || e.Type != TypeAuthentication {
		t.Errorf("Unauthorized: got %+v", e)
	}
}
