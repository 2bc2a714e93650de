package openai

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"
)

// Request is a validated chat completion request and the Converse body it becomes.
type Request struct {
	// Model is what the caller asked for; the response names it back.
	Model string
	// Stream asks for server-sent events (ConverseStream); IncludeUsage for a final usage chunk.
	Stream, IncludeUsage bool
	// MaxTokens is max_completion_tokens (or max_tokens), 0 when the caller set neither.
	MaxTokens int
	// Body is the Converse (or ConverseStream: the same members) request body.
	Body []byte

	converse converseRequest
}

// MaxBodyBytes bounds a request body (Bedrock's own limit; images come inline).
const MaxBodyBytes = 25_000_000

var (
	toolNamePattern  = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	toolUseIDPattern = regexp.MustCompile(`^[a-zA-Z0-9_.:-]{1,64}$`)
)

// ParseRequest validates an OpenAI chat completion request body and maps it to Converse. Every refusal is an
// *Error with status 400 naming the field in Param.
func ParseRequest(body []byte) (*Request, error) {
	if !json.Valid(body) {
		return nil, Invalid("", "invalid_json", "The request body is not valid JSON.")
	}
	top, ok := object(body)
	if !ok {
		return nil, Invalid("", "invalid_type", "The request body must be a JSON object.")
	}
	p := &parser{}
	r := &Request{}
	if err := p.parse(top, r); err != nil {
		return nil, err
	}
	r.Body, _ = json.Marshal(r.converse) // plain structs of strings, numbers and valid raw JSON
	return r, nil
}

type parser struct{}

func (p *parser) parse(top map[string]json.RawMessage, r *Request) *Error {
	// model
	raw, ok := top["model"]
	if !ok || isNull(raw) {
		return Invalid("model", "missing_required_parameter", "Missing required parameter: 'model'.")
	}
	model, ok := str(raw)
	if !ok || model == "" {
		return Invalid("model", "invalid_type", "'model' must be a non-empty string naming a Bedrock model id, profile id or relay alias.")
	}
	r.Model = model

	// Refuse what Converse cannot do, before the work of mapping messages.
	if err := unsupported(top); err != nil {
		return err
	}

	// stream, stream_options
	if raw, ok := top["stream"]; ok && !isNull(raw) {
		b, ok := boolean(raw)
		if !ok {
			return Invalid("stream", "invalid_type", "'stream' must be a boolean.")
		}
		r.Stream = b
	}
	if raw, ok := top["stream_options"]; ok && !isNull(raw) {
		so, ok := object(raw)
		if !ok {
			return Invalid("stream_options", "invalid_type", "'stream_options' must be an object.")
		}
		if raw, ok := so["include_usage"]; ok && !isNull(raw) {
			b, ok := boolean(raw)
			if !ok {
				return Invalid("stream_options.include_usage", "invalid_type", "'stream_options.include_usage' must be a boolean.")
			}
			r.IncludeUsage = b && r.Stream
		}
	}

	// inference parameters
	ic := &inferenceConfig{}
	for _, k := range []string{"max_tokens", "max_completion_tokens"} { // the newer name wins
		raw, ok := top[k]
		if !ok || isNull(raw) {
			continue
		}
		n, ok := integer(raw)
		if !ok || n < 1 || n > math.MaxInt32 {
			return Invalid(k, "invalid_value", "'%s' must be a whole number of at least 1.", k)
		}
		ic.MaxTokens = &n
		r.MaxTokens = n
	}
	for _, f := range []struct {
		name   string
		lo, hi float64
		dst    **float64
	}{{"temperature", 0, 2, &ic.Temperature}, {"top_p", 0, 1, &ic.TopP}} {
		raw, ok := top[f.name]
		if !ok || isNull(raw) {
			continue
		}
		v, ok := number(raw)
		if !ok {
			return Invalid(f.name, "invalid_type", "'%s' must be a number.", f.name)
		}
		if v < f.lo || v > f.hi {
			return Invalid(f.name, "invalid_value", "'%s' must be between %g and %g.", f.name, f.lo, f.hi)
		}
		*f.dst = &v
	}
	if raw, ok := top["stop"]; ok && !isNull(raw) {
		stops, err := stopSequences(raw)
		if err != nil {
			return err
		}
		ic.StopSequences = stops
	}
	if ic.MaxTokens != nil || ic.Temperature != nil || ic.TopP != nil || len(ic.StopSequences) > 0 {
		r.converse.InferenceConfig = ic
	}

	// tools and tool_choice
	tools, err := p.tools(top)
	if err != nil {
		return err
	}
	choice, none, err := p.toolChoice(top, tools)
	if err != nil {
		return err
	}

	// messages
	usedTools, err := p.messages(top, &r.converse)
	if err != nil {
		return err
	}

	switch {
	case len(tools) > 0 && !(none && len(usedTools) == 0):
		r.converse.ToolConfig = &toolConfig{Tools: tools, ToolChoice: choice}
	case len(usedTools) > 0:
		// Converse refuses toolUse and toolResult blocks without a toolConfig; a follow-up request that no
		// longer offers tools still carries them in its history. Declare the tools the history names.
		r.converse.ToolConfig = &toolConfig{}
		for _, name := range usedTools {
			r.converse.ToolConfig.Tools = append(r.converse.ToolConfig.Tools, tool{toolSpec{Name: name,
				InputSchema: inputSchema{JSON: json.RawMessage(`{"type":"object","properties":{}}`)}}})
		}
	}
	return nil
}

// unsupported refuses the request members whose meaning Converse cannot carry; silently dropping them
// would answer a different question than the one asked.
func unsupported(top map[string]json.RawMessage) *Error {
	if raw, ok := top["n"]; ok && !isNull(raw) {
		n, ok := integer(raw)
		switch {
		case !ok || n < 1:
			return Invalid("n", "invalid_value", "'n' must be a whole number of at least 1.")
		case n > 1:
			return Invalid("n", "unsupported_value", "'n' greater than 1 is not supported: Bedrock returns one choice per request. Send %d requests instead.", n)
		}
	}
	if raw, ok := top["logprobs"]; ok && !isNull(raw) {
		if b, ok := boolean(raw); !ok || b {
			return Invalid("logprobs", "unsupported_value", "'logprobs' is not supported: Bedrock does not return token log probabilities.")
		}
	}
	if raw, ok := top["response_format"]; ok && !isNull(raw) {
		rf, _ := object(raw)
		typ, _ := str(rf["type"])
		if typ != "text" {
			return Invalid("response_format", "unsupported_value", "'response_format' %s is not supported; only {\"type\":\"text\"}. For structured output, offer a tool with the schema and set tool_choice to it.", compact(raw))
		}
	}
	if raw, ok := top["audio"]; ok && !isNull(raw) {
		return Invalid("audio", "unsupported_value", "Audio output is not supported by this relay.")
	}
	if raw, ok := top["modalities"]; ok && !isNull(raw) {
		arr, _ := array(raw)
		for i, e := range arr {
			if m, _ := str(e); m != "text" {
				return Invalid(fmt.Sprintf("modalities[%d]", i), "unsupported_value", "Only the text output modality is supported.")
			}
		}
	}
	for _, k := range []string{"functions", "function_call"} {
		if raw, ok := top[k]; ok && !isNull(raw) {
			return Invalid(k, "unsupported_value", "'%s' (the deprecated function-calling API) is not supported; use 'tools' and 'tool_choice'.", k)
		}
	}
	return nil
}

func stopSequences(raw json.RawMessage) ([]string, *Error) {
	if s, ok := str(raw); ok {
		if s == "" {
			return nil, nil
		}
		return []string{s}, nil
	}
	arr, ok := array(raw)
	if !ok {
		return nil, Invalid("stop", "invalid_type", "'stop' must be a string or an array of strings.")
	}
	var out []string
	for i, e := range arr {
		s, ok := str(e)
		if !ok {
			return nil, Invalid(fmt.Sprintf("stop[%d]", i), "invalid_type", "'stop[%d]' must be a string.", i)
		}
		if s != "" { // Bedrock refuses empty stop sequences; OpenAI ignores them
			out = append(out, s)
		}
	}
	return out, nil
}

func (p *parser) tools(top map[string]json.RawMessage) ([]tool, *Error) {
	raw, ok := top["tools"]
	if !ok || isNull(raw) {
		return nil, nil
	}
	arr, ok := array(raw)
	if !ok {
		return nil, Invalid("tools", "invalid_type", "'tools' must be an array.")
	}
	var out []tool
	seen := map[string]bool{}
	for i, e := range arr {
		at := fmt.Sprintf("tools[%d]", i)
		t, ok := object(e)
		if !ok {
			return nil, Invalid(at, "invalid_type", "'%s' must be an object.", at)
		}
		if typ, _ := str(t["type"]); typ != "function" {
			return nil, Invalid(at+".type", "unsupported_value", "Only tools of type 'function' are supported.")
		}
		fn, ok := object(t["function"])
		if !ok {
			return nil, Invalid(at+".function", "missing_required_parameter", "'%s.function' must be an object with a name.", at)
		}
		name, _ := str(fn["name"])
		if !toolNamePattern.MatchString(name) {
			return nil, Invalid(at+".function.name", "invalid_value", "Tool names must be 1 to 64 characters of a-z, A-Z, 0-9, '_' and '-'.")
		}
		if seen[name] {
			return nil, Invalid(at+".function.name", "invalid_value", "Two tools are named %q; tool names must be unique.", name)
		}
		seen[name] = true
		spec := toolSpec{Name: name}
		if d, ok := fn["description"]; ok && !isNull(d) {
			s, ok := str(d)
			if !ok {
				return nil, Invalid(at+".function.description", "invalid_type", "'%s.function.description' must be a string.", at)
			}
			spec.Description = s
		}
		schema := json.RawMessage(`{"type":"object","properties":{}}`)
		if params, ok := fn["parameters"]; ok && !isNull(params) {
			if _, ok := object(params); !ok {
				return nil, Invalid(at+".function.parameters", "invalid_type", "'%s.function.parameters' must be a JSON Schema object.", at)
			}
			schema = json.RawMessage(compact(params))
		}
		spec.InputSchema = inputSchema{JSON: schema}
		out = append(out, tool{spec})
	}
	return out, nil
}

// toolChoice maps tool_choice; none reports "none", which Converse cannot say: the tools are then left out
// (when the history allows it).
func (p *parser) toolChoice(top map[string]json.RawMessage, tools []tool) (tc *toolChoice, none bool, err *Error) {
	raw, ok := top["tool_choice"]
	if !ok || isNull(raw) {
		return nil, false, nil
	}
	if s, ok := str(raw); ok {
		switch s {
		case "none":
			return nil, true, nil
		case "auto":
			if len(tools) == 0 {
				return nil, false, nil
			}
			return &toolChoice{Auto: &struct{}{}}, false, nil
		case "required":
			if len(tools) == 0 {
				return nil, false, Invalid("tool_choice", "invalid_value", "'tool_choice' is 'required' but no 'tools' are given.")
			}
			return &toolChoice{Any: &struct{}{}}, false, nil
		}
		return nil, false, Invalid("tool_choice", "invalid_value", "'tool_choice' must be 'none', 'auto', 'required' or {\"type\":\"function\",\"function\":{\"name\":...}}.")
	}
	obj, ok := object(raw)
	if !ok {
		return nil, false, Invalid("tool_choice", "invalid_type", "'tool_choice' must be a string or an object.")
	}
	if typ, _ := str(obj["type"]); typ != "function" {
		return nil, false, Invalid("tool_choice.type", "unsupported_value", "Only {\"type\":\"function\",\"function\":{\"name\":...}} is supported as a tool_choice object.")
	}
	fn, _ := object(obj["function"])
	name, _ := str(fn["name"])
	for _, t := range tools {
		if t.ToolSpec.Name == name {
			return &toolChoice{Tool: &namedTool{Name: name}}, false, nil
		}
	}
	return nil, false, Invalid("tool_choice.function.name", "invalid_value", "'tool_choice' names the function %q, which is not in 'tools'.", name)
}

// messages maps the conversation. System and developer messages, wherever they are, become Converse's
// system prompt; tool results become toolResult blocks in a user message; consecutive messages of one role
// are merged, since Converse requires user and assistant to alternate. It returns the tool names the
// history's tool calls use.
func (p *parser) messages(top map[string]json.RawMessage, c *converseRequest) ([]string, *Error) {
	raw, ok := top["messages"]
	if !ok || isNull(raw) {
		return nil, Invalid("messages", "missing_required_parameter", "Missing required parameter: 'messages'.")
	}
	arr, ok := array(raw)
	if !ok {
		return nil, Invalid("messages", "invalid_type", "'messages' must be an array.")
	}
	var used []string
	first := -1
	for i, e := range arr {
		at := fmt.Sprintf("messages[%d]", i)
		m, ok := object(e)
		if !ok {
			return nil, Invalid(at, "invalid_type", "'%s' must be an object.", at)
		}
		role, _ := str(m["role"])
		var msg converseMessage
		switch role {
		case "system", "developer":
			texts, err := textParts(m["content"], at+".content", false)
			if err != nil {
				return nil, err
			}
			for _, t := range texts {
				if strings.TrimSpace(t) != "" {
					c.System = append(c.System, systemBlock{Text: t})
				}
			}
			continue
		case "user":
			blocks, err := userContent(m["content"], at+".content")
			if err != nil {
				return nil, err
			}
			msg = converseMessage{Role: "user", Content: blocks}
		case "assistant":
			blocks, names, err := assistantContent(m, at)
			if err != nil {
				return nil, err
			}
			if len(blocks) == 0 {
				continue // an empty assistant turn says nothing; Converse refuses empty content
			}
			used = appendNew(used, names...)
			msg = converseMessage{Role: "assistant", Content: blocks}
		case "tool":
			id, _ := str(m["tool_call_id"])
			if !toolUseIDPattern.MatchString(id) {
				return nil, Invalid(at+".tool_call_id", "invalid_value", "'%s.tool_call_id' must be the id of the tool call it answers (1 to 64 characters of a-z, A-Z, 0-9, '_', '.', ':', '-').", at)
			}
			texts, err := textParts(m["content"], at+".content", true)
			if err != nil {
				return nil, err
			}
			res := &toolResultBlock{ToolUseID: id, Content: []toolResultContent{}}
			if s := strings.Join(texts, "\n"); s != "" {
				res.Content = append(res.Content, toolResultContent{Text: s})
			}
			msg = converseMessage{Role: "user", Content: []contentBlock{{ToolResult: res}}}
		case "function":
			return nil, Invalid(at+".role", "unsupported_value", "The 'function' role (deprecated function calling) is not supported; use tool calls and 'tool' messages.")
		default:
			return nil, Invalid(at+".role", "invalid_value", "'%s.role' must be one of system, developer, user, assistant or tool.", at)
		}
		if first < 0 {
			first = i
			if msg.Role != "user" {
				return nil, Invalid(at, "invalid_value", "The conversation must start with a user message after any system messages: Bedrock Converse requires it.")
			}
		}
		if n := len(c.Messages); n > 0 && c.Messages[n-1].Role == msg.Role {
			c.Messages[n-1].Content = append(c.Messages[n-1].Content, msg.Content...)
		} else {
			c.Messages = append(c.Messages, msg)
		}
	}
	if len(c.Messages) == 0 {
		return nil, Invalid("messages", "invalid_value", "'messages' must contain at least one user message.")
	}
	return used, nil
}

func appendNew(list []string, names ...string) []string {
	for _, n := range names {
		found := false
		for _, x := range list {
			found = found || x == n
		}
		if !found {
			list = append(list, n)
		}
	}
	return list
}

// textParts reads content that may only be text: a string or an array of text parts. allowEmpty lets it
// be empty or null (a tool result may be).
func textParts(raw json.RawMessage, at string, allowEmpty bool) ([]string, *Error) {
	if raw == nil || isNull(raw) {
		if allowEmpty {
			return nil, nil
		}
		return nil, Invalid(at, "missing_required_parameter", "'%s' is required.", at)
	}
	if s, ok := str(raw); ok {
		return []string{s}, nil
	}
	arr, ok := array(raw)
	if !ok {
		return nil, Invalid(at, "invalid_type", "'%s' must be a string or an array of content parts.", at)
	}
	var out []string
	for j, e := range arr {
		pat := fmt.Sprintf("%s[%d]", at, j)
		part, ok := object(e)
		if !ok {
			return nil, Invalid(pat, "invalid_type", "'%s' must be an object.", pat)
		}
		switch typ, _ := str(part["type"]); typ {
		case "text":
			s, ok := str(part["text"])
			if !ok {
				return nil, Invalid(pat+".text", "invalid_type", "'%s.text' must be a string.", pat)
			}
			out = append(out, s)
		default:
			return nil, Invalid(pat+".type", "invalid_value", "Only text parts are allowed here (got %q).", typ)
		}
	}
	return out, nil
}

// userContent reads a user message's content: text and inline images.
func userContent(raw json.RawMessage, at string) ([]contentBlock, *Error) {
	if raw == nil || isNull(raw) {
		return nil, Invalid(at, "missing_required_parameter", "'%s' is required.", at)
	}
	var blocks []contentBlock
	if s, ok := str(raw); ok {
		if strings.TrimSpace(s) == "" {
			return nil, Invalid(at, "invalid_value", "'%s' is empty; Bedrock refuses blank messages.", at)
		}
		return []contentBlock{{Text: &s}}, nil
	}
	arr, ok := array(raw)
	if !ok {
		return nil, Invalid(at, "invalid_type", "'%s' must be a string or an array of content parts.", at)
	}
	for j, e := range arr {
		pat := fmt.Sprintf("%s[%d]", at, j)
		part, ok := object(e)
		if !ok {
			return nil, Invalid(pat, "invalid_type", "'%s' must be an object.", pat)
		}
		switch typ, _ := str(part["type"]); typ {
		case "text":
			s, ok := str(part["text"])
			if !ok {
				return nil, Invalid(pat+".text", "invalid_type", "'%s.text' must be a string.", pat)
			}
			if strings.TrimSpace(s) != "" { // Bedrock refuses blank text blocks
				blocks = append(blocks, contentBlock{Text: &s})
			}
		case "image_url":
			img, err := imagePart(part, pat)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, contentBlock{Image: img})
		case "input_audio", "file":
			return nil, Invalid(pat+".type", "unsupported_value", "Content parts of type %q are not supported; send text and images.", typ)
		default:
			return nil, Invalid(pat+".type", "invalid_value", "'%s.type' must be 'text' or 'image_url'.", pat)
		}
	}
	if len(blocks) == 0 {
		return nil, Invalid(at, "invalid_value", "'%s' is empty; Bedrock refuses blank messages.", at)
	}
	return blocks, nil
}

var imageFormats = map[string]string{"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif", "image/webp": "webp"}

// imagePart maps {"type":"image_url","image_url":{"url":"data:image/png;base64,..."}} to an image block.
func imagePart(part map[string]json.RawMessage, at string) (*imageBlock, *Error) {
	iu, ok := object(part["image_url"])
	if !ok {
		return nil, Invalid(at+".image_url", "missing_required_parameter", "'%s.image_url' must be an object with a url.", at)
	}
	param := at + ".image_url.url"
	url, _ := str(iu["url"])
	lower := strings.ToLower(url)
	if strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://") {
		return nil, Invalid(param, "unsupported_value", "Remote image URLs are not supported: the relay does not fetch URLs. Send the image inline as a base64 data URL (data:image/png;base64,...).")
	}
	meta, data, ok := strings.Cut(url, ",")
	if !ok || !strings.HasPrefix(lower, "data:") || !strings.HasSuffix(strings.ToLower(meta), ";base64") {
		return nil, Invalid(param, "invalid_value", "'%s' must be a base64 data URL: data:image/png;base64,...", param)
	}
	mediaType := strings.ToLower(meta[len("data:") : len(meta)-len(";base64")])
	format, ok := imageFormats[mediaType]
	if !ok {
		return nil, Invalid(param, "unsupported_value", "Image type %q is not supported; send image/png, image/jpeg, image/gif or image/webp.", mediaType)
	}
	b64, ok := canonicalBase64(data)
	if !ok {
		return nil, Invalid(param, "invalid_value", "The image data in '%s' is not valid base64.", param)
	}
	return &imageBlock{Format: format, Source: imageSource{Bytes: b64}}, nil
}

// canonicalBase64 checks data is base64 (standard alphabet, padding optional) and returns it padded, as
// Bedrock reads blobs.
func canonicalBase64(data string) (string, bool) {
	if data == "" {
		return "", false
	}
	if _, err := base64.StdEncoding.DecodeString(data); err == nil {
		return data, true
	}
	raw, err := base64.RawStdEncoding.DecodeString(data)
	if err != nil {
		return "", false
	}
	return base64.StdEncoding.EncodeToString(raw), true
}

// assistantContent maps an assistant turn: its text and its tool calls.
func assistantContent(m map[string]json.RawMessage, at string) ([]contentBlock, []string, *Error) {
	var blocks []contentBlock
	if raw, ok := m["content"]; ok && !isNull(raw) {
		if s, ok := str(raw); ok {
			if strings.TrimSpace(s) != "" {
				blocks = append(blocks, contentBlock{Text: &s})
			}
		} else {
			arr, ok := array(raw)
			if !ok {
				return nil, nil, Invalid(at+".content", "invalid_type", "'%s.content' must be a string or an array of content parts.", at)
			}
			for j, e := range arr {
				pat := fmt.Sprintf("%s.content[%d]", at, j)
				part, ok := object(e)
				if !ok {
					return nil, nil, Invalid(pat, "invalid_type", "'%s' must be an object.", pat)
				}
				typ, _ := str(part["type"])
				if typ != "text" && typ != "refusal" {
					return nil, nil, Invalid(pat+".type", "invalid_value", "Assistant content parts must be 'text' or 'refusal'.")
				}
				s, ok := str(part[typ])
				if !ok {
					return nil, nil, Invalid(pat+"."+typ, "invalid_type", "'%s.%s' must be a string.", pat, typ)
				}
				if strings.TrimSpace(s) != "" {
					blocks = append(blocks, contentBlock{Text: &s})
				}
			}
		}
	}
	var names []string
	if raw, ok := m["tool_calls"]; ok && !isNull(raw) {
		arr, ok := array(raw)
		if !ok {
			return nil, nil, Invalid(at+".tool_calls", "invalid_type", "'%s.tool_calls' must be an array.", at)
		}
		for j, e := range arr {
			pat := fmt.Sprintf("%s.tool_calls[%d]", at, j)
			tc, ok := object(e)
			if !ok {
				return nil, nil, Invalid(pat, "invalid_type", "'%s' must be an object.", pat)
			}
			if typ, _ := str(tc["type"]); typ != "function" && !(typ == "" && tc["type"] == nil) {
				return nil, nil, Invalid(pat+".type", "unsupported_value", "Only tool calls of type 'function' are supported.")
			}
			id, _ := str(tc["id"])
			if !toolUseIDPattern.MatchString(id) {
				return nil, nil, Invalid(pat+".id", "invalid_value", "'%s.id' must be 1 to 64 characters of a-z, A-Z, 0-9, '_', '.', ':', '-'.", pat)
			}
			fn, ok := object(tc["function"])
			if !ok {
				return nil, nil, Invalid(pat+".function", "missing_required_parameter", "'%s.function' must be an object with name and arguments.", pat)
			}
			name, _ := str(fn["name"])
			if !toolNamePattern.MatchString(name) {
				return nil, nil, Invalid(pat+".function.name", "invalid_value", "Tool names must be 1 to 64 characters of a-z, A-Z, 0-9, '_' and '-'.")
			}
			input := json.RawMessage("{}")
			if a, ok := fn["arguments"]; ok && !isNull(a) {
				args, ok := str(a)
				if !ok {
					return nil, nil, Invalid(pat+".function.arguments", "invalid_type", "'%s.function.arguments' must be a string of JSON.", pat)
				}
				if strings.TrimSpace(args) != "" {
					if _, ok := object(json.RawMessage(args)); !ok || !json.Valid([]byte(args)) {
						return nil, nil, Invalid(pat+".function.arguments", "invalid_value", "'%s.function.arguments' must be a JSON object encoded as a string.", pat)
					}
					input = json.RawMessage(compact(json.RawMessage(args)))
				}
			}
			blocks = append(blocks, contentBlock{ToolUse: &toolUseBlock{ToolUseID: id, Name: name, Input: input}})
			names = append(names, name)
		}
	}
	return blocks, names, nil
}

// JSON helpers over raw values; each reports whether the value had the wanted type.

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func object(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil || m == nil {
		return nil, false
	}
	return m, true
}

func array(raw json.RawMessage) ([]json.RawMessage, bool) {
	var a []json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &a) != nil || a == nil {
		return nil, false
	}
	return a, true
}

func str(raw json.RawMessage) (string, bool) {
	var s string
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '"' || json.Unmarshal(t, &s) != nil {
		return "", false
	}
	return s, true
}

func boolean(raw json.RawMessage) (bool, bool) {
	switch string(bytes.TrimSpace(raw)) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

func number(raw json.RawMessage) (float64, bool) {
	var f float64
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || (t[0] != '-' && (t[0] < '0' || t[0] > '9')) || json.Unmarshal(t, &f) != nil {
		return 0, false
	}
	return f, true
}

func integer(raw json.RawMessage) (int, bool) {
	f, ok := number(raw)
	if !ok || f != math.Trunc(f) || f > math.MaxInt32 || f < math.MinInt32 {
		return 0, false
	}
	return int(f), true
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}
