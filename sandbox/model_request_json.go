package sandbox

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

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
