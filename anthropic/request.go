package anthropic

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// BedrockVersion is the anthropic_version of an InvokeModel body that every Claude model on Bedrock accepts.
// Anthropic's API takes its version as the anthropic-version header (2023-06-01, or whatever date a newer SDK
// sends); Bedrock's bodies name their own, so the header's value is not passed on.
const BedrockVersion = "bedrock-2023-05-31"

// Request is a Messages API request translated for Bedrock.
type Request struct {
	// Model is the model as the caller named it.
	Model string
	// Stream is the request's stream: true (InvokeModelWithResponseStream rather than InvokeModel).
	Stream bool
	// MaxTokens is the request's max_tokens, for budgets (0 if absent or not a number).
	MaxTokens int
	// Body is the Bedrock body: an InvokeModel body for ParseRequest, a CountTokens body for ParseCountTokens.
	Body []byte
}

// dropped are the Messages API members that Bedrock's body has no place for: model and stream travel in the
// path and the operation; service_tier is Anthropic's own capacity choice (Bedrock's tiers are a header the
// relay does not set), and dropping it changes no answer.
var dropped = map[string]bool{"model": true, "stream": true, "service_tier": true}

// ParseRequest checks a POST /v1/messages body and builds the InvokeModel body: the same members minus model,
// stream and service_tier, plus anthropic_version (BedrockVersion, unless the body names one) and
// anthropic_beta (the anthropic-beta header's comma-separated flags, after any the body lists). What it does
// not check, Bedrock does: its ValidationException comes back as a 400 in Anthropic's shape.
func ParseRequest(body []byte, betaHeader string) (*Request, error) {
	obj, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	r, err := common(obj)
	if err != nil {
		return nil, err
	}
	raw, ok := obj.get("max_tokens")
	if !ok {
		return nil, Invalid("max_tokens: Field required")
	}
	n, isInt := intValue(raw)
	if !isInt {
		return nil, Invalid("max_tokens: Input should be a valid integer")
	}
	r.MaxTokens = n
	if _, ok := obj.get("messages"); !ok {
		return nil, Invalid("messages: Field required")
	}
	r.Body, err = invokeBody(obj, betaHeader)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// ParseCountTokens checks a POST /v1/messages/count_tokens body and builds the CountTokens body Bedrock takes,
// {"input":{"invokeModel":{"body":"<base64 of an InvokeModel body>"}}}. The InvokeModel body is built as
// ParseRequest builds it; Bedrock validates it as an InvokeModel body, which needs max_tokens, so one is added
// when the caller sent none: 1, or one more than a thinking budget (which max_tokens must exceed). It does
// not change the count.
func ParseCountTokens(body []byte, betaHeader string) (*Request, error) {
	obj, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	r, err := common(obj)
	if err != nil {
		return nil, err
	}
	r.Stream = false
	if _, ok := obj.get("messages"); !ok {
		return nil, Invalid("messages: Field required")
	}
	if _, ok := obj.get("max_tokens"); !ok {
		n := 1
		if raw, ok := obj.get("thinking"); ok {
			var t struct {
				BudgetTokens int `json:"budget_tokens"`
			}
			if json.Unmarshal(raw, &t) == nil && t.BudgetTokens > 0 && t.BudgetTokens < 1<<30 {
				n = t.BudgetTokens + 1
			}
		}
		obj.set("max_tokens", []byte(strconv.Itoa(n)))
	}
	inner, err := invokeBody(obj, betaHeader)
	if err != nil {
		return nil, err
	}
	r.Body = CountTokensBody(inner)
	return r, nil
}

// CountTokensBody wraps an InvokeModel body as the input of Bedrock's CountTokens.
func CountTokensBody(invokeBody []byte) []byte {
	b, _ := json.Marshal(map[string]any{"input": map[string]any{"invokeModel": map[string]string{
		"body": base64.StdEncoding.EncodeToString(invokeBody)}}})
	return b
}

// common checks the members both endpoints read: model and stream.
func common(obj *object) (*Request, error) {
	raw, ok := obj.get("model")
	if !ok || isNull(raw) {
		return nil, Invalid("model: Field required")
	}
	var r Request
	if json.Unmarshal(raw, &r.Model) != nil {
		return nil, Invalid("model: Input should be a valid string")
	}
	if strings.TrimSpace(r.Model) == "" {
		return nil, Invalid("model: String should have at least 1 character")
	}
	if raw, ok := obj.get("stream"); ok && !isNull(raw) {
		if json.Unmarshal(raw, &r.Stream) != nil {
			return nil, Invalid("stream: Input should be a valid boolean")
		}
	}
	return &r, nil
}

// invokeBody is obj as Bedrock's InvokeModel body for a Claude model.
func invokeBody(obj *object, betaHeader string) ([]byte, error) {
	out := &object{}
	if raw, ok := obj.get("anthropic_version"); ok && !isNull(raw) {
		var v string
		if json.Unmarshal(raw, &v) != nil {
			return nil, Invalid("anthropic_version: Input should be a valid string")
		}
	} else {
		out.set("anthropic_version", []byte(strconv.Quote(BedrockVersion)))
	}
	var betas []string
	if raw, ok := obj.get("anthropic_beta"); ok && !isNull(raw) {
		if json.Unmarshal(raw, &betas) != nil {
			return nil, Invalid("anthropic_beta: Input should be a valid list of strings")
		}
	}
	for _, b := range strings.Split(betaHeader, ",") {
		if b = strings.TrimSpace(b); b != "" && !containsString(betas, b) {
			betas = append(betas, b)
		}
	}
	for _, f := range obj.fields {
		switch {
		case dropped[f.key]:
		case f.key == "anthropic_beta":
			if len(betas) > 0 {
				out.set(f.key, mustJSON(betas))
			}
		case f.key == "anthropic_version" && isNull(f.value):
			out.set(f.key, []byte(strconv.Quote(BedrockVersion)))
		default:
			out.set(f.key, f.value)
		}
	}
	if _, ok := out.get("anthropic_beta"); !ok && len(betas) > 0 {
		out.set("anthropic_beta", mustJSON(betas))
	}
	return out.marshal(), nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only strings and slices of strings are passed
	}
	return b
}

// object is a JSON object's members in their order, values as they came: a body is passed on with its
// members where the caller put them.
type object struct {
	fields []field
}

type field struct {
	key   string
	value json.RawMessage
}

func (o *object) get(key string) (json.RawMessage, bool) {
	for _, f := range o.fields {
		if f.key == key {
			return f.value, true
		}
	}
	return nil, false
}

// set replaces key's value where it is, or appends it.
func (o *object) set(key string, value []byte) {
	for i := range o.fields {
		if o.fields[i].key == key {
			o.fields[i].value = value
			return
		}
	}
	o.fields = append(o.fields, field{key, value})
}

func (o *object) delete(key string) {
	for i := range o.fields {
		if o.fields[i].key == key {
			o.fields = append(o.fields[:i], o.fields[i+1:]...)
			return
		}
	}
}

// marshal encodes the object compactly.
func (o *object) marshal() []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o.fields {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		b.Write(k)
		b.WriteByte(':')
		if err := json.Compact(&b, f.value); err != nil {
			b.WriteString("null") // values come from a decoder or are built here: valid JSON
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}

var errNotObject = errors.New("not a JSON object")

// decodeObject reads a JSON object, keeping its members' order; of a member given twice the last value
// counts, as encoding/json would have it.
func decodeObject(data []byte) (*object, error) {
	// Checked whole first, so that the walk below may take the JSON as valid: it only finds where each
	// member's key and value begin and end. encoding/json's token reader did the same at several times
	// the cost, on every request and on the few stream events that are not passed on as they came.
	if !json.Valid(data) {
		var v any
		return nil, json.Unmarshal(data, &v) // the syntax error, as encoding/json words it
	}
	i := skipSpace(data, 0)
	if data[i] != '{' {
		return nil, errNotObject
	}
	o := &object{}
	i = skipSpace(data, i+1)
	for data[i] != '}' {
		kend := stringEnd(data, i)
		key, err := jsonKey(data[i:kend])
		if err != nil {
			return nil, err
		}
		i = skipSpace(data, kend)
		i = skipSpace(data, i+1) // the colon
		vend := valueEnd(data, i)
		o.set(key, json.RawMessage(data[i:vend]))
		i = skipSpace(data, vend)
		if data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return o, nil
}

// The walk of a valid JSON text: each function takes the index of a token's first byte.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd is the index just past the string that starts at i.
func stringEnd(b []byte, i int) int {
	for i++; ; i++ {
		j := bytes.IndexAny(b[i:], `"\\`)
		i += j
		if b[i] == '"' {
			return i + 1
		}
		i++ // the escaped byte
	}
}

// valueEnd is the index just past the value that starts at i.
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch b[i] {
			case '"':
				i = stringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(b) && !(b[i] == ',' || b[i] == '}' || b[i] == ']' || b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++ // a number, true, false or null
	}
	return i
}

// jsonKey is a member's name: as written, or decoded where it has escapes or bytes past ASCII (which
// decoding checks as UTF-8).
func jsonKey(raw []byte) (string, error) {
	if bytes.IndexFunc(raw, func(r rune) bool { return r == '\\' || r >= utf8.RuneSelf }) < 0 {
		return string(raw[1 : len(raw)-1]), nil
	}
	var k string
	err := json.Unmarshal(raw, &k)
	return k, err
}

// parseObject is decodeObject for a request body, refusing with Anthropic's wording.
func parseObject(body []byte) (*object, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, Invalid("The request body is empty; send a JSON object.")
	}
	o, err := decodeObject(body)
	if err == errNotObject {
		return nil, Invalid("The request body must be a JSON object.")
	}
	if err != nil {
		return nil, Invalid("The request body is not valid JSON.")
	}
	return o, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// intValue reads an integer (1024, or 1024.0 as JSON may write it).
func intValue(raw json.RawMessage) (int, bool) {
	var f float64
	if json.Unmarshal(raw, &f) != nil || f != float64(int64(f)) {
		return 0, false
	}
	if f > 1<<31 || f < -(1<<31) {
		return 0, true // Bedrock words the limit; the budget estimate uses the body's own number
	}
	return int(f), true
}
