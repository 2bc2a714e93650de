package lambdafn

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/bedrock-relay/bedrock-relay/bedrock"
	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// Event is a direct invocation: the seed's {"prompt": ...}, or a full Anthropic conversation in messages.
type Event struct {
	Prompt      string          `json:"prompt,omitempty"`
	ModelID     string          `json:"model_id,omitempty"`
	MaxTokens   *int            `json:"max_tokens,omitempty"`
	System      json.RawMessage `json:"system,omitempty"`
	Messages    json.RawMessage `json:"messages,omitempty"`
	Temperature *float64        `json:"temperature,omitempty"`
}

// eventError is a bad event: the field at fault and what is wrong.
type eventError struct {
	Field   string
	Problem string
}

func (e *eventError) Error() string {
	if e.Field == "" {
		return e.Problem
	}
	return e.Field + ": " + e.Problem
}

// decodeEvent parses a payload strictly: unknown fields and wrong types are errors naming the field.
func decodeEvent(payload []byte) (Event, error) {
	var ev Event
	if len(bytes.TrimSpace(payload)) == 0 {
		return ev, &eventError{Problem: `empty event; want {"prompt": "..."}`}
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	err := dec.Decode(&ev)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			err = errors.New("data after the event object")
		}
	}
	if err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te) && te.Field != "":
			return ev, &eventError{Field: te.Field, Problem: fmt.Sprintf("want %s, got a JSON %s", wantType(te.Field), te.Value)}
		case errors.As(err, &te):
			return ev, &eventError{Problem: fmt.Sprintf(`the event must be a JSON object such as {"prompt": "..."}, got a JSON %s`, te.Value)}
		case errors.As(err, &se):
			return ev, &eventError{Problem: fmt.Sprintf("the event is not valid JSON (at byte %d): %v", se.Offset, err)}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return ev, &eventError{Field: name, Problem: "unknown field; the event takes prompt, messages, system, model_id, max_tokens and temperature"}
		}
		return ev, &eventError{Problem: "the event is not valid JSON: " + err.Error()}
	}
	return ev, nil
}

func wantType(field string) string {
	switch field {
	case "prompt", "model_id":
		return "a string"
	case "max_tokens":
		return "a whole number"
	case "temperature":
		return "a number from 0 to 1"
	}
	return "another type"
}

// body validates the event and builds the Anthropic request body, with the configured defaults.
func (ev Event) body(cfg Config) (modelID string, body []byte, err error) {
	modelID = cfg.ModelID
	if ev.ModelID != "" {
		ref, err := catalog.ParseRef(ev.ModelID)
		if err != nil {
			return "", nil, &eventError{Field: "model_id", Problem: err.Error()}
		}
		if fam := family(ref); fam != "" && fam != "anthropic-messages" {
			return "", nil, &eventError{Field: "model_id", Problem: fmt.Sprintf("%s takes %s requests; this function speaks the Anthropic Messages format", ev.ModelID, fam)}
		}
		modelID = ev.ModelID
	}
	maxTokens := cfg.MaxTokens
	if ev.MaxTokens != nil {
		if *ev.MaxTokens < 1 {
			return "", nil, &eventError{Field: "max_tokens", Problem: fmt.Sprintf("%d: want a positive whole number", *ev.MaxTokens)}
		}
		maxTokens = *ev.MaxTokens
	}
	if t := ev.Temperature; t != nil && (*t < 0 || *t > 1) {
		return "", nil, &eventError{Field: "temperature", Problem: fmt.Sprintf("%v: want a number from 0 to 1", *t)}
	}
	req := bedrock.AnthropicRequest{AnthropicVersion: bedrock.AnthropicVersion, MaxTokens: maxTokens, Temperature: ev.Temperature}
	if len(ev.System) > 0 && string(ev.System) != "null" {
		switch ev.System[0] {
		case '"', '[':
			req.System = ev.System
		default:
			return "", nil, &eventError{Field: "system", Problem: "want a string or an array of content blocks"}
		}
	}
	hasMessages := len(ev.Messages) > 0 && string(ev.Messages) != "null"
	switch {
	case ev.Prompt != "" && hasMessages:
		return "", nil, &eventError{Field: "messages", Problem: "give either prompt or messages, not both"}
	case hasMessages:
		var msgs []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		}
		if err := json.Unmarshal(ev.Messages, &msgs); err != nil || len(msgs) == 0 {
			return "", nil, &eventError{Field: "messages", Problem: `want a non-empty array of {"role": "user"|"assistant", "content": ...}`}
		}
		for i, m := range msgs {
			if (m.Role != "user" && m.Role != "assistant") || len(m.Content) == 0 {
				return "", nil, &eventError{Field: fmt.Sprintf("messages[%d]", i), Problem: `want {"role": "user"|"assistant", "content": ...}`}
			}
		}
		req.Messages = ev.Messages
	case ev.Prompt != "":
		req.Messages, _ = json.Marshal([]map[string]string{{"role": "user", "content": ev.Prompt}})
	default:
		return "", nil, &eventError{Field: "prompt", Problem: `missing; want {"prompt": "..."} or {"messages": [...]}`}
	}
	body, err = json.Marshal(req)
	return modelID, body, err
}

// family is the request dialect of the model ref names, or "" when the catalogue does not know it.
func family(ref catalog.Ref) string {
	id := ref.ID
	if ref.Kind == catalog.KindSystemProfile {
		if _, m, ok := catalog.SplitProfileID(id); ok {
			id = m
		}
	}
	if m, ok := catalog.Default().Model(id); ok {
		return m.Family
	}
	return ""
}
