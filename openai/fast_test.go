package openai

import (
	"encoding/json"
	"testing"
	"time"
)

// slowDelta is contentBlockDelta's text as encoding/json reads it.
func slowDelta(payload []byte) (string, bool) {
	var e struct {
		Delta struct {
			Text *string `json:"text"`
		} `json:"delta"`
	}
	if json.Unmarshal(payload, &e) != nil || e.Delta.Text == nil {
		return "", false
	}
	return *e.Delta.Text, true
}

func textChunk(text string) ChatCompletionChunk {
	s := NewStream(Meta{ID: "chatcmpl-<&>\u2028x", Model: "m\"odel", Created: time.Unix(1764633600, 0)}, false)
	return s.chunk(Delta{Content: &text}, nil)
}

var fastSeeds = []string{
	"", "Hello", "日本語のテキスト", "<b>&amp;</b>", "a\u2028b\u2029c", "\x00\x1f\x7f", "tab\there\nnew\"q\\",
	"\xff\xfe invalid", "emoji 😀", "}\"", "\u00e9",
}

// TestFastPaths: the text-delta reader agrees with encoding/json on every payload it accepts and gives way on
// the others, and the chunk writer's output is encoding/json's byte for byte.
func TestFastPaths(t *testing.T) {
	payloads := []string{
		`{"contentBlockIndex":0,"delta":{"text":"Hello"}}`,
		`{"contentBlockIndex":12,"delta":{"text":"Hello"},"p":"abcdefgh"}`,
		`{"contentBlockIndex":0,"delta":{"text":""}}`,
		`{"contentBlockIndex":0,"delta":{"text":"日本語"},"p":"x"}`,
		`{"contentBlockIndex":0,"delta":{"text":"with \"escape\""}}`,
		`{"contentBlockIndex":0,"delta":{"text":"x"},"p":"a\"b"}`,
		`{"contentBlockIndex":0,"delta":{"toolUse":{"input":"{}"}}}`,
		`{"delta":{"text":"order"},"contentBlockIndex":0}`,
		`{"contentBlockIndex":01,"delta":{"text":"x"}}`,
		`{"contentBlockIndex":0,"delta":{"text":"x"}}junk`,
		`{"contentBlockIndex":0,"delta":{"text":"x","more":1}}`,
		"{\"contentBlockIndex\":0,\"delta\":{\"text\":\"\xff\"}}",
		`{"contentBlockIndex":0,"delta":{"text":"x`,
	}
	accepted := 0
	for _, p := range payloads {
		fast, ok := textDelta([]byte(p))
		if !ok {
			continue
		}
		accepted++
		slow, sok := slowDelta([]byte(p))
		if !sok || slow != fast {
			t.Errorf("%s: fast %q, encoding/json %q (%v)", p, fast, slow, sok)
		}
	}
	if accepted != 4 {
		t.Errorf("the fast reader accepted %d payloads, want the 4 of the usual shape without escapes", accepted)
	}
	for _, s := range fastSeeds {
		c := textChunk(s)
		want, _ := json.Marshal(c)
		got, ok := appendChunk(nil, &c)
		if !ok || string(got) != string(want) {
			t.Errorf("%q: fast %s (%v), encoding/json %s", s, got, ok, want)
		}
	}
	reason := "stop"
	other := textChunk("x")
	other.Choices[0].FinishReason = &reason
	if _, ok := appendChunk(nil, &other); ok {
		t.Error("a chunk with a finish reason took the fast path")
	}
}

// FuzzFastPaths: for any text, the reader's answer on the usual payload and the writer's chunk are
// encoding/json's.
func FuzzFastPaths(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := textChunk(s)
		want, _ := json.Marshal(c)
		if got, ok := appendChunk(nil, &c); !ok || string(got) != string(want) {
			t.Fatalf("%q: fast %s, encoding/json %s", s, got, want)
		}
		// A stream's text chunk, written from the head it keeps for the stream, is encoding/json's too.
		sc := NewStream(testMeta, false).textChunk(s)
		want, _ = json.Marshal(sc[0])
		if got, ok := appendChunk(nil, &sc[0]); !ok || string(got) != string(want) {
			t.Fatalf("%q: stream's chunk %s, encoding/json %s", s, got, want)
		}
		enc, _ := json.Marshal(s)
		payload := []byte(`{"contentBlockIndex":3,"delta":{"text":` + string(enc) + `},"p":"pad"}`)
		slow, sok := slowDelta(payload)
		if fast, ok := textDelta(payload); ok && (!sok || fast != slow) {
			t.Fatalf("%q: fast %q, encoding/json %q", payload, fast, slow)
		}
		raw := []byte(`{"contentBlockIndex":3,"delta":{"text":"` + s + `"}}`)
		slow, sok = slowDelta(raw)
		if fast, ok := textDelta(raw); ok && (!sok || fast != slow) {
			t.Fatalf("%q: fast %q, encoding/json %q", raw, fast, slow)
		}
	})
}
