package openai

import (
	"bytes"
	"strconv"
	"sync"
	"unicode/utf8"
)

// The streaming hot path. Almost every event of a streamed answer is a text delta, and almost every chunk
// the relay writes carries one: decoding the one with encoding/json's reflection and encoding the other took
// most of the relay's CPU on this path. textDelta and appendChunk handle those shapes directly and give way
// to encoding/json for anything else; their output is encoding/json's, byte for byte (TestFastPaths and
// FuzzFastPaths compare them).

// textDelta reads a contentBlockDelta payload of the usual shape, {"contentBlockIndex":N,"delta":{"text":"..."}}
// with an optional "p" padding field last, whose text holds no escape. ok is false for anything else (the
// caller then decodes it with encoding/json).
func textDelta(payload []byte) (text string, ok bool) {
	p := payload
	cut := func(prefix string) bool {
		if !bytes.HasPrefix(p, []byte(prefix)) {
			return false
		}
		p = p[len(prefix):]
		return true
	}
	if !cut(`{"contentBlockIndex":`) {
		return "", false
	}
	i := 0
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	if i == 0 || i > 9 || (i > 1 && p[0] == '0') {
		return "", false
	}
	p = p[i:]
	if !cut(`,"delta":{"text":"`) {
		return "", false
	}
	end := bytes.IndexByte(p, '"')
	if end < 0 {
		return "", false
	}
	raw := p[:end]
	for _, c := range raw {
		if c == '\\' || c < 0x20 {
			return "", false
		}
	}
	if !utf8.Valid(raw) {
		return "", false
	}
	p = p[end+1:]
	if !cut(`}`) {
		return "", false
	}
	if cut(`,"p":"`) {
		end := bytes.IndexByte(p, '"')
		if end < 0 || bytes.IndexByte(p[:end], '\\') >= 0 {
			return "", false
		}
		p = p[end+1:]
	}
	if string(p) != "}" {
		return "", false
	}
	return string(raw), true
}

// appendChunk appends c as encoding/json would marshal it, when c is a chunk of the usual shape: one choice,
// index 0, a delta of content alone, no finish reason, null logprobs and no usage. ok is false otherwise.
func appendChunk(dst []byte, c *ChatCompletionChunk) (_ []byte, ok bool) {
	if len(c.Choices) != 1 || c.Usage != nil {
		return dst, false
	}
	ch := &c.Choices[0]
	if ch.Index != 0 || ch.FinishReason != nil || string(ch.Logprobs) != "null" || ch.Delta.Role != "" ||
		ch.Delta.Content == nil || len(ch.Delta.ToolCalls) != 0 {
		return dst, false
	}
	if c.head != nil {
		dst = append(dst, c.head...)
	} else {
		dst = appendHead(dst, c.ID, c.Object, c.Created, c.Model)
	}
	dst = appendString(dst, *ch.Delta.Content)
	dst = append(dst, `},"finish_reason":null,"logprobs":null}]}`...)
	return dst, true
}

// appendHead writes a text chunk as far as its content: `{"id":…,"object":…,"created":…,"model":…,"choices":[{"index":0,"delta":{"content":`.
func appendHead(dst []byte, id, object string, created int64, model string) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, id)
	dst = append(dst, `,"object":`...)
	dst = appendString(dst, object)
	dst = append(dst, `,"created":`...)
	dst = strconv.AppendInt(dst, created, 10)
	dst = append(dst, `,"model":`...)
	dst = appendString(dst, model)
	return append(dst, `,"choices":[{"index":0,"delta":{"content":`...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string exactly as encoding/json writes it: HTML-sensitive characters
// (<, >, &) and U+2028, U+2029 as \u escapes, invalid UTF-8 as \ufffd.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

var sseBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}
