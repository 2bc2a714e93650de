package sandbox

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// cacheModel is a Claude model with the catalogue's prompt caching (1,024 tokens, 5m and 1h).
var cacheModel = mustModel("anthropic.claude-sonnet-4-5-20250929-v1:0")

func mustModel(id string) catalog.Model {
	m, ok := catalog.Default().Model(id)
	if !ok {
		panic("no model " + id)
	}
	return m
}

// filler is n tokens of text, by the sandbox's count.
func filler(n int) string { return strings.TrimSpace(strings.Repeat("word ", n)) }

// TestCacheLayoutTokens checks that the walk counts a prompt as inputTokens does, so that prefixes and the
// uncached rest add up to the request's input.
func TestCacheLayoutTokens(t *testing.T) {
	converse := `{"system":[{"text":"` + filler(40) + `"},{"cachePoint":{"type":"default"}},{"text":"more system"}],
	 "messages":[{"role":"user","content":[{"text":"hello there"},{"image":{"format":"png","source":{"bytes":"` + pngBase64 + `"}}},{"cachePoint":{"type":"default","ttl":"1h"}}]},
	  {"role":"assistant","content":[{"toolUse":{"toolUseId":"t1","name":"get_weather","input":{"city":"Tokyo"}}}]},
	  {"role":"user","content":[{"toolResult":{"toolUseId":"t1","content":[{"text":"sunny"},{"json":{"c":21}}]}},{"text":"thanks 東京"}]}],
	 "toolConfig":{"tools":[{"toolSpec":{"name":"get_weather","description":"Weather for a city","inputSchema":{"json":{"type":"object"}}}},{"cachePoint":{"type":"default"}}]}}`
	c, err := parseConverseBody([]byte(converse))
	if err != nil {
		t.Fatalf("parse Converse: %v", err)
	}
	obj, _ := decodeObject(json.RawMessage(converse))
	l := converseLayout(obj)
	if got, want := l.bounds[len(l.bounds)-1].tokens, c.inputTokens(); got != want {
		t.Errorf("Converse walk: %d tokens, want inputTokens' %d", got, want)
	}
	if got := len(l.points); got != 3 {
		t.Errorf("Converse points: got %d, want 3", got)
	}

	c, err = parseInvokeBody(cacheModel, []byte(anthropicToolBody))
	if err != nil {
		t.Fatalf("parse Anthropic: %v", err)
	}
	obj, _ = decodeObject(json.RawMessage(anthropicToolBody))
	l, aerr := anthropicLayout(obj)
	if aerr != nil {
		t.Fatal(aerr)
	}
	if got, want := l.bounds[len(l.bounds)-1].tokens, c.inputTokens(); got != want {
		t.Errorf("Anthropic walk: %d tokens, want inputTokens' %d", got, want)
	}

	// A top-level cache_control (automatic caching) is a point after the last block.
	obj, _ = decodeObject(json.RawMessage(`{"cache_control":{"type":"ephemeral","ttl":"1h"},"messages":[{"role":"user","content":"a b c"},{"role":"assistant","content":"d"}]}`))
	l, aerr = anthropicLayout(obj)
	if aerr != nil || len(l.points) != 1 || l.points[0].bound != len(l.bounds)-1 || l.points[0].ttl != "1h" {
		t.Errorf("top-level cache_control: points %+v, %v; want one 1h point after the last block", l.points, aerr)
	}
}

// anthropicCacheBody is a Messages body whose system prompt (sys tokens) carries a cache_control of ttl
// ("" for none), and whose one user turn says user.
func anthropicCacheBody(sys int, ttl, user string) []byte {
	cc := `{"type":"ephemeral"}`
	if ttl != "" {
		cc = `{"type":"ephemeral","ttl":"` + ttl + `"}`
	}
	return []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":100,
	 "system":[{"type":"text","text":"` + filler(sys) + `","cache_control":` + cc + `}],
	 "messages":[{"role":"user","content":"` + user + `"}]}`)
}

func TestPromptCacheAccount(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	layout := func(t *testing.T, body []byte) (*cacheLayout, int) {
		t.Helper()
		c, err := parseInvokeBody(cacheModel, body)
		if err != nil {
			t.Fatal(err)
		}
		l, err := promptCacheLayout(cacheModel, "InvokeModel", body)
		if err != nil || l == nil {
			t.Fatalf("layout: %v, %v", l, err)
		}
		return l, c.inputTokens()
	}
	type step struct {
		after       time.Duration // since the previous step
		acct        string
		body        []byte
		read, write int
	}
	// The system prompt is 2,000 tokens; with the request's 3 and the block's framing the prefix is 2,003.
	const prefix = 2003
	big := anthropicCacheBody(2000, "", "first question")
	tests := []struct {
		name  string
		steps []step
	}{
		{"write, read, read after 4 minutes, write after the TTL", []step{
			{0, "a", big, 0, prefix},
			{time.Second, "a", anthropicCacheBody(2000, "", "second question"), prefix, 0},
			{4 * time.Minute, "a", big, prefix, 0},
			{4 * time.Minute, "a", big, prefix, 0}, // the read at 4m started the TTL again
			{5 * time.Minute, "a", big, 0, prefix},
		}},
		{"another account writes its own", []step{
			{0, "a", big, 0, prefix},
			{0, "b", big, 0, prefix},
			{0, "b", big, prefix, 0},
		}},
		{"below the minimum nothing is cached", []step{
			{0, "a", anthropicCacheBody(500, "", "q"), 0, 0},
			{0, "a", anthropicCacheBody(500, "", "q"), 0, 0},
		}},
		{"a 1-hour point outlives five minutes, not the hour", []step{
			{0, "a", anthropicCacheBody(2000, "1h", "q"), 0, prefix},
			{59 * time.Minute, "a", anthropicCacheBody(2000, "1h", "q"), prefix, 0},
			{time.Hour, "a", anthropicCacheBody(2000, "1h", "q"), 0, prefix},
		}},
		{"a changed prefix misses", []step{
			{0, "a", big, 0, prefix},
			{0, "a", anthropicCacheBody(2001, "", "first question"), 0, prefix + 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := newPromptCache()
			at := now
			for i, s := range tt.steps {
				at = at.Add(s.after)
				l, input := layout(t, s.body)
				u := pc.account(at, s.acct, cacheModel, l, input)
				if u.Read != s.read || u.Write != s.write {
					t.Errorf("step %d: read %d, write %d; want %d, %d", i, u.Read, u.Write, s.read, s.write)
				}
			}
		})
	}
}

// TestPromptCacheLookback is a conversation that moves its one cache point to the end of each turn: each turn
// reads what the one before wrote and writes only what it added.
func TestPromptCacheLookback(t *testing.T) {
	pc := newPromptCache()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var msgs []string
	prev := 0
	for turn := 0; turn < 4; turn++ {
		if turn > 0 {
			msgs = append(msgs, `{"role":"assistant","content":[{"text":"answer `+fmt.Sprint(turn)+`"}]}`)
		}
		msgs = append(msgs, `{"role":"user","content":[{"text":"`+filler(600)+` turn `+fmt.Sprint(turn)+`"}]}`)
		// The point goes on the last user message: the previous turns' points are gone from the request.
		marked := append([]string(nil), msgs...)
		marked[len(marked)-1] = strings.Replace(marked[len(marked)-1], `}]}`, `},{"cachePoint":{"type":"default"}}]}`, 1)
		body := `{"system":[{"text":"` + filler(300) + `"}],"messages":[` + strings.Join(marked, ",") + `]}`
		c, err := parseConverseBody([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		l, aerr := promptCacheLayout(cacheModel, "Converse", []byte(body))
		if aerr != nil || l == nil {
			t.Fatalf("layout: %v", aerr)
		}
		u := pc.account(now, "a", cacheModel, l, c.inputTokens())
		total := l.bounds[l.points[0].bound].tokens
		if turn == 0 {
			// 3 + 300 + 4 + 602 = 909 < 1,024: not cached.
			if u.Read != 0 || u.Write != 0 {
				t.Errorf("turn 0: read %d, write %d; want nothing below the minimum", u.Read, u.Write)
			}
			continue
		}
		if u.Read != prev || u.Write != total-prev {
			t.Errorf("turn %d: read %d, write %d; want %d, %d", turn, u.Read, u.Write, prev, total-prev)
		}
		if got, want := c.inputTokens()-u.Read-u.Write, 0; got != want {
			t.Errorf("turn %d: %d tokens uncached, want %d (the point is at the end)", turn, got, want)
		}
		prev = total
	}
}

func TestPromptCacheDetails(t *testing.T) {
	body := `{"system":[{"text":"` + filler(1500) + `"},{"cachePoint":{"type":"default","ttl":"1h"}}],
	 "messages":[{"role":"user","content":[{"text":"` + filler(700) + `"},{"cachePoint":{"type":"default"}},{"text":"what now"}]}]}`
	c, err := parseConverseBody([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	l, aerr := promptCacheLayout(cacheModel, "Converse", []byte(body))
	if aerr != nil {
		t.Fatal(aerr)
	}
	u := newPromptCache().account(time.Now(), "a", cacheModel, l, c.inputTokens())
	want := &cacheUsage{Write: 1503 + 704, Writes: []cacheWrite{{"1h", 1503}, {"5m", 704}}}
	if diff := cmp.Diff(want, u); diff != "" {
		t.Errorf("usage (-want +got):\n%s", diff)
	}
}

func TestStopDirective(t *testing.T) {
	tests := []struct {
		prompt, converse, anthropic string
		ok                          bool
	}{
		{"please stop:content_filtered now", "content_filtered", "refusal", true},
		{"STOP:Refusal", "content_filtered", "refusal", true},
		{"stop:malformed_model_output", "malformed_model_output", "end_turn", true},
		{"stop:malformed_tool_use", "malformed_tool_use", "end_turn", true},
		{"stop:model_context_window_exceeded", "model_context_window_exceeded", "model_context_window_exceeded", true},
		{"stop:pause_turn", "end_turn", "pause_turn", true},
		{"stop:guardrail_intervened", "", "", false}, // a guardrail's to give
		{"stop:nonsense then stop:refusal", "content_filtered", "refusal", true},
		{"nonstop:refusal", "", "", false},
		{"just text", "", "", false},
	}
	for _, tt := range tests {
		c, a, ok := stopDirective(tt.prompt)
		if c != tt.converse || a != tt.anthropic || ok != tt.ok {
			t.Errorf("stopDirective(%q) = %q, %q, %v; want %q, %q, %v", tt.prompt, c, a, ok, tt.converse, tt.anthropic, tt.ok)
		}
	}
}

// FuzzPromptCacheLayout: whatever a body marks, an accepted body's cache points are refused with a
// ValidationException or AccessDeniedException or accounted within the request's input, and the answer stays
// valid JSON.
func FuzzPromptCacheLayout(f *testing.F) {
	f.Add(true, anthropicCacheBody(1100, "", "q"))
	f.Add(true, anthropicCacheBody(10, "1h", "q"))
	f.Add(true, []byte(anthropicToolBody))
	f.Add(false, []byte(`{"system":[{"text":"`+filler(1100)+`"},{"cachePoint":{"type":"default"}}],"messages":[{"role":"user","content":[{"text":"a"},{"cachePoint":{"type":"default","ttl":"1h"}}]}]}`))
	f.Fuzz(func(t *testing.T, anthropic bool, body []byte) {
		m, op := mustModel("amazon.nova-pro-v1:0"), "Converse"
		c, err := parseConverseBody(body)
		if anthropic {
			m, op = cacheModel, "InvokeModel"
			c, err = parseInvokeBody(m, body)
		}
		if err != nil {
			return
		}
		l, err := promptCacheLayout(m, op, body)
		if err != nil {
			if (err.Code != "ValidationException" || err.Status != 400) && (err.Code != "AccessDeniedException" || err.Status != 403) {
				t.Fatalf("refusal %+v", err)
			}
			return
		}
		c.Cache = l
		s := &Sandbox{prompts: newPromptCache(), clock: time.Now}
		for i := 0; i < 2; i++ {
			r := s.finishReply(c, replyWithThinking(c, testServedBy), "a", m)
			if r.InputTokens < 0 || r.Cache.read() < 0 || r.Cache.write() < 0 {
				t.Fatalf("usage: input %d, cache %+v", r.InputTokens, r.Cache)
			}
			for _, b := range [][]byte{invokeResponseBody(m, r, testServedBy), converseResponseBody(r, 1)} {
				if !json.Valid(b) {
					t.Fatalf("invalid response JSON: %s", b)
				}
			}
		}
	})
}
