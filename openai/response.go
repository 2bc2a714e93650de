package openai

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"
)

// Meta is what every response and chunk of one completion carries.
type Meta struct {
	ID      string // chatcmpl-...
	Model   string // as the caller asked for it
	Created time.Time
}

// NewMeta gives a completion a fresh id.
func NewMeta(model string, now time.Time) Meta {
	return Meta{ID: "chatcmpl-" + rand.Text(), Model: model, Created: now}
}

// ChatCompletion is the chat.completion object.
type ChatCompletion struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"` // chat.completion
	Created int64    `json:"created"`
	Model   string   `json:"model"`
	Choices []Choice `json:"choices"`
	Usage   *Usage   `json:"usage,omitempty"`
}

// Choice is the one choice a Bedrock answer makes.
type Choice struct {
	Index        int             `json:"index"`
	Message      Message         `json:"message"`
	FinishReason string          `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs"` // always null
}

// Message is the assistant's reply.
type Message struct {
	Role      string     `json:"role"`
	Content   *string    `json:"content"` // null when the reply is only tool calls
	Refusal   *string    `json:"refusal"`
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
}

// ToolCall is a function call the model asks for; Arguments is a JSON object as a string.
type ToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"` // function
	Function FunctionCall `json:"function"`
}

// FunctionCall names the function and its arguments.
type FunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// Usage counts tokens.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

var null = json.RawMessage("null")

// FinishReason maps a Bedrock stop reason to OpenAI's finish_reason.
func FinishReason(stopReason string) string {
	switch stopReason {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "content_filtered", "guardrail_intervened":
		return "content_filter"
	}
	return "stop" // end_turn, stop_sequence, and anything newer
}

// Completion maps a Converse response body to a chat.completion.
func Completion(body []byte, meta Meta) (*ChatCompletion, error) {
	var r converseResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("decode the Converse response: %w", err)
	}
	if r.Output.Message == nil {
		return nil, fmt.Errorf("the Converse response has no output message")
	}
	msg := Message{Role: "assistant"}
	text, hasText := "", false
	for _, b := range r.Output.Message.Content {
		switch {
		case b.Text != nil:
			text += *b.Text
			hasText = true
		case b.ToolUse != nil:
			msg.ToolCalls = append(msg.ToolCalls, ToolCall{ID: b.ToolUse.ToolUseID, Type: "function",
				Function: FunctionCall{Name: b.ToolUse.Name, Arguments: arguments(b.ToolUse.Input)}})
		}
		// reasoningContent, citations and other blocks have no chat.completion counterpart.
	}
	if hasText && (text != "" || len(msg.ToolCalls) == 0) {
		msg.Content = &text
	} else if len(msg.ToolCalls) == 0 {
		msg.Content = new(string)
	}
	u := usage(r.Usage)
	return &ChatCompletion{ID: meta.ID, Object: "chat.completion", Created: meta.Created.Unix(), Model: meta.Model,
		Choices: []Choice{{Index: 0, Message: msg, FinishReason: FinishReason(r.StopReason), Logprobs: null}},
		Usage:   &u}, nil
}

func usage(u converseUsage) Usage {
	total := u.TotalTokens
	if total == 0 {
		total = u.InputTokens + u.OutputTokens
	}
	return Usage{PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens, TotalTokens: total}
}

// arguments writes a tool input as OpenAI's JSON-string arguments.
func arguments(input json.RawMessage) string {
	if len(input) == 0 || isNull(input) {
		return "{}"
	}
	return compact(input)
}
