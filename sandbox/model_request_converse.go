package sandbox

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

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
	obj, err := decodeRequestBody(body, coralWording)
	if err != nil {
		return c, err
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
	if err := p.tier(&c, obj); err != nil { // tier.go
		return c, err
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
			if cp, ok := b["cachePoint"]; ok && !isNull(cp) { // promptcache.go
				p.cachePoint(fmt.Sprintf("%s.%d.member.cachePoint", systemKey, i+1), cp)
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
		s, err := p.reasoningContent(at, path, v) // thinking.go
		return s, 0, kind, err
	case "document", "video", "audio", "cachePoint", "guardContent", "citationsContent", "searchResult":
		if jsonKind(v) != "JSONObject" {
			return "", 0, "", typeMismatch(at+"."+kind, "a JSON object", v)
		}
		if kind == "cachePoint" {
			p.cachePoint(path+".cachePoint", v) // promptcache.go
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
			if cp, ok := t["cachePoint"]; ok && !isNull(cp) {
				p.cachePoint(path+".cachePoint", cp) // promptcache.go
			}
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
