package sandbox

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const pngBase64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

const anthropicToolBody = `{"anthropic_version":"bedrock-2023-05-31","max_tokens":512,
 "system":[{"type":"text","text":"Be brief."}],
 "messages":[
  {"role":"user","content":[{"type":"text","text":"What's the weather in Tokyo? use get_weather"},
    {"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + pngBase64 + `"}}]},
  {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Tokyo"}}]},
  {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"sunny, 21C"}]}]}],
 "temperature":0.5,"top_p":0.9,"top_k":40,"stop_sequences":["END"],"anthropic_beta":["token-efficient-tools-2025-02-19"],
 "tools":[{"name":"get_weather","description":"Weather for a city","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}],
 "tool_choice":{"type":"auto"}}`

func TestParseAnthropicBody(t *testing.T) {
	c, err := parseInvokeBody(claudeModel, []byte(anthropicToolBody))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	temp := 0.5
	want := conversation{
		System: "Be brief.",
		Messages: []turn{
			{Role: "user", Text: "What's the weather in Tokyo? use get_weather"},
			{Role: "assistant", Text: `[tool_use get_weather {"city":"Tokyo"}]`, ToolUses: 1},
			{Role: "user", Text: "sunny, 21C", ToolResults: 1},
		},
		MaxTokens: 512, StopSequences: []string{"END"}, Temperature: &temp,
		Tools: []toolSpec{{Name: "get_weather", Description: "Weather for a city",
			Schema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}},
		ToolChoice: "auto", Images: 1,
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("conversation (-want +got):\n%s", diff)
	}

	simple, err := parseInvokeBody(claudeModel, []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"system":"sys","messages":[{"role":"user","content":"こんにちは"}]}`))
	if err != nil {
		t.Fatalf("parse simple: %v", err)
	}
	if simple.System != "sys" || simple.Messages[0].Text != "こんにちは" || simple.ToolChoice != "auto" {
		t.Errorf("simple: got %+v", simple)
	}
}

func TestParseAnthropicBodyErrors(t *testing.T) {
	const ok = `"anthropic_version":"bedrock-2023-05-31","max_tokens":100`
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name, body, want string
	}{
		{"invalid json", `{"anthropic_version":`, "Malformed input request: #: body is not valid JSON, please reformat your input and try again."},
		{"not an object", `[1]`, "Malformed input request: #: expected type: JSONObject, found: JSONArray, please reformat your input and try again."},
		{"no version", `{"max_tokens":100,` + msgs + `}`, "Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again."},
		{"stream", `{` + ok + `,` + msgs + `,"stream":true}`, "Malformed input request: #: extraneous key [stream] is not permitted, please reformat your input and try again."},
		{"model and stream", `{` + ok + `,` + msgs + `,"stream":true,"model":"x"}`, "Malformed input request: #: extraneous key [model] is not permitted#: extraneous key [stream] is not permitted, please reformat your input and try again."},
		{"several places", `{` + ok + `,` + msgs + `,"temperature":2,"top_p":-1}`, "Malformed input request: 2 schema violations found, please reformat your input and try again."},
		{"wrong version", `{"anthropic_version":"2023-06-01","max_tokens":100,` + msgs + `}`, "Invalid API version: 2023-06-01"},
		{"max_tokens string", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":"100",` + msgs + `}`, "Malformed input request: #/max_tokens: expected type: Integer, found: String, please reformat your input and try again."},
		{"max_tokens zero", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":0,` + msgs + `}`, "Malformed input request: #/max_tokens: 0 is not greater or equal to 1, please reformat your input and try again."},
		{"max_tokens over model", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":64001,` + msgs + `}`, "max_tokens: 64001 > 64000, which is the maximum allowed number of output tokens for anthropic.claude-sonnet-4-5-20250929-v1:0"},
		{"max_tokens huge", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":99999999999999999999,` + msgs + `}`, "max_tokens: 99999999999999999999 > 64000"},
		{"temperature", `{` + ok + `,` + msgs + `,"temperature":1.5}`, "Malformed input request: #/temperature: 1.5 is not less or equal to 1, please reformat your input and try again."},
		{"stop_sequences string", `{` + ok + `,` + msgs + `,"stop_sequences":"END"}`, "#/stop_sequences: expected type: JSONArray, found: String"},
		{"no messages", `{` + ok + `,"messages":[]}`, "messages: at least one message is required"},
		{"assistant first", `{` + ok + `,"messages":[{"role":"assistant","content":"hi"}]}`, `messages: first message must use the "user" role`},
		{"two users", `{` + ok + `,"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}`, `messages: roles must alternate between "user" and "assistant", but found multiple "user" roles in a row`},
		{"bad role", `{` + ok + `,"messages":[{"role":"system","content":"a"}]}`, "messages.0.role: Input should be 'user' or 'assistant'"},
		{"empty content", `{` + ok + `,"messages":[{"role":"user","content":""}]}`, "messages.0: all messages must have non-empty content"},
		{"empty text block", `{` + ok + `,"messages":[{"role":"user","content":[{"type":"text","text":" "}]}]}`, "messages: text content blocks must be non-empty"},
		{"unknown block", `{` + ok + `,"messages":[{"role":"user","content":[{"type":"video"}]}]}`, "messages.0.content.0: Input tag 'video' found using 'type'"},
		{"bad image", `{` + ok + `,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"!!!"}}]}]}`, "messages.0.content.0.image.source.base64.data"},
		{"bad media type", `{` + ok + `,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"` + pngBase64 + `"}}]}]}`, "media_type"},
		{"tool without schema", `{` + ok + `,` + msgs + `,"tools":[{"name":"x"}]}`, "tools.0.custom.input_schema: Field required"},
		{"bad tool name", `{` + ok + `,` + msgs + `,"tools":[{"name":"a b","input_schema":{}}]}`, "tools.0.custom.name"},
		{"tool_choice without tools", `{` + ok + `,` + msgs + `,"tool_choice":{"type":"any"}}`, "tool_choice may only be specified while providing tools."},
		{"tool_choice unknown tool", `{` + ok + `,` + msgs + `,"tools":[{"name":"x","input_schema":{}}],"tool_choice":{"type":"tool","name":"y"}}`, "Tool 'y' not found"},
		// thinking (thinking_test.go has every rule)
		{"thinking a string", `{` + ok + `,` + msgs + `,"thinking":"enabled"}`, "#/thinking: expected type: JSONObject, found: String"},
		{"thinking type unknown", `{` + ok + `,` + msgs + `,"thinking":{"type":"full"}}`, "thinking: Input tag 'full' found using 'type'"},
		{"thinking budget a bool", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":2048,` + msgs + `,"thinking":{"type":"enabled","budget_tokens":true}}`, "thinking.enabled.budget_tokens: Input should be a valid integer"},
		{"thinking budget small", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":2048,` + msgs + `,"thinking":{"type":"enabled","budget_tokens":0}}`, "greater than or equal to 1024"},
		{"thinking block unsigned", `{` + ok + `,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"thinking","thinking":"t"}]},{"role":"user","content":"b"}]}`, "messages.1.content.0.thinking.signature: Field required"},
		{"thinking block forged", `{` + ok + `,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"c2lnbmVk"}]},{"role":"user","content":"b"}]}`, "Invalid signature in thinking block"},
		{"redacted thinking data a number", `{` + ok + `,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"redacted_thinking","data":1}]},{"role":"user","content":"b"}]}`, "messages.1.content.0.redacted_thinking.data: Input should be a valid string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseInvokeBody(claudeModel, []byte(tt.body))
			if err == nil {
				t.Fatalf("got no error, want %q", tt.want)
			}
			if err.Code != "ValidationException" || err.Status != 400 {
				t.Errorf("got %s %d, want ValidationException 400", err.Code, err.Status)
			}
			if !strings.Contains(err.Message, tt.want) {
				t.Errorf("message: got %q, want it to contain %q", err.Message, tt.want)
			}
		})
	}
}

const converseToolBody = `{
 "messages":[
  {"role":"user","content":[{"text":"Weather in 大阪 please, use get_weather"},{"image":{"format":"png","source":{"bytes":"` + pngBase64 + `"}}}]},
  {"role":"assistant","content":[{"toolUse":{"toolUseId":"tooluse_1","name":"get_weather","input":{"city":"大阪"}}}]},
  {"role":"user","content":[{"toolResult":{"toolUseId":"tooluse_1","content":[{"json":{"sky":"clear"}},{"text":"22C"}],"status":"success"}}]}],
 "system":[{"text":"You are terse."},{"cachePoint":{"type":"default"}}],
 "inferenceConfig":{"maxTokens":300,"temperature":0.2,"topP":0.8,"stopSequences":["###"]},
 "toolConfig":{"tools":[{"toolSpec":{"name":"get_weather","description":"d","inputSchema":{"json":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}}],
   "toolChoice":{"tool":{"name":"get_weather"}}},
 "additionalModelRequestFields":{"top_k":10}}`

func TestParseConverseBody(t *testing.T) {
	c, err := parseConverseBody([]byte(converseToolBody))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	temp := 0.2
	want := conversation{
		System: "You are terse.",
		Messages: []turn{
			{Role: "user", Text: "Weather in 大阪 please, use get_weather"},
			{Role: "assistant", Text: `[tool_use get_weather {"city":"大阪"}]`, ToolUses: 1},
			{Role: "user", Text: "{\"sky\":\"clear\"}\n22C", ToolResults: 1},
		},
		MaxTokens: 300, StopSequences: []string{"###"}, Temperature: &temp,
		Tools: []toolSpec{{Name: "get_weather", Description: "d",
			Schema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}},
		ToolChoice: "tool:get_weather", Images: 1,
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("conversation (-want +got):\n%s", diff)
	}

	c, err = parseConverseBody([]byte(`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`))
	if err != nil {
		t.Fatalf("parse minimal: %v", err)
	}
	if c.MaxTokens != defaultMaxTokens {
		t.Errorf("default maxTokens: got %d, want %d", c.MaxTokens, defaultMaxTokens)
	}
	if err := (conversation{MaxTokens: 64001}).checkMaxTokens(claudeModel); err == nil || !strings.Contains(err.Message, "model limit of 64000") {
		t.Errorf("checkMaxTokens: got %v", err)
	}
}

func TestParseConverseBodyErrors(t *testing.T) {
	const user = `{"role":"user","content":[{"text":"hi"}]}`
	tests := []struct {
		name, body, want string
	}{
		{"invalid json", `{`, "not valid JSON"},
		{"no messages", `{}`, "A conversation must start with a user message."},
		{"assistant first", `{"messages":[{"role":"assistant","content":[{"text":"x"}]}]}`, "A conversation must start with a user message. Try again with a conversation that starts with a user message."},
		{"two users", `{"messages":[` + user + `,` + user + `]}`, "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again."},
		{"bad role", `{"messages":[{"role":"system","content":[{"text":"x"}]}]}`, "1 validation error detected: Value 'system' at 'messages.1.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]"},
		{"maxTokens zero", `{"messages":[` + user + `],"inferenceConfig":{"maxTokens":0}}`, "1 validation error detected: Value '0' at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"two violations", `{"messages":[` + user + `],"inferenceConfig":{"temperature":1.5,"topP":-0.1}}`, "2 validation errors detected: Value '1.5' at 'inferenceConfig.temperature' failed to satisfy constraint: Member must have value less than or equal to 1; Value '-0.1' at 'inferenceConfig.topP'"},
		{"maxTokens string", `{"messages":[` + user + `],"inferenceConfig":{"maxTokens":"5"}}`, "inferenceConfig.maxTokens"},
		{"blank text", `{"messages":[{"role":"user","content":[{"text":"  "}]}]}`, "The text field in the ContentBlock object at messages.0.content.0 is blank. Add text to the text field, and try again."},
		{"empty content", `{"messages":[{"role":"user","content":[]}]}`, "messages.0 is empty"},
		{"two members", `{"messages":[{"role":"user","content":[{"text":"a","image":{}}]}]}`, "exactly one"},
		{"bad image format", `{"messages":[{"role":"user","content":[{"image":{"format":"bmp","source":{"bytes":"` + pngBase64 + `"}}}]}]}`, "'messages.1.member.content.1.member.image.format'"},
		{"bad image bytes", `{"messages":[{"role":"user","content":[{"image":{"format":"png","source":{"bytes":"***"}}}]}]}`, "not valid base64"},
		{"tool blocks without toolConfig", `{"messages":[` + user + `,{"role":"assistant","content":[{"toolUse":{"toolUseId":"t1","name":"x","input":{}}}]}]}`, "The toolConfig field must be defined when using toolUse and toolResult content blocks."},
		{"empty tools", `{"messages":[` + user + `],"toolConfig":{"tools":[]}}`, "at 'toolConfig.tools' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"bad tool name", `{"messages":[` + user + `],"toolConfig":{"tools":[{"toolSpec":{"name":"a b","inputSchema":{"json":{}}}}]}}`, "toolConfig.tools.1.member.toolSpec.name"},
		{"choice of unknown tool", `{"messages":[` + user + `],"toolConfig":{"tools":[{"toolSpec":{"name":"a","inputSchema":{"json":{}}}}],"toolChoice":{"tool":{"name":"b"}}}}`, "The tool b specified in toolChoice"},
		{"bad status", `{"messages":[` + user + `,{"role":"assistant","content":[{"text":"x"}]},{"role":"user","content":[{"toolResult":{"toolUseId":"t","content":[],"status":"ok"}}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"a","inputSchema":{"json":{}}}}]}}`, "Member must satisfy enum value set: [success, error]"},
		// reasoningContent (thinking_test.go has the model's rules)
		{"reasoning a list", `{"messages":[` + user + `,{"role":"assistant","content":[{"reasoningContent":[]}]}]}`, "Invalid type for messages.1.content.0.reasoningContent: expected a JSON object, found JSONArray."},
		{"reasoning empty", `{"messages":[` + user + `,{"role":"assistant","content":[{"reasoningContent":{}}]}]}`, "must set exactly one of its members (found 0)"},
		{"reasoning text null", `{"messages":[` + user + `,{"role":"assistant","content":[{"reasoningContent":{"reasoningText":{"text":null}}}]}]}`, "'messages.2.member.content.1.member.reasoningContent.reasoningText.text' failed to satisfy constraint: Member must not be null"},
		{"reasoning text an object", `{"messages":[` + user + `,{"role":"assistant","content":[{"reasoningContent":{"reasoningText":{"text":{}}}}]}]}`, "reasoningText.text: expected a string, found JSONObject."},
		{"redacted a number", `{"messages":[` + user + `,{"role":"assistant","content":[{"reasoningContent":{"redactedContent":5}}]}]}`, "reasoningContent.redactedContent: expected a base64-encoded blob, found Integer."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConverseBody([]byte(tt.body))
			if err == nil {
				t.Fatalf("got no error, want %q", tt.want)
			}
			if err.Code != "ValidationException" || err.Status != 400 {
				t.Errorf("got %s %d, want ValidationException 400", err.Code, err.Status)
			}
			if !strings.Contains(err.Message, tt.want) {
				t.Errorf("message: got %q, want it to contain %q", err.Message, tt.want)
			}
		})
	}
}

func TestParseNovaBody(t *testing.T) {
	body := `{"schemaVersion":"messages-v1","system":[{"text":"sys"}],
	 "messages":[{"role":"user","content":[{"text":"hello"}]}],
	 "inferenceConfig":{"max_new_tokens":200,"temperature":0.7,"top_p":0.9,"top_k":20,"stopSequences":["x"]}}`
	c, err := parseInvokeBody(novaModel, []byte(body))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if c.MaxTokens != 200 || c.System != "sys" || c.Messages[0].Text != "hello" || len(c.StopSequences) != 1 || c.Temperature == nil {
		t.Errorf("got %+v", c)
	}
	c, err = parseInvokeBody(novaModel, []byte(`{"messages":[{"role":"user","content":[{"text":"hello"}]}]}`))
	if err != nil || c.MaxTokens != defaultMaxTokens {
		t.Errorf("default max_new_tokens: got %d, %v", c.MaxTokens, err)
	}

	for _, tt := range []struct{ name, body, want string }{
		{"anthropic body", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10}`, "#: required key [messages] not found#: extraneous key [anthropic_version] is not permitted"},
		{"anthropic keys", `{"messages":[{"role":"user","content":[{"text":"hello"}]}],"max_tokens":10}`, "Malformed input request: #: extraneous key [max_tokens] is not permitted, please reformat your input and try again."},
		{"camelCase maxTokens", `{"messages":[{"role":"user","content":[{"text":"hello"}]}],"inferenceConfig":{"maxTokens":10}}`, "#/inferenceConfig: extraneous key [maxTokens] is not permitted"},
		{"too many tokens", `{"messages":[{"role":"user","content":[{"text":"hello"}]}],"inferenceConfig":{"max_new_tokens":10001}}`, "#/inferenceConfig/max_new_tokens: 10001 is not less or equal to 10000"},
		{"string content", `{"messages":[{"role":"user","content":"hello"}]}`, "messages[0].content"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseInvokeBody(novaModel, []byte(tt.body))
			if err == nil || !strings.Contains(err.Message, tt.want) {
				t.Errorf("got %v, want a message containing %q", err, tt.want)
			}
		})
	}
}

func TestParseCountTokensBody(t *testing.T) {
	invoke := base64.StdEncoding.EncodeToString([]byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"one two three"}]}`))
	tests := []struct {
		name, body string
		wantText   string
		wantErr    string
	}{
		{"invokeModel", `{"input":{"invokeModel":{"body":"` + invoke + `"}}}`, "one two three", ""},
		{"converse", `{"input":{"converse":{"messages":[{"role":"user","content":[{"text":"four five"}]}],"system":[{"text":"s"}]}}}`, "four five", ""},
		{"no input", `{}`, "", "Value null at 'input'"},
		{"both", `{"input":{"invokeModel":{"body":"` + invoke + `"},"converse":{"messages":[]}}}`, "", "exactly one"},
		{"bad base64", `{"input":{"invokeModel":{"body":"%%%"}}}`, "", "not valid base64"},
		{"invalid inner body", `{"input":{"invokeModel":{"body":"` + base64.StdEncoding.EncodeToString([]byte(`{"max_tokens":1}`)) + `"}}}`, "", "required key [anthropic_version] not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseCountTokensBody(claudeModel, []byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Message, tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got := c.Messages[len(c.Messages)-1].Text; got != tt.wantText {
				t.Errorf("text: got %q, want %q", got, tt.wantText)
			}
		})
	}
}

// The same request in the two dialects costs the same input tokens, so CountTokens, quotas and usage agree
// whichever API a client uses.
func TestInputTokensAgreeAcrossDialects(t *testing.T) {
	a, err := parseInvokeBody(claudeModel, []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"system":"Be nice.","messages":[{"role":"user","content":"東京の天気は? tell me"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseConverseBody([]byte(`{"system":[{"text":"Be nice."}],"messages":[{"role":"user","content":[{"text":"東京の天気は? tell me"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if a.inputTokens() != c.inputTokens() {
		t.Errorf("input tokens: anthropic %d, converse %d", a.inputTokens(), c.inputTokens())
	}
	// 3 request + 2 system + 4 message + 東京の天気は (6) + "?" (1) + tell me (2).
	if got, want := a.inputTokens(), 3+2+4+6+1+2; got != want {
		t.Errorf("input tokens: got %d, want %d", got, want)
	}
}
