package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// reply is what the sandbox's "model" answers, before it is written in a dialect.
type reply struct {
	Text         string
	ToolUse      *toolUse
	StopReason   string // Bedrock/Converse vocabulary: end_turn, max_tokens, stop_sequence, tool_use
	StopSequence string
	InputTokens  int
	OutputTokens int

	// cache, tier, stop directives (promptcache.go, tier.go, stopreason.go); not part of the message id.
	AnthropicStopReason string      `json:"-"` // the Messages API's reason where it differs from StopReason
	Cache               *cacheUsage `json:"-"` // set when the request marked cache points
	Tier                tierEcho    `json:"-"` // performanceConfig and serviceTier as asked

	// thinking (thinking.go); not part of the message id.
	Thinking []thinkingPart `json:"-"` // the thinking blocks the reply starts with
}

type toolUse struct {
	ID    string // Converse form, "tooluse_..."; anthropicToolUseID gives the Messages API form
	Name  string
	Input json.RawMessage
}

// servedBy says where a request ended up, so that replies show it (useful to see cross-region routing).
type servedBy struct {
	Account, Region, ModelID string // ModelID is the foundation model id
	ModelName                string
}

const (
	// longAnswerTokens is the length of the answer to a prompt saying "long answer".
	longAnswerTokens = 1000
	// maxAnswerTokens bounds "words:N" so a prompt cannot make the sandbox allocate without limit.
	maxAnswerTokens = 200_000
	// echoRunes bounds how much of the prompt is quoted back.
	echoRunes = 200
)

var wordsPattern = regexp.MustCompile(`(?i)\bwords:(\d+)`)

// fillerWords pad long answers; a fixed text keeps them deterministic.
var fillerWords = strings.Fields(`the sandbox streams this deterministic filler so that clients can test long
answers token quotas pacing and cancellation without calling a real model every run gives the same words in
the same order`)

// generateReply answers c deterministically: the same conversation served by the same model in the same
// place gives the same reply.
func generateReply(c conversation, by servedBy) reply {
	r := reply{InputTokens: c.inputTokens(), StopReason: "end_turn"}
	last, userTurns := lastUserTurn(c)
	own := userText(last)
	name := by.ModelName
	if name == "" {
		name = by.ModelID
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[bedrock sandbox: %s in account %s, %s] ", name, by.Account, by.Region)

	tool, forced := chooseTool(c, last)
	switch {
	case tool != nil:
		// A forced tool choice makes Claude skip the text before the call.
		if forced {
			b.Reset()
		} else {
			fmt.Fprintf(&b, "Turn %d. I'll call the %s tool.", userTurns, tool.Name)
		}
	case last.ToolResults > 0:
		fmt.Fprintf(&b, "Turn %d. The tool returned: %s", userTurns, quote(own))
	default:
		fmt.Fprintf(&b, "Turn %d. You said: %s", userTurns, quote(own))
	}
	if c.System != "" && !(tool != nil && forced) {
		fmt.Fprintf(&b, " (system prompt applied: %s)", quote(c.System))
	}
	text := b.String()

	if n, ok := requestedLength(own); ok && tool == nil {
		// Generate no more than max_tokens (+1 so that the cut below is seen).
		text = padToTokens(text, min(n, c.MaxTokens+1))
	}

	var toolTokens int
	if tool != nil {
		input := toolInput(tool.Schema, own, c.Tools)
		r.ToolUse = &toolUse{ID: "tooluse_" + replyHash(c, by, 22), Name: tool.Name, Input: input}
		toolTokens = tokensPerToolBlock + countTokens(tool.Name) + countTokens(string(input))
	}

	// Stop sequences end generation where they first appear, if that is within max_tokens.
	if i, seq := firstStopSequence(text, c.StopSequences); i >= 0 && countTokens(text[:i]) <= c.MaxTokens {
		r.Text, r.StopReason, r.StopSequence, r.ToolUse = text[:i], "stop_sequence", seq, nil
		r.OutputTokens = max(1, countTokens(r.Text))
		return r
	}
	if countTokens(text)+toolTokens > c.MaxTokens {
		r.Text, _ = truncateTokens(text, c.MaxTokens)
		r.StopReason, r.ToolUse = "max_tokens", nil
		r.OutputTokens = max(1, countTokens(r.Text))
		return r
	}
	r.Text = text
	r.OutputTokens = max(1, countTokens(text)+toolTokens)
	if r.ToolUse != nil {
		r.StopReason = "tool_use"
	}
	return r
}

func lastUserTurn(c conversation) (turn, int) {
	var last turn
	n := 0
	for _, t := range c.Messages {
		if t.Role == "user" {
			last = t
			n++
		}
	}
	return last, n
}

// quote returns s in quotes, shortened to echoRunes runes (on a rune boundary, so any script survives).
func quote(s string) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > echoRunes {
		i := 0
		for n := 0; n < echoRunes; n++ {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
		}
		s = s[:i] + "…"
	}
	return "\u201c" + s + "\u201d"
}

// requestedLength finds the magic phrases that ask for a long answer: "words:N" for exactly N tokens, or
// "long answer".
func requestedLength(prompt string) (int, bool) {
	if m := wordsPattern.FindStringSubmatch(prompt); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n > maxAnswerTokens {
			n = maxAnswerTokens
		}
		return n, true
	}
	if strings.Contains(strings.ToLower(prompt), "long answer") {
		return longAnswerTokens, true
	}
	return 0, false
}

// padToTokens makes text exactly n tokens long: cut if longer, filled with filler words if shorter.
func padToTokens(text string, n int) string {
	if have := countTokens(text); have >= n {
		t, _ := truncateTokens(text, n)
		return t
	} else {
		var b strings.Builder
		b.WriteString(text)
		for i := 0; have < n; i++ {
			w := " " + fillerWords[i%len(fillerWords)]
			if k := countTokens(w); have+k > n {
				w, _ = truncateTokens(w, n-have)
			}
			b.WriteString(w)
			have += countTokens(w)
		}
		return b.String()
	}
}

func firstStopSequence(text string, seqs []string) (int, string) {
	best, which := -1, ""
	for _, s := range seqs {
		if s == "" {
			continue
		}
		if i := strings.Index(text, s); i >= 0 && (best < 0 || i < best) {
			best, which = i, s
		}
	}
	return best, which
}

// chooseTool decides whether the reply calls a tool: always when the choice forces one (forced reports that);
// otherwise only when what the user wrote in the last turn asks for one explicitly (askedTool), and never after
// tool results. A tool named in the system prompt, in an injected reminder or in passing ("Read the file", with
// a tool named Read) is not an ask: agents such as Claude Code name their tools in every request, and a model
// that called one on every turn would never let them finish.
func chooseTool(c conversation, last turn) (tool *toolSpec, forced bool) {
	if len(c.Tools) == 0 || c.ToolChoice == "none" {
		return nil, false
	}
	own := userText(last)
	switch {
	case c.ToolChoice == "any":
		if t := askedTool(c.Tools, own); t != nil {
			return t, true
		}
		if t := mentionedTool(c.Tools, own); t != nil {
			return t, true
		}
		return &c.Tools[0], true
	case strings.HasPrefix(c.ToolChoice, "tool:"):
		name := strings.TrimPrefix(c.ToolChoice, "tool:")
		for i := range c.Tools {
			if c.Tools[i].Name == name {
				return &c.Tools[i], true
			}
		}
		return nil, false
	}
	if last.ToolResults > 0 {
		return nil, false
	}
	return askedTool(c.Tools, own), false
}

// reminderPattern matches the context that agents (Claude Code among them) add to a user turn inside
// <system-reminder> tags: it is not what the user asked, and it names tools.
var reminderPattern = regexp.MustCompile(`(?s)<system-reminder>.*?</system-reminder>`)

// userText is what the user wrote in a turn: its text without injected <system-reminder> blocks.
func userText(t turn) string {
	if !strings.Contains(t.Text, "<system-reminder>") {
		return t.Text
	}
	return strings.TrimSpace(reminderPattern.ReplaceAllString(t.Text, ""))
}

// askedTool finds the first explicit ask for a tool in text, the words of the rule that the sandbox documents
// (any case, punctuation ignored):
//
//	use NAME, call NAME, use the NAME tool, use the tool NAME, use tool NAME   that offered tool
//	use a tool, use the tool, use any tool, use tool (or call ...)             the first offered tool
func askedTool(tools []toolSpec, text string) *toolSpec {
	words := promptWords(text)
	named := func(i int) *toolSpec {
		if i >= len(words) {
			return nil
		}
		for k := range tools {
			if strings.EqualFold(words[i], tools[k].Name) {
				return &tools[k]
			}
		}
		return nil
	}
	is := func(i int, w ...string) bool {
		return i < len(words) && slices.ContainsFunc(w, func(s string) bool { return strings.EqualFold(words[i], s) })
	}
	for i := range words {
		if !is(i, "use", "call") {
			continue
		}
		j := i + 1
		if t := named(j); t != nil { // use NAME
			return t
		}
		if is(j, "the", "a", "an", "any") {
			j++
			if t := named(j); t != nil { // use the NAME tool
				return t
			}
		}
		if is(j, "tool") {
			if t := named(j + 1); t != nil { // use the tool NAME
				return t
			}
			return &tools[0] // use a tool
		}
	}
	return nil
}

func mentionedTool(tools []toolSpec, text string) *toolSpec {
	words := promptWords(text)
	for i := range tools {
		if slices.ContainsFunc(words, func(w string) bool { return strings.EqualFold(w, tools[i].Name) }) {
			return &tools[i]
		}
	}
	return nil
}

// promptWords splits a prompt into words, trimming punctuation but keeping '_' and '-' (tool names use them).
func promptWords(text string) []string {
	f := strings.FieldsFunc(text, func(r rune) bool {
		return unicode.IsSpace(r) || (unicode.IsPunct(r) && r != '_' && r != '-') || unicode.IsSymbol(r)
	})
	return f
}

var commonWords = map[string]bool{"use": true, "the": true, "tool": true, "call": true, "please": true,
	"what": true, "what's": true, "and": true, "for": true, "with": true, "can": true, "you": true, "tell": true,
	"about": true, "this": true, "that": true, "get": true, "how": true, "is": true, "in": true, "me": true}

// promptValue picks the word of the prompt a string argument takes: the last proper-noun-looking word
// (capitalised, or not in Latin script, like "Tokyo" or "大阪"), else the last word that is not a tool name, a
// number or a common word.
func promptValue(text string, tools []toolSpec) string {
	words := promptWords(text)
	var candidates []string
	for _, w := range words {
		if utf8.RuneCountInString(w) < 2 || commonWords[strings.ToLower(w)] {
			continue
		}
		if slices.ContainsFunc(tools, func(t toolSpec) bool { return strings.EqualFold(t.Name, w) }) {
			continue
		}
		if _, err := strconv.ParseFloat(w, 64); err == nil {
			continue
		}
		candidates = append(candidates, w)
	}
	for i := len(candidates) - 1; i >= 0; i-- {
		r, _ := utf8.DecodeRuneInString(candidates[i])
		if unicode.IsUpper(r) || (r > unicode.MaxLatin1 && unicode.IsLetter(r)) {
			return candidates[i]
		}
	}
	if len(candidates) > 0 {
		return candidates[len(candidates)-1]
	}
	return "example"
}

var numberPattern = regexp.MustCompile(`-?\d+(\.\d+)?`)

// toolInput builds arguments that satisfy the tool's JSON schema: every required property gets a value of
// its type, taken from the prompt where that makes sense.
func toolInput(schema json.RawMessage, prompt string, tools []toolSpec) json.RawMessage {
	var s any
	if err := json.Unmarshal(schema, &s); err != nil {
		return json.RawMessage("{}")
	}
	obj, _ := s.(map[string]any)
	if obj == nil {
		return json.RawMessage("{}")
	}
	g := inputGen{word: promptValue(prompt, tools), number: numberPattern.FindString(prompt)}
	var b bytes.Buffer
	g.object(&b, obj, 0)
	if !json.Valid(b.Bytes()) {
		return json.RawMessage("{}")
	}
	return b.Bytes()
}

type inputGen struct {
	word   string
	number string
}

const maxSchemaDepth = 8

// value writes a value for schema s; keys are written in the schema's required order, so output is stable.
func (g inputGen) value(b *bytes.Buffer, s map[string]any, depth int) {
	if depth > maxSchemaDepth {
		b.WriteString("null")
		return
	}
	if v, ok := s["const"]; ok {
		writeJSON(b, v)
		return
	}
	if enum, ok := s["enum"].([]any); ok && len(enum) > 0 {
		writeJSON(b, enum[0])
		return
	}
	if v, ok := s["default"]; ok {
		writeJSON(b, v)
		return
	}
	for _, k := range []string{"anyOf", "oneOf", "allOf"} {
		if alts, ok := s[k].([]any); ok && len(alts) > 0 {
			if alt, ok := alts[0].(map[string]any); ok {
				g.value(b, alt, depth+1)
				return
			}
		}
	}
	switch schemaType(s) {
	case "string":
		writeJSON(b, g.word)
	case "integer":
		n := 1
		if f, err := strconv.ParseFloat(g.number, 64); err == nil && f == float64(int64(f)) && f < 1e15 && f > -1e15 {
			n = int(f)
		}
		writeJSON(b, n)
	case "number":
		if f, err := strconv.ParseFloat(g.number, 64); err == nil {
			writeJSON(b, f)
		} else {
			b.WriteString("1")
		}
	case "boolean":
		b.WriteString("true")
	case "null":
		b.WriteString("null")
	case "array":
		b.WriteByte('[')
		if items, ok := s["items"].(map[string]any); ok {
			g.value(b, items, depth+1)
		} else {
			writeJSON(b, g.word)
		}
		b.WriteByte(']')
	default:
		g.object(b, s, depth)
	}
}

func (g inputGen) object(b *bytes.Buffer, s map[string]any, depth int) {
	props, _ := s["properties"].(map[string]any)
	b.WriteByte('{')
	required, _ := s["required"].([]any)
	n := 0
	for _, r := range required {
		name, ok := r.(string)
		if !ok {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		writeJSON(b, name)
		b.WriteByte(':')
		prop, _ := props[name].(map[string]any)
		if prop == nil {
			prop = map[string]any{"type": "string"}
		}
		g.value(b, prop, depth+1)
	}
	b.WriteByte('}')
}

// schemaType gives a schema's type; for a list of types, the first that is not null.
func schemaType(s map[string]any) string {
	switch t := s["type"].(type) {
	case string:
		return t
	case []any:
		for _, e := range t {
			if str, ok := e.(string); ok && str != "null" {
				return str
			}
		}
	}
	if _, ok := s["properties"]; ok {
		return "object"
	}
	return "string"
}

func writeJSON(b *bytes.Buffer, v any) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		b.WriteString("null")
		return
	}
	b.Truncate(b.Len() - 1) // Encode's newline
}

// replyHash is a deterministic id fragment of n characters for this conversation and model.
func replyHash(c conversation, by servedBy, n int) string {
	h := sha256.New()
	enc, _ := json.Marshal(c)
	h.Write(enc)
	h.Write([]byte{0})
	h.Write([]byte(by.ModelID))
	sum := h.Sum(nil)
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	out := make([]byte, n)
	for i := range out {
		out[i] = alphabet[int(sum[i%len(sum)]^byte(i/len(sum)*31))%len(alphabet)]
	}
	return string(out)
}

// anthropicToolUseID is the Messages API form of a tool use id ("toolu_bdrk_01...").
func anthropicToolUseID(id string) string {
	return "toolu_bdrk_01" + strings.TrimPrefix(id, "tooluse_")
}
