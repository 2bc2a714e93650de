package openai

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// ChatCompletionChunk is one chat.completion.chunk of a streamed answer.
type ChatCompletionChunk struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"` // chat.completion.chunk
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []ChunkChoice `json:"choices"` // empty in the final usage chunk
	Usage   *Usage        `json:"usage,omitempty"`

	// head is the chunk written as far as its delta's content, `{"id":…,"choices":[{"index":0,"delta":{"content":`,
	// for the text chunks of a Stream: written once per stream, not once per chunk (appendChunk).
	head []byte
}

// ChunkChoice is the delta of the one choice.
type ChunkChoice struct {
	Index        int             `json:"index"`
	Delta        Delta           `json:"delta"`
	FinishReason *string         `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs"`
}

// Delta is what a chunk adds to the message.
type Delta struct {
	Role      string          `json:"role,omitempty"`
	Content   *string         `json:"content,omitempty"`
	ToolCalls []ToolCallDelta `json:"tool_calls,omitempty"`
}

// ToolCallDelta is a piece of a tool call: the first for a call carries its id, type and name, the rest
// pieces of its arguments.
type ToolCallDelta struct {
	Index    int           `json:"index"`
	ID       string        `json:"id,omitempty"`
	Type     string        `json:"type,omitempty"`
	Function FunctionDelta `json:"function"`
}

// FunctionDelta is a piece of a function call.
type FunctionDelta struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// Stream maps the frames of one ConverseStream answer to chunks. It is not safe for concurrent use.
type Stream struct {
	meta         Meta
	includeUsage bool
	tools        map[int]int // Converse contentBlockIndex → OpenAI tool_calls index

	// A text delta, nearly every event, is mapped into these, reused: its chunk allocates only its text.
	text   string
	choice [1]ChunkChoice
	out    [1]ChatCompletionChunk
	head   []byte
}

// NewStream starts mapping a stream; includeUsage is stream_options.include_usage.
func NewStream(meta Meta, includeUsage bool) *Stream {
	return &Stream{meta: meta, includeUsage: includeUsage, tools: map[int]int{}}
}

// Frame maps one raw event-stream frame (as the relay passes it on: router.Stream.Next). An exception frame is returned
// as an *Error: the stream is over and the caller is told with an error event.
func (s *Stream) Frame(frame []byte) ([]ChatCompletionChunk, error) {
	f, err := upstream.ParseFrame(frame)
	if err != nil {
		return nil, fmt.Errorf("decode event-stream frame: %w", err)
	}
	return s.Parsed(f)
}

// Parsed maps a frame already read (router.Stream.Parsed), as Frame does. The chunks returned by Parsed,
// Frame and Event are valid until the next call (a text delta's chunk is kept in the stream, reused).
func (s *Stream) Parsed(f upstream.Frame) ([]ChatCompletionChunk, error) {
	switch string(f.MessageType) {
	case "event":
		return s.Event(string(f.EventType), f.Payload)
	case "exception":
		var b struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(f.Payload, &b)
		code := string(f.ExceptionType)
		if code != "" {
			code = strings.ToUpper(code[:1]) + code[1:]
		}
		return nil, FromBedrock(200, code, b.Message)
	case "error":
		return nil, FromBedrock(200, "InternalServerException", "the upstream stream sent an error frame")
	}
	return nil, nil
}

// Event maps one ConverseStream event by its type and JSON payload.
func (s *Stream) Event(eventType string, payload []byte) ([]ChatCompletionChunk, error) {
	switch eventType {
	case "messageStart":
		empty := ""
		return []ChatCompletionChunk{s.chunk(Delta{Role: "assistant", Content: &empty}, nil)}, nil
	case "contentBlockStart":
		var e struct {
			Index int `json:"contentBlockIndex"`
			Start struct {
				ToolUse *struct {
					ToolUseID string `json:"toolUseId"`
					Name      string `json:"name"`
				} `json:"toolUse"`
			} `json:"start"`
		}
		if err := json.Unmarshal(payload, &e); err != nil {
			return nil, fmt.Errorf("decode contentBlockStart: %w", err)
		}
		if e.Start.ToolUse == nil {
			return nil, nil
		}
		i := s.toolIndex(e.Index)
		return []ChatCompletionChunk{s.chunk(Delta{ToolCalls: []ToolCallDelta{{Index: i, ID: e.Start.ToolUse.ToolUseID,
			Type: "function", Function: FunctionDelta{Name: e.Start.ToolUse.Name}}}}, nil)}, nil
	case "contentBlockDelta":
		if text, ok := textDelta(payload); ok {
			if text == "" {
				return nil, nil
			}
			return s.textChunk(text), nil
		}
		var e struct {
			Index int `json:"contentBlockIndex"`
			Delta struct {
				Text    *string `json:"text"`
				ToolUse *struct {
					Input string `json:"input"`
				} `json:"toolUse"`
			} `json:"delta"`
		}
		if err := json.Unmarshal(payload, &e); err != nil {
			return nil, fmt.Errorf("decode contentBlockDelta: %w", err)
		}
		switch {
		case e.Delta.Text != nil:
			if *e.Delta.Text == "" {
				return nil, nil
			}
			return []ChatCompletionChunk{s.chunk(Delta{Content: e.Delta.Text}, nil)}, nil
		case e.Delta.ToolUse != nil:
			return []ChatCompletionChunk{s.chunk(Delta{ToolCalls: []ToolCallDelta{{Index: s.toolIndex(e.Index),
				Function: FunctionDelta{Arguments: e.Delta.ToolUse.Input}}}}, nil)}, nil
		}
		return nil, nil // reasoning and citations have no chunk counterpart
	case "messageStop":
		var e struct {
			StopReason string `json:"stopReason"`
		}
		if err := json.Unmarshal(payload, &e); err != nil {
			return nil, fmt.Errorf("decode messageStop: %w", err)
		}
		reason := FinishReason(e.StopReason)
		return []ChatCompletionChunk{s.chunk(Delta{}, &reason)}, nil
	case "metadata":
		if !s.includeUsage {
			return nil, nil
		}
		var e struct {
			Usage converseUsage `json:"usage"`
		}
		if err := json.Unmarshal(payload, &e); err != nil {
			return nil, fmt.Errorf("decode metadata: %w", err)
		}
		u := usage(e.Usage)
		return []ChatCompletionChunk{{ID: s.meta.ID, Object: "chat.completion.chunk", Created: s.meta.Created.Unix(),
			Model: s.meta.Model, Choices: []ChunkChoice{}, Usage: &u}}, nil
	}
	return nil, nil // contentBlockStop and events newer than this package
}

func (s *Stream) toolIndex(block int) int {
	i, ok := s.tools[block]
	if !ok {
		i = len(s.tools)
		s.tools[block] = i
	}
	return i
}

// textChunk is the chunk of a text delta, in the stream's own storage: valid until the next call.
func (s *Stream) textChunk(text string) []ChatCompletionChunk {
	if s.head == nil {
		s.head = appendHead(nil, s.meta.ID, "chat.completion.chunk", s.meta.Created.Unix(), s.meta.Model)
	}
	s.text = text
	s.choice[0] = ChunkChoice{Index: 0, Delta: Delta{Content: &s.text}, Logprobs: null}
	s.out[0] = ChatCompletionChunk{ID: s.meta.ID, Object: "chat.completion.chunk", Created: s.meta.Created.Unix(), Model: s.meta.Model,
		Choices: s.choice[:], head: s.head}
	return s.out[:]
}

func (s *Stream) chunk(d Delta, finish *string) ChatCompletionChunk {
	return ChatCompletionChunk{ID: s.meta.ID, Object: "chat.completion.chunk", Created: s.meta.Created.Unix(), Model: s.meta.Model,
		Choices: []ChunkChoice{{Index: 0, Delta: d, FinishReason: finish, Logprobs: null}}}
}

// WriteEvent writes v as one server-sent event: "data: <json>\n\n". An *Error writes OpenAI's in-stream
// error event, {"error":{...}}.
func WriteEvent(w io.Writer, v any) error {
	bp := sseBufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 64<<10 { // one huge event does not keep its buffer alive
			sseBufs.Put(bp)
		}
	}()
	buf := append((*bp)[:0], "data: "...)
	ok := false
	switch c := v.(type) {
	case ChatCompletionChunk:
		buf, ok = appendChunk(buf, &c)
	case *ChatCompletionChunk:
		buf, ok = appendChunk(buf, c)
	}
	if !ok {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		buf = append(buf, b...)
	}
	buf = append(buf, "\n\n"...)
	*bp = buf
	_, err := w.Write(buf)
	return err
}

// Done is the event that ends a stream.
const Done = "data: [DONE]\n\n"
