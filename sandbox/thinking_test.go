package sandbox

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

func catalogModel(t *testing.T, id string) catalog.Model {
	t.Helper()
	m, ok := catalog.Default().Model(id)
	if !ok {
		t.Fatalf("no model %s in the catalogue", id)
	}
	return m
}

const (
	sonnet45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"
	sonnet46 = "anthropic.claude-sonnet-4-6"
	opus47   = "anthropic.claude-opus-4-7"
	sonnet35 = "anthropic.claude-3-5-sonnet-20241022-v2:0"
	haiku3   = "anthropic.claude-3-haiku-20240307-v1:0"
)

// A signed thinking block, as the sandbox would have answered: the text and its signature.
func signedBlock(text string) (string, string) {
	return text, signThinking([]byte("0123456789abcdef"), text)
}

// Every rule of extended thinking on InvokeModel, with Anthropic's and Bedrock's wording (thinking.go says
// where each was seen), and the malformed thinking members a hand-written body may carry.
func TestThinkingRulesInvokeModel(t *testing.T) {
	const v23 = `"anthropic_version":"bedrock-2023-05-31"`
	const v26 = `"anthropic_version":"2026-10-21"`
	const hi = `"messages":[{"role":"user","content":"hi"}]`
	thought, sig := signedBlock("I thought about it.")
	history := func(block string) string {
		return `"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[` + block + `,{"type":"text","text":"Hello."}]},{"role":"user","content":"again"}]`
	}
	goodBlock := `{"type":"thinking","thinking":"` + thought + `","signature":"` + sig + `"}`
	tools := `"tools":[{"name":"get","input_schema":{"type":"object"}}]`
	toolTurns := func(first string) string {
		return `"messages":[{"role":"user","content":"use get"},{"role":"assistant","content":[` + first +
			`{"type":"tool_use","id":"toolu_1","name":"get","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"ok"}]}]`
	}
	tests := []struct {
		name, model, body, want string // want "": accepted
		thinks                  bool
	}{
		{"enabled", sonnet45, `{` + v23 + `,"max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},` + hi + `}`, "", true},
		{"disabled", sonnet45, `{` + v23 + `,"max_tokens":10,"thinking":{"type":"disabled"},` + hi + `}`, "", false},
		{"disabled on a model that does not think", sonnet35, `{` + v23 + `,"max_tokens":10,"thinking":{"type":"disabled"},` + hi + `}`, "", false},
		{"budget below 1024", sonnet45, `{` + v23 + `,"max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1023},` + hi + `}`,
			"thinking.enabled.budget_tokens: Input should be greater than or equal to 1024", false},
		{"budget negative and huge", sonnet45, `{` + v23 + `,"max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":-99999999999999},` + hi + `}`,
			"thinking.enabled.budget_tokens: Input should be greater than or equal to 1024", false},
		{"budget not below max_tokens", sonnet45, `{` + v23 + `,"max_tokens":1024,"thinking":{"type":"enabled","budget_tokens":1024},` + hi + `}`,
			"`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size", false},
		{"budget huge", sonnet45, `{` + v23 + `,"max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":99999999999},` + hi + `}`,
			"`max_tokens` must be greater than `thinking.budget_tokens`.", false},
		{"budget above max_tokens with interleaved thinking and tools", sonnet45, `{` + v23 + `,"anthropic_beta":["interleaved-thinking-2025-05-14"],"max_tokens":1100,` +
			`"thinking":{"type":"enabled","budget_tokens":4096},` + tools + `,` + hi + `}`, "", true},
		{"budget above max_tokens with interleaved thinking, no tools", sonnet45, `{` + v23 + `,"anthropic_beta":["interleaved-thinking-2025-05-14"],"max_tokens":1100,` +
			`"thinking":{"type":"enabled","budget_tokens":4096},` + hi + `}`, "`max_tokens` must be greater than `thinking.budget_tokens`.", false},
		{"temperature", sonnet45, `{` + v23 + `,"max_tokens":2048,"temperature":0.5,"thinking":{"type":"enabled","budget_tokens":1024},` + hi + `}`,
			"`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#important-considerations-when-using-extended-thinking", false},
		{"temperature 1", sonnet45, `{` + v23 + `,"max_tokens":2048,"temperature":1,"thinking":{"type":"enabled","budget_tokens":1024},` + hi + `}`, "", true},
		{"temperature with adaptive", sonnet46, `{` + v23 + `,"max_tokens":2048,"temperature":0,"thinking":{"type":"adaptive"},` + hi + `}`,
			"`temperature` may only be set to 1 when thinking is enabled or in adaptive mode.", false},
		{"top_k", sonnet45, `{` + v23 + `,"max_tokens":2048,"top_k":5,"thinking":{"type":"enabled","budget_tokens":1024},` + hi + `}`,
			"`top_k` must be unset when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#important-considerations-when-using-extended-thinking", false},
		{"top_p below 0.95", sonnet45, `{` + v23 + `,"max_tokens":2048,"top_p":0.9,"thinking":{"type":"enabled","budget_tokens":1024},` + hi + `}`,
			"top_p must be unset when thinking is enabled.", false},
		{"top_p 0.95", sonnet45, `{` + v23 + `,"max_tokens":2048,"top_p":0.95,"thinking":{"type":"enabled","budget_tokens":1024},` + hi + `}`, "", true},
		{"forced tool", sonnet45, `{` + v23 + `,"max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},` + tools + `,"tool_choice":{"type":"any"},` + hi + `}`,
			"Thinking may not be enabled when tool_choice forces tool use.", false},
		{"named tool", sonnet45, `{` + v23 + `,"max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},` + tools + `,"tool_choice":{"type":"tool","name":"get"},` + hi + `}`,
			"Thinking may not be enabled when tool_choice forces tool use.", false},
		{"auto tool choice", sonnet45, `{` + v23 + `,"max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},` + tools + `,"tool_choice":{"type":"auto"},` + hi + `}`, "", true},
		{"a model that does not think", sonnet35, `{` + v23 + `,"max_tokens":4096,"thinking":{"type":"enabled","budget_tokens":1024},` + hi + `}`,
			"'claude-3-5-sonnet-20241022' does not support thinking.", false},
		{"Claude 3 Haiku", haiku3, `{` + v23 + `,"max_tokens":4096,"thinking":{"type":"adaptive"},` + hi + `}`,
			"'claude-3-haiku-20240307' does not support thinking.", false},
		{"enabled on Opus 4.7", opus47, `{` + v26 + `,"max_tokens":4096,"thinking":{"type":"enabled","budget_tokens":1024},` + hi + `}`,
			`"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" and "output_config.effort" to control thinking behavior.`, false},
		{"adaptive on Opus 4.7", opus47, `{` + v26 + `,"max_tokens":4096,"thinking":{"type":"adaptive","display":"omitted"},` + hi + `}`, "", true},
		{"adaptive on Sonnet 4.5", sonnet45, `{` + v23 + `,"max_tokens":4096,"thinking":{"type":"adaptive"},` + hi + `}`,
			"adaptive thinking is not supported on this model", false},
		{"adaptive on Sonnet 4.6", sonnet46, `{` + v23 + `,"max_tokens":4096,"thinking":{"type":"adaptive"},` + hi + `}`, "", true},
		{"display in a 2023 body", sonnet46, `{` + v23 + `,"max_tokens":4096,"thinking":{"type":"adaptive","display":"omitted"},` + hi + `}`, "", true},
		{"display with enabled, as Claude Code sends it", sonnet45, `{` + v23 + `,"max_tokens":32000,"thinking":{"budget_tokens":31999,"type":"enabled","display":"omitted"},` + hi + `}`, "", true},
		{"display on disabled", sonnet45, `{` + v23 + `,"max_tokens":4096,"thinking":{"type":"disabled","display":"omitted"},` + hi + `}`,
			"thinking.disabled.display: Extra inputs are not permitted", false},
		{"display unknown", opus47, `{` + v26 + `,"max_tokens":4096,"thinking":{"type":"adaptive","display":"full"},` + hi + `}`,
			"thinking.adaptive.display: Input should be 'summarized' or 'omitted'", false},

		// Malformed thinking members.
		{"thinking is an array", sonnet45, `{` + v23 + `,"max_tokens":2048,"thinking":[],` + hi + `}`,
			"Malformed input request: #/thinking: expected type: JSONObject, found: JSONArray, please reformat your input and try again.", false},
		{"thinking is null", sonnet45, `{` + v23 + `,"max_tokens":2048,"thinking":null,` + hi + `}`,
			"#/thinking: expected type: JSONObject, found: null", false},
		{"no type", sonnet45, `{` + v23 + `,"max_tokens":2048,"thinking":{"budget_tokens":1024},` + hi + `}`,
			"thinking: Unable to extract tag using discriminator 'type'", false},
		{"unknown type", sonnet45, `{` + v23 + `,"max_tokens":2048,"thinking":{"type":"on"},` + hi + `}`,
			"thinking: Input tag 'on' found using 'type' does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'", false},
		{"type a number", sonnet45, `{` + v23 + `,"max_tokens":2048,"thinking":{"type":1},` + hi + `}`,
			"thinking: Input tag '1' found using 'type' does not match any of the expected tags", false},
		{"no budget", sonnet45, `{` + v23 + `,"max_tokens":2048,"thinking":{"type":"enabled"},` + hi + `}`,
			"thinking.enabled.budget_tokens: Field required", false},
		{"budget a string", sonnet45, `{` + v23 + `,"max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":"1024"},` + hi + `}`,
			"thinking.enabled.budget_tokens: Input should be a valid integer", false},
		{"budget a float", sonnet45, `{` + v23 + `,"max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024.5},` + hi + `}`,
			"thinking.enabled.budget_tokens: Input should be a valid integer", false},
		{"budget with adaptive", sonnet46, `{` + v23 + `,"max_tokens":2048,"thinking":{"type":"adaptive","budget_tokens":1024},` + hi + `}`,
			"thinking.adaptive.budget_tokens: Extra inputs are not permitted", false},
		{"an extra key", sonnet45, `{` + v23 + `,"max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024,"effort":"high"},` + hi + `}`,
			"thinking.enabled.effort: Extra inputs are not permitted", false},

		// Thinking blocks in the history.
		{"a signed block", sonnet45, `{` + v23 + `,"max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},` + history(goodBlock) + `}`, "", true},
		{"a signed block, thinking off", sonnet45, `{` + v23 + `,"max_tokens":20,` + history(goodBlock) + `}`, "", false},
		{"no signature", sonnet45, `{` + v23 + `,"max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},` + history(`{"type":"thinking","thinking":"x"}`) + `}`,
			"messages.1.content.0.thinking.signature: Field required", false},
		{"an empty signature", sonnet45, `{` + v23 + `,"max_tokens":20,` + history(`{"type":"thinking","thinking":"x","signature":""}`) + `}`,
			"messages.1.content.0.thinking.signature: Field required", false},
		{"a signature not a string", sonnet45, `{` + v23 + `,"max_tokens":20,` + history(`{"type":"thinking","thinking":"x","signature":7}`) + `}`,
			"messages.1.content.0.thinking.signature: Input should be a valid string", false},
		{"no thinking text", sonnet45, `{` + v23 + `,"max_tokens":20,` + history(`{"type":"thinking","signature":"`+sig+`"}`) + `}`,
			"messages.1.content.0.thinking.thinking: Field required", false},
		{"a made-up signature", sonnet45, `{` + v23 + `,"max_tokens":20,` + history(`{"type":"thinking","thinking":"x","signature":"EqQBCkgIARABGAIiQL"}`) + `}`,
			"messages.1.content.0: Invalid signature in thinking block", false},
		{"edited thinking", sonnet45, `{` + v23 + `,"max_tokens":20,` + history(`{"type":"thinking","thinking":"I thought otherwise.","signature":"`+sig+`"}`) + `}`,
			"messages.1.content.0: Invalid signature in thinking block", false},
		{"redacted without data", sonnet45, `{` + v23 + `,"max_tokens":20,` + history(`{"type":"redacted_thinking"}`) + `}`,
			"messages.1.content.0.redacted_thinking.data: Field required", false},
		{"redacted made-up data", sonnet45, `{` + v23 + `,"max_tokens":20,` + history(`{"type":"redacted_thinking","data":"bm90IHRoZSBzYW5kYm94J3M="}`) + `}`,
			"messages.1.content.0: Invalid data in redacted_thinking block", false},
		{"redacted sealed data", sonnet45, `{` + v23 + `,"max_tokens":20,` + history(`{"type":"redacted_thinking","data":"`+sealRedacted([]byte("0123456789abcdef"), "hidden")+`"}`) + `}`, "", false},
		{"a tool turn without its thinking", sonnet45, `{` + v23 + `,"max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},` + tools + `,` + toolTurns(`{"type":"text","text":"Calling."},`) + `}`,
			"messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `text`. When `thinking` is enabled, a final `assistant` message must start with a thinking block", false},
		{"a tool turn with only the tool use", sonnet45, `{` + v23 + `,"max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},` + tools + `,` + toolTurns(``) + `}`,
			"but found `tool_use`.", false},
		{"a tool turn with its thinking", sonnet45, `{` + v23 + `,"max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},` + tools + `,` + toolTurns(goodBlock+`,`) + `}`, "", true},
		{"a tool turn without thinking, thinking off", sonnet45, `{` + v23 + `,"max_tokens":2048,` + tools + `,` + toolTurns(``) + `}`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseInvokeBody(catalogModel(t, tt.model), []byte(tt.body))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %s, want it accepted", err.Message)
			case tt.want == "" && (c.Thinking != nil) != tt.thinks:
				t.Fatalf("thinking %+v, want thinking %v", c.Thinking, tt.thinks)
			case tt.want != "" && (err == nil || err.Code != "ValidationException" || err.Status != 400 || !strings.Contains(err.Message, tt.want)):
				t.Fatalf("got %v, want 400 ValidationException %q", err, tt.want)
			}
		})
	}
}

// The same rules on Converse, where the model's messages come with Bedrock's "The model returned the following
// errors: " and additionalModelRequestFields holds what the catalogue's converse_fields rows list.
func TestThinkingRulesConverse(t *testing.T) {
	const hi = `"messages":[{"role":"user","content":[{"text":"hi"}]}]`
	thought, sig := signedBlock("I thought about it.")
	history := func(rc string) string {
		return `"messages":[{"role":"user","content":[{"text":"hi"}]},{"role":"assistant","content":[{"reasoningContent":` + rc +
			`},{"text":"Hello."}]},{"role":"user","content":[{"text":"again"}]}]`
	}
	const thinking = `"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":1024}}`
	tests := []struct {
		name, model, body, want string
		thinks                  bool
	}{
		{"enabled", sonnet45, `{"inferenceConfig":{"maxTokens":2048},` + thinking + `,` + hi + `}`, "", true},
		{"enabled with the default maximum", sonnet45, `{` + thinking + `,` + hi + `}`, "", true},
		{"top_k and a beta", sonnet45, `{"additionalModelRequestFields":{"top_k":5,"anthropic_beta":["context-1m-2025-08-07"]},` + hi + `}`, "", false},
		{"an unknown member", sonnet45, `{"additionalModelRequestFields":{"betas":["context-1m-2025-08-07"]},` + hi + `}`,
			"The model returned the following errors: betas: Extra inputs are not permitted", false},
		{"reasoning_config", sonnet45, `{"additionalModelRequestFields":{"reasoning_config":{"type":"enabled"}},` + hi + `}`,
			"The model returned the following errors: reasoning_config: Extra inputs are not permitted", false},
		{"output_config on Sonnet 4.5", sonnet45, `{"additionalModelRequestFields":{"output_config":{"effort":"high"}},` + hi + `}`,
			"The model returned the following errors: output_config: Extra inputs are not permitted", false},
		{"output_config on Opus 4.7", opus47, `{"additionalModelRequestFields":{"output_config":{"effort":"high"},"thinking":{"type":"adaptive"}},` + hi + `}`, "", true},
		{"a made-up beta", sonnet45, `{"additionalModelRequestFields":{"anthropic_beta":["no-such-beta-2099-01-01"]},` + hi + `}`,
			"The model returned the following errors: invalid beta flag", false},
		{"a beta Opus 4.7 refuses", opus47, `{"additionalModelRequestFields":{"anthropic_beta":["claude-code-20250219"]},` + hi + `}`,
			"The model returned the following errors: invalid beta flag", false},
		{"betas not strings", sonnet45, `{"additionalModelRequestFields":{"anthropic_beta":[1]},` + hi + `}`,
			"The model returned the following errors: anthropic_beta: Input should be a valid list of strings", false},
		{"betas a string", sonnet45, `{"additionalModelRequestFields":{"anthropic_beta":"context-1m-2025-08-07"},` + hi + `}`,
			"anthropic_beta: Input should be a valid list of strings", false},
		{"top_k a string", sonnet45, `{"additionalModelRequestFields":{"top_k":"5"},` + hi + `}`,
			"The model returned the following errors: top_k: Input should be a valid integer", false},
		{"budget below 1024", sonnet45, `{"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":10}},` + hi + `}`,
			"The model returned the following errors: thinking.enabled.budget_tokens: Input should be greater than or equal to 1024", false},
		{"thinking a string", sonnet45, `{"additionalModelRequestFields":{"thinking":"on"},` + hi + `}`,
			"The model returned the following errors: thinking: Input should be a valid dictionary or object to extract fields from", false},
		{"budget not below maxTokens", sonnet45, `{"inferenceConfig":{"maxTokens":1024},` + thinking + `,` + hi + `}`,
			"The model returned the following errors: `max_tokens` must be greater than `thinking.budget_tokens`.", false},
		{"temperature", sonnet45, `{"inferenceConfig":{"maxTokens":2048,"temperature":0.2},` + thinking + `,` + hi + `}`,
			"The model returned the following errors: `temperature` may only be set to 1 when thinking is enabled.", false},
		{"topP", sonnet45, `{"inferenceConfig":{"maxTokens":2048,"topP":0.5},` + thinking + `,` + hi + `}`,
			"The model returned the following errors: top_p must be unset when thinking is enabled.", false},
		{"top_k", sonnet45, `{"additionalModelRequestFields":{"top_k":1,"thinking":{"type":"enabled","budget_tokens":1024}},` + hi + `}`,
			"The model returned the following errors: `top_k` must be unset when thinking is enabled.", false},
		{"forced tool", sonnet45, `{` + thinking + `,"toolConfig":{"tools":[{"toolSpec":{"name":"get","inputSchema":{"json":{"type":"object"}}}}],"toolChoice":{"any":{}}},` + hi + `}`,
			"The model returned the following errors: Thinking may not be enabled when tool_choice forces tool use.", false},
		{"a model that does not think", sonnet35, `{` + thinking + `,` + hi + `}`,
			"The model returned the following errors: 'claude-3-5-sonnet-20241022' does not support thinking.", false},
		{"a signed block", sonnet45, `{` + thinking + `,` + history(`{"reasoningText":{"text":"`+thought+`","signature":"`+sig+`"}}`) + `}`, "", true},
		{"no signature", sonnet45, `{` + thinking + `,` + history(`{"reasoningText":{"text":"x"}}`) + `}`,
			"The model returned the following errors: messages.1.content.0.thinking.signature: Field required", false},
		{"a tampered block", sonnet45, `{` + history(`{"reasoningText":{"text":"I thought otherwise.","signature":"`+sig+`"}}`) + `}`,
			"The model returned the following errors: messages.1.content.0: Invalid signature in thinking block", false},
		{"after a cache point", sonnet45, `{"messages":[{"role":"user","content":[{"text":"hi"},{"cachePoint":{"type":"default"}}]},{"role":"assistant","content":[{"text":"Hello."},{"reasoningContent":{"reasoningText":{"text":"x","signature":"bad"}}}]},{"role":"user","content":[{"text":"again"}]}]}`,
			"messages.1.content.1: Invalid signature in thinking block", false},
		{"redacted, made up", sonnet45, `{` + history(`{"redactedContent":"bm90IHRoZSBzYW5kYm94J3M="}`) + `}`,
			"The model returned the following errors: messages.1.content.0: Invalid data in redacted_thinking block", false},

		// Malformed reasoningContent blocks: the service's own checks, without the model's prefix.
		{"reasoningContent a string", sonnet45, `{` + history(`"x"`) + `}`,
			"Invalid type for messages.1.content.0.reasoningContent: expected a JSON object, found String.", false},
		{"both members", sonnet45, `{` + history(`{"reasoningText":{"text":"x","signature":"s"},"redactedContent":"eA=="}`) + `}`,
			"The ReasoningContentBlock object at messages.1.content.0.reasoningContent must set exactly one of its members (found 2).", false},
		{"no text", sonnet45, `{` + history(`{"reasoningText":{"signature":"s"}}`) + `}`,
			"1 validation error detected: Value null at 'messages.2.member.content.1.member.reasoningContent.reasoningText.text' failed to satisfy constraint: Member must not be null", false},
		{"text a number", sonnet45, `{` + history(`{"reasoningText":{"text":1,"signature":"s"}}`) + `}`,
			"Invalid type for messages.1.content.0.reasoningContent.reasoningText.text: expected a string, found Integer.", false},
		{"signature a number", sonnet45, `{` + history(`{"reasoningText":{"text":"x","signature":1}}`) + `}`,
			"Invalid type for messages.1.content.0.reasoningContent.reasoningText.signature: expected a string, found Integer.", false},
		{"redacted not base64", sonnet45, `{` + history(`{"redactedContent":"%%%"}`) + `}`,
			"Invalid type for messages.1.content.0.reasoningContent.redactedContent: expected a base64-encoded blob, found String.", false},
		{"an unknown member", sonnet45, `{` + history(`{"summary":"x"}`) + `}`,
			"The ReasoningContentBlock object at messages.1.content.0.reasoningContent has an unknown member \"summary\".", false},

		// Nova: its own fields under inferenceConfig, in its JSON schema's wording.
		{"Nova topK", "amazon.nova-pro-v1:0", `{"additionalModelRequestFields":{"inferenceConfig":{"topK":20}},` + hi + `}`, "", false},
		{"Nova unknown", "amazon.nova-pro-v1:0", `{"additionalModelRequestFields":{"top_k":20},` + hi + `}`,
			"Malformed input request: #: extraneous key [top_k] is not permitted, please reformat your input and try again.", false},
		{"Nova thinking", "amazon.nova-pro-v1:0", `{"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":1024}},` + hi + `}`,
			"#: extraneous key [thinking] is not permitted", false},
		{"Nova unknown inference field", "amazon.nova-pro-v1:0", `{"additionalModelRequestFields":{"inferenceConfig":{"topK":20,"topA":1}},` + hi + `}`,
			"#/inferenceConfig: extraneous key [topA] is not permitted", false},
		{"Nova topK a string", "amazon.nova-pro-v1:0", `{"additionalModelRequestFields":{"inferenceConfig":{"topK":"20"}},` + hi + `}`,
			"#/inferenceConfig/topK: expected type: Integer, found: String", false},
		{"Nova inferenceConfig a list", "amazon.nova-pro-v1:0", `{"additionalModelRequestFields":{"inferenceConfig":[]},` + hi + `}`,
			"#/inferenceConfig: expected type: JSONObject, found: JSONArray", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := catalogModel(t, tt.model)
			c, err := parseConverseBody([]byte(tt.body))
			if err == nil {
				err = c.checkMaxTokens(m)
			}
			if err == nil {
				err = c.checkConverseModel(m, []byte(tt.body))
			}
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %s, want it accepted", err.Message)
			case tt.want == "" && (c.Thinking != nil) != tt.thinks:
				t.Fatalf("thinking %+v, want thinking %v", c.Thinking, tt.thinks)
			case tt.want != "" && (err == nil || err.Code != "ValidationException" || err.Status != 400 || !strings.Contains(err.Message, tt.want)):
				t.Fatalf("got %v, want 400 ValidationException %q", err, tt.want)
			}
		})
	}
}

// Every model × thinking type of the catalogue's thinking rows: what a row lists is taken, the rest refused
// with the model's wording.
func TestThinkingTable(t *testing.T) {
	cat := catalog.Default()
	for _, m := range cat.Models {
		cp, ok := cat.Compat(m.ID)
		if !ok {
			continue
		}
		version := cp.Versions[len(cp.Versions)-1]
		for _, typ := range []string{catalog.ThinkingEnabled, catalog.ThinkingAdaptive, catalog.ThinkingDisabled} {
			th := `{"type":"` + typ + `"}`
			if typ == catalog.ThinkingEnabled {
				th = `{"type":"enabled","budget_tokens":1024}`
			}
			body := `{"anthropic_version":"` + version + `","max_tokens":2048,"thinking":` + th + `,"messages":[{"role":"user","content":"hi"}]}`
			_, err := parseInvokeBody(m, []byte(body))
			if cp.AcceptsThinking(typ) != (err == nil) {
				t.Errorf("%s thinking %s: got %v, want accepted %v", m.ID, typ, err, cp.AcceptsThinking(typ))
			}
		}
	}
}

func thinkingConversation(t *testing.T, model, body string) (conversation, catalog.Model) {
	t.Helper()
	m := catalogModel(t, model)
	c, err := parseInvokeBody(m, []byte(body))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return c, m
}

// The reply to a thinking request starts with a thinking block whose text is the prompt's and whose signature
// verifies; its tokens are output tokens, taken out of max_tokens before the answer's.
func TestThinkingReply(t *testing.T) {
	const body = `{"anthropic_version":"bedrock-2023-05-31","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"Think about Tokyo"}]}`
	c, _ := thinkingConversation(t, sonnet45, body)
	r := replyWithThinking(c, testServedBy)
	if len(r.Thinking) != 1 || !strings.Contains(r.Thinking[0].Text, "Think about Tokyo") || !verifySignature(r.Thinking[0].Signature, r.Thinking[0].Text) {
		t.Fatalf("thinking %+v, want one signed block quoting the prompt", r.Thinking)
	}
	plain := generateReply(c, testServedBy)
	if r.Text != plain.Text || r.OutputTokens != plain.OutputTokens+countTokens(r.Thinking[0].Text) || r.StopReason != "end_turn" {
		t.Errorf("reply %q (%d tokens, %s), want %q with %d + the thinking's tokens", r.Text, r.OutputTokens, r.StopReason, plain.Text, plain.OutputTokens)
	}
	if again := replyWithThinking(c, testServedBy); again.Thinking[0] != r.Thinking[0] {
		t.Error("the thinking is not deterministic")
	}
	if verifySignature(r.Thinking[0].Signature, r.Thinking[0].Text+" ") || verifySignature(r.Thinking[0].Signature[1:], r.Thinking[0].Text) {
		t.Error("a signature verifies another text, or a cut signature verifies")
	}

	// think:N asks for N tokens of thinking, within the budget; what is left of max_tokens is the answer's.
	c, _ = thinkingConversation(t, sonnet45, `{"anthropic_version":"bedrock-2023-05-31","max_tokens":1100,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"think:5000 words:500"}]}`)
	r = replyWithThinking(c, testServedBy)
	if got := r.Thinking[0].Tokens; got != 1024 || countTokens(r.Thinking[0].Text) != 1024 {
		t.Errorf("think:5000 with a budget of 1024: %d thinking tokens, want 1024", got)
	}
	if r.OutputTokens != 1100 || r.StopReason != "max_tokens" {
		t.Errorf("output %d tokens, stop %s; want all 1100 of max_tokens and max_tokens", r.OutputTokens, r.StopReason)
	}

	// Adaptive thinking has no budget; display omitted returns no text, with a signature of the empty text.
	c, _ = thinkingConversation(t, opus47, `{"anthropic_version":"2026-10-21","max_tokens":100,"thinking":{"type":"adaptive","display":"omitted"},"messages":[{"role":"user","content":"think:40 hi"}]}`)
	r = replyWithThinking(c, testServedBy)
	if r.Thinking[0].Text != "" || r.Thinking[0].Tokens != 40 || !verifySignature(r.Thinking[0].Signature, "") {
		t.Errorf("omitted thinking %+v, want no text, 40 tokens and a signature", r.Thinking[0])
	}
	// Never all of max_tokens: the answer keeps a token.
	c, _ = thinkingConversation(t, opus47, `{"anthropic_version":"2026-10-21","max_tokens":10,"thinking":{"type":"adaptive"},"messages":[{"role":"user","content":"think:40 hi"}]}`)
	if r = replyWithThinking(c, testServedBy); r.Thinking[0].Tokens != 9 || r.OutputTokens != 10 || r.Text == "" {
		t.Errorf("max_tokens 10: thinking %d tokens, output %d, text %q; want 9, 10 and a token of text", r.Thinking[0].Tokens, r.OutputTokens, r.Text)
	}

	// The redacted-thinking directives add a redacted block whose data verifies.
	for _, prompt := range []string{"show me redacted thinking", redactedTrigger} {
		c, _ = thinkingConversation(t, sonnet45, `{"anthropic_version":"bedrock-2023-05-31","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"`+prompt+`"}]}`)
		r = replyWithThinking(c, testServedBy)
		if len(r.Thinking) != 2 || r.Thinking[1].Redacted == "" || !verifyRedacted(r.Thinking[1].Redacted) {
			t.Fatalf("%s: thinking %+v, want a thinking and a redacted block", prompt, r.Thinking)
		}
		if strings.Contains(r.Thinking[1].Redacted, "redacted") {
			t.Error("the redacted data is readable")
		}
		raw, _ := base64.StdEncoding.DecodeString(r.Thinking[1].Redacted)
		raw[len(raw)-1] ^= 1
		if verifyRedacted(base64.StdEncoding.EncodeToString(raw)) {
			t.Error("tampered redacted data verifies")
		}
	}

	// No thinking, no thinking blocks.
	c, _ = thinkingConversation(t, sonnet45, `{"anthropic_version":"bedrock-2023-05-31","max_tokens":50,"messages":[{"role":"user","content":"redacted thinking"}]}`)
	if r = replyWithThinking(c, testServedBy); r.Thinking != nil {
		t.Errorf("thinking %+v without thinking enabled", r.Thinking)
	}
}

// The reply's thinking in each response shape: Messages content, its stream, Converse content, ConverseStream.
func TestThinkingShapes(t *testing.T) {
	c, m := thinkingConversation(t, sonnet45, `{"anthropic_version":"bedrock-2023-05-31","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"hello redacted thinking"}]}`)
	r := replyWithThinking(c, testServedBy)
	think, redacted := r.Thinking[0], r.Thinking[1]

	var msg struct {
		Content []struct {
			Type      string  `json:"type"`
			Thinking  *string `json:"thinking"`
			Signature string  `json:"signature"`
			Data      string  `json:"data"`
			Text      *string `json:"text"`
		} `json:"content"`
	}
	if err := json.Unmarshal(invokeResponseBody(m, r, testServedBy), &msg); err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 3 || msg.Content[0].Type != "thinking" || *msg.Content[0].Thinking != think.Text || msg.Content[0].Signature != think.Signature ||
		msg.Content[0].Text != nil || msg.Content[1].Type != "redacted_thinking" || msg.Content[1].Data != redacted.Redacted ||
		msg.Content[2].Type != "text" || *msg.Content[2].Text != r.Text {
		t.Errorf("Messages content: %+v", msg.Content)
	}

	var thought, signature, data string
	var types []string
	for _, e := range invokeStreamEvents(m, r, testServedBy, 1, 2) {
		var ch struct{ Bytes []byte }
		json.Unmarshal(e.Payload, &ch)
		var ev struct {
			Type         string
			Index        int
			ContentBlock struct{ Type, Data string } `json:"content_block"`
			Delta        struct{ Type, Thinking, Signature string }
		}
		json.Unmarshal(ch.Bytes, &ev)
		switch {
		case ev.Type == "content_block_start":
			types = append(types, ev.ContentBlock.Type)
			data += ev.ContentBlock.Data
		case ev.Delta.Type == "thinking_delta":
			thought += ev.Delta.Thinking
		case ev.Delta.Type == "signature_delta":
			signature += ev.Delta.Signature
		}
	}
	if strings.Join(types, ",") != "thinking,redacted_thinking,text" || thought != think.Text || signature != think.Signature || data != redacted.Redacted {
		t.Errorf("stream: blocks %v, thinking %q, signature %q, data %q", types, thought, signature, data)
	}

	var cv struct {
		Output struct {
			Message struct {
				Content []struct {
					ReasoningContent *struct {
						ReasoningText   *struct{ Text, Signature string }
						RedactedContent []byte
					}
					Text *string
				}
			}
		}
	}
	if err := json.Unmarshal(converseResponseBody(r, 1), &cv); err != nil {
		t.Fatal(err)
	}
	content := cv.Output.Message.Content
	if len(content) != 3 || content[0].ReasoningContent == nil || content[0].ReasoningContent.ReasoningText.Text != think.Text ||
		content[0].ReasoningContent.ReasoningText.Signature != think.Signature ||
		base64.StdEncoding.EncodeToString(content[1].ReasoningContent.RedactedContent) != redacted.Redacted || *content[2].Text != r.Text {
		t.Errorf("Converse content: %s", converseResponseBody(r, 1))
	}

	thought, signature, data = "", "", ""
	var stops []int
	for _, e := range converseStreamEvents(r, 2) {
		var ev struct {
			Delta struct {
				ReasoningContent struct {
					Text, Signature string
					RedactedContent []byte
				}
			}
			ContentBlockIndex int
		}
		json.Unmarshal(e.Payload, &ev)
		switch e.EventType {
		case "contentBlockDelta":
			thought += ev.Delta.ReasoningContent.Text
			signature += ev.Delta.ReasoningContent.Signature
			if ev.Delta.ReasoningContent.RedactedContent != nil {
				data = base64.StdEncoding.EncodeToString(ev.Delta.ReasoningContent.RedactedContent)
			}
		case "contentBlockStop":
			stops = append(stops, ev.ContentBlockIndex)
		}
	}
	if thought != think.Text || signature != think.Signature || data != redacted.Redacted || len(stops) != 3 || stops[2] != 2 {
		t.Errorf("ConverseStream: thinking %q, signature %q, data %q, stops %v", thought, signature, data, stops)
	}
}

// A reply's thinking goes back in the next request's history and is accepted; edited, it is refused.
func TestThinkingRoundTrip(t *testing.T) {
	c, m := thinkingConversation(t, sonnet45, `{"anthropic_version":"bedrock-2023-05-31","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"hello redacted thinking"}]}`)
	r := replyWithThinking(c, testServedBy)
	var msg struct{ Content json.RawMessage }
	json.Unmarshal(invokeResponseBody(m, r, testServedBy), &msg)
	next := func(content string) string {
		return `{"anthropic_version":"bedrock-2023-05-31","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[` +
			`{"role":"user","content":"hello redacted thinking"},{"role":"assistant","content":` + content + `},{"role":"user","content":"and now?"}]}`
	}
	if _, err := parseInvokeBody(m, []byte(next(string(msg.Content)))); err != nil {
		t.Fatalf("the reply's own content in the history: %v", err)
	}
	edited := strings.Replace(string(msg.Content), "Turn 1", "Turn 2", 1)
	if _, err := parseInvokeBody(m, []byte(next(edited))); err == nil || err.Message != "messages.1.content.0: Invalid signature in thinking block" {
		t.Fatalf("edited thinking: got %v", err)
	}
}
