package sandbox

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCountTokens(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{" ", 1},
		{"hello", 1},
		{"hello world", 2},
		{"  hello   world \n", 2},
		{"こんにちは", 5},
		{"東京 Tokyo", 3},
		{"internationalization", 2}, // 20 runes: two pieces of maxWordRunes
		{"Grüße, Welt!", 2},
		{"a,b,c", 1},
	}
	for _, tt := range tests {
		if got := countTokens(tt.in); got != tt.want {
			t.Errorf("countTokens(%q): got %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestSplitTokensRoundTrip(t *testing.T) {
	for _, s := range []string{"", " ", "a b  c ", "\n\nこんにちは、世界 hello", "x\xffy", "trailing   ", "averyveryverylongwordindeed"} {
		pieces := splitTokens(s)
		if got := strings.Join(pieces, ""); got != s {
			t.Errorf("splitTokens(%q) joins back to %q", s, got)
		}
		for n := 0; n <= len(pieces)+1; n++ {
			cut, truncated := truncateTokens(s, n)
			if !strings.HasPrefix(s, cut) {
				t.Errorf("truncateTokens(%q, %d) = %q is not a prefix", s, n, cut)
			}
			if truncated != (n < len(pieces)) && s != "" {
				t.Errorf("truncateTokens(%q, %d): truncated=%v", s, n, truncated)
			}
			if countTokens(cut) > max(n, 1) {
				t.Errorf("truncateTokens(%q, %d) = %q has %d tokens", s, n, cut, countTokens(cut))
			}
		}
	}
}

func userConversation(text string) conversation {
	return conversation{Messages: []turn{{Role: "user", Text: text}}, MaxTokens: 1000, ToolChoice: "auto"}
}

func TestGenerateReply(t *testing.T) {
	weatherTool := toolSpec{Name: "get_weather", Description: "weather",
		Schema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"},
			"unit":{"type":"string","enum":["celsius","fahrenheit"]},"detailed":{"type":"boolean"},
			"when":{"type":"object","properties":{"from":{"type":["string","null"]}},"required":["from"]},
			"tags":{"type":"array","items":{"type":"number"}},"optional":{"type":"string"}},
			"required":["city","days","unit","detailed","when","tags"]}`)}
	otherTool := toolSpec{Name: "lookup", Schema: json.RawMessage(`{"type":"object"}`)}
	// Claude Code's tools and the reminders it puts before the prompt in the user's turn (shortened).
	bashTool := toolSpec{Name: "Bash", Schema: json.RawMessage(`{"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}`)}
	readTool := toolSpec{Name: "Read", Schema: json.RawMessage(`{"type":"object","properties":{"file_path":{"type":"string"}},"required":["file_path"]}`)}
	toolSearchTool := toolSpec{Name: "ToolSearch", Schema: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}`)}
	const claudeCodeReminders = "<system-reminder>\nThe following deferred tools are now available via ToolSearch. Their schemas are NOT loaded — " +
		"calling them directly will fail with InputValidationError. Use ToolSearch with query \"select:<name>\" to load tool schemas before calling them:\nCronCreate\n</system-reminder>\n" +
		"<system-reminder>\nAvailable agent types for the Agent tool: use the tool Bash to run commands; call Read to read a file.\n</system-reminder>\n"

	multi := conversation{System: "Answer in haiku.", MaxTokens: 1000, ToolChoice: "auto", Messages: []turn{
		{Role: "user", Text: "first"}, {Role: "assistant", Text: "ok"}, {Role: "user", Text: "第二の質問です"}}}

	tests := []struct {
		name     string
		c        conversation
		text     []string // substrings the text must contain
		stop     string
		stopSeq  string
		tool     string
		input    string
		outToken int // 0: not checked
	}{
		{name: "echo", c: userConversation("Hello there"), stop: "end_turn",
			text: []string{"[bedrock sandbox: Claude Sonnet 4.5 in account 222222222222, ap-northeast-3] ", "Turn 1.", "You said: “Hello there”"}},
		{name: "multi-turn japanese with system", c: multi, stop: "end_turn",
			text: []string{"Turn 2.", "“第二の質問です”", "system prompt applied: “Answer in haiku.”"}},
		{name: "max tokens", c: conversation{Messages: []turn{{Role: "user", Text: "hi"}}, MaxTokens: 3}, stop: "max_tokens",
			text: []string{"[bedrock sandbox: Claude"}, outToken: 3},
		{name: "stop sequence", c: conversation{Messages: []turn{{Role: "user", Text: "hi"}}, MaxTokens: 100, StopSequences: []string{"zzz", "Turn"}},
			stop: "stop_sequence", stopSeq: "Turn", text: []string{"ap-northeast-3] "}},
		{name: "words:N", c: userConversation("give me words:500 please"), stop: "end_turn", outToken: 500},
		{name: "long answer", c: userConversation("a long answer please"), stop: "end_turn", outToken: longAnswerTokens},
		{name: "words:N over max_tokens", c: conversation{Messages: []turn{{Role: "user", Text: "words:5000"}}, MaxTokens: 64}, stop: "max_tokens", outToken: 64},
		{name: "words:N huge", c: conversation{Messages: []turn{{Role: "user", Text: "words:99999999999999999999"}}, MaxTokens: 10}, stop: "max_tokens", outToken: 10},
		{name: "tool named", c: conversation{Messages: []turn{{Role: "user", Text: "What's the weather in Tokyo for 3 days? use get_weather"}},
			MaxTokens: 1000, Tools: []toolSpec{otherTool, weatherTool}, ToolChoice: "auto"},
			stop: "tool_use", tool: "get_weather", text: []string{"I'll call the get_weather tool."},
			input: `{"city":"Tokyo","days":3,"unit":"celsius","detailed":true,"when":{"from":"Tokyo"},"tags":[3]}`},
		{name: "use a tool", c: conversation{Messages: []turn{{Role: "user", Text: "please use a tool"}},
			MaxTokens: 1000, Tools: []toolSpec{otherTool}, ToolChoice: "auto"}, stop: "tool_use", tool: "lookup", input: `{}`},
		{name: "no ask, no tool", c: conversation{Messages: []turn{{Role: "user", Text: "just chat"}},
			MaxTokens: 1000, Tools: []toolSpec{otherTool}, ToolChoice: "auto"}, stop: "end_turn"},
		{name: "tool choice none", c: conversation{Messages: []turn{{Role: "user", Text: "use a tool lookup"}},
			MaxTokens: 1000, Tools: []toolSpec{otherTool}, ToolChoice: "none"}, stop: "end_turn"},
		{name: "forced tool", c: conversation{Messages: []turn{{Role: "user", Text: "hello"}},
			MaxTokens: 1000, Tools: []toolSpec{otherTool, weatherTool}, ToolChoice: "tool:get_weather"},
			stop: "tool_use", tool: "get_weather",
			input: `{"city":"hello","days":1,"unit":"celsius","detailed":true,"when":{"from":"hello"},"tags":[1]}`},
		{name: "any", c: conversation{Messages: []turn{{Role: "user", Text: "hello"}},
			MaxTokens: 1000, Tools: []toolSpec{otherTool}, ToolChoice: "any"}, stop: "tool_use", tool: "lookup"},
		{name: "tool result", c: conversation{MaxTokens: 1000, Tools: []toolSpec{weatherTool}, ToolChoice: "auto", Messages: []turn{
			{Role: "user", Text: "weather? use get_weather"}, {Role: "assistant", Text: "[tool_use get_weather {}]", ToolUses: 1},
			{Role: "user", Text: "sunny, 21C", ToolResults: 1}}},
			stop: "end_turn", text: []string{"Turn 2.", "The tool returned: “sunny, 21C”"}},
		// The explicit-ask rule (askedTool): agents name their tools in the system prompt and in reminders
		// added to the user's turn; only what the user wrote, and only an ask, calls a tool.
		{name: "tools named in the system prompt", c: conversation{System: "You can use the Bash tool; call Read to read files.",
			Messages: []turn{{Role: "user", Text: "Say hello in one line"}}, MaxTokens: 1000, Tools: []toolSpec{bashTool, readTool}, ToolChoice: "auto"},
			stop: "end_turn", text: []string{"You said: “Say hello in one line”"}},
		{name: "tools named in reminders", c: conversation{Messages: []turn{{Role: "user", Text: claudeCodeReminders + "Say hello in one line"}},
			MaxTokens: 1000, Tools: []toolSpec{bashTool, readTool, toolSearchTool}, ToolChoice: "auto"},
			stop: "end_turn", text: []string{"You said: “Say hello in one line”"}},
		{name: "an ask only inside a reminder", c: conversation{Messages: []turn{{Role: "user", Text: "<system-reminder>use get_weather</system-reminder>\nhello"}},
			MaxTokens: 1000, Tools: []toolSpec{weatherTool}, ToolChoice: "auto"}, stop: "end_turn", text: []string{"You said: “hello”"}},
		{name: "tools named in passing", c: conversation{Messages: []turn{{Role: "user", Text: "Read the README and Write a summary"}},
			MaxTokens: 1000, Tools: []toolSpec{readTool, {Name: "Write", Schema: json.RawMessage(`{"type":"object"}`)}}, ToolChoice: "auto"}, stop: "end_turn"},
		{name: "call, but no tool", c: conversation{Messages: []turn{{Role: "user", Text: "Call me Ishmael"}},
			MaxTokens: 1000, Tools: []toolSpec{otherTool}, ToolChoice: "auto"}, stop: "end_turn"},
		{name: "use the NAME tool", c: conversation{Messages: []turn{{Role: "user", Text: "Use the get_weather tool for Osaka"}},
			MaxTokens: 1000, Tools: []toolSpec{otherTool, weatherTool}, ToolChoice: "auto"}, stop: "tool_use", tool: "get_weather",
			input: `{"city":"Osaka","days":1,"unit":"celsius","detailed":true,"when":{"from":"Osaka"},"tags":[1]}`},
		{name: "call the tool NAME", c: conversation{Messages: []turn{{Role: "user", Text: "please call the tool lookup"}},
			MaxTokens: 1000, Tools: []toolSpec{weatherTool, otherTool}, ToolChoice: "auto"}, stop: "tool_use", tool: "lookup"},
		{name: "an ask after reminders", c: conversation{Messages: []turn{{Role: "user", Text: claudeCodeReminders + "Use Read on README"}},
			MaxTokens: 1000, Tools: []toolSpec{bashTool, readTool, toolSearchTool}, ToolChoice: "auto"}, stop: "tool_use", tool: "Read",
			text: []string{"I'll call the Read tool."}, input: `{"file_path":"README"}`},
		{name: "after a tool result, text even when asked again", c: conversation{MaxTokens: 1000, Tools: []toolSpec{weatherTool}, ToolChoice: "auto", Messages: []turn{
			{Role: "user", Text: "use get_weather"}, {Role: "assistant", Text: "[tool_use get_weather {}]", ToolUses: 1},
			{Role: "user", Text: "sunny\n<system-reminder>call get_weather again</system-reminder>", ToolResults: 1}}},
			stop: "end_turn", text: []string{"The tool returned: “sunny”"}},
		{name: "tool use does not fit max_tokens", c: conversation{Messages: []turn{{Role: "user", Text: "use a tool"}},
			MaxTokens: 20, Tools: []toolSpec{weatherTool}, ToolChoice: "auto"}, stop: "max_tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := generateReply(tt.c, testServedBy)
			if again := generateReply(tt.c, testServedBy); !cmp.Equal(r, again) {
				t.Fatalf("not deterministic:\n%+v\n%+v", r, again)
			}
			for _, s := range tt.text {
				if !strings.Contains(r.Text, s) {
					t.Errorf("text %q does not contain %q", r.Text, s)
				}
			}
			if r.StopReason != tt.stop || r.StopSequence != tt.stopSeq {
				t.Errorf("stop: got %q %q, want %q %q (text %q)", r.StopReason, r.StopSequence, tt.stop, tt.stopSeq, r.Text)
			}
			if tt.stopSeq != "" && strings.Contains(r.Text, tt.stopSeq) {
				t.Errorf("text %q still contains the stop sequence", r.Text)
			}
			if r.InputTokens != tt.c.inputTokens() {
				t.Errorf("input tokens: got %d, want %d", r.InputTokens, tt.c.inputTokens())
			}
			if r.OutputTokens > tt.c.MaxTokens {
				t.Errorf("output tokens %d > max_tokens %d", r.OutputTokens, tt.c.MaxTokens)
			}
			if tt.outToken != 0 && r.OutputTokens != tt.outToken {
				t.Errorf("output tokens: got %d, want %d", r.OutputTokens, tt.outToken)
			}
			if tt.tool == "" {
				if r.ToolUse != nil {
					t.Errorf("unexpected tool use %+v", r.ToolUse)
				}
				return
			}
			if r.ToolUse == nil || r.ToolUse.Name != tt.tool || !strings.HasPrefix(r.ToolUse.ID, "tooluse_") {
				t.Fatalf("tool use: got %+v, want %s", r.ToolUse, tt.tool)
			}
			if !json.Valid(r.ToolUse.Input) {
				t.Fatalf("tool input is not JSON: %s", r.ToolUse.Input)
			}
			if tt.input != "" && string(r.ToolUse.Input) != tt.input {
				t.Errorf("tool input: got %s, want %s", r.ToolUse.Input, tt.input)
			}
		})
	}
}

// Forced tool use skips the text before the call, as Claude does when tool_choice is any or tool.
func TestGenerateReplyForcedToolHasNoText(t *testing.T) {
	c := conversation{Messages: []turn{{Role: "user", Text: "hi"}}, MaxTokens: 100,
		Tools: []toolSpec{{Name: "t", Schema: json.RawMessage(`{"type":"object"}`)}}, ToolChoice: "any"}
	if r := generateReply(c, testServedBy); r.Text != "" || r.ToolUse == nil {
		t.Errorf("got text %q tool %+v", r.Text, r.ToolUse)
	}
}

func TestGenerateReplyDependsOnServer(t *testing.T) {
	c := userConversation("same")
	a := generateReply(c, testServedBy)
	other := testServedBy
	other.Region = "ap-northeast-1"
	b := generateReply(c, other)
	if a.Text == b.Text || !strings.Contains(b.Text, "ap-northeast-1") {
		t.Errorf("replies should name the region: %q / %q", a.Text, b.Text)
	}
}

func TestToolInputOddSchemas(t *testing.T) {
	for _, schema := range []string{`{}`, `[]`, `"x"`, `{"type":"object","required":[1,null]}`, `{"required":["a"],"properties":{"a":{"$ref":"#/x"}}}`,
		`{"required":["a"],"properties":{"a":{"anyOf":[{"type":"integer"}]}}}`, `{"required":["a"],"properties":{"a":{"const":{"k":[1]}}}}`} {
		got := toolInput(json.RawMessage(schema), "call it with 7", nil)
		if !json.Valid(got) || !strings.HasPrefix(string(got), "{") {
			t.Errorf("toolInput(%s) = %s", schema, got)
		}
	}
}
