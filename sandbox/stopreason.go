package sandbox

import (
	"regexp"
	"strings"
)

// Stop directives make the sandbox's model stop for a reason no ordinary prompt reaches: "stop:REASON" in
// what the user wrote in the last turn (as "words:N" is). The ordinary reasons are reached the ordinary way:
// end_turn by default, max_tokens by max_tokens (with "words:N" or "long answer"), stop_sequence by a stop
// sequence, tool_use by asking for a tool; guardrail_intervened by a guardrail that intervenes, never by a
// directive.
//
// Each directive names a reason of one vocabulary and is written in each dialect's nearest one: Converse's
// StopReason (which Nova's InvokeModel bodies share) and the Anthropic Messages API's stop_reason.
var stopDirectives = map[string]struct{ converse, anthropic string }{
	"content_filtered":              {"content_filtered", "refusal"},
	"refusal":                       {"content_filtered", "refusal"},
	"malformed_model_output":        {"malformed_model_output", "end_turn"},
	"malformed_tool_use":            {"malformed_tool_use", "end_turn"},
	"model_context_window_exceeded": {"model_context_window_exceeded", "model_context_window_exceeded"},
	"pause_turn":                    {"end_turn", "pause_turn"},
}

var stopPattern = regexp.MustCompile(`(?i)\bstop:([a-z_]+)\b`)

// stopDirective finds the first stop directive the sandbox knows in prompt; another "stop:word" is text.
func stopDirective(prompt string) (converse, anthropic string, ok bool) {
	for _, m := range stopPattern.FindAllStringSubmatch(prompt, -1) {
		if d, known := stopDirectives[strings.ToLower(m[1])]; known {
			return d.converse, d.anthropic, true
		}
	}
	return "", "", false
}

// withStopDirective applies the last user turn's stop directive to r. The model stops where it had got to,
// without the tool call it may have been making (Bedrock drops a malformed one; a filtered answer makes none).
func withStopDirective(c conversation, r reply) reply {
	last, _ := lastUserTurn(c)
	converse, anthropic, ok := stopDirective(userText(last))
	if !ok {
		return r
	}
	if t := r.ToolUse; t != nil {
		// The call's tokens, as generateReply counted them, are not generated.
		r.OutputTokens = max(1, r.OutputTokens-(tokensPerToolBlock+countTokens(t.Name)+countTokens(string(t.Input))))
		r.ToolUse = nil
	}
	r.StopReason, r.StopSequence = converse, ""
	if anthropic != converse {
		r.AnthropicStopReason = anthropic
	}
	return r
}

// anthropicStop is r's stop reason in the Messages API's vocabulary.
func (r reply) anthropicStop() string {
	if r.AnthropicStopReason != "" {
		return r.AnthropicStopReason
	}
	return r.StopReason
}
