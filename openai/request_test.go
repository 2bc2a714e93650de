package openai

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// png1x1 is a 1×1 PNG, base64.
const png1x1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return v
}

func TestParseRequestMapsToConverse(t *testing.T) {
	tests := []struct {
		name, body, want string
		stream, usage    bool
		maxTokens        int
	}{
		{
			name: "string content",
			body: `{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`,
		},
		{
			name: "system and developer become the system prompt, in order",
			body: `{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"developer","content":[{"type":"text","text":"in English"}]},{"role":"user","content":"hi"}]}`,
			want: `{"system":[{"text":"be brief"},{"text":"in English"}],"messages":[{"role":"user","content":[{"text":"hi"}]}]}`,
		},
		{
			name: "text parts and an inline image",
			body: `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,` + png1x1 + `","detail":"low"}}]}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"what is this?"},{"image":{"format":"png","source":{"bytes":"` + png1x1 + `"}}}]}]}`,
		},
		{
			name: "jpeg media type, unpadded base64 is padded",
			body: `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/jpg;base64,YWJj"}},{"type":"image_url","image_url":{"url":"data:image/webp;base64,YWI"}}]}]}`,
			want: `{"messages":[{"role":"user","content":[{"image":{"format":"jpeg","source":{"bytes":"YWJj"}}},{"image":{"format":"webp","source":{"bytes":"YWI="}}}]}]}`,
		},
		{
			name:      "inference parameters; max_completion_tokens wins over max_tokens",
			body:      `{"model":"m","max_tokens":10,"max_completion_tokens":20,"temperature":0.5,"top_p":0.9,"stop":["END","","STOP"],"n":1,"messages":[{"role":"user","content":"hi"}]}`,
			want:      `{"inferenceConfig":{"maxTokens":20,"temperature":0.5,"topP":0.9,"stopSequences":["END","STOP"]},"messages":[{"role":"user","content":[{"text":"hi"}]}]}`,
			maxTokens: 20,
		},
		{
			name: "stop as a string",
			body: `{"model":"m","stop":"\n\n","messages":[{"role":"user","content":"hi"}]}`,
			want: `{"inferenceConfig":{"stopSequences":["\n\n"]},"messages":[{"role":"user","content":[{"text":"hi"}]}]}`,
		},
		{
			name:   "stream with usage",
			body:   `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`,
			want:   `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`,
			stream: true, usage: true,
		},
		{
			name: "include_usage without stream is ignored",
			body: `{"model":"m","stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`,
		},
		{
			name: "tools with auto choice; missing parameters get an empty object schema",
			body: `{"model":"m","tool_choice":"auto","tools":[{"type":"function","function":{"name":"get_weather","description":"Weather now","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},{"type":"function","function":{"name":"now"}}],"messages":[{"role":"user","content":"weather?"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"weather?"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"get_weather","description":"Weather now","inputSchema":{"json":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}},{"toolSpec":{"name":"now","inputSchema":{"json":{"type":"object","properties":{}}}}}],"toolChoice":{"auto":{}}}}`,
		},
		{
			name: "required → any",
			body: `{"model":"m","tool_choice":"required","tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"x"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"x"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object","properties":{}}}}}],"toolChoice":{"any":{}}}}`,
		},
		{
			name: "a named function → tool",
			body: `{"model":"m","tool_choice":{"type":"function","function":{"name":"g"}},"tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"g"}}],"messages":[{"role":"user","content":"x"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"x"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object","properties":{}}}}},{"toolSpec":{"name":"g","inputSchema":{"json":{"type":"object","properties":{}}}}}],"toolChoice":{"tool":{"name":"g"}}}}`,
		},
		{
			name: "none without tool history leaves the tools out",
			body: `{"model":"m","tool_choice":"none","tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"x"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"x"}]}]}`,
		},
		{
			name: "a tool round trip: tool_calls → toolUse, consecutive tool messages → one user message of toolResults",
			body: `{"model":"m","tools":[{"type":"function","function":{"name":"f"}}],"messages":[
				{"role":"user","content":"call f twice"},
				{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\": 1}"}},{"id":"call_2","type":"function","function":{"name":"f","arguments":""}}]},
				{"role":"tool","tool_call_id":"call_1","content":"one"},
				{"role":"tool","tool_call_id":"call_2","content":[{"type":"text","text":"two"}]},
				{"role":"user","content":"thanks"}]}`,
			want: `{"messages":[
				{"role":"user","content":[{"text":"call f twice"}]},
				{"role":"assistant","content":[{"toolUse":{"toolUseId":"call_1","name":"f","input":{"a":1}}},{"toolUse":{"toolUseId":"call_2","name":"f","input":{}}}]},
				{"role":"user","content":[{"toolResult":{"toolUseId":"call_1","content":[{"text":"one"}]}},{"toolResult":{"toolUseId":"call_2","content":[{"text":"two"}]}},{"text":"thanks"}]}],
				"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object","properties":{}}}}}]}}`,
		},
		{
			name: "tool history without tools declares the tools it names; an empty result is an empty list",
			body: `{"model":"m","messages":[
				{"role":"user","content":"go"},
				{"role":"assistant","content":"calling","tool_calls":[{"id":"c","type":"function","function":{"name":"look_up","arguments":"{}"}}]},
				{"role":"tool","tool_call_id":"c","content":""}]}`,
			want: `{"messages":[
				{"role":"user","content":[{"text":"go"}]},
				{"role":"assistant","content":[{"text":"calling"},{"toolUse":{"toolUseId":"c","name":"look_up","input":{}}}]},
				{"role":"user","content":[{"toolResult":{"toolUseId":"c","content":[]}}]}],
				"toolConfig":{"tools":[{"toolSpec":{"name":"look_up","inputSchema":{"json":{"type":"object","properties":{}}}}}]}}`,
		},
		{
			name: "consecutive user messages merge; empty assistant turns drop out; blank text parts are skipped",
			body: `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":""},{"role":"user","content":[{"type":"text","text":" "},{"type":"text","text":"b"}]},{"role":"assistant","content":[{"type":"text","text":"c"},{"type":"refusal","refusal":"no"}]}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"a"},{"text":"b"}]},{"role":"assistant","content":[{"text":"c"},{"text":"no"}]}]}`,
		},
		{
			name: "unknown and ignored members pass",
			body: `{"model":"m","user":"u1","seed":3,"presence_penalty":0.5,"frequency_penalty":0,"logit_bias":{},"parallel_tool_calls":true,"response_format":{"type":"text"},"logprobs":false,"modalities":["text"],"metadata":{"a":"b"},"messages":[{"role":"user","content":"hi","name":"bob"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRequest([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if diff := cmp.Diff(decode(t, tt.want), decode(t, string(r.Body))); diff != "" {
				t.Errorf("Converse body (-want +got):\n%s", diff)
			}
			if r.Model != "m" || r.Stream != tt.stream || r.IncludeUsage != tt.usage || r.MaxTokens != tt.maxTokens {
				t.Errorf("got model %q stream %v usage %v max %d, want m %v %v %d", r.Model, r.Stream, r.IncludeUsage, r.MaxTokens, tt.stream, tt.usage, tt.maxTokens)
			}
		})
	}
}

func TestParseRequestRefusals(t *testing.T) {
	user := `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name, body, param, code string
		inMessage               string
	}{
		{"not JSON", `{"model":`, "", "invalid_json", "not valid JSON"},
		{"not an object", `[]`, "", "invalid_type", "JSON object"},
		{"no model", `{` + user + `}`, "model", "missing_required_parameter", "model"},
		{"model not a string", `{"model":3,` + user + `}`, "model", "invalid_type", "model"},
		{"no messages", `{"model":"m"}`, "messages", "missing_required_parameter", "messages"},
		{"only a system message", `{"model":"m","messages":[{"role":"system","content":"x"}]}`, "messages", "invalid_value", "user message"},
		{"n > 1", `{"model":"m","n":3,` + user + `}`, "n", "unsupported_value", "one choice"},
		{"n = 0", `{"model":"m","n":0,` + user + `}`, "n", "invalid_value", "at least 1"},
		{"logprobs", `{"model":"m","logprobs":true,` + user + `}`, "logprobs", "unsupported_value", "log probabilities"},
		{"json response format", `{"model":"m","response_format":{"type":"json_object"},` + user + `}`, "response_format", "unsupported_value", "tool"},
		{"audio output", `{"model":"m","audio":{"voice":"alloy"},` + user + `}`, "audio", "unsupported_value", "Audio"},
		{"audio modality", `{"model":"m","modalities":["text","audio"],` + user + `}`, "modalities[1]", "unsupported_value", "text"},
		{"legacy functions", `{"model":"m","functions":[],` + user + `}`, "functions", "unsupported_value", "tools"},
		{"max_tokens 0", `{"model":"m","max_tokens":0,` + user + `}`, "max_tokens", "invalid_value", "at least 1"},
		{"max_completion_tokens fractional", `{"model":"m","max_completion_tokens":1.5,` + user + `}`, "max_completion_tokens", "invalid_value", "whole number"},
		{"temperature too high", `{"model":"m","temperature":2.5,` + user + `}`, "temperature", "invalid_value", "between 0 and 2"},
		{"top_p a string", `{"model":"m","top_p":"1",` + user + `}`, "top_p", "invalid_type", "number"},
		{"stop of numbers", `{"model":"m","stop":[1],` + user + `}`, "stop[0]", "invalid_type", "string"},
		{"stream not a bool", `{"model":"m","stream":"yes",` + user + `}`, "stream", "invalid_type", "boolean"},
		{"remote image", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}`,
			"messages[0].content[1].image_url.url", "unsupported_value", "does not fetch"},
		{"image not a data URL", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"cat.png"}}]}]}`,
			"messages[0].content[0].image_url.url", "invalid_value", "data URL"},
		{"image type", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/tiff;base64,YWJj"}}]}]}`,
			"messages[0].content[0].image_url.url", "unsupported_value", "image/tiff"},
		{"image not base64", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,!!!"}}]}]}`,
			"messages[0].content[0].image_url.url", "invalid_value", "base64"},
		{"audio input", `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}`,
			"messages[0].content[0].type", "unsupported_value", "input_audio"},
		{"unknown role", `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, "messages[0].role", "invalid_value", "one of"},
		{"function role", `{"model":"m","messages":[{"role":"function","content":"x"}]}`, "messages[0].role", "unsupported_value", "tool"},
		{"assistant first", `{"model":"m","messages":[{"role":"system","content":"s"},{"role":"assistant","content":"hello"},{"role":"user","content":"hi"}]}`,
			"messages[1]", "invalid_value", "start with a user message"},
		{"blank user message", `{"model":"m","messages":[{"role":"user","content":"  "}]}`, "messages[0].content", "invalid_value", "blank"},
		{"null user content", `{"model":"m","messages":[{"role":"user","content":null}]}`, "messages[0].content", "missing_required_parameter", "required"},
		{"image in a system message", `{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,YWJj"}}]},{"role":"user","content":"x"}]}`,
			"messages[0].content[0].type", "invalid_value", "text"},
		{"tool message without id", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"tool","content":"r"}]}`, "messages[1].tool_call_id", "invalid_value", "tool call"},
		{"tool call arguments not JSON", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{a"}}]}]}`,
			"messages[1].tool_calls[0].function.arguments", "invalid_value", "JSON object"},
		{"tool call arguments an array", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`,
			"messages[1].tool_calls[0].function.arguments", "invalid_value", "JSON object"},
		{"tool call id with spaces", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"a b","type":"function","function":{"name":"f","arguments":"{}"}}]}]}`,
			"messages[1].tool_calls[0].id", "invalid_value", "characters"},
		{"tool type", `{"model":"m","tools":[{"type":"web_search"}],` + user + `}`, "tools[0].type", "unsupported_value", "function"},
		{"tool name", `{"model":"m","tools":[{"type":"function","function":{"name":"get weather"}}],` + user + `}`, "tools[0].function.name", "invalid_value", "64 characters"},
		{"duplicate tool", `{"model":"m","tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"f"}}],` + user + `}`, "tools[1].function.name", "invalid_value", "unique"},
		{"tool parameters not an object", `{"model":"m","tools":[{"type":"function","function":{"name":"f","parameters":"x"}}],` + user + `}`, "tools[0].function.parameters", "invalid_type", "Schema"},
		{"required without tools", `{"model":"m","tool_choice":"required",` + user + `}`, "tool_choice", "invalid_value", "no 'tools'"},
		{"unknown tool choice", `{"model":"m","tool_choice":"sometimes","tools":[{"type":"function","function":{"name":"f"}}],` + user + `}`, "tool_choice", "invalid_value", "required"},
		{"tool choice names a missing tool", `{"model":"m","tool_choice":{"type":"function","function":{"name":"g"}},"tools":[{"type":"function","function":{"name":"f"}}],` + user + `}`,
			"tool_choice.function.name", "invalid_value", `"g"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRequest([]byte(tt.body))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want an *Error", err)
			}
			if e.Status != 400 || e.Type != TypeInvalidRequest || e.Param != tt.param || e.Code != tt.code {
				t.Errorf("got status %d type %s param %q code %q, want 400 %s %q %q", e.Status, e.Type, e.Param, e.Code, TypeInvalidRequest, tt.param, tt.code)
			}
			if !strings.Contains(e.Message, tt.inMessage) {
				t.Errorf("message %q does not mention %q", e.Message, tt.inMessage)
			}
		})
	}
}

func TestErrorBody(t *testing.T) {
	b, err := json.Marshal(Invalid("messages[0].content", "invalid_value", "bad"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"error":{"message":"bad","type":"invalid_request_error","param":"messages[0].content","code":"invalid_value"}}`
	if string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
	b, _ = json.Marshal(&Error{Status: 500, Type: TypeAPI, Message: "x"})
	if want := `{"error":{"message":"x","type":"api_error","param":null,"code":null}}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}
