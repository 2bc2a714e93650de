package bedrock

import (
	"encoding/json"
	"fmt"
	"strings"
)

// AnthropicVersion is the anthropic_version Bedrock requires in Anthropic request bodies.
const AnthropicVersion = "bedrock-2023-05-31"

// AnthropicRequest is an Anthropic Messages request body as InvokeModel takes it (no model, no stream).
// System and Messages are kept as raw JSON so that every content form (strings, blocks, images, tools) passes
// through untouched.
type AnthropicRequest struct {
	AnthropicVersion string          `json:"anthropic_version"`
	MaxTokens        int             `json:"max_tokens"`
	System           json.RawMessage `json:"system,omitempty"`
	Messages         json.RawMessage `json:"messages"`
	Temperature      *float64        `json:"temperature,omitempty"`
}

// AnthropicPrompt is the body of a one-turn conversation: the user says prompt.
func AnthropicPrompt(prompt, system string, maxTokens int, temperature *float64) ([]byte, error) {
	msgs, err := json.Marshal([]map[string]string{{"role": "user", "content": prompt}})
	if err != nil {
		return nil, err
	}
	req := AnthropicRequest{AnthropicVersion: AnthropicVersion, MaxTokens: maxTokens, Messages: msgs, Temperature: temperature}
	if system != "" {
		if req.System, err = json.Marshal(system); err != nil {
			return nil, err
		}
	}
	return json.Marshal(req)
}

// AnthropicReply is the part of an Anthropic Messages response the relay reads.
type AnthropicReply struct {
	ID         string `json:"id"`
	Model      string `json:"model"`
	StopReason string `json:"stop_reason"`
	Content    []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"content"`
	Usage struct {
		InputTokens  int `json:"input_tokens"`
		OutputTokens int `json:"output_tokens"`
	} `json:"usage"`
}

// Text is the reply's text blocks, joined.
func (r *AnthropicReply) Text() string {
	var b strings.Builder
	for _, c := range r.Content {
		if c.Type == "text" {
			b.WriteString(c.Text)
		}
	}
	return b.String()
}

// ParseAnthropicReply decodes an InvokeModel response body of an Anthropic model.
func ParseAnthropicReply(body []byte) (*AnthropicReply, error) {
	var r AnthropicReply
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("decode Anthropic response: %w", err)
	}
	return &r, nil
}

// AnthropicTextDelta returns the text of a content_block_delta stream event with a text_delta, and whether the
// chunk was one.
func AnthropicTextDelta(chunk []byte) (string, bool) {
	var ev struct {
		Type  string `json:"type"`
		Delta struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"delta"`
	}
	if json.Unmarshal(chunk, &ev) != nil || ev.Type != "content_block_delta" || ev.Delta.Type != "text_delta" {
		return "", false
	}
	return ev.Delta.Text, true
}
