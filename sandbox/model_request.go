package sandbox

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// conversation is a request normalised from whichever dialect it came in (Anthropic Messages or Amazon Nova
// on InvokeModel, Converse), so that replies, token counts and quotas are computed once.
type conversation struct {
	System        string
	Messages      []turn // alternating user/assistant, text of each flattened
	MaxTokens     int
	StopSequences []string
	Temperature   *float64
	Tools         []toolSpec
	ToolChoice    string // "auto", "any", "tool:<name>", "none"
	Images        int    // count of image blocks (base64 data), validated
}

type turn struct {
	Role        string
	Text        string
	ToolResults int
	ToolUses    int
}

type toolSpec struct {
	Name, Description string
	Schema            json.RawMessage
}

const (
	anthropicVersion = "bedrock-2023-05-31"
	// defaultMaxTokens is used when Converse (or a Nova body) does not set a maximum; Converse has no model
	// here, and every model in the catalogue allows at least this many.
	defaultMaxTokens = 4096
	maxStopSequences = 2500
)

const (
	familyAnthropic = "anthropic-messages"
	familyNova      = "amazon-nova"
)

var toolNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// parseInvokeBody parses an InvokeModel (or InvokeModelWithResponseStream) body in the model's dialect.
func parseInvokeBody(m catalog.Model, body []byte) (conversation, *awsError) {
	switch m.Family {
	case familyAnthropic:
		return parseAnthropicBody(m, body)
	case familyNova:
		return parseNovaBody(m, body)
	}
	return conversation{}, validationException("The provided model doesn't support on-demand invocation of its request body format (%q).", m.Family)
}

// --- JSON helpers shared by the dialects ---

// jsonKind names a JSON value's type the way Bedrock's schema validator (everit) does in its messages.
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "null"
	}
	switch raw[0] {
	case '"':
		return "String"
	case '{':
		return "JSONObject"
	case '[':
		return "JSONArray"
	case 't', 'f':
		return "Boolean"
	case 'n':
		return "null"
	}
	if bytes.ContainsAny(raw, ".eE") {
		return "BigDecimal"
	}
	return "Integer"
}

func isNull(raw json.RawMessage) bool { return jsonKind(raw) == "null" }

// decodeObject decodes a JSON object into its members; ok is false for anything else.
func decodeObject(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	if jsonKind(raw) != "JSONObject" {
		return nil, false
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, false
	}
	return obj, true
}

func decodeArray(raw json.RawMessage) ([]json.RawMessage, bool) {
	if jsonKind(raw) != "JSONArray" {
		return nil, false
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(raw, &arr); err != nil {
		return nil, false
	}
	return arr, true
}

func decodeString(raw json.RawMessage) (string, bool) {
	if jsonKind(raw) != "String" {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

func decodeNumber(raw json.RawMessage) (float64, bool) {
	if k := jsonKind(raw); k != "Integer" && k != "BigDecimal" {
		return 0, false
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return 0, false
	}
	return f, true
}

// decodeInt decodes an integer; big reports a valid integer that does not fit an int32 (Bedrock's type).
func decodeInt(raw json.RawMessage) (n int, big bool, ok bool) {
	if jsonKind(raw) != "Integer" {
		return 0, false, false
	}
	v, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	if err != nil || v > 1<<31-1 || v < -1<<31 {
		return 0, true, true
	}
	return int(v), false, true
}

func sortedKeys(obj map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// validBase64 reports whether s is non-empty standard base64 (padding optional, as the SDKs send it padded).
func validBase64(s string) bool {
	if s == "" {
		return false
	}
	if _, err := base64.StdEncoding.DecodeString(s); err == nil {
		return true
	}
	_, err := base64.RawStdEncoding.DecodeString(s)
	return err == nil
}

// schemaViolations collects Bedrock's JSON-schema errors for an InvokeModel body, which it reports before the
// model sees the request: "Malformed input request: <violations>, please reformat your input and try again."
type schemaViolations []string

func (v *schemaViolations) add(format string, args ...any) {
	*v = append(*v, fmt.Sprintf(format, args...))
}

func (v schemaViolations) err() *awsError {
	if len(v) == 0 {
		return nil
	}
	return malformedInput(v...)
}

// malformedInput words violations as Bedrock does: one is quoted; several top-level ones ("#: ...") are run
// together; several in different places are counted.
func malformedInput(violations ...string) *awsError {
	msg := violations[0]
	if len(violations) > 1 {
		allTop := true
		for _, s := range violations {
			allTop = allTop && strings.HasPrefix(s, "#: ")
		}
		if allTop {
			msg = strings.Join(violations, "")
		} else {
			msg = fmt.Sprintf("%d schema violations found", len(violations))
		}
	}
	return validationException("Malformed input request: %s, please reformat your input and try again.", msg)
}

// checkKeys reports required keys that are missing and keys that are not allowed, at a JSON pointer path.
func checkKeys(v *schemaViolations, path string, obj map[string]json.RawMessage, required, allowed []string) {
	for _, k := range required {
		if _, ok := obj[k]; !ok {
			v.add("%s: required key [%s] not found", path, k)
		}
	}
	for _, k := range sortedKeys(obj) {
		if !slices.Contains(allowed, k) && !slices.Contains(required, k) {
			v.add("%s: extraneous key [%s] is not permitted", path, k)
		}
	}
}

func checkRange(v *schemaViolations, path string, raw json.RawMessage, lo, hi float64) *float64 {
	f, ok := decodeNumber(raw)
	if !ok {
		v.add("%s: expected type: Number, found: %s", path, jsonKind(raw))
		return nil
	}
	text := string(bytes.TrimSpace(raw))
	switch {
	case f < lo:
		v.add("%s: %s is not greater or equal to %s", path, text, strconv.FormatFloat(lo, 'f', -1, 64))
	case f > hi:
		v.add("%s: %s is not less or equal to %s", path, text, strconv.FormatFloat(hi, 'f', -1, 64))
	}
	return &f
}

func checkStringList(v *schemaViolations, path string, raw json.RawMessage) []string {
	arr, ok := decodeArray(raw)
	if !ok {
		v.add("%s: expected type: JSONArray, found: %s", path, jsonKind(raw))
		return nil
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		s, ok := decodeString(e)
		if !ok {
			v.add("%s/%d: expected type: String, found: %s", path, i, jsonKind(e))
			continue
		}
		out = append(out, s)
	}
	return out
}

// --- Anthropic Messages on InvokeModel ---

var anthropicKeys = []string{"anthropic_version", "anthropic_beta", "max_tokens", "messages", "system",
	"temperature", "top_p", "top_k", "stop_sequences", "tools", "tool_choice", "thinking", "metadata"}

func parseAnthropicBody(m catalog.Model, body []byte) (conversation, *awsError) {
	var c conversation
	if !json.Valid(body) {
		return c, malformedInput("#: body is not valid JSON")
	}
	obj, ok := decodeObject(body)
	if !ok {
		return c, malformedInput(fmt.Sprintf("#: expected type: JSONObject, found: %s", jsonKind(body)))
	}

	// Bedrock's own schema check comes first, then Anthropic's validation of what it lets through.
	var v schemaViolations
	checkKeys(&v, "#", obj, []string{"anthropic_version", "max_tokens", "messages"}, anthropicKeys)
	version, _ := decodeString(obj["anthropic_version"])
	if raw, ok := obj["anthropic_version"]; ok && jsonKind(raw) != "String" {
		v.add("#/anthropic_version: expected type: String, found: %s", jsonKind(raw))
	}
	maxTokens, big := 0, false
	if raw, ok := obj["max_tokens"]; ok {
		var isInt bool
		maxTokens, big, isInt = decodeInt(raw)
		switch {
		case !isInt:
			v.add("#/max_tokens: expected type: Integer, found: %s", jsonKind(raw))
		case !big && maxTokens < 1:
			v.add("#/max_tokens: %d is not greater or equal to 1", maxTokens)
		}
	}
	msgs, msgsOK := decodeArray(obj["messages"])
	if raw, ok := obj["messages"]; ok && !msgsOK {
		v.add("#/messages: expected type: JSONArray, found: %s", jsonKind(raw))
	}
	if raw, ok := obj["temperature"]; ok {
		c.Temperature = checkRange(&v, "#/temperature", raw, 0, 1)
	}
	if raw, ok := obj["top_p"]; ok {
		checkRange(&v, "#/top_p", raw, 0, 1)
	}
	if raw, ok := obj["top_k"]; ok {
		if k, _, isInt := decodeInt(raw); !isInt {
			v.add("#/top_k: expected type: Integer, found: %s", jsonKind(raw))
		} else if k < 0 {
			v.add("#/top_k: %d is not greater or equal to 0", k)
		}
	}
	if raw, ok := obj["stop_sequences"]; ok {
		c.StopSequences = checkStringList(&v, "#/stop_sequences", raw)
	}
	if raw, ok := obj["anthropic_beta"]; ok {
		checkStringList(&v, "#/anthropic_beta", raw)
	}
	for _, k := range []string{"tool_choice", "thinking", "metadata"} {
		if raw, ok := obj[k]; ok && jsonKind(raw) != "JSONObject" {
			v.add("#/%s: expected type: JSONObject, found: %s", k, jsonKind(raw))
		}
	}
	if raw, ok := obj["tools"]; ok && jsonKind(raw) != "JSONArray" {
		v.add("#/tools: expected type: JSONArray, found: %s", jsonKind(raw))
	}
	if raw, ok := obj["system"]; ok {
		if k := jsonKind(raw); k != "String" && k != "JSONArray" {
			v.add("#/system: expected type: String or JSONArray, found: %s", k)
		}
	}
	if err := v.err(); err != nil {
		return c, err
	}

	if version != anthropicVersion {
		return c, validationException("Invalid API version: %s", version)
	}
	if big || (m.MaxOutputTokens > 0 && maxTokens > m.MaxOutputTokens) {
		return c, validationException("max_tokens: %s > %d, which is the maximum allowed number of output tokens for %s",
			strings.TrimSpace(string(obj["max_tokens"])), m.MaxOutputTokens, m.ID)
	}
	c.MaxTokens = maxTokens

	if raw, ok := obj["system"]; ok {
		sys, err := anthropicSystem(raw)
		if err != nil {
			return c, err
		}
		c.System = sys
	}
	if len(msgs) == 0 {
		return c, validationException("messages: at least one message is required")
	}
	for i, raw := range msgs {
		t, images, err := anthropicMessage(i, raw)
		if err != nil {
			return c, err
		}
		if i == 0 && t.Role != "user" {
			return c, validationException(`messages: first message must use the "user" role`)
		}
		if i > 0 && t.Role == c.Messages[i-1].Role {
			return c, validationException(`messages: roles must alternate between "user" and "assistant", but found multiple %q roles in a row`, t.Role)
		}
		c.Messages = append(c.Messages, t)
		c.Images += images
	}
	if raw, ok := obj["tools"]; ok {
		tools, err := anthropicTools(raw)
		if err != nil {
			return c, err
		}
		c.Tools = tools
	}
	c.ToolChoice = "auto"
	if raw, ok := obj["tool_choice"]; ok {
		choice, err := anthropicToolChoice(raw, c.Tools)
		if err != nil {
			return c, err
		}
		c.ToolChoice = choice
	}
	return c, nil
}

func anthropicSystem(raw json.RawMessage) (string, *awsError) {
	if s, ok := decodeString(raw); ok {
		return s, nil
	}
	blocks, _ := decodeArray(raw)
	var parts []string
	for i, b := range blocks {
		obj, ok := decodeObject(b)
		if !ok {
			return "", validationException("system.%d: Input should be a valid dictionary or object to extract fields from", i)
		}
		if typ, _ := decodeString(obj["type"]); typ != "text" {
			return "", validationException("system.%d.type: Input should be 'text'", i)
		}
		text, ok := decodeString(obj["text"])
		if !ok {
			return "", validationException("system.%d.text: Field required", i)
		}
		parts = append(parts, text)
	}
	return strings.Join(parts, "\n"), nil
}

var anthropicBlockTypes = "'text', 'image', 'tool_use', 'tool_result', 'document', 'thinking', 'redacted_thinking'"

func anthropicMessage(i int, raw json.RawMessage) (turn, int, *awsError) {
	var t turn
	obj, ok := decodeObject(raw)
	if !ok {
		return t, 0, validationException("messages.%d: Input should be a valid dictionary or object to extract fields from", i)
	}
	role, ok := decodeString(obj["role"])
	if !ok {
		return t, 0, validationException("messages.%d.role: Field required", i)
	}
	if role != "user" && role != "assistant" {
		return t, 0, validationException("messages.%d.role: Input should be 'user' or 'assistant'", i)
	}
	t.Role = role
	content, ok := obj["content"]
	if !ok {
		return t, 0, validationException("messages.%d.content: Field required", i)
	}
	if s, ok := decodeString(content); ok {
		if strings.TrimSpace(s) == "" {
			return t, 0, validationException("messages.%d: all messages must have non-empty content except for the optional final assistant message", i)
		}
		t.Text = s
		return t, 0, nil
	}
	blocks, ok := decodeArray(content)
	if !ok {
		return t, 0, validationException("messages.%d.content: Input should be a valid list", i)
	}
	if len(blocks) == 0 {
		return t, 0, validationException("messages.%d: all messages must have non-empty content except for the optional final assistant message", i)
	}
	images, err := t.addBlocks(len(blocks), "tool_use", "tool_result", func(j int) (string, int, string, *awsError) {
		return anthropicBlock(fmt.Sprintf("messages.%d.content.%d", i, j), blocks[j], false)
	})
	return t, images, err
}

// anthropicBlock validates one content block and returns its text (for echo and token counting), its image
// count and its type. Inside a tool_result only text and image blocks are allowed.
func anthropicBlock(path string, raw json.RawMessage, inToolResult bool) (text string, images int, kind string, err *awsError) {
	obj, ok := decodeObject(raw)
	if !ok {
		return "", 0, "", validationException("%s: Input should be a valid dictionary or object to extract fields from", path)
	}
	typRaw, ok := obj["type"]
	if !ok {
		return "", 0, "", validationException("%s.type: Field required", path)
	}
	kind, _ = decodeString(typRaw)
	if inToolResult && kind != "text" && kind != "image" {
		return "", 0, "", validationException("%s: Input tag '%s' found using 'type' does not match any of the expected tags: 'text', 'image'", path, kind)
	}
	switch kind {
	case "text":
		s, ok := decodeString(obj["text"])
		if !ok {
			return "", 0, "", validationException("%s.text.text: Field required", path)
		}
		if strings.TrimSpace(s) == "" {
			return "", 0, "", validationException("messages: text content blocks must be non-empty")
		}
		return s, 0, kind, nil
	case "image":
		src, ok := decodeObject(obj["source"])
		if !ok {
			return "", 0, "", validationException("%s.image.source: Field required", path)
		}
		if st, _ := decodeString(src["type"]); st != "base64" {
			return "", 0, "", validationException("%s.image.source: Input tag '%s' found using 'type' does not match any of the expected tags: 'base64'", path, st)
		}
		mt, _ := decodeString(src["media_type"])
		if !slices.Contains([]string{"image/jpeg", "image/png", "image/gif", "image/webp"}, mt) {
			return "", 0, "", validationException("%s.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'", path)
		}
		data, _ := decodeString(src["data"])
		if !validBase64(data) {
			return "", 0, "", validationException("%s.image.source.base64.data: The image data is not valid base64.", path)
		}
		return "", 1, kind, nil
	case "tool_use":
		id, ok1 := decodeString(obj["id"])
		name, ok2 := decodeString(obj["name"])
		input := obj["input"]
		switch {
		case !ok1 || id == "":
			return "", 0, "", validationException("%s.tool_use.id: Field required", path)
		case !ok2 || name == "":
			return "", 0, "", validationException("%s.tool_use.name: Field required", path)
		case jsonKind(input) != "JSONObject":
			return "", 0, "", validationException("%s.tool_use.input: Input should be a valid dictionary", path)
		}
		return fmt.Sprintf("[tool_use %s %s]", name, compactJSON(input)), 0, kind, nil
	case "tool_result":
		if id, ok := decodeString(obj["tool_use_id"]); !ok || id == "" {
			return "", 0, "", validationException("%s.tool_result.tool_use_id: Field required", path)
		}
		if raw, ok := obj["is_error"]; ok && jsonKind(raw) != "Boolean" {
			return "", 0, "", validationException("%s.tool_result.is_error: Input should be a valid boolean", path)
		}
		raw, ok := obj["content"]
		if !ok || isNull(raw) {
			return "", 0, kind, nil
		}
		if s, ok := decodeString(raw); ok {
			return s, 0, kind, nil
		}
		inner, ok := decodeArray(raw)
		if !ok {
			return "", 0, "", validationException("%s.tool_result.content: Input should be a valid string or list", path)
		}
		var parts []string
		for k, b := range inner {
			s, img, _, err := anthropicBlock(fmt.Sprintf("%s.tool_result.content.%d", path, k), b, true)
			if err != nil {
				return "", 0, "", err
			}
			images += img
			if s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, "\n"), images, kind, nil
	case "document":
		// Counted by its text when it is a plain-text source; other documents add no text.
		src, _ := decodeObject(obj["source"])
		s, _ := decodeString(src["data"])
		if st, _ := decodeString(src["type"]); st != "text" {
			s = ""
		}
		return s, 0, kind, nil
	case "thinking":
		s, _ := decodeString(obj["thinking"])
		return s, 0, kind, nil
	case "redacted_thinking":
		return "", 0, kind, nil
	}
	return "", 0, "", validationException("%s: Input tag '%s' found using 'type' does not match any of the expected tags: %s", path, kind, anthropicBlockTypes)
}

func anthropicTools(raw json.RawMessage) ([]toolSpec, *awsError) {
	arr, _ := decodeArray(raw)
	var tools []toolSpec
	for i, t := range arr {
		obj, ok := decodeObject(t)
		if !ok {
			return nil, validationException("tools.%d: Input should be a valid dictionary or object to extract fields from", i)
		}
		name, _ := decodeString(obj["name"])
		if !toolNamePattern.MatchString(name) {
			return nil, validationException("tools.%d.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'", i)
		}
		desc, _ := decodeString(obj["description"])
		spec := toolSpec{Name: name, Description: desc}
		// Server tools (bash, text editor, web search, ...) have a versioned type and no schema.
		if typ, _ := decodeString(obj["type"]); typ == "" || typ == "custom" {
			schema, ok := obj["input_schema"]
			if !ok || jsonKind(schema) != "JSONObject" {
				return nil, validationException("tools.%d.custom.input_schema: Field required", i)
			}
			spec.Schema = json.RawMessage(compactJSON(schema))
		}
		for _, prev := range tools {
			if prev.Name == name {
				return nil, validationException("tools: Tool names must be unique.")
			}
		}
		tools = append(tools, spec)
	}
	return tools, nil
}

func anthropicToolChoice(raw json.RawMessage, tools []toolSpec) (string, *awsError) {
	obj, _ := decodeObject(raw)
	typ, _ := decodeString(obj["type"])
	switch typ {
	case "auto", "any", "none":
	case "tool":
		name, _ := decodeString(obj["name"])
		if name == "" {
			return "", validationException("tool_choice.tool.name: Field required")
		}
		if !slices.ContainsFunc(tools, func(t toolSpec) bool { return t.Name == name }) {
			return "", validationException("tool_choice.tool.name: Tool '%s' not found in provided tools", name)
		}
		return "tool:" + name, nil
	default:
		return "", validationException("tool_choice: Input tag '%s' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'", typ)
	}
	if len(tools) == 0 && typ != "none" {
		return "", validationException("tool_choice may only be specified while providing tools.")
	}
	return typ, nil
}

// --- Converse (and the Converse-shaped parts of Nova) ---

// coralViolations collects service-model constraint failures, which Bedrock reports before anything else in
// the Coral wording: "2 validation errors detected: Value '0' at 'inferenceConfig.maxTokens' failed to
// satisfy constraint: Member must have value greater than or equal to 1; Value ...". List members are
// numbered from 1 and written "messages.1.member.role".
type coralViolations []string

func (v *coralViolations) add(value, path, constraint string) {
	*v = append(*v, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: Member %s", value, path, constraint))
}

func (v coralViolations) err() *awsError {
	switch len(v) {
	case 0:
		return nil
	case 1:
		return validationException("1 validation error detected: %s", v[0])
	}
	return validationException("%d validation errors detected: %s", len(v), strings.Join(v, "; "))
}

func quoteValue(raw json.RawMessage) string {
	if s, ok := decodeString(raw); ok {
		return "'" + s + "'"
	}
	if isNull(raw) {
		return "null"
	}
	return "'" + strings.TrimSpace(string(raw)) + "'"
}

// typeMismatch is what Bedrock says when a member has the wrong JSON type (the SDKs never send this; hand
// written bodies do).
func typeMismatch(path, want string, raw json.RawMessage) *awsError {
	return validationException("Invalid type for %s: expected %s, found %s.", path, want, jsonKind(raw))
}

// converseParser parses the members Converse, ConverseStream, CountTokens' converse input and (with lenient
// settings) Nova's InvokeModel body share.
type converseParser struct {
	v coralViolations
}

func parseConverseBody(body []byte) (conversation, *awsError) {
	var c conversation
	if !json.Valid(body) {
		return c, validationException("Malformed request body: the body is not valid JSON.")
	}
	obj, ok := decodeObject(body)
	if !ok {
		return c, typeMismatch("the request body", "a JSON object", body)
	}
	var p converseParser
	c.MaxTokens = defaultMaxTokens
	if raw, ok := obj["inferenceConfig"]; ok && !isNull(raw) {
		ic, ok := decodeObject(raw)
		if !ok {
			return c, typeMismatch("inferenceConfig", "a JSON object", raw)
		}
		if err := p.inferenceConfig(&c, ic); err != nil {
			return c, err
		}
	}
	if raw, ok := obj["additionalModelRequestFields"]; ok && !isNull(raw) && jsonKind(raw) != "JSONObject" {
		return c, typeMismatch("additionalModelRequestFields", "a JSON object", raw)
	}
	if err := p.body(&c, obj, "messages", "system", "toolConfig"); err != nil {
		return c, err
	}
	return c, nil
}

func (p *converseParser) inferenceConfig(c *conversation, ic map[string]json.RawMessage) *awsError {
	if raw, ok := ic["maxTokens"]; ok && !isNull(raw) {
		n, big, isInt := decodeInt(raw)
		switch {
		case !isInt:
			return typeMismatch("inferenceConfig.maxTokens", "an integer", raw)
		case big:
			return typeMismatch("inferenceConfig.maxTokens", "a 32-bit integer", raw)
		case n < 1:
			p.v.add(quoteValue(raw), "inferenceConfig.maxTokens", "must have value greater than or equal to 1")
		}
		c.MaxTokens = n
	}
	for _, k := range []string{"temperature", "topP"} {
		raw, ok := ic[k]
		if !ok || isNull(raw) {
			continue
		}
		f, ok := decodeNumber(raw)
		if !ok {
			return typeMismatch("inferenceConfig."+k, "a number", raw)
		}
		if f < 0 {
			p.v.add(quoteValue(raw), "inferenceConfig."+k, "must have value greater than or equal to 0")
		} else if f > 1 {
			p.v.add(quoteValue(raw), "inferenceConfig."+k, "must have value less than or equal to 1")
		}
		if k == "temperature" {
			c.Temperature = &f
		}
	}
	if raw, ok := ic["stopSequences"]; ok && !isNull(raw) {
		arr, ok := decodeArray(raw)
		if !ok {
			return typeMismatch("inferenceConfig.stopSequences", "a list", raw)
		}
		if len(arr) > maxStopSequences {
			p.v.add("'["+strconv.Itoa(len(arr))+" items]'", "inferenceConfig.stopSequences", "must have length less than or equal to 2500")
		}
		for i, e := range arr {
			s, ok := decodeString(e)
			if !ok {
				return typeMismatch(fmt.Sprintf("inferenceConfig.stopSequences[%d]", i), "a string", e)
			}
			if s == "" {
				p.v.add("''", fmt.Sprintf("inferenceConfig.stopSequences.%d.member", i+1), "must have length greater than or equal to 1")
			}
			c.StopSequences = append(c.StopSequences, s)
		}
	}
	return nil
}

// body parses messages, system and toolConfig (named as in the dialect) into c, then applies the
// conversation rules Bedrock checks after the constraints.
func (p *converseParser) body(c *conversation, obj map[string]json.RawMessage, messagesKey, systemKey, toolConfigKey string) *awsError {
	if raw, ok := obj[systemKey]; ok && !isNull(raw) {
		arr, ok := decodeArray(raw)
		if !ok {
			return typeMismatch(systemKey, "a list", raw)
		}
		var parts []string
		for i, e := range arr {
			b, ok := decodeObject(e)
			if !ok {
				return typeMismatch(fmt.Sprintf("%s[%d]", systemKey, i), "a JSON object", e)
			}
			if t, ok := b["text"]; ok {
				s, ok := decodeString(t)
				if !ok {
					return typeMismatch(fmt.Sprintf("%s[%d].text", systemKey, i), "a string", t)
				}
				if s == "" {
					p.v.add("''", fmt.Sprintf("%s.%d.member.text", systemKey, i+1), "must have length greater than or equal to 1")
				}
				parts = append(parts, s)
			}
		}
		c.System = strings.Join(parts, "\n")
	}

	var msgs []json.RawMessage
	if raw, ok := obj[messagesKey]; ok && !isNull(raw) {
		arr, ok := decodeArray(raw)
		if !ok {
			return typeMismatch(messagesKey, "a list", raw)
		}
		msgs = arr
	}
	toolBlocks := false
	for i, raw := range msgs {
		t, images, err := p.message(messagesKey, i, raw)
		if err != nil {
			return err
		}
		toolBlocks = toolBlocks || t.ToolUses > 0 || t.ToolResults > 0
		c.Messages = append(c.Messages, t)
		c.Images += images
	}

	c.ToolChoice = "auto"
	hasToolConfig := false
	if raw, ok := obj[toolConfigKey]; ok && !isNull(raw) {
		tc, ok := decodeObject(raw)
		if !ok {
			return typeMismatch(toolConfigKey, "a JSON object", raw)
		}
		hasToolConfig = true
		if err := p.toolConfig(c, toolConfigKey, tc); err != nil {
			return err
		}
	}
	if err := p.v.err(); err != nil {
		return err
	}

	if len(c.Messages) == 0 || c.Messages[0].Role != "user" {
		return validationException("A conversation must start with a user message. Try again with a conversation that starts with a user message.")
	}
	for i := 1; i < len(c.Messages); i++ {
		if c.Messages[i].Role == c.Messages[i-1].Role {
			return validationException("A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.")
		}
	}
	if toolBlocks && !hasToolConfig {
		return validationException("The toolConfig field must be defined when using toolUse and toolResult content blocks.")
	}
	if strings.HasPrefix(c.ToolChoice, "tool:") {
		name := strings.TrimPrefix(c.ToolChoice, "tool:")
		if !slices.ContainsFunc(c.Tools, func(t toolSpec) bool { return t.Name == name }) {
			return validationException("The tool %s specified in toolChoice is not defined in toolConfig.tools. Add the tool to the tools list, or choose a tool that is defined, and try again.", name)
		}
	}
	return nil
}

func (p *converseParser) message(key string, i int, raw json.RawMessage) (turn, int, *awsError) {
	var t turn
	path := fmt.Sprintf("%s.%d.member", key, i+1)
	m, ok := decodeObject(raw)
	if !ok {
		return t, 0, typeMismatch(fmt.Sprintf("%s[%d]", key, i), "a JSON object", raw)
	}
	roleRaw, ok := m["role"]
	switch role, isStr := decodeString(roleRaw); {
	case !ok || isNull(roleRaw):
		p.v.add("null", path+".role", "must not be null")
	case !isStr:
		return t, 0, typeMismatch(fmt.Sprintf("%s[%d].role", key, i), "a string", roleRaw)
	case role != "user" && role != "assistant":
		p.v.add(quoteValue(roleRaw), path+".role", "must satisfy enum value set: [user, assistant]")
	default:
		t.Role = role
	}
	contentRaw, ok := m["content"]
	if !ok || isNull(contentRaw) {
		p.v.add("null", path+".content", "must not be null")
		return t, 0, nil
	}
	blocks, ok := decodeArray(contentRaw)
	if !ok {
		return t, 0, typeMismatch(fmt.Sprintf("%s[%d].content", key, i), "a list", contentRaw)
	}
	if len(blocks) == 0 {
		return t, 0, validationException("The content field in the Message object at %s.%d is empty. Add a ContentBlock object to the content field and try again.", key, i)
	}
	images, err := t.addBlocks(len(blocks), "toolUse", "toolResult", func(j int) (string, int, string, *awsError) {
		return p.block(fmt.Sprintf("%s.%d.content.%d", key, i, j), fmt.Sprintf("%s.content.%d.member", path, j+1), blocks[j])
	})
	return t, images, err
}

// addBlocks parses a message's n content blocks with parse, whatever the dialect: it joins their text into
// t.Text, counts tool uses and results (named toolUse and toolResult in the dialect) and returns the images.
func (t *turn) addBlocks(n int, toolUse, toolResult string, parse func(j int) (text string, images int, kind string, err *awsError)) (int, *awsError) {
	var parts []string
	images := 0
	for j := 0; j < n; j++ {
		text, img, kind, err := parse(j)
		if err != nil {
			return 0, err
		}
		switch kind {
		case toolUse:
			t.ToolUses++
		case toolResult:
			t.ToolResults++
		}
		images += img
		if text != "" {
			parts = append(parts, text)
		}
	}
	t.Text = strings.Join(parts, "\n")
	return images, nil
}

// block parses one ContentBlock union. at is the 0-based location Bedrock names in its own messages,
// path the 1-based Coral constraint path.
func (p *converseParser) block(at, path string, raw json.RawMessage) (text string, images int, kind string, err *awsError) {
	b, ok := decodeObject(raw)
	if !ok {
		return "", 0, "", typeMismatch(at, "a JSON object", raw)
	}
	var set []string
	for _, k := range sortedKeys(b) {
		if !isNull(b[k]) {
			set = append(set, k)
		}
	}
	if len(set) != 1 {
		return "", 0, "", validationException("The ContentBlock object at %s must set exactly one of its members (found %d). Try again with one member set.", at, len(set))
	}
	kind = set[0]
	v := b[kind]
	switch kind {
	case "text":
		s, ok := decodeString(v)
		if !ok {
			return "", 0, "", typeMismatch(at+".text", "a string", v)
		}
		if strings.TrimSpace(s) == "" {
			return "", 0, "", validationException("The text field in the ContentBlock object at %s is blank. Add text to the text field, and try again.", at)
		}
		return s, 0, kind, nil
	case "image":
		n, err := p.image(at+".image", path+".image", v)
		return "", n, kind, err
	case "toolUse":
		tu, ok := decodeObject(v)
		if !ok {
			return "", 0, "", typeMismatch(at+".toolUse", "a JSON object", v)
		}
		id, _ := decodeString(tu["toolUseId"])
		name, _ := decodeString(tu["name"])
		p.checkToolUseID(path+".toolUse.toolUseId", tu["toolUseId"], id)
		if !toolNamePattern.MatchString(name) {
			p.v.add(quoteValue(tu["name"]), path+".toolUse.name", "must satisfy regular expression pattern: [a-zA-Z0-9_-]+")
		}
		input, ok := tu["input"]
		if !ok || isNull(input) {
			p.v.add("null", path+".toolUse.input", "must not be null")
			input = json.RawMessage("{}")
		}
		return fmt.Sprintf("[tool_use %s %s]", name, compactJSON(input)), 0, kind, nil
	case "toolResult":
		tr, ok := decodeObject(v)
		if !ok {
			return "", 0, "", typeMismatch(at+".toolResult", "a JSON object", v)
		}
		id, _ := decodeString(tr["toolUseId"])
		p.checkToolUseID(path+".toolResult.toolUseId", tr["toolUseId"], id)
		if st, ok := tr["status"]; ok && !isNull(st) {
			if s, _ := decodeString(st); s != "success" && s != "error" {
				p.v.add(quoteValue(st), path+".toolResult.status", "must satisfy enum value set: [success, error]")
			}
		}
		content, ok := tr["content"]
		if !ok || isNull(content) {
			p.v.add("null", path+".toolResult.content", "must not be null")
			return "", 0, kind, nil
		}
		arr, ok := decodeArray(content)
		if !ok {
			return "", 0, "", typeMismatch(at+".toolResult.content", "a list", content)
		}
		var parts []string
		for k, e := range arr {
			cb, ok := decodeObject(e)
			if !ok {
				return "", 0, "", typeMismatch(fmt.Sprintf("%s.toolResult.content.%d", at, k), "a JSON object", e)
			}
			switch {
			case !isNull(cb["text"]) && cb["text"] != nil:
				s, ok := decodeString(cb["text"])
				if !ok {
					return "", 0, "", typeMismatch(fmt.Sprintf("%s.toolResult.content.%d.text", at, k), "a string", cb["text"])
				}
				parts = append(parts, s)
			case cb["json"] != nil && !isNull(cb["json"]):
				parts = append(parts, compactJSON(cb["json"]))
			case cb["image"] != nil && !isNull(cb["image"]):
				n, err := p.image(fmt.Sprintf("%s.toolResult.content.%d.image", at, k), fmt.Sprintf("%s.toolResult.content.%d.member.image", path, k+1), cb["image"])
				if err != nil {
					return "", 0, "", err
				}
				images += n
			}
		}
		return strings.Join(parts, "\n"), images, kind, nil
	case "reasoningContent":
		rc, _ := decodeObject(v)
		rt, _ := decodeObject(rc["reasoningText"])
		s, _ := decodeString(rt["text"])
		return s, 0, kind, nil
	case "document", "video", "audio", "cachePoint", "guardContent", "citationsContent", "searchResult":
		if jsonKind(v) != "JSONObject" {
			return "", 0, "", typeMismatch(at+"."+kind, "a JSON object", v)
		}
		if kind == "guardContent" {
			gc, _ := decodeObject(v)
			t, _ := decodeObject(gc["text"])
			s, _ := decodeString(t["text"])
			return s, 0, kind, nil
		}
		return "", 0, kind, nil
	}
	return "", 0, "", validationException("The ContentBlock object at %s has an unknown member %q. Try again with a supported content block.", at, kind)
}

func (p *converseParser) checkToolUseID(path string, raw json.RawMessage, id string) {
	switch {
	case raw == nil || isNull(raw):
		p.v.add("null", path, "must not be null")
	case id == "" || len(id) > 64:
		p.v.add(quoteValue(raw), path, "must have length between 1 and 64")
	case !toolUseIDPattern.MatchString(id):
		p.v.add(quoteValue(raw), path, "must satisfy regular expression pattern: [a-zA-Z0-9_.:-]+")
	}
}

var toolUseIDPattern = regexp.MustCompile(`^[a-zA-Z0-9_.:-]+$`)

func (p *converseParser) image(at, path string, raw json.RawMessage) (int, *awsError) {
	img, ok := decodeObject(raw)
	if !ok {
		return 0, typeMismatch(at, "a JSON object", raw)
	}
	format, _ := decodeString(img["format"])
	if !slices.Contains([]string{"png", "jpeg", "gif", "webp"}, format) {
		p.v.add(quoteValue(img["format"]), path+".format", "must satisfy enum value set: [png, jpeg, gif, webp]")
	}
	src, ok := decodeObject(img["source"])
	if !ok {
		p.v.add("null", path+".source", "must not be null")
		return 1, nil
	}
	if _, ok := src["s3Location"]; ok {
		return 1, nil
	}
	data, isStr := decodeString(src["bytes"])
	if !isStr || !validBase64(data) {
		return 0, validationException("The image at %s.source.bytes is not valid base64-encoded image data. Check the image and try again.", at)
	}
	return 1, nil
}

func (p *converseParser) toolConfig(c *conversation, key string, tc map[string]json.RawMessage) *awsError {
	raw, ok := tc["tools"]
	if !ok || isNull(raw) {
		p.v.add("null", key+".tools", "must not be null")
		return nil
	}
	arr, ok := decodeArray(raw)
	if !ok {
		return typeMismatch(key+".tools", "a list", raw)
	}
	if len(arr) == 0 {
		p.v.add("'[]'", key+".tools", "must have length greater than or equal to 1")
	}
	for i, e := range arr {
		path := fmt.Sprintf("%s.tools.%d.member", key, i+1)
		t, ok := decodeObject(e)
		if !ok {
			return typeMismatch(fmt.Sprintf("%s.tools[%d]", key, i), "a JSON object", e)
		}
		specRaw, ok := t["toolSpec"]
		if !ok || isNull(specRaw) {
			continue // cachePoint or systemTool
		}
		spec, ok := decodeObject(specRaw)
		if !ok {
			return typeMismatch(fmt.Sprintf("%s.tools[%d].toolSpec", key, i), "a JSON object", specRaw)
		}
		name, _ := decodeString(spec["name"])
		if !toolNamePattern.MatchString(name) {
			if isNull(spec["name"]) {
				p.v.add("null", path+".toolSpec.name", "must not be null")
			} else {
				p.v.add(quoteValue(spec["name"]), path+".toolSpec.name", "must satisfy regular expression pattern: [a-zA-Z0-9_-]+")
			}
		}
		desc, _ := decodeString(spec["description"])
		is, _ := decodeObject(spec["inputSchema"])
		schema, ok := is["json"]
		if !ok || isNull(schema) {
			p.v.add("null", path+".toolSpec.inputSchema", "must not be null")
			schema = json.RawMessage("{}")
		} else if jsonKind(schema) != "JSONObject" {
			return validationException("The inputSchema of tool %s must be a JSON object.", name)
		}
		for _, prev := range c.Tools {
			if prev.Name == name {
				return validationException("The toolConfig contains duplicate tool names (%s). Give each tool a unique name and try again.", name)
			}
		}
		c.Tools = append(c.Tools, toolSpec{Name: name, Description: desc, Schema: json.RawMessage(compactJSON(schema))})
	}
	if raw, ok := tc["toolChoice"]; ok && !isNull(raw) {
		ch, ok := decodeObject(raw)
		if !ok {
			return typeMismatch(key+".toolChoice", "a JSON object", raw)
		}
		switch {
		case ch["auto"] != nil && !isNull(ch["auto"]):
			c.ToolChoice = "auto"
		case ch["any"] != nil && !isNull(ch["any"]):
			c.ToolChoice = "any"
		case ch["tool"] != nil && !isNull(ch["tool"]):
			st, _ := decodeObject(ch["tool"])
			name, _ := decodeString(st["name"])
			if name == "" {
				p.v.add("null", key+".toolChoice.tool.name", "must not be null")
			}
			c.ToolChoice = "tool:" + name
		}
	}
	return nil
}

// --- Amazon Nova on InvokeModel ---

var novaKeys = []string{"schemaVersion", "messages", "system", "inferenceConfig", "toolConfig", "additionalModelRequestFields"}
var novaInferenceKeys = []string{"max_new_tokens", "temperature", "top_p", "top_k", "stopSequences", "reasoningConfig"}

func parseNovaBody(m catalog.Model, body []byte) (conversation, *awsError) {
	var c conversation
	if !json.Valid(body) {
		return c, malformedInput("#: body is not valid JSON")
	}
	obj, ok := decodeObject(body)
	if !ok {
		return c, malformedInput(fmt.Sprintf("#: expected type: JSONObject, found: %s", jsonKind(body)))
	}
	var v schemaViolations
	checkKeys(&v, "#", obj, []string{"messages"}, novaKeys)
	if raw, ok := obj["schemaVersion"]; ok {
		if s, _ := decodeString(raw); s != "messages-v1" {
			v.add("#/schemaVersion: %s is not a valid enum value", strings.TrimSpace(string(raw)))
		}
	}
	c.MaxTokens = min(defaultMaxTokens, max(m.MaxOutputTokens, 1))
	if raw, ok := obj["inferenceConfig"]; ok {
		ic, ok := decodeObject(raw)
		if !ok {
			v.add("#/inferenceConfig: expected type: JSONObject, found: %s", jsonKind(raw))
		} else {
			checkKeys(&v, "#/inferenceConfig", ic, nil, novaInferenceKeys)
			if raw, ok := ic["max_new_tokens"]; ok {
				n, big, isInt := decodeInt(raw)
				switch {
				case !isInt:
					v.add("#/inferenceConfig/max_new_tokens: expected type: Integer, found: %s", jsonKind(raw))
				case big || (m.MaxOutputTokens > 0 && n > m.MaxOutputTokens):
					v.add("#/inferenceConfig/max_new_tokens: %s is not less or equal to %d", strings.TrimSpace(string(raw)), m.MaxOutputTokens)
				case n < 1:
					v.add("#/inferenceConfig/max_new_tokens: %d is not greater or equal to 1", n)
				default:
					c.MaxTokens = n
				}
			}
			if raw, ok := ic["temperature"]; ok {
				c.Temperature = checkRange(&v, "#/inferenceConfig/temperature", raw, 0, 1)
			}
			if raw, ok := ic["top_p"]; ok {
				checkRange(&v, "#/inferenceConfig/top_p", raw, 0, 1)
			}
			if raw, ok := ic["top_k"]; ok {
				if _, _, isInt := decodeInt(raw); !isInt {
					v.add("#/inferenceConfig/top_k: expected type: Integer, found: %s", jsonKind(raw))
				}
			}
			if raw, ok := ic["stopSequences"]; ok {
				c.StopSequences = checkStringList(&v, "#/inferenceConfig/stopSequences", raw)
			}
		}
	}
	if raw, ok := obj["messages"]; ok && jsonKind(raw) != "JSONArray" {
		v.add("#/messages: expected type: JSONArray, found: %s", jsonKind(raw))
	}
	if raw, ok := obj["system"]; ok && jsonKind(raw) != "JSONArray" {
		v.add("#/system: expected type: JSONArray, found: %s", jsonKind(raw))
	}
	if err := v.err(); err != nil {
		return c, err
	}
	var p converseParser
	if err := p.body(&c, obj, "messages", "system", "toolConfig"); err != nil {
		return c, err
	}
	return c, nil
}

// --- CountTokens ---

// parseCountTokensBody parses a CountTokens request: the input is either an InvokeModel body (base64, in the
// model's dialect) or the Converse members.
func parseCountTokensBody(m catalog.Model, body []byte) (conversation, *awsError) {
	var c conversation
	if !json.Valid(body) {
		return c, validationException("Malformed request body: the body is not valid JSON.")
	}
	obj, ok := decodeObject(body)
	if !ok {
		return c, typeMismatch("the request body", "a JSON object", body)
	}
	raw, ok := obj["input"]
	if !ok || isNull(raw) {
		return c, validationException("1 validation error detected: Value null at 'input' failed to satisfy constraint: Member must not be null")
	}
	in, ok := decodeObject(raw)
	if !ok {
		return c, typeMismatch("input", "a JSON object", raw)
	}
	invoke, hasInvoke := in["invokeModel"]
	converse, hasConverse := in["converse"]
	hasInvoke = hasInvoke && !isNull(invoke)
	hasConverse = hasConverse && !isNull(converse)
	switch {
	case hasInvoke && hasConverse, !hasInvoke && !hasConverse:
		return c, validationException("The input field must set exactly one of invokeModel or converse. Try again with one of them set.")
	case hasInvoke:
		im, ok := decodeObject(invoke)
		if !ok {
			return c, typeMismatch("input.invokeModel", "a JSON object", invoke)
		}
		b64, ok := decodeString(im["body"])
		if !ok {
			return c, validationException("1 validation error detected: Value null at 'input.invokeModel.body' failed to satisfy constraint: Member must not be null")
		}
		inner, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return c, validationException("The input.invokeModel.body field is not valid base64. Encode the model request body with base64 and try again.")
		}
		return parseInvokeBody(m, inner)
	}
	cv, ok := decodeObject(converse)
	if !ok {
		return c, typeMismatch("input.converse", "a JSON object", converse)
	}
	if raw, ok := cv["additionalModelRequestFields"]; ok && !isNull(raw) && jsonKind(raw) != "JSONObject" {
		return c, typeMismatch("input.converse.additionalModelRequestFields", "a JSON object", raw)
	}
	var p converseParser
	c.MaxTokens = defaultMaxTokens
	if err := p.body(&c, cv, "messages", "system", "toolConfig"); err != nil {
		return c, err
	}
	return c, nil
}

// checkMaxTokens refuses a Converse request whose maximum is above the model's (parseConverseBody has no
// model; the caller applies this once it has resolved one).
func (c conversation) checkMaxTokens(m catalog.Model) *awsError {
	if m.MaxOutputTokens > 0 && c.MaxTokens > m.MaxOutputTokens {
		return validationException("The maximum tokens you requested exceeds the model limit of %d. Try again with a maximum tokens value that is lower than %d.",
			m.MaxOutputTokens, m.MaxOutputTokens)
	}
	return nil
}
