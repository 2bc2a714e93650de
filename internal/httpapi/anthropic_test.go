package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/internal/httpapi"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// These tests drive the Anthropic Messages API (/v1/messages) through the handler Build makes, in front of a
// router over the sandbox's three Bedrock accounts, with raw HTTP as the Anthropic SDKs send it; the official
// TypeScript SDK runs against it in TestAnthropicSDKConformance.

const (
	claudeName   = "claude-sonnet-4-5-20250929" // the Anthropic API name of sonnet
	weatherTools = `[{"name":"get_weather","description":"The weather in a city now.",` +
		`"input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]`
)

// anthropicPost sends body to path the way the Anthropic SDKs do: the key as x-api-key (unless auth is
// set, which replaces it), anthropic-version and JSON.
func anthropicPost(t *testing.T, e *env, path, key, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// message is the part of Anthropic's Message the tests read.
type message struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Role       string `json:"role"`
	Model      string `json:"model"`
	StopReason string `json:"stop_reason"`
	Content    []struct {
		Type  string          `json:"type"`
		Text  string          `json:"text"`
		ID    string          `json:"id"`
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	} `json:"content"`
	Usage struct {
		InputTokens  int `json:"input_tokens"`
		OutputTokens int `json:"output_tokens"`
	} `json:"usage"`
}

func (m message) text() string {
	var b strings.Builder
	for _, c := range m.Content {
		b.WriteString(c.Text)
	}
	return b.String()
}

func userBody(model, text string, extra string) string {
	return `{"model":"` + model + `","max_tokens":200,"messages":[{"role":"user","content":"` + text + `"}]` + extra + `}`
}

func TestAnthropicMessages(t *testing.T) {
	e := newOpenEnv(t)
	tests := []struct {
		name, model, key string
		hdr              []string
	}{
		{"Anthropic API name", claudeName, keyAll, nil},
		{"undated alias", "claude-sonnet-4-5", keyAll, nil},
		{"the relay's alias, key as a bearer token", "sonnet", "", []string{"Authorization", "Bearer " + keyAlias}},
		{"Bedrock foundation-model id", sonnet, keyAll, nil},
		{"inference profile id", sandbox.SeedProfile, keyAll, nil},
		{"with betas", claudeName, keyAll, []string{"Anthropic-Beta", "interleaved-thinking-2025-05-14,context-1m-2025-08-07"}},
		{"an SDK's newer anthropic-version", claudeName, keyAll, []string{"Anthropic-Version", "2026-10-21"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := anthropicPost(t, e, "/v1/messages", tt.key, userBody(tt.model, "hello from the Anthropic API", `,"system":"be brief"`), tt.hdr...)
			if resp.StatusCode != 200 {
				t.Fatalf("got %d %s", resp.StatusCode, body)
			}
			var m message
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if m.Type != "message" || m.Role != "assistant" || !strings.HasPrefix(m.ID, "msg_") || m.Model == "" || m.StopReason != "end_turn" ||
				m.Usage.InputTokens == 0 || m.Usage.OutputTokens == 0 {
				t.Errorf("got %s, want an assistant Message ending its turn, with usage", body)
			}
			if !strings.Contains(m.text(), "hello from the Anthropic API") || !strings.Contains(m.text(), "system prompt applied") {
				t.Errorf("text %q does not echo the prompt and the system prompt", m.text())
			}
			if strings.Contains(string(body), "amazon-bedrock") {
				t.Errorf("the answer carries Bedrock's members: %s", body)
			}
			if resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Request-Id") == "" || resp.Header.Get("X-Bedrock-Relay-Target") == "" {
				t.Errorf("headers %v, want JSON, request-id and the target", resp.Header)
			}
		})
	}
	log := e.log.String()
	if !strings.Contains(log, `"api":"anthropic"`) || !strings.Contains(log, `"op":"messages"`) {
		t.Errorf("access log lacks the Anthropic API's requests:\n%s", log)
	}
	if strings.Contains(log, keyAll) || strings.Contains(log, "hello from the Anthropic API") {
		t.Errorf("the access log has a key or a prompt")
	}
}

// sseEvent is one server-sent event.
type sseEvent struct {
	Event string
	Data  json.RawMessage
}

// readSSE reads server-sent events, failing on anything not of the form event:, data:, blank line.
func readSSE(t *testing.T, r io.Reader) []sseEvent {
	t.Helper()
	var out []sseEvent
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	var cur sseEvent
	n := 0
	for sc.Scan() {
		line := sc.Text()
		switch n % 3 {
		case 0:
			name, ok := strings.CutPrefix(line, "event: ")
			if !ok {
				t.Fatalf("want an event: line, got %q", line)
			}
			cur.Event = name
		case 1:
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok || !json.Valid([]byte(data)) {
				t.Fatalf("want a data: line of JSON, got %q", line)
			}
			cur.Data = json.RawMessage(data)
		case 2:
			if line != "" {
				t.Fatalf("want a blank line, got %q", line)
			}
			out = append(out, cur)
			cur = sseEvent{}
		}
		n++
	}
	if n%3 != 0 {
		t.Fatalf("the stream ends inside an event")
	}
	return out
}

// streamText is the text of a stream's text deltas, and the tool input its input_json_deltas make.
func streamText(t *testing.T, events []sseEvent) (text, toolInput string) {
	t.Helper()
	for _, ev := range events {
		if ev.Event != "content_block_delta" {
			continue
		}
		var raw struct {
			Delta struct {
				Type        string `json:"type"`
				Text        string `json:"text"`
				PartialJSON string `json:"partial_json"`
			} `json:"delta"`
		}
		if err := json.Unmarshal(ev.Data, &raw); err != nil {
			t.Fatal(err)
		}
		text += raw.Delta.Text
		toolInput += raw.Delta.PartialJSON
	}
	return text, toolInput
}

func eventNames(events []sseEvent) []string {
	var names []string
	for _, e := range events {
		names = append(names, e.Event)
	}
	return names
}

func TestAnthropicStream(t *testing.T) {
	e := newOpenEnv(t)
	resp, body := anthropicPost(t, e, "/v1/messages", keyAll, userBody("claude-sonnet-4-5", "stream this words:40", `,"stream":true`))
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("got %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	events := readSSE(t, bytes.NewReader(body))
	names := eventNames(events)
	if len(names) < 7 || names[0] != "message_start" || names[1] != "ping" || names[2] != "content_block_start" ||
		names[len(names)-3] != "content_block_stop" || names[len(names)-2] != "message_delta" || names[len(names)-1] != "message_stop" {
		t.Errorf("events %v, want message_start, ping, a content block, message_delta, message_stop", names)
	}
	for _, ev := range events {
		var typed struct{ Type string }
		if json.Unmarshal(ev.Data, &typed); typed.Type != ev.Event {
			t.Errorf("event %s carries data of type %q", ev.Event, typed.Type)
		}
		if bytes.Contains(ev.Data, []byte("amazon-bedrock")) {
			t.Errorf("event %s carries Bedrock's members: %s", ev.Event, ev.Data)
		}
	}
	text, _ := streamText(t, events)
	if !strings.Contains(text, "stream this") {
		t.Errorf("streamed text %q does not echo the prompt", text)
	}
	var start struct {
		Message message `json:"message"`
	}
	json.Unmarshal(events[0].Data, &start)
	if start.Message.Model == "" || start.Message.Usage.InputTokens == 0 {
		t.Errorf("message_start %s, want a model and input tokens", events[0].Data)
	}
	var delta struct {
		Delta struct {
			StopReason string `json:"stop_reason"`
		} `json:"delta"`
		Usage struct {
			OutputTokens int `json:"output_tokens"`
		} `json:"usage"`
	}
	json.Unmarshal(events[len(events)-2].Data, &delta)
	if delta.Delta.StopReason != "end_turn" || delta.Usage.OutputTokens < 40 {
		t.Errorf("message_delta %s, want end_turn and the output tokens", events[len(events)-2].Data)
	}
	// The stream's usage reaches the access log (read from the invocation metrics the events no longer carry).
	var logged struct {
		API          string `json:"api"`
		Op           string `json:"op"`
		Status       int    `json:"status"`
		OutputTokens int    `json:"output_tokens"`
	}
	waitFor(t, func() bool {
		for _, line := range strings.Split(e.log.String(), "\n") {
			if json.Unmarshal([]byte(line), &logged) == nil && logged.API == "anthropic" && logged.Op == "messages" {
				return true
			}
		}
		return false
	})
	if logged.Status != 200 || logged.OutputTokens != delta.Usage.OutputTokens {
		t.Errorf("access log: %+v, want status 200 and the stream's %d output tokens", logged, delta.Usage.OutputTokens)
	}
}

func TestAnthropicToolRoundTrip(t *testing.T) {
	for _, stream := range []bool{false, true} {
		name := "not streamed"
		if stream {
			name = "streamed"
		}
		t.Run(name, func(t *testing.T) {
			e := newOpenEnv(t)
			ask := func(messages string) (stop string, blocks []map[string]any) {
				t.Helper()
				body := `{"model":"` + claudeName + `","max_tokens":300,"stream":` + strconv.FormatBool(stream) + `,"tools":` + weatherTools + `,"messages":` + messages + `}`
				resp, b := anthropicPost(t, e, "/v1/messages", keyAll, body)
				if resp.StatusCode != 200 {
					t.Fatalf("got %d %s", resp.StatusCode, b)
				}
				if !stream {
					var m struct {
						StopReason string           `json:"stop_reason"`
						Content    []map[string]any `json:"content"`
					}
					if err := json.Unmarshal(b, &m); err != nil {
						t.Fatal(err)
					}
					return m.StopReason, m.Content
				}
				// Rebuild the content from the events, as the SDKs' stream helpers do.
				for _, ev := range readSSE(t, bytes.NewReader(b)) {
					var d struct {
						Index        int            `json:"index"`
						ContentBlock map[string]any `json:"content_block"`
						Delta        struct {
							Type        string `json:"type"`
							Text        string `json:"text"`
							PartialJSON string `json:"partial_json"`
							StopReason  string `json:"stop_reason"`
						} `json:"delta"`
					}
					json.Unmarshal(ev.Data, &d)
					switch ev.Event {
					case "content_block_start":
						blocks = append(blocks, d.ContentBlock)
						if d.ContentBlock["type"] == "tool_use" {
							d.ContentBlock["partial"] = ""
						}
					case "content_block_delta":
						blk := blocks[d.Index]
						if d.Delta.Type == "text_delta" {
							blk["text"] = blk["text"].(string) + d.Delta.Text
						} else {
							blk["partial"] = blk["partial"].(string) + d.Delta.PartialJSON
						}
					case "content_block_stop":
						if p, ok := blocks[d.Index]["partial"].(string); ok {
							var in any
							if err := json.Unmarshal([]byte(p), &in); err != nil {
								t.Fatalf("streamed tool input %q is not JSON", p)
							}
							blocks[d.Index]["input"] = in
							delete(blocks[d.Index], "partial")
						}
					case "message_delta":
						stop = d.Delta.StopReason
					}
				}
				return stop, blocks
			}
			first := `[{"role":"user","content":"What is the weather in Tokyo? Use get_weather."}]`
			stop, blocks := ask(first)
			var call map[string]any
			for _, b := range blocks {
				if b["type"] == "tool_use" {
					call = b
				}
			}
			if stop != "tool_use" || call == nil {
				t.Fatalf("got stop %q and blocks %v, want a tool_use", stop, blocks)
			}
			id, _ := call["id"].(string)
			in, _ := json.Marshal(call["input"])
			if call["name"] != "get_weather" || string(in) != `{"city":"Tokyo"}` || !strings.HasPrefix(id, "toolu_") {
				t.Errorf("tool use %v, want get_weather({\"city\":\"Tokyo\"}) with a toolu_ id", call)
			}
			assistant, _ := json.Marshal(blocks)
			second := `[{"role":"user","content":"What is the weather in Tokyo? Use get_weather."},` +
				`{"role":"assistant","content":` + string(assistant) + `},` +
				`{"role":"user","content":[{"type":"tool_result","tool_use_id":"` + id + `","content":"22 degrees and sunny"}]}]`
			stop, blocks = ask(second)
			out, _ := json.Marshal(blocks)
			if stop != "end_turn" || !strings.Contains(string(out), "The tool returned: \u201c22 degrees and sunny\u201d") {
				t.Errorf("after the tool result: got %s (%s), want the sandbox reading the result back", out, stop)
			}
		})
	}
}

func TestAnthropicCountTokens(t *testing.T) {
	e := newOpenEnv(t)
	count := func(body string) int {
		t.Helper()
		resp, b := anthropicPost(t, e, "/v1/messages/count_tokens", keyAll, body)
		if resp.StatusCode != 200 {
			t.Fatalf("got %d %s", resp.StatusCode, b)
		}
		var n map[string]int
		if err := json.Unmarshal(b, &n); err != nil || len(n) != 1 || n["input_tokens"] <= 0 {
			t.Fatalf("got %s, want {\"input_tokens\": N}", b)
		}
		return n["input_tokens"]
	}
	msgs := `"messages":[{"role":"user","content":"count these words for me"}]`
	plain := count(`{"model":"` + claudeName + `",` + msgs + `}`)
	withSystem := count(`{"model":"claude-sonnet-4-5",` + msgs + `,"system":"you are a careful counter of many words"}`)
	withTools := count(`{"model":"claude-sonnet-4-5",` + msgs + `,"tools":` + weatherTools + `}`)
	if withSystem <= plain || withTools <= plain {
		t.Errorf("input tokens: plain %d, with a system prompt %d, with tools %d; want the extras to count", plain, withSystem, withTools)
	}
	// The same conversation costs what InvokeModel then reports.
	resp, b := anthropicPost(t, e, "/v1/messages", keyAll, `{"model":"`+claudeName+`","max_tokens":50,`+msgs+`}`)
	var m message
	if resp.StatusCode != 200 || json.Unmarshal(b, &m) != nil || m.Usage.InputTokens != plain {
		t.Errorf("InvokeModel input tokens %d (%s), count_tokens %d: want them equal", m.Usage.InputTokens, b, plain)
	}
}

// anthropicErr is Anthropic's error body.
type anthropicErr struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

func TestAnthropicErrors(t *testing.T) {
	user := userBody(claudeName, "hi", "")
	tests := []struct {
		name, path, key, body string
		hdr                   []string
		setup                 func(e *env)
		status                int
		typ, inMsg            string
		header                map[string]string // headers the answer must carry (value "" : any)
	}{
		{name: "no key", key: "", body: user, status: 401, typ: "authentication_error", inMsg: "x-api-key"},
		{name: "unknown key", key: "brk-not-a-key-0123456789", body: user, status: 401, typ: "authentication_error", inMsg: "not one this relay knows"},
		{name: "unknown bearer key", hdr: []string{"Authorization", "Bearer brk-not-a-key"}, body: user, status: 401, typ: "authentication_error", inMsg: "not one this relay knows"},
		{name: "a model the key may not use", key: keyHaiku, body: user, status: 403, typ: "permission_error", inMsg: claudeName},
		{name: "unknown model", key: keyAll, body: userBody("claude-opus-9", "hi", ""), status: 404, typ: "not_found_error", inMsg: "Served: claude-sonnet-4-5-20250929, sonnet"},
		{name: "a Claude model the pool does not serve", key: keyAll, body: userBody("claude-3-haiku-20240307", "hi", ""), status: 404, typ: "not_found_error", inMsg: "claude-3-haiku-20240307"},
		{name: "no max_tokens", key: keyAll, body: `{"model":"` + claudeName + `","messages":[{"role":"user","content":"hi"}]}`, status: 400, typ: "invalid_request_error", inMsg: "max_tokens: Field required"},
		{name: "not JSON", key: keyAll, body: `{"model":`, status: 400, typ: "invalid_request_error", inMsg: "not valid JSON"},
		{name: "Bedrock's validation", key: keyAll, body: userBody(claudeName, "hi", `,"temperature":1.5`), status: 400, typ: "invalid_request_error", inMsg: "temperature"},
		{name: "Bedrock's validation of messages", key: keyAll, body: `{"model":"` + claudeName + `","max_tokens":5,"messages":[{"role":"assistant","content":"hi"}]}`,
			status: 400, typ: "invalid_request_error", inMsg: `first message must use the "user" role`},
		{name: "count_tokens validation", path: "/v1/messages/count_tokens", key: keyAll, body: `{"model":"` + claudeName + `"}`, status: 400, typ: "invalid_request_error", inMsg: "messages: Field required"},
		{name: "pool exhausted", key: keyAll, body: user, setup: func(e *env) { e.sb.FailNext(sandbox.Fault{Code: "ThrottlingException", Count: 3}) },
			status: 429, typ: "rate_limit_error", inMsg: "retry after", header: map[string]string{"Retry-After": "", "Retry-After-Ms": ""}},
		{name: "Bedrock unavailable everywhere", key: keyAll, body: user, setup: func(e *env) { e.sb.FailNext(sandbox.Fault{Code: "ServiceUnavailableException", Count: 3}) },
			status: 529, typ: "overloaded_error", inMsg: "ServiceUnavailableException", header: map[string]string{"Retry-After": "1"}},
		{name: "AccessDenied everywhere", key: keyAll, body: user, setup: func(e *env) { e.sb.FailNext(sandbox.Fault{Code: "AccessDeniedException", Count: 3}) },
			status: 502, typ: "api_error", inMsg: "bedrock-relay check", header: map[string]string{"X-Should-Retry": "false"}},
		{name: "500s after failover", key: keyAll, body: user, setup: func(e *env) { e.sb.FailNext(sandbox.Fault{Code: "InternalServerException", Count: 3}) },
			status: 500, typ: "api_error", inMsg: "InternalServerException"},
		{name: "a body over the limit", key: keyAll, body: `{"model":"` + claudeName + `","x":"` + strings.Repeat("x", httpapi.DefaultMaxBodyBytes) + `"}`,
			status: 413, typ: "request_too_large", inMsg: "limit"},
		{name: "batches are not served", path: "/v1/messages/batches", key: keyAll, body: `{}`, status: 404, typ: "not_found_error", inMsg: "batches"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newOpenEnv(t)
			if tt.setup != nil {
				tt.setup(e)
			}
			path := tt.path
			if path == "" {
				path = "/v1/messages"
			}
			resp, body := anthropicPost(t, e, path, tt.key, tt.body, tt.hdr...)
			var b anthropicErr
			if err := json.Unmarshal(body, &b); err != nil {
				t.Fatalf("got %d %q: %v", resp.StatusCode, body, err)
			}
			if resp.StatusCode != tt.status || b.Type != "error" || b.Error.Type != tt.typ {
				t.Errorf("got %d %s, want %d %s", resp.StatusCode, body, tt.status, tt.typ)
			}
			if !strings.Contains(b.Error.Message, tt.inMsg) {
				t.Errorf("message %q should mention %q", b.Error.Message, tt.inMsg)
			}
			for k, v := range tt.header {
				if got := resp.Header.Get(k); got == "" || (v != "" && got != v) {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if resp.Header.Get("Request-Id") == "" {
				t.Errorf("no request-id")
			}
			for _, secret := range []string{keyAll, keyHaiku, "brk-not-a-key"} {
				if strings.Contains(string(body), secret) {
					t.Errorf("the error contains a key")
				}
			}
		})
	}

	e := newOpenEnv(t)
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/messages", nil)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET /v1/messages: got %d Allow %q, want 405 POST", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// A stream cut after its first events (so that it can no longer fail over) ends with an error event in
// Anthropic's shape and no message_stop, however the upstream cut it.
func TestAnthropicStreamCutMidway(t *testing.T) {
	tests := []struct {
		name  string
		fault sandbox.Fault
	}{
		{"ended early, cleanly", sandbox.Fault{EndEarly: true, AfterEvents: 2, Rate: 1, Operation: "InvokeModelWithResponseStream"}},
		{"dropped", sandbox.Fault{Drop: true, AfterEvents: 2, Rate: 1, Operation: "InvokeModelWithResponseStream"}},
		{"an exception frame", sandbox.Fault{Code: "ModelStreamErrorException", AfterEvents: 2, Rate: 1, Operation: "InvokeModelWithResponseStream"}},
		{"throttled mid-way", sandbox.Fault{Code: "ThrottlingException", AfterEvents: 2, Rate: 1, Operation: "InvokeModelWithResponseStream"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newOpenEnv(t)
			if err := e.sb.AddFault(tt.fault); err != nil {
				t.Fatal(err)
			}
			resp, body := anthropicPost(t, e, "/v1/messages", keyAll, userBody(claudeName, "a long answer please words:60", `,"stream":true`))
			if resp.StatusCode != 200 {
				t.Fatalf("got %d %s", resp.StatusCode, body)
			}
			events := readSSE(t, bytes.NewReader(body))
			names := eventNames(events)
			if len(names) < 2 || names[0] != "message_start" {
				t.Fatalf("events %v, want the stream's first events before the cut", names)
			}
			last := events[len(events)-1]
			var b anthropicErr
			if last.Event != "error" || json.Unmarshal(last.Data, &b) != nil || b.Type != "error" || b.Error.Type == "" || b.Error.Message == "" {
				t.Errorf("the stream ended with %s %s, want an error event in Anthropic's shape", last.Event, last.Data)
			}
			for _, n := range names {
				if n == "message_stop" {
					t.Errorf("events %v: a message_stop after a cut", names)
				}
			}
		})
	}
}

// TestAnthropicSDKConformance runs sandbox/clients/anthropic_sdk_check.mjs, the official TypeScript SDK
// (@anthropic-ai/sdk), against the relay: messages.create, messages.stream, a tool round trip,
// messages.countTokens and an error.
func TestAnthropicSDKConformance(t *testing.T) {
	_, err := exec.LookPath("node")
	needClient(t, err == nil, "node")
	clients, err := filepath.Abs("../../sandbox/clients")
	if err != nil {
		t.Fatal(err)
	}
	_, err = os.Stat(filepath.Join(clients, "node_modules", "@anthropic-ai", "sdk"))
	needClient(t, err == nil, "sandbox/clients/node_modules/@anthropic-ai/sdk (.ci/install-js-deps)")

	e := newOpenEnv(t)
	// The script's first stream is cut after two events, with the exception Bedrock sends.
	e.sb.FailNext(sandbox.Fault{Code: "ModelStreamErrorException", AfterEvents: 2, Operation: "InvokeModelWithResponseStream"})
	srv := httptest.NewServer(e.relay.Handler) // plain HTTP: the SDK's fetch trusts no test certificate
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "anthropic_sdk_check.mjs")
	cmd.Dir = clients
	cmd.Env = append(os.Environ(), "RELAY_URL="+srv.URL, "RELAY_KEY="+keyAll, "RELAY_MODEL="+claudeName, "ANTHROPIC_LOG=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node anthropic_sdk_check.mjs: %v\nstdout: %s\nstderr: %s", err, out, stderr.String())
	}
	t.Logf("anthropic_sdk_check.mjs: %s%s", out, stderr.String())
	var got struct {
		Create      struct{ Text, StopReason, Model string }
		Stream      struct{ Text, FinalText, StopReason string }
		Tool        struct{ Name, Input, After string }
		CountTokens int `json:"countTokens"`
		Error       struct {
			Status   int
			Type     string
			NotFound bool `json:"notFound"`
		}
		StreamError struct{ Type string } `json:"streamError"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output %s: %v", out, err)
	}
	if !strings.Contains(got.Create.Text, "conformance") || got.Create.StopReason != "end_turn" || got.Create.Model == "" {
		t.Errorf("messages.create: %+v", got.Create)
	}
	if got.Stream.Text == "" || got.Stream.Text != got.Stream.FinalText || got.Stream.StopReason != "end_turn" {
		t.Errorf("messages.stream: %+v, want the collected text to be finalMessage's", got.Stream)
	}
	if got.Tool.Name != "get_weather" || got.Tool.Input != `{"city":"Tokyo"}` || !strings.Contains(got.Tool.After, "22 degrees") {
		t.Errorf("tool round trip: %+v", got.Tool)
	}
	if got.CountTokens <= 0 {
		t.Errorf("messages.countTokens: %d", got.CountTokens)
	}
	if got.Error.Status != 404 || got.Error.Type != "not_found_error" || !got.Error.NotFound {
		t.Errorf("an unknown model: got %+v, want a NotFoundError", got.Error)
	}
	if got.StreamError.Type != "api_error" {
		t.Errorf("a stream cut mid-way: got %+v, want the SDK to raise an api_error", got.StreamError)
	}
}

// needClient skips when a client is not installed, except in CI (CI set), where it must be.
func needClient(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is missing, and CI is set: run .ci/install-deps", what)
	}
	t.Skipf("%s is missing (run .ci/install-deps); skipping outside CI", what)
}

// A stream still running when routing.request_timeout passes ends with a timeout_error event.
func TestAnthropicStreamRequestTimeout(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Routing.RequestTimeout = config.Duration(300 * time.Millisecond) })
	e.sb.SetLatency("*", sandbox.Latency{FirstTokenMillis: 5, TokensPerSecond: 10})
	resp, body := anthropicPost(t, e, "/v1/messages", keyAll, userBody(claudeName, "a slow answer words:100", `,"stream":true`))
	if resp.StatusCode != 200 {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	events := readSSE(t, bytes.NewReader(body))
	last := events[len(events)-1]
	var b anthropicErr
	if last.Event != "error" || json.Unmarshal(last.Data, &b) != nil || b.Error.Type != "timeout_error" {
		t.Errorf("events %v ending with %s, want a timeout_error event", eventNames(events), last.Data)
	}
}
