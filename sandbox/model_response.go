package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// streamEvent is one event-stream frame: its :event-type header and JSON payload.
type streamEvent struct {
	EventType string
	Payload   []byte
}

// tokensPerDelta is how many tokens each streamed text delta carries, so that streams really stream.
const tokensPerDelta = 3

// marshal encodes v without HTML escaping (Bedrock sends '<' and '&' as they are). The values passed are
// built here and encode, except a reply carrying an invalid tool input, which toolInputJSON guards against.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte("{}")
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// toolInputJSON is a tool use's input as a JSON object, whatever a caller put in the reply.
func toolInputJSON(t *toolUse) json.RawMessage {
	if jsonKind(t.Input) != "JSONObject" || !json.Valid(t.Input) {
		return json.RawMessage("{}")
	}
	return json.RawMessage(compactJSON(t.Input))
}

// messageID is a deterministic Messages API id for a reply.
func messageID(r reply, by servedBy) string {
	h := sha256.New()
	h.Write(marshal(r))
	h.Write([]byte{0})
	h.Write([]byte(by.ModelID + "\x00" + by.Region + "\x00" + by.Account))
	sum := h.Sum(nil)
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	out := make([]byte, 24)
	for i := range out {
		out[i] = alphabet[int(sum[i])%len(alphabet)]
	}
	return "msg_bdrk_01" + string(out)
}

// textDeltas cuts text into pieces of a few tokens each.
func textDeltas(text string) []string {
	pieces := splitTokens(text)
	var out []string
	for i := 0; i < len(pieces); i += tokensPerDelta {
		out = append(out, strings.Join(pieces[i:min(i+tokensPerDelta, len(pieces))], ""))
	}
	return out
}

// jsonPieces cuts a JSON document into a few pieces, as models stream tool input.
func jsonPieces(doc string) []string {
	const size = 16
	var out []string
	for len(doc) > size {
		cut := size
		for cut < len(doc) && !isRuneStart(doc[cut]) {
			cut++
		}
		out = append(out, doc[:cut])
		doc = doc[cut:]
	}
	if doc != "" {
		out = append(out, doc)
	}
	return out
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

func nullableString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// --- InvokeModel bodies ---

// invokeResponseBody is the InvokeModel response body in the model's dialect.
func invokeResponseBody(m catalog.Model, r reply, by servedBy) []byte {
	if m.Family == familyNova {
		return novaResponseBody(r)
	}
	return anthropicResponseBody(r, by)
}

type anthropicUsage struct {
	InputTokens              int `json:"input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	OutputTokens             int `json:"output_tokens"`
}

type anthropicBlockOut struct {
	Type  string          `json:"type"`
	Text  *string         `json:"text,omitempty"`
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`

	// thinking (thinking.go): a thinking block's text and signature, a redacted_thinking block's data.
	Thinking  *string `json:"thinking,omitempty"`
	Signature string  `json:"signature,omitempty"`
	Data      string  `json:"data,omitempty"`
}

type anthropicMessageOut struct {
	ID           string              `json:"id"`
	Type         string              `json:"type"`
	Role         string              `json:"role"`
	Model        string              `json:"model"`
	Content      []anthropicBlockOut `json:"content"`
	StopReason   *string             `json:"stop_reason"`
	StopSequence *string             `json:"stop_sequence"`
	Usage        anthropicUsage      `json:"usage"`
}

func anthropicContent(r reply) []anthropicBlockOut {
	content := anthropicThinkingContent(r) // thinking blocks first (thinking.go)
	if r.Text != "" || r.ToolUse == nil {
		text := r.Text
		content = append(content, anthropicBlockOut{Type: "text", Text: &text})
	}
	if r.ToolUse != nil {
		content = append(content, anthropicBlockOut{Type: "tool_use", ID: anthropicToolUseID(r.ToolUse.ID),
			Name: r.ToolUse.Name, Input: toolInputJSON(r.ToolUse)})
	}
	return content
}

func anthropicResponseBody(r reply, by servedBy) []byte {
	stop := r.anthropicStop()
	return marshal(anthropicMessageOut{
		ID: messageID(r, by), Type: "message", Role: "assistant", Model: by.ModelID,
		Content:    anthropicContent(r),
		StopReason: &stop, StopSequence: nullableString(r.StopSequence),
		Usage: r.Cache.anthropic(anthropicUsage{InputTokens: r.InputTokens, OutputTokens: r.OutputTokens}),
	})
}

// converseBlock is a ContentBlock as Converse and Nova write it.
type converseBlock struct {
	Text    *string          `json:"text,omitempty"`
	ToolUse *converseToolUse `json:"toolUse,omitempty"`

	ReasoningContent *converseReasoning `json:"reasoningContent,omitempty"` // thinking (thinking.go)
}

type converseToolUse struct {
	ToolUseID string          `json:"toolUseId"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
}

type converseMessage struct {
	Role    string          `json:"role"`
	Content []converseBlock `json:"content"`
}

type converseUsage struct {
	InputTokens  int `json:"inputTokens"`
	OutputTokens int `json:"outputTokens"`
	TotalTokens  int `json:"totalTokens"`
	// cache (promptcache.go): present when the request marked cache points
	CacheReadInputTokens  *int         `json:"cacheReadInputTokens,omitempty"`
	CacheWriteInputTokens *int         `json:"cacheWriteInputTokens,omitempty"`
	CacheDetails          []cacheWrite `json:"cacheDetails,omitempty"`
}

func converseContent(r reply) []converseBlock {
	content := converseThinkingContent(r) // reasoningContent blocks first (thinking.go)
	if r.Text != "" || r.ToolUse == nil {
		text := r.Text
		content = append(content, converseBlock{Text: &text})
	}
	if r.ToolUse != nil {
		content = append(content, converseBlock{ToolUse: &converseToolUse{ToolUseID: r.ToolUse.ID,
			Name: r.ToolUse.Name, Input: toolInputJSON(r.ToolUse)}})
	}
	return content
}

func usageOf(r reply) converseUsage {
	return r.Cache.converse(converseUsage{InputTokens: r.InputTokens, OutputTokens: r.OutputTokens, TotalTokens: r.InputTokens + r.OutputTokens})
}

func novaResponseBody(r reply) []byte {
	type novaUsage struct {
		InputTokens               int `json:"inputTokens"`
		OutputTokens              int `json:"outputTokens"`
		TotalTokens               int `json:"totalTokens"`
		CacheReadInputTokenCount  int `json:"cacheReadInputTokenCount"`
		CacheWriteInputTokenCount int `json:"cacheWriteInputTokenCount"`
	}
	type output struct {
		Message converseMessage `json:"message"`
	}
	return marshal(struct {
		Output     output    `json:"output"`
		StopReason string    `json:"stopReason"`
		Usage      novaUsage `json:"usage"`
	}{
		Output:     output{converseMessage{Role: "assistant", Content: converseContent(r)}},
		StopReason: r.StopReason,
		Usage: novaUsage{InputTokens: r.InputTokens, OutputTokens: r.OutputTokens,
			TotalTokens:              r.InputTokens + r.OutputTokens + r.Cache.read() + r.Cache.write(),
			CacheReadInputTokenCount: r.Cache.read(), CacheWriteInputTokenCount: r.Cache.write()},
	})
}

// --- Converse and CountTokens bodies ---

func converseResponseBody(r reply, latencyMs int64) []byte {
	type output struct {
		Message converseMessage `json:"message"`
	}
	type metrics struct {
		LatencyMs int64 `json:"latencyMs"`
	}
	return marshal(struct {
		Output            output                `json:"output"`
		StopReason        string                `json:"stopReason"`
		Usage             converseUsage         `json:"usage"`
		Metrics           metrics               `json:"metrics"`
		PerformanceConfig *performanceConfigOut `json:"performanceConfig,omitempty"` // tier.go
		ServiceTier       *serviceTierOut       `json:"serviceTier,omitempty"`
	}{
		Output:            output{converseMessage{Role: "assistant", Content: converseContent(r)}},
		StopReason:        r.StopReason,
		Usage:             usageOf(r),
		Metrics:           metrics{latencyMs},
		PerformanceConfig: r.Tier.performanceConfig(),
		ServiceTier:       r.Tier.serviceTier(),
	})
}

func countTokensResponseBody(n int) []byte {
	return marshal(struct {
		InputTokens int `json:"inputTokens"`
	}{n})
}

// --- InvokeModelWithResponseStream ---

type invocationMetrics struct {
	InputTokenCount   int   `json:"inputTokenCount"`
	OutputTokenCount  int   `json:"outputTokenCount"`
	InvocationLatency int64 `json:"invocationLatency"`
	FirstByteLatency  int64 `json:"firstByteLatency"`
	// cache (promptcache.go): present when the request marked cache points
	CacheReadInputTokenCount  *int `json:"cacheReadInputTokenCount,omitempty"`
	CacheWriteInputTokenCount *int `json:"cacheWriteInputTokenCount,omitempty"`
}

// chunk wraps a model event as the PayloadPart of a "chunk" frame.
func chunk(modelEvent any) streamEvent {
	return streamEvent{EventType: "chunk", Payload: marshal(struct {
		Bytes string `json:"bytes"`
	}{base64.StdEncoding.EncodeToString(marshal(modelEvent))})}
}

// invokeStreamEvents are the frames of InvokeModelWithResponseStream, each a chunk holding one event of the
// model's own streaming format.
func invokeStreamEvents(m catalog.Model, r reply, by servedBy, firstByteMs, latencyMs int64) []streamEvent {
	metrics := invocationMetrics{InputTokenCount: r.InputTokens, OutputTokenCount: r.OutputTokens,
		InvocationLatency: latencyMs, FirstByteLatency: firstByteMs}
	metrics.CacheReadInputTokenCount, metrics.CacheWriteInputTokenCount = r.Cache.counts()
	if m.Family == familyNova {
		return novaStreamEvents(r, metrics)
	}
	return anthropicStreamEvents(r, by, metrics)
}

func anthropicStreamEvents(r reply, by servedBy, metrics invocationMetrics) []streamEvent {
	start := anthropicMessageOut{ID: messageID(r, by), Type: "message", Role: "assistant", Model: by.ModelID,
		Content: []anthropicBlockOut{}, Usage: r.Cache.anthropic(anthropicUsage{InputTokens: r.InputTokens, OutputTokens: 1})}
	events := []streamEvent{chunk(struct {
		Type    string              `json:"type"`
		Message anthropicMessageOut `json:"message"`
	}{"message_start", start})}

	index := 0
	events, index = anthropicThinkingEvents(events, r, index) // thinking.go
	if r.Text != "" || r.ToolUse == nil {
		events = append(events, chunk(ordered{{"type", "content_block_start"}, {"index", index}, {"content_block", ordered{{"type", "text"}, {"text", ""}}}}))
		for _, d := range textDeltas(r.Text) {
			events = append(events, chunk(ordered{{"type", "content_block_delta"}, {"index", index}, {"delta", ordered{{"type", "text_delta"}, {"text", d}}}}))
		}
		events = append(events, chunk(ordered{{"type", "content_block_stop"}, {"index", index}}))
		index++
	}
	if r.ToolUse != nil {
		events = append(events, chunk(ordered{{"type", "content_block_start"}, {"index", index}, {"content_block", ordered{{"type", "tool_use"}, {"id", anthropicToolUseID(r.ToolUse.ID)}, {"name", r.ToolUse.Name}, {"input", ordered{}}}}}))
		for _, p := range jsonPieces(string(toolInputJSON(r.ToolUse))) {
			events = append(events, chunk(ordered{{"type", "content_block_delta"}, {"index", index}, {"delta", ordered{{"type", "input_json_delta"}, {"partial_json", p}}}}))
		}
		events = append(events, chunk(ordered{{"type", "content_block_stop"}, {"index", index}}))
	}
	events = append(events,
		chunk(ordered{{"type", "message_delta"}, {"delta", ordered{{"stop_reason", r.anthropicStop()}, {"stop_sequence", nullableString(r.StopSequence)}}}, {"usage", ordered{{"output_tokens", r.OutputTokens}}}}),
		chunk(ordered{{"type", "message_stop"}, {"amazon-bedrock-invocationMetrics", metrics}}))
	return events
}

// ordered is a JSON object written with its members in the order given: Claude's stream events name their
// type first ({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}), as
// Anthropic writes them and Bedrock passes them on, where a map would sort the keys.
type ordered []member

type member struct {
	k string
	v any
}

// MarshalJSON writes the members as marshal does (no HTML escapes).
func (o ordered) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, m := range o {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(append(append(b, marshal(m.k)...), ':'), marshal(m.v)...)
	}
	return append(b, '}'), nil
}

func novaStreamEvents(r reply, metrics invocationMetrics) []streamEvent {
	type object = map[string]any
	events := []streamEvent{chunk(object{"messageStart": object{"role": "assistant"}})}
	index := 0
	if r.Text != "" || r.ToolUse == nil {
		for _, d := range textDeltas(r.Text) {
			events = append(events, chunk(object{"contentBlockDelta": object{"delta": object{"text": d}, "contentBlockIndex": index}}))
		}
		events = append(events, chunk(object{"contentBlockStop": object{"contentBlockIndex": index}}))
		index++
	}
	if r.ToolUse != nil {
		events = append(events,
			chunk(object{"contentBlockStart": object{"start": object{"toolUse": object{"toolUseId": r.ToolUse.ID, "name": r.ToolUse.Name}}, "contentBlockIndex": index}}),
			chunk(object{"contentBlockDelta": object{"delta": object{"toolUse": object{"input": string(toolInputJSON(r.ToolUse))}}, "contentBlockIndex": index}}),
			chunk(object{"contentBlockStop": object{"contentBlockIndex": index}}))
	}
	events = append(events,
		chunk(object{"messageStop": object{"stopReason": r.StopReason}}),
		chunk(object{
			"metadata": object{"usage": novaStreamUsage(r),
				"metrics": object{}, "trace": object{}},
			"amazon-bedrock-invocationMetrics": metrics,
		}))
	return events
}

// --- ConverseStream ---

// converseStreamEvents are the frames of ConverseStream, one ConverseStreamOutput member each.
func converseStreamEvents(r reply, latencyMs int64) []streamEvent {
	type object = map[string]any
	ev := func(typ string, payload any) streamEvent {
		return streamEvent{EventType: typ, Payload: marshal(payload)}
	}
	events := []streamEvent{ev("messageStart", object{"role": "assistant"})}
	index := 0
	events, index = converseThinkingEvents(events, r, index) // thinking.go
	if r.Text != "" || r.ToolUse == nil {
		for _, d := range textDeltas(r.Text) {
			events = append(events, ev("contentBlockDelta", object{"delta": object{"text": d}, "contentBlockIndex": index}))
		}
		events = append(events, ev("contentBlockStop", object{"contentBlockIndex": index}))
		index++
	}
	if r.ToolUse != nil {
		events = append(events, ev("contentBlockStart", object{
			"start":             object{"toolUse": object{"toolUseId": r.ToolUse.ID, "name": r.ToolUse.Name}},
			"contentBlockIndex": index}))
		for _, p := range jsonPieces(string(toolInputJSON(r.ToolUse))) {
			events = append(events, ev("contentBlockDelta", object{"delta": object{"toolUse": object{"input": p}}, "contentBlockIndex": index}))
		}
		events = append(events, ev("contentBlockStop", object{"contentBlockIndex": index}))
	}
	events = append(events,
		ev("messageStop", object{"stopReason": r.StopReason}),
		ev("metadata", converseMetadata(r, latencyMs)))
	return events
}
