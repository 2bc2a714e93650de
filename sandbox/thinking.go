package sandbox

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// --- Claude's extended thinking ---
//
// A request turns thinking on with Anthropic's thinking member (InvokeModel's body, Converse's
// additionalModelRequestFields.thinking). The rules are Anthropic's, checked as Claude on Bedrock checks them:
// a type the model takes (the catalogue's thinking rows), a budget of at least 1024 tokens and below
// max_tokens, no sampling changes and no forced tool use, and thinking blocks in the history that carry the
// signature the model gave them. The reply then starts with a thinking block: a deterministic text and a
// signature the sandbox can verify when the block comes back, so that a client that drops, edits or invents
// one is refused as on Bedrock.
//
// Wording: InvokeModel hands the model's message on as it is; Converse prefixes it with "The model returned
// the following errors: ". Each message below names where it was seen.

// thinkingSpec is a request's thinking, once checked; nil in a conversation is no thinking.
type thinkingSpec struct {
	Type   string // catalog.ThinkingEnabled or catalog.ThinkingAdaptive
	Budget int    // budget_tokens (enabled)
	// Omitted is display: omitted: the thinking text is not returned, only its signature.
	Omitted bool
}

// thinkingRequest is what the thinking rules look at, from either dialect, in Anthropic's terms.
type thinkingRequest struct {
	Model       catalog.Model
	Thinking    json.RawMessage // the thinking member; nil when absent
	MaxTokens   int
	Temperature *float64
	TopP, TopK  json.RawMessage // nil when absent
	ToolChoice  string
	Tools       bool
	Betas       []string
	History     []historyMessage
}

// historyMessage is a message of the request as Claude sees it.
type historyMessage struct {
	Role   string
	Blocks []historyBlock
}

// historyBlock is a content block as Claude sees it: its Anthropic type and, for thinking blocks, what they
// carry (nil when the member is absent, "" when null or not a string is already refused).
type historyBlock struct {
	Type                      string // text, image, tool_use, tool_result, thinking, redacted_thinking, ...
	Thinking, Signature, Data *string
	BadType                   string // a member of the wrong JSON type ("signature", "thinking", "data")
}

const (
	minThinkingBudget = 1024
	// interleavedBeta lets a thinking budget exceed max_tokens when tools are used (Anthropic, Extended
	// thinking, Interleaved thinking).
	interleavedBeta = "interleaved-thinking-2025-05-14"
	// Anthropic's documentation links in its thinking messages (docs.anthropic.com before late 2025; the
	// messages reported from Bedrock since then name docs.claude.com).
	thinkingDocsMaxTokens = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"
	thinkingDocsSampling  = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#important-considerations-when-using-extended-thinking"
	thinkingDocs          = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
	// modelErrorsPrefix is how Converse words an error of the model (BerriAI/litellm#28081, vercel/ai#7927).
	modelErrorsPrefix = "The model returned the following errors: "
)

// checkThinking applies the rules to r and returns the request's thinking (nil: off), or the model's message
// refusing it ("" when accepted).
func checkThinking(r thinkingRequest) (*thinkingSpec, string) {
	spec, msg := parseThinking(r.Thinking)
	if msg != "" {
		return nil, msg
	}
	if spec != nil {
		if msg := thinkingSupported(r.Model, spec.Type); msg != "" {
			return nil, msg
		}
		if msg := spec.checkRequest(r); msg != "" {
			return nil, msg
		}
	}
	if msg := checkThinkingHistory(r.History, spec); msg != "" {
		return nil, msg
	}
	return spec, ""
}

// parseThinking validates the thinking member as Anthropic's schema (pydantic, a union tagged by type) does.
// Only "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024" is observed wording
// (danny-avila/LibreChat#8346 from Bedrock, workglow-dev/libs#746); the others are pydantic's forms, as the
// sandbox words the other Anthropic fields. // wording: from documentation, not observed
func parseThinking(raw json.RawMessage) (*thinkingSpec, string) {
	if raw == nil || isNull(raw) {
		return nil, ""
	}
	obj, ok := decodeObject(raw)
	if !ok {
		return nil, "thinking: Input should be a valid dictionary or object to extract fields from"
	}
	typRaw, ok := obj["type"]
	if !ok {
		return nil, "thinking: Unable to extract tag using discriminator 'type'"
	}
	typ, isStr := decodeString(typRaw)
	if !isStr {
		typ = compactJSON(typRaw)
	}
	allowed := []string{"type"}
	switch typ {
	case catalog.ThinkingEnabled:
		allowed = append(allowed, "budget_tokens")
	case catalog.ThinkingAdaptive, catalog.ThinkingDisabled:
	default:
		return nil, fmt.Sprintf("thinking: Input tag '%s' found using 'type' does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'", typ)
	}
	// display (summarized, omitted) is taken in a bedrock-2023-05-31 body too: Claude Code 2.1.333 sends it to
	// Bedrock's Sonnet 4.5 and Opus 5.5 so, and nothing reported shows Bedrock refusing it (router/compat.go,
	// more careful, does not rewrite a 2026-10-21 body that has it).
	if typ != catalog.ThinkingDisabled {
		allowed = append(allowed, "display")
	}
	for _, k := range sortedKeys(obj) {
		if !slices.Contains(allowed, k) {
			return nil, fmt.Sprintf("thinking.%s.%s: Extra inputs are not permitted", typ, k)
		}
	}
	if typ == catalog.ThinkingDisabled {
		return nil, ""
	}
	spec := &thinkingSpec{Type: typ}
	if raw, ok := obj["display"]; ok {
		d, _ := decodeString(raw)
		if d != "summarized" && d != "omitted" {
			return nil, fmt.Sprintf("thinking.%s.display: Input should be 'summarized' or 'omitted'", typ)
		}
		spec.Omitted = d == "omitted"
	}
	if typ == catalog.ThinkingEnabled {
		raw, ok := obj["budget_tokens"]
		if !ok || isNull(raw) {
			return nil, "thinking.enabled.budget_tokens: Field required"
		}
		n, big, isInt := decodeInt(raw)
		switch {
		case !isInt:
			return nil, "thinking.enabled.budget_tokens: Input should be a valid integer"
		case big && strings.HasPrefix(strings.TrimSpace(string(raw)), "-"), !big && n < minThinkingBudget:
			return nil, "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
		case big:
			n = 1<<31 - 1
		}
		spec.Budget = n
	}
	return spec, ""
}

// thinkingSupported is the model's refusal of a thinking type it does not take ("" when it does). A model the
// catalogue has no anthropic row for takes any.
func thinkingSupported(m catalog.Model, typ string) string {
	cp, known := anthropicCompat(m)
	if !known || cp.AcceptsThinking(typ) {
		return ""
	}
	switch {
	case len(cp.Thinking) == 0:
		// Anthropic's wording (anthropics/claude-code#2245); from Bedrock it was reported as
		// "claude-3-5-sonnet-20241022 does not support thinking" (anthropics/claude-code#2507).
		return fmt.Sprintf("'%s' does not support thinking.", anthropicModelName(m.ID))
	case typ == catalog.ThinkingEnabled:
		// Opus 4.7 and later (freecodexyz/free-code#32, anomalyco/opencode#23007, AAClause/nvda-OpenAI#126).
		return `"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" and "output_config.effort" to control thinking behavior.`
	}
	// Haiku 4.5 and the other models before 4.6 (pensarai/apex#890).
	return "adaptive thinking is not supported on this model"
}

var bedrockVersionSuffix = regexp.MustCompile(`-v\d+(:\d+)?$`)

// anthropicModelName is the model's name on Anthropic's side: "anthropic.claude-3-5-sonnet-20241022-v2:0" is
// "claude-3-5-sonnet-20241022".
func anthropicModelName(id string) string {
	return bedrockVersionSuffix.ReplaceAllString(strings.TrimPrefix(id, "anthropic."), "")
}

// checkRequest is the rules between thinking and the rest of the request.
func (s *thinkingSpec) checkRequest(r thinkingRequest) string {
	if s.Type == catalog.ThinkingEnabled && s.Budget >= r.MaxTokens && !(r.Tools && slices.Contains(r.Betas, interleavedBeta)) {
		// claude-code#8756 (Bedrock, 2025-10); vercel/ai#7927 (Bedrock Converse, with docs.anthropic.com).
		return "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at " + thinkingDocsMaxTokens
	}
	if r.Temperature != nil && *r.Temperature != 1 {
		// MartialBE/one-hub#529, workglow-dev/libs#746; the adaptive form is dotCipher/opencode-claude-bridge#1's.
		// wording: the adaptive form's link is assumed
		mode := "enabled"
		if s.Type == catalog.ThinkingAdaptive {
			mode = "enabled or in adaptive mode"
		}
		return "`temperature` may only be set to 1 when thinking is " + mode + ". Please consult our documentation at " + thinkingDocsSampling
	}
	if r.TopK != nil && !isNull(r.TopK) {
		// quarkiverse/quarkus-langchain4j#1812, danny-avila/LibreChat#6023.
		return "`top_k` must be unset when thinking is enabled. Please consult our documentation at " + thinkingDocsSampling
	}
	if r.TopP != nil && !isNull(r.TopP) {
		// Anthropic documents top_p between 0.95 and 1 as allowed with thinking; below, the refusal is the one
		// reported from Bedrock (n8n-io/n8n#14288, chatboxai/chatbox#2099).
		if p, ok := decodeNumber(r.TopP); !ok || p < 0.95 {
			return "top_p must be unset when thinking is enabled."
		}
	}
	if r.ToolChoice == "any" || strings.HasPrefix(r.ToolChoice, "tool:") {
		// vercel/ai#11227 (Bedrock Converse), workglow-dev/libs#746: the same for any and tool.
		return "Thinking may not be enabled when tool_choice forces tool use."
	}
	return ""
}

// checkThinkingHistory checks the thinking blocks of the history: each must carry the signature the sandbox
// gave it (whether or not this request thinks: Bedrock checks them all, openclaw/openclaw#88020), and with
// thinking enabled the assistant message a tool result answers must start with one.
func checkThinkingHistory(msgs []historyMessage, spec *thinkingSpec) string {
	for i, m := range msgs {
		for j, b := range m.Blocks {
			at := fmt.Sprintf("messages.%d.content.%d", i, j)
			switch b.Type {
			case "thinking":
				switch {
				case b.BadType != "":
					return fmt.Sprintf("%s.thinking.%s: Input should be a valid string", at, b.BadType) // wording: pydantic's form, not observed
				case b.Thinking == nil:
					return at + ".thinking.thinking: Field required" // wording: pydantic's form, not observed
				case b.Signature == nil || *b.Signature == "":
					// Bedrock answers an absent or empty signature so (can1357/oh-my-pi#10486, #333).
					return at + ".thinking.signature: Field required"
				case !verifySignature(*b.Signature, *b.Thinking):
					// Bedrock's wording has no backticks (chenhg5/cc-connect#897, openclaw/openclaw#88020,
					// linanwx/nagobot#21); Anthropic's API writes "Invalid `signature` in `thinking` block".
					return at + ": Invalid signature in thinking block"
				}
			case "redacted_thinking":
				switch {
				case b.BadType != "":
					return fmt.Sprintf("%s.redacted_thinking.%s: Input should be a valid string", at, b.BadType) // wording: pydantic's form, not observed
				case b.Data == nil:
					return at + ".redacted_thinking.data: Field required" // diegosouzapw/OmniRoute#2191 (Anthropic's API)
				case !verifyRedacted(*b.Data):
					// Anthropic's API: "Invalid `data` in `redacted_thinking` block" (microsoft/vscode#320196);
					// written without backticks as Bedrock writes the signature's. // wording: guessed
					return at + ": Invalid data in redacted_thinking block"
				}
			}
		}
	}
	if spec == nil || spec.Type != catalog.ThinkingEnabled || len(msgs) < 2 {
		return ""
	}
	// The assistant message that a final tool result answers is the one being continued: with thinking it must
	// start with its thinking (pydantic/pydantic-ai#2453 from Converse; anomalyco/opencode#3077).
	last, prev := msgs[len(msgs)-1], msgs[len(msgs)-2]
	if last.Role != "user" || prev.Role != "assistant" || !slices.ContainsFunc(last.Blocks, func(b historyBlock) bool { return b.Type == "tool_result" }) {
		return ""
	}
	if len(prev.Blocks) == 0 || prev.Blocks[0].Type == "thinking" || prev.Blocks[0].Type == "redacted_thinking" {
		return ""
	}
	return fmt.Sprintf("messages.%d.content.0.type: Expected `thinking` or `redacted_thinking`, but found `%s`. When `thinking` is enabled, "+
		"a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). "+
		"We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please consult our documentation at %s",
		len(msgs)-2, prev.Blocks[0].Type, thinkingDocs)
}

// --- InvokeModel ---

// checkAnthropicThinking applies the thinking rules to an InvokeModel body that parseAnthropicBody has parsed
// into c, and records the thinking in c.
func (c *conversation) checkAnthropicThinking(m catalog.Model, obj map[string]json.RawMessage, betas []string) *awsError {
	r := thinkingRequest{Model: m, Thinking: obj["thinking"], MaxTokens: c.MaxTokens, Temperature: c.Temperature,
		TopP: obj["top_p"], TopK: obj["top_k"], ToolChoice: c.ToolChoice, Tools: len(c.Tools) > 0, Betas: betas}
	msgs, _ := decodeArray(obj["messages"])
	for _, raw := range msgs {
		msg, _ := decodeObject(raw)
		role, _ := decodeString(msg["role"])
		hm := historyMessage{Role: role}
		if _, isStr := decodeString(msg["content"]); isStr {
			hm.Blocks = []historyBlock{{Type: "text"}}
		}
		blocks, _ := decodeArray(msg["content"])
		for _, b := range blocks {
			bo, _ := decodeObject(b)
			typ, _ := decodeString(bo["type"])
			hb := historyBlock{Type: typ}
			hb.Thinking, hb.BadType = optionalString(bo, "thinking", hb.BadType)
			hb.Signature, hb.BadType = optionalString(bo, "signature", hb.BadType)
			hb.Data, hb.BadType = optionalString(bo, "data", hb.BadType)
			hm.Blocks = append(hm.Blocks, hb)
		}
		r.History = append(r.History, hm)
	}
	spec, msg := checkThinking(r)
	if msg != "" {
		return validationException("%s", msg)
	}
	c.Thinking = spec
	return nil
}

// optionalString reads obj[key]: nil when absent or null; bad names the first member of another type.
func optionalString(obj map[string]json.RawMessage, key, bad string) (*string, string) {
	raw, ok := obj[key]
	if !ok || isNull(raw) {
		return nil, bad
	}
	s, isStr := decodeString(raw)
	if !isStr {
		if bad == "" {
			bad = key
		}
		return nil, bad
	}
	return &s, bad
}

// --- Converse ---

// reasoningContent parses a Converse ReasoningContentBlock union ({reasoningText: {text, signature}} or
// {redactedContent: base64}) at the 0-based location at and the Coral path path, and returns its text.
func (p *converseParser) reasoningContent(at, path string, raw json.RawMessage) (string, *awsError) {
	rc, ok := decodeObject(raw)
	if !ok {
		return "", typeMismatch(at+".reasoningContent", "a JSON object", raw)
	}
	var set []string
	for _, k := range sortedKeys(rc) {
		if !isNull(rc[k]) {
			set = append(set, k)
		}
	}
	if len(set) != 1 {
		return "", validationException("The ReasoningContentBlock object at %s.reasoningContent must set exactly one of its members (found %d). Try again with one member set.", at, len(set))
	}
	switch v := rc[set[0]]; set[0] {
	case "reasoningText":
		rt, ok := decodeObject(v)
		if !ok {
			return "", typeMismatch(at+".reasoningContent.reasoningText", "a JSON object", v)
		}
		text, ok := rt["text"]
		if !ok || isNull(text) {
			p.v.add("null", path+".reasoningContent.reasoningText.text", "must not be null")
			return "", nil
		}
		s, ok := decodeString(text)
		if !ok {
			return "", typeMismatch(at+".reasoningContent.reasoningText.text", "a string", text)
		}
		if sig, ok := rt["signature"]; ok && !isNull(sig) && jsonKind(sig) != "String" {
			return "", typeMismatch(at+".reasoningContent.reasoningText.signature", "a string", sig)
		}
		return s, nil
	case "redactedContent":
		if s, ok := decodeString(v); !ok || !validBase64(s) {
			return "", typeMismatch(at+".reasoningContent.redactedContent", "a base64-encoded blob", v)
		}
		return "", nil
	}
	return "", validationException("The ReasoningContentBlock object at %s.reasoningContent has an unknown member %q. Try again with reasoningText or redactedContent.", at, set[0])
}

// converseHistory is the Converse messages of a body as Claude sees them: the blocks in Anthropic's types,
// cache points (which Bedrock folds into the block before) left out.
func converseHistory(obj map[string]json.RawMessage) []historyMessage {
	names := map[string]string{"text": "text", "image": "image", "document": "document", "toolUse": "tool_use",
		"toolResult": "tool_result", "guardContent": "text", "citationsContent": "text", "searchResult": "search_result"}
	var out []historyMessage
	msgs, _ := decodeArray(obj["messages"])
	for _, raw := range msgs {
		msg, _ := decodeObject(raw)
		role, _ := decodeString(msg["role"])
		hm := historyMessage{Role: role}
		blocks, _ := decodeArray(msg["content"])
		for _, b := range blocks {
			bo, _ := decodeObject(b)
			if raw, ok := bo["reasoningContent"]; ok && !isNull(raw) {
				rc, _ := decodeObject(raw)
				if red, ok := rc["redactedContent"]; ok && !isNull(red) {
					s, _ := decodeString(red)
					hm.Blocks = append(hm.Blocks, historyBlock{Type: "redacted_thinking", Data: &s})
					continue
				}
				rt, _ := decodeObject(rc["reasoningText"])
				hb := historyBlock{Type: "thinking"}
				hb.Thinking, _ = optionalString(rt, "text", "")
				hb.Signature, _ = optionalString(rt, "signature", "")
				hm.Blocks = append(hm.Blocks, hb)
				continue
			}
			if raw, ok := bo["cachePoint"]; ok && !isNull(raw) {
				continue
			}
			for _, k := range sortedKeys(bo) {
				if !isNull(bo[k]) {
					hm.Blocks = append(hm.Blocks, historyBlock{Type: cmpOr(names[k], k)})
					break
				}
			}
		}
		out = append(out, hm)
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// --- the reply ---

// thinkingPart is a thinking block of a reply: a thinking text and its signature, or redacted thinking.
type thinkingPart struct {
	Text, Signature string
	Redacted        string // redacted_thinking's data, base64; the part is redacted when set
	Tokens          int
}

var thinkPattern = regexp.MustCompile(`(?i)\bthink:(\d+)`)

// redactedTrigger is the string with which Anthropic documents how to make Claude answer with redacted
// thinking (Anthropic, Extended thinking, Thinking redaction); the sandbox also takes "redacted thinking".
const redactedTrigger = "ANTHROPIC_MAGIC_STRING_TRIGGER_REDACTED_THINKING_46C9A13E193C177646C7398A98432ECCCE4C1253D5E2D82641AC0E52CC2876CB"

// replyWithThinking is generateReply for a conversation that may think: the reply starts with a thinking
// block (and a redacted one when the prompt asks for it), whose tokens count in the output and come out of
// max_tokens before the answer's.
func replyWithThinking(c conversation, by servedBy) reply {
	// Adaptive thinking may decline to think: it does when max_tokens leaves no room beside the answer.
	if c.Thinking == nil || c.MaxTokens < 2 {
		return generateReply(c, by)
	}
	last, userTurns := lastUserTurn(c)
	own := userText(last)
	text := thinkingText(c, last, userTurns)
	want := countTokens(text)
	if m := thinkPattern.FindStringSubmatch(own); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n > maxAnswerTokens {
			n = maxAnswerTokens
		}
		want = max(n, 1)
	}
	if c.Thinking.Type == catalog.ThinkingEnabled {
		want = min(want, c.Thinking.Budget)
	}
	// Leave the answer at least a token, so that a reply is never a thinking block alone.
	want = max(1, min(want, c.MaxTokens-1))
	text = padToTokens(text, want)
	nonce := thinkingNonce(c, by, text)
	shown := text
	if c.Thinking.Omitted {
		shown = ""
	}
	parts := []thinkingPart{{Text: shown, Signature: signThinking(nonce, shown), Tokens: countTokens(text)}}
	used := parts[0].Tokens
	if lower := strings.ToLower(own); strings.Contains(own, redactedTrigger) || strings.Contains(lower, "redacted thinking") {
		hidden := fmt.Sprintf("Turn %d: reasoning the sandbox hands back only as redacted thinking.", userTurns)
		if k := countTokens(hidden); used+k < c.MaxTokens {
			parts = append(parts, thinkingPart{Redacted: sealRedacted(nonce, hidden), Tokens: k})
			used += k
		}
	}
	answer := c
	answer.MaxTokens = max(1, c.MaxTokens-used)
	r := generateReply(answer, by)
	r.Thinking = parts
	r.OutputTokens += used
	return r
}

// thinkingText is what the sandbox "thinks" before answering: deterministic, from the last user turn.
func thinkingText(c conversation, last turn, userTurns int) string {
	own := userText(last)
	switch tool, _ := chooseTool(c, last); {
	case tool != nil:
		return fmt.Sprintf("Turn %d. The user asks for the %s tool, so I will call it with what the prompt gives.", userTurns, tool.Name)
	case last.ToolResults > 0:
		return fmt.Sprintf("Turn %d. The tool has answered; I will pass its result on: %s", userTurns, quote(own))
	}
	return fmt.Sprintf("Turn %d. The user wrote %s. I will answer in one line and say which account and region served it.", userTurns, quote(own))
}

// --- signatures ---

// thinkingKey signs the sandbox's thinking blocks. It is not a secret: every sandbox signs and verifies with
// it, so that a block one sandbox gave another one takes, as Bedrock's blocks are good in any region.
const thinkingKey = "bedrock-relay sandbox: thinking signatures"

// thinkingNonce makes each reply's signature its own (deterministically, like the rest of the reply).
func thinkingNonce(c conversation, by servedBy, text string) []byte {
	h := sha256.New()
	h.Write([]byte(replyHash(c, by, 32)))
	h.Write([]byte{0})
	h.Write([]byte(text))
	return h.Sum(nil)[:16]
}

func thinkingMAC(kind string, nonce []byte, text string) []byte {
	m := hmac.New(sha256.New, []byte(thinkingKey))
	m.Write([]byte(kind + "\x00"))
	m.Write(nonce)
	m.Write([]byte(text))
	return m.Sum(nil)
}

// signThinking is a thinking block's signature: base64 of a nonce and an HMAC of the block's text, framed as
// protobuf fields the way Claude's signatures look ("Eh...").
func signThinking(nonce []byte, text string) string {
	b := append([]byte{0x12, byte(len(nonce))}, nonce...)
	b = append(b, 0x1a, sha256.Size)
	b = append(b, thinkingMAC("thinking", nonce, text)...)
	return base64.StdEncoding.EncodeToString(b)
}

func verifySignature(sig, text string) bool {
	b, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(b) != 2+16+2+sha256.Size || b[0] != 0x12 || b[1] != 16 || b[18] != 0x1a || b[19] != sha256.Size {
		return false
	}
	return hmac.Equal(b[20:], thinkingMAC("thinking", b[2:18], text))
}

// sealRedacted is redacted thinking's data: base64 of a nonce, an HMAC and the text masked with a keystream,
// opaque to the client and checked when it comes back.
func sealRedacted(nonce []byte, text string) string {
	b := append([]byte{0x22}, nonce...)
	b = append(b, thinkingMAC("redacted", nonce, text)...)
	b = append(b, maskRedacted(nonce, []byte(text))...)
	return base64.StdEncoding.EncodeToString(b)
}

func verifyRedacted(data string) bool {
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil || len(b) < 1+16+sha256.Size || b[0] != 0x22 {
		return false
	}
	nonce, mac := b[1:17], b[17:17+sha256.Size]
	text := maskRedacted(nonce, bytes.Clone(b[17+sha256.Size:]))
	return hmac.Equal(mac, thinkingMAC("redacted", nonce, string(text)))
}

// maskRedacted XORs p with a keystream of the nonce (in place) and returns it.
func maskRedacted(nonce, p []byte) []byte {
	for i := 0; i < len(p); i += sha256.Size {
		block := thinkingMAC("mask"+strconv.Itoa(i), nonce, "")
		for k := 0; k < sha256.Size && i+k < len(p); k++ {
			p[i+k] ^= block[k]
		}
	}
	return p
}

// --- response shapes ---

// anthropicThinkingContent is the start of a Messages response's content: its thinking blocks.
func anthropicThinkingContent(r reply) []anthropicBlockOut {
	out := []anthropicBlockOut{}
	for _, p := range r.Thinking {
		if p.Redacted != "" {
			out = append(out, anthropicBlockOut{Type: "redacted_thinking", Data: p.Redacted})
			continue
		}
		text := p.Text
		out = append(out, anthropicBlockOut{Type: "thinking", Thinking: &text, Signature: p.Signature})
	}
	return out
}

// anthropicThinkingEvents adds the stream events of the reply's thinking blocks from index on: a thinking
// block's content_block_start, thinking_delta deltas and a signature_delta; a redacted block's start holding
// its data. It returns the next index.
func anthropicThinkingEvents(events []streamEvent, r reply, index int) ([]streamEvent, int) {
	for _, p := range r.Thinking {
		if p.Redacted != "" {
			events = append(events,
				chunk(ordered{{"type", "content_block_start"}, {"index", index}, {"content_block", ordered{{"type", "redacted_thinking"}, {"data", p.Redacted}}}}),
				chunk(ordered{{"type", "content_block_stop"}, {"index", index}}))
			index++
			continue
		}
		events = append(events, chunk(ordered{{"type", "content_block_start"}, {"index", index}, {"content_block", ordered{{"type", "thinking"}, {"thinking", ""}}}}))
		for _, d := range textDeltas(p.Text) {
			events = append(events, chunk(ordered{{"type", "content_block_delta"}, {"index", index}, {"delta", ordered{{"type", "thinking_delta"}, {"thinking", d}}}}))
		}
		events = append(events,
			chunk(ordered{{"type", "content_block_delta"}, {"index", index}, {"delta", ordered{{"type", "signature_delta"}, {"signature", p.Signature}}}}),
			chunk(ordered{{"type", "content_block_stop"}, {"index", index}}))
		index++
	}
	return events, index
}

// converseReasoning is a ReasoningContentBlock as Converse writes it.
type converseReasoning struct {
	ReasoningText   *converseReasoningText `json:"reasoningText,omitempty"`
	RedactedContent string                 `json:"redactedContent,omitempty"` // a blob: base64 in JSON
}

type converseReasoningText struct {
	Text      string `json:"text"`
	Signature string `json:"signature,omitempty"`
}

// converseThinkingContent is the start of a Converse message's content: its reasoningContent blocks. The
// redacted block's bytes are the Messages API's data decoded, so that its base64 in JSON is the same string.
func converseThinkingContent(r reply) []converseBlock {
	out := []converseBlock{}
	for _, p := range r.Thinking {
		if p.Redacted != "" {
			out = append(out, converseBlock{ReasoningContent: &converseReasoning{RedactedContent: p.Redacted}})
			continue
		}
		out = append(out, converseBlock{ReasoningContent: &converseReasoning{ReasoningText: &converseReasoningText{Text: p.Text, Signature: p.Signature}}})
	}
	return out
}

// converseThinkingEvents adds ConverseStream's events of the reply's thinking from index on: reasoningContent
// text deltas, then one with the signature (or one with the redacted content), then the block's stop.
func converseThinkingEvents(events []streamEvent, r reply, index int) ([]streamEvent, int) {
	type object = map[string]any
	ev := func(typ string, payload any) streamEvent {
		return streamEvent{EventType: typ, Payload: marshal(payload)}
	}
	delta := func(rc object) streamEvent {
		return ev("contentBlockDelta", object{"delta": object{"reasoningContent": rc}, "contentBlockIndex": index})
	}
	for _, p := range r.Thinking {
		if p.Redacted != "" {
			events = append(events, delta(object{"redactedContent": p.Redacted}))
		} else {
			for _, d := range textDeltas(p.Text) {
				events = append(events, delta(object{"text": d}))
			}
			events = append(events, delta(object{"signature": p.Signature}))
		}
		events = append(events, ev("contentBlockStop", object{"contentBlockIndex": index}))
		index++
	}
	return events, index
}
