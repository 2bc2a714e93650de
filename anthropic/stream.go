package anthropic

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// Event is one server-sent event of a Messages stream: `event: <Type>` and `data: <Data>`, Data one line of
// JSON.
type Event struct {
	Type string
	Data []byte
}

// WriteEvent writes e as a server-sent event, in one Write.
func WriteEvent(w io.Writer, e Event) error {
	bp := eventBufs.Get().(*[]byte)
	buf := append((*bp)[:0], "event: "...)
	buf = append(buf, e.Type...)
	buf = append(buf, "\ndata: "...)
	buf = append(buf, e.Data...)
	buf = append(buf, "\n\n"...)
	_, err := w.Write(buf)
	if cap(buf) <= 64<<10 { // one outsized event does not stay in the pool
		*bp = buf
		eventBufs.Put(bp)
	}
	return err
}

var eventBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// ping is the event Anthropic's API sends after message_start (and to keep a quiet stream open).
var ping = Event{Type: "ping", Data: []byte(`{"type":"ping"}`)}

// Stream maps the frames of one InvokeModelWithResponseStream answer of a Claude model to the server-sent
// events of Anthropic's streaming format. Each chunk frame carries one Anthropic event as JSON (base64 in
// {"bytes": ...}); it goes out as `event: <its type>`, with Bedrock's amazon-bedrock-invocationMetrics taken
// out of the last one. It is not safe for concurrent use.
type Stream struct {
	model   string
	started bool
	done    bool
	buf     []byte   // a chunk's decoded event, reused: the Data of the events returned aliases it
	out     [2]Event // the events returned, reused
}

// NewStream starts mapping a stream; model is the model as the caller named it, for a message_start that
// names none.
func NewStream(model string) *Stream { return &Stream{model: model} }

// Done reports whether message_stop went out: the stream is complete.
func (s *Stream) Done() bool { return s.done }

// Frame maps one raw event-stream frame (as router.Stream.Next gives it). An exception frame, an error
// frame, or a frame or chunk that cannot be read is returned as an *Error: the stream is over, and the caller
// is told with its Event. The events returned, and their Data, are valid until the next call.
func (s *Stream) Frame(frame []byte) ([]Event, error) {
	f, err := upstream.ParseFrame(frame)
	if err != nil {
		return nil, badStream("The upstream stream sent a malformed frame.")
	}
	return s.Parsed(f)
}

// Parsed maps a frame already read (router.Stream.Parsed), as Frame does.
func (s *Stream) Parsed(f upstream.Frame) ([]Event, error) {
	switch string(f.MessageType) {
	case "event":
		if string(f.EventType) != "chunk" {
			return nil, nil // InvokeModelWithResponseStream sends chunks; anything newer has no SSE counterpart
		}
		if ev, ok := s.chunkBytes(f.Payload); ok {
			return s.Event(ev)
		}
		var c struct {
			Bytes []byte `json:"bytes"` // base64 in the JSON
		}
		if json.Unmarshal(f.Payload, &c) != nil {
			return nil, badStream("The upstream stream sent a chunk that is not {\"bytes\": <base64>}.")
		}
		return s.Event(c.Bytes)
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

// chunkBytes decodes the base64 of a chunk payload of the usual shape, {"bytes":"<base64>", ...}, into
// s.buf without decoding its JSON; ok is false for anything else (escapes in the string, bad base64), which
// goes the long way.
func (s *Stream) chunkBytes(payload []byte) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(payload, []byte(`{"bytes":"`))
	if !ok {
		return nil, false
	}
	end := bytes.IndexByte(rest, '"')
	if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return nil, false
	}
	enc := rest[:end]
	n := base64.StdEncoding.DecodedLen(len(enc))
	if cap(s.buf) < n {
		s.buf = make([]byte, n)
	}
	n, err := base64.StdEncoding.Decode(s.buf[:n], enc)
	if err != nil {
		return nil, false
	}
	return s.buf[:n], true
}

// passThrough names the events that go out as they came when nothing in them is to change; the strings are
// constants so that naming the event allocates nothing.
var passThrough = map[string]string{"content_block_delta": "content_block_delta", "content_block_start": "content_block_start",
	"content_block_stop": "content_block_stop", "message_delta": "message_delta"}

// leadingType is the type of an event that names it first, {"type":"<name>", ... }, as Bedrock sends them,
// when it is one of passThrough.
func leadingType(ev []byte) (string, bool) {
	rest, ok := bytes.CutPrefix(ev, []byte(`{"type":"`))
	if !ok {
		return "", false
	}
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return "", false
	}
	typ, ok := passThrough[string(rest[:end])] // no allocation: the compiler looks up without a copy
	return typ, ok
}

// plain reports whether ev has no whitespace outside its strings (so that it is what json.Compact would make
// of it, given that it is valid JSON) and names "type" once at its top level (the long way takes the last of
// duplicate keys).
func plain(ev []byte) bool {
	depth, types := 0, 0
	for i := 0; i < len(ev); i++ {
		switch c := ev[i]; c {
		case '"':
			key := depth == 1 && i > 0 && (ev[i-1] == '{' || ev[i-1] == ',')
			start := i + 1
			// The string's end: the next quote not escaped, found a run at a time.
			for i++; ; i++ {
				if i >= len(ev) { // a backslash as the last byte
					return false
				}
				j := bytes.IndexAny(ev[i:], `"\`)
				if j < 0 {
					return false
				}
				i += j
				if ev[i] == '"' {
					break
				}
				i++ // the escaped byte
			}
			if key && string(ev[start:i]) == "type" {
				types++
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case ' ', '\t', '\n', '\r':
			return false
		}
	}
	return types == 1
}

// deltaHead is how a content block delta begins, as Bedrock sends it.
var deltaHead = []byte(`{"type":"content_block_delta","index":`)

// isDelta reports whether ev is a content block delta of the shape nearly every event of a stream has,
// {"type":"content_block_delta","index":<n>,"delta":{"type":"<name>","<name>":"<string>"}} (a text, thinking,
// signature or tool-input delta), exactly: compact, its string valid JSON. Such an event is valid JSON and
// what the long way would make of it, known in one pass over it instead of three.
func isDelta(ev []byte) bool {
	rest, ok := bytes.CutPrefix(ev, deltaHead)
	if !ok {
		return false
	}
	n := 0 // the index: a JSON integer, no sign, no leading zero
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n == 0 || (n > 1 && rest[0] == '0') {
		return false
	}
	if rest, ok = bytes.CutPrefix(rest[n:], []byte(`,"delta":{"type":"`)); !ok {
		return false
	}
	if rest, ok = cutName(rest, `","`); !ok {
		return false
	}
	if rest, ok = cutName(rest, `":"`); !ok {
		return false
	}
	// The string, to its closing quote: no control bytes, escapes only as JSON has them.
	for i := 0; i < len(rest); i++ {
		switch c := rest[i]; {
		case c == '"':
			return string(rest[i:]) == `"}}`
		case c < 0x20:
			return false
		case c == '\\':
			if i+1 >= len(rest) {
				return false
			}
			switch rest[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+6 > len(rest) || !isHex4(rest[i+2:i+6]) {
					return false
				}
				i += 5
			default:
				return false
			}
		}
	}
	return false
}

// cutName cuts a name of lowercase letters and underscores, and then sep, off the front of b.
func cutName(b []byte, sep string) ([]byte, bool) {
	n := 0
	for n < len(b) && (b[n] >= 'a' && b[n] <= 'z' || b[n] == '_') {
		n++
	}
	if n == 0 {
		return nil, false
	}
	return bytes.CutPrefix(b[n:], []byte(sep))
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// Event maps one Anthropic event (a chunk's decoded bytes).
func (s *Stream) Event(ev []byte) ([]Event, error) {
	if isDelta(ev) {
		s.out[0] = Event{Type: "content_block_delta", Data: ev}
		return s.out[:1], nil
	}
	// The usual event (a delta, a block's start or stop, the message delta) goes out as it came: it is
	// valid, compact JSON, names its type first and has no invocation metrics to take out. Everything else
	// is decoded below; the output is the same either way.
	if typ, ok := leadingType(ev); ok && plain(ev) && !bytes.Contains(ev, []byte(metricsKey)) && json.Valid(ev) {
		s.out[0] = Event{Type: typ, Data: ev}
		return s.out[:1], nil
	}
	return s.decodeEvent(ev)
}

// decodeEvent maps any event the long way: decoded, checked, changed where need be and re-encoded.
func (s *Stream) decodeEvent(ev []byte) ([]Event, error) {
	obj, err := decodeObject(ev)
	if err != nil {
		return nil, badStream("The upstream stream sent an event that is not a JSON object.")
	}
	raw, _ := obj.get("type")
	var typ string
	if json.Unmarshal(raw, &typ) != nil || !eventName(typ) {
		return nil, badStream("The upstream stream sent an event without a valid type.")
	}
	changed := false
	if _, ok := obj.get(metricsKey); ok {
		obj.delete(metricsKey)
		changed = true
	}
	switch typ {
	case "error": // Anthropic's own in-stream error, should Bedrock pass one on
		var b struct {
			Error struct {
				Type    string `json:"type"`
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(ev, &b)
		e := &Error{Status: 200, Type: b.Error.Type, Message: b.Error.Message, Code: b.Error.Type}
		if !eventName(e.Type) {
			e.Type = TypeAPI
		}
		return nil, e
	case "message_start":
		if msg, ok := obj.get("message"); ok {
			if m, err := decodeObject(msg); err == nil {
				if name, ok := m.get("model"); !ok || isNull(name) || string(name) == `""` {
					m.set("model", []byte(strconv.Quote(s.model)))
					obj.set("message", m.marshal())
					changed = true
				}
			}
		}
	}
	var data []byte
	if changed {
		data = obj.marshal()
	} else {
		var b bytes.Buffer
		if json.Compact(&b, ev) != nil {
			return nil, badStream("The upstream stream sent an event that is not JSON.")
		}
		data = b.Bytes()
	}
	out := []Event{{Type: typ, Data: data}}
	switch typ {
	case "message_start":
		if !s.started {
			s.started = true
			out = append(out, ping)
		}
	case "message_stop":
		s.done = true
	}
	return out, nil
}

// eventName reports whether an event type can go on an SSE event: line as it is: lowercase letters, digits
// and underscores, as Anthropic names its events.
func eventName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func badStream(msg string) *Error {
	return &Error{Status: 200, Type: TypeAPI, Code: "ModelStreamErrorException", Message: msg}
}

// StreamEndedEarly is the error event for an upstream stream that ended without message_stop.
func StreamEndedEarly() *Error {
	return badStream("The upstream stream ended before message_stop; the answer is incomplete.")
}
