package sandbox

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// --- Anthropic Messages on InvokeModel ---

// anthropicKeys are the top-level members of a body for a model the catalogue has no anthropic row for.
var anthropicKeys = []string{"anthropic_version", "anthropic_beta", "max_tokens", "messages", "system",
	"temperature", "top_p", "top_k", "stop_sequences", "tools", "tool_choice", "thinking", "metadata"}

// anthropicCompat is what m accepts on Bedrock: the catalogue's anthropic table, the same the relay's shim
// reads. A model without a row accepts bedrock-2023-05-31 and any beta flag.
func anthropicCompat(m catalog.Model) (catalog.Compat, bool) {
	return catalog.Default().Compat(m.ID)
}

// anthropicFields are the members Bedrock's schema lets through in a body of version to m: the version's own
// when m serves it, else those of the oldest version m serves (whose schema then speaks before the version
// check does).
func anthropicFields(m catalog.Model, version string) []string {
	cp, ok := anthropicCompat(m)
	if !ok || len(cp.Versions) == 0 {
		return anthropicKeys
	}
	if !cp.AcceptsVersion(version) {
		version = cp.Versions[0]
	}
	row, _ := catalog.Default().APIVersion(version)
	return row.Fields
}

func parseAnthropicBody(m catalog.Model, body []byte) (conversation, *awsError) {
	var c conversation
	obj, err := decodeRequestBody(body, schemaWording)
	if err != nil {
		return c, err
	}

	// Bedrock's own schema check comes first, then Anthropic's validation of what it lets through.
	var v schemaViolations
	version, _ := decodeString(obj["anthropic_version"])
	checkKeys(&v, "#", obj, []string{"anthropic_version", "max_tokens", "messages"}, anthropicFields(m, version))
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
	var betas []string
	if raw, ok := obj["anthropic_beta"]; ok {
		betas = checkStringList(&v, "#/anthropic_beta", raw)
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

	cp, known := anthropicCompat(m)
	if (known && !cp.AcceptsVersion(version)) || (!known && version != anthropicVersion) {
		return c, validationException("Invalid API version: %s", version)
	}
	// Bedrock's wording for a flag the model does not take, as aws-sdk-go-v2 users report it
	// ("ValidationException: invalid beta flag"); it names no flag.
	for _, b := range betas {
		if known && !cp.AcceptsBeta(b) {
			return c, validationException("invalid beta flag")
		}
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
	if err := c.checkAnthropicThinking(m, obj, betas); err != nil { // thinking.go
		return c, err
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
