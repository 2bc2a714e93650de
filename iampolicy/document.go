package iampolicy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Policy language versions IAM accepts. Only 2012-10-17 supports policy variables; 2008-10-17 is still valid
// and is what IAM assumes when Version is absent.
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

// Effects of a statement.
const (
	EffectAllow = "Allow"
	EffectDeny  = "Deny"
)

// Document is an IAM policy document: identity-based, resource-based (a role trust policy), a session policy or
// a service control policy; they share one grammar.
type Document struct {
	Version   string      `json:"Version,omitempty"`
	ID        string      `json:"Id,omitempty"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a Document. Exactly one of Action/NotAction is set; at most one of
// Resource/NotResource and of Principal/NotPrincipal.
type Statement struct {
	Sid          string     `json:"Sid,omitempty"`
	Effect       string     `json:"Effect"`
	Principal    *Principal `json:"Principal,omitempty"`
	NotPrincipal *Principal `json:"NotPrincipal,omitempty"`
	Action       StringList `json:"Action,omitempty"`
	NotAction    StringList `json:"NotAction,omitempty"`
	Resource     StringList `json:"Resource,omitempty"`
	NotResource  StringList `json:"NotResource,omitempty"`
	Condition    Conditions `json:"Condition,omitempty"`
}

// StringList is a policy value that AWS lets authors write as one string or as an array of strings. It marshals
// back to a single string when it holds one value, which is how AWS and the seed documents print it.
type StringList []string

// MarshalJSON writes one value as a string and several as an array.
func (l StringList) MarshalJSON() ([]byte, error) {
	switch len(l) {
	case 0:
		return []byte("[]"), nil // not null, which Parse would refuse
	case 1:
		return marshalNoEscape(l[0])
	}
	return marshalNoEscape([]string(l))
}

// UnmarshalJSON accepts a string or an array of strings.
func (l *StringList) UnmarshalJSON(data []byte) error {
	v, err := decodeStringList(data, false)
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// Principal names who a resource-based policy statement applies to. All is the bare "*" form; the AWS "*" form
// is AWS: ["*"]. Both match every caller, but they are kept apart so that a document round-trips unchanged.
type Principal struct {
	All           bool
	AWS           StringList
	Service       StringList
	Federated     StringList
	CanonicalUser StringList
}

// principalJSON fixes the key order of the object form.
type principalJSON struct {
	AWS           StringList `json:"AWS,omitempty"`
	CanonicalUser StringList `json:"CanonicalUser,omitempty"`
	Federated     StringList `json:"Federated,omitempty"`
	Service       StringList `json:"Service,omitempty"`
}

// MarshalJSON writes "*" or the object form.
func (p Principal) MarshalJSON() ([]byte, error) {
	if p.All {
		return []byte(`"*"`), nil
	}
	return marshalNoEscape(principalJSON{AWS: p.AWS, CanonicalUser: p.CanonicalUser, Federated: p.Federated, Service: p.Service})
}

// UnmarshalJSON accepts "*" or an object keyed by AWS, Service, Federated or CanonicalUser.
func (p *Principal) UnmarshalJSON(data []byte) error {
	v, err := decodePrincipal(data)
	if err != nil {
		return err
	}
	*p = *v
	return nil
}

// Conditions maps a condition operator ("StringEquals", "ForAnyValue:StringLike", "ArnLikeIfExists") to
// condition keys and the values each is compared with.
type Conditions map[string]map[string]StringList

// UnmarshalJSON accepts condition values as strings, booleans or numbers (AWS stores them as strings), alone or
// in arrays.
func (c *Conditions) UnmarshalJSON(data []byte) error {
	v, err := decodeConditions(data)
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// UnmarshalJSON parses with the same rules and errors as Parse.
func (d *Document) UnmarshalJSON(data []byte) error {
	v, err := decodeDocument(data)
	if err != nil {
		return err
	}
	*d = *v
	return nil
}

// UnmarshalJSON accepts one statement object with the same rules as Parse.
func (s *Statement) UnmarshalJSON(data []byte) error {
	v, err := decodeStatement(data, "Statement")
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalIndent renders the document as AWS consoles and the seed article show it: two-space indentation, keys in
// the order Version, Id, Statement and Sid, Effect, Principal, Action, Resource, Condition, single values as plain
// strings, and a trailing newline so the output can be written to a file as is.
func (d *Document) MarshalIndent() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // ARNs and condition values are not HTML; "\u0026" would only confuse readers
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// SyntaxError reports a policy document that is not valid JSON or not valid policy grammar. Field is a path such
// as "Statement[1].Principal.AWS".
type SyntaxError struct {
	Field string
	Msg   string
}

func (e *SyntaxError) Error() string {
	if e.Field == "" {
		return "policy document: " + e.Msg
	}
	return "policy document: " + e.Field + ": " + e.Msg
}

// Parse reads a policy document, accepting the shorthand forms AWS accepts (a single Statement object, a string
// instead of an array), and checks the grammar IAM enforces when a policy is saved, so that a policy the sandbox
// evaluates is one AWS would have accepted.
func Parse(data []byte) (*Document, error) {
	return decodeDocument(data)
}

func decodeDocument(data []byte) (*Document, error) {
	obj, err := decodeObject(data, "")
	if err != nil {
		return nil, err
	}
	var d Document
	for _, key := range sortedKeys(obj) {
		raw := obj[key]
		switch key {
		case "Version":
			s, err := decodeString(raw, "Version")
			if err != nil {
				return nil, err
			}
			if s != Version2012 && s != Version2008 {
				return nil, &SyntaxError{"Version", fmt.Sprintf("got %q, want %q (or the legacy %q)", s, Version2012, Version2008)}
			}
			d.Version = s
		case "Id":
			s, err := decodeString(raw, "Id")
			if err != nil {
				return nil, err
			}
			d.ID = s
		case "Statement":
			raw = bytes.TrimSpace(raw)
			if len(raw) > 0 && raw[0] == '{' {
				st, err := decodeStatement(raw, "Statement")
				if err != nil {
					return nil, err
				}
				d.Statement = []Statement{st}
				continue
			}
			var items []json.RawMessage
			if err := json.Unmarshal(raw, &items); err != nil {
				return nil, &SyntaxError{"Statement", "want a statement object or an array of them, got " + jsonKind(raw)}
			}
			for i, item := range items {
				st, err := decodeStatement(item, fmt.Sprintf("Statement[%d]", i))
				if err != nil {
					return nil, err
				}
				d.Statement = append(d.Statement, st)
			}
		default:
			return nil, &SyntaxError{key, "unknown top-level element; want Version, Id or Statement (names are case-sensitive)"}
		}
	}
	if len(d.Statement) == 0 {
		return nil, &SyntaxError{"Statement", "missing or empty; a policy needs at least one statement"}
	}
	return &d, nil
}

func decodeStatement(data []byte, path string) (Statement, error) {
	obj, err := decodeObject(data, path)
	if err != nil {
		return Statement{}, err
	}
	var s Statement
	for _, key := range sortedKeys(obj) {
		raw := obj[key]
		field := path + "." + key
		var err error
		switch key {
		case "Sid":
			s.Sid, err = decodeString(raw, field)
		case "Effect":
			s.Effect, err = decodeString(raw, field)
			if err == nil && s.Effect != EffectAllow && s.Effect != EffectDeny {
				err = &SyntaxError{field, fmt.Sprintf("got %q, want \"Allow\" or \"Deny\"", s.Effect)}
			}
		case "Principal":
			s.Principal, err = decodePrincipalAt(raw, field)
		case "NotPrincipal":
			s.NotPrincipal, err = decodePrincipalAt(raw, field)
		case "Action":
			s.Action, err = decodeStringListAt(raw, field)
		case "NotAction":
			s.NotAction, err = decodeStringListAt(raw, field)
		case "Resource":
			s.Resource, err = decodeStringListAt(raw, field)
		case "NotResource":
			s.NotResource, err = decodeStringListAt(raw, field)
		case "Condition":
			s.Condition, err = decodeConditionsAt(raw, field)
		default:
			err = &SyntaxError{field, "unknown statement element; want Sid, Effect, Principal, NotPrincipal, Action, NotAction, Resource, NotResource or Condition"}
		}
		if err != nil {
			return Statement{}, err
		}
	}
	switch {
	case s.Effect == "":
		return Statement{}, &SyntaxError{path + ".Effect", "missing; want \"Allow\" or \"Deny\""}
	case len(s.Action) == 0 && len(s.NotAction) == 0:
		return Statement{}, &SyntaxError{path, "needs Action or NotAction"}
	case len(s.Action) > 0 && len(s.NotAction) > 0:
		return Statement{}, &SyntaxError{path, "has both Action and NotAction; use one"}
	case len(s.Resource) > 0 && len(s.NotResource) > 0:
		return Statement{}, &SyntaxError{path, "has both Resource and NotResource; use one"}
	case s.Principal != nil && s.NotPrincipal != nil:
		return Statement{}, &SyntaxError{path, "has both Principal and NotPrincipal; use one"}
	}
	for _, a := range append(append([]string(nil), s.Action...), s.NotAction...) {
		if a != "*" && !strings.Contains(a, ":") {
			return Statement{}, &SyntaxError{path + ".Action", fmt.Sprintf("%q is not service:action (for example \"bedrock:InvokeModel\")", a)}
		}
	}
	return s, nil
}

func decodePrincipal(data []byte) (*Principal, error) { return decodePrincipalAt(data, "Principal") }

func decodePrincipalAt(data []byte, path string) (*Principal, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		s, err := decodeString(data, path)
		if err != nil {
			return nil, err
		}
		if s != "*" {
			return nil, &SyntaxError{path, fmt.Sprintf("got the string %q; only \"*\" may be written bare, otherwise use {\"AWS\": %q}", s, s)}
		}
		return &Principal{All: true}, nil
	}
	obj, err := decodeObject(data, path)
	if err != nil {
		return nil, &SyntaxError{path, "want \"*\" or an object such as {\"AWS\": \"arn:aws:iam::111111111111:role/name\"}, got " + jsonKind(data)}
	}
	var p Principal
	for _, key := range sortedKeys(obj) {
		raw := obj[key]
		field := path + "." + key
		l, err := decodeStringListAt(raw, field)
		if err != nil {
			return nil, err
		}
		if len(l) == 0 {
			return nil, &SyntaxError{field, "is empty"}
		}
		switch key {
		case "AWS":
			p.AWS = l
		case "Service":
			p.Service = l
		case "Federated":
			p.Federated = l
		case "CanonicalUser":
			p.CanonicalUser = l
		default:
			return nil, &SyntaxError{field, "unknown principal type; want AWS, Service, Federated or CanonicalUser"}
		}
	}
	if len(obj) == 0 {
		return nil, &SyntaxError{path, "is empty; name at least one principal"}
	}
	return &p, nil
}

func decodeStringListAt(data []byte, path string) (StringList, error) {
	l, err := decodeStringList(data, false)
	if err != nil {
		return nil, &SyntaxError{path, err.Error()}
	}
	return l, nil
}

// decodeStringList decodes a string or array of strings. With scalars, booleans and numbers are accepted too
// and kept in their JSON spelling, as IAM does for condition values.
func decodeStringList(data []byte, scalars bool) (StringList, error) {
	data = bytes.TrimSpace(data)
	want := "want a string or an array of strings"
	if scalars {
		want = "want a string, boolean, number or an array of them"
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%s, got nothing", want)
	}
	if data[0] != '[' {
		s, ok := decodeScalar(data, scalars)
		if !ok {
			return nil, fmt.Errorf("%s, got %s", want, jsonKind(data))
		}
		return StringList{s}, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, fmt.Errorf("%s, got invalid JSON", want)
	}
	out := make(StringList, 0, len(items))
	for i, item := range items {
		s, ok := decodeScalar(bytes.TrimSpace(item), scalars)
		if !ok {
			return nil, fmt.Errorf("element %d: %s, got %s", i, want, jsonKind(item))
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func decodeScalar(data []byte, scalars bool) (string, bool) {
	if len(data) == 0 {
		return "", false
	}
	switch {
	case data[0] == '"':
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return "", false
		}
		return s, true
	case !scalars:
		return "", false
	case string(data) == "true" || string(data) == "false":
		return string(data), true
	case data[0] == '-' || (data[0] >= '0' && data[0] <= '9'):
		var n json.Number
		if err := json.Unmarshal(data, &n); err != nil {
			return "", false
		}
		return n.String(), true
	}
	return "", false
}

func decodeConditions(data []byte) (Conditions, error) { return decodeConditionsAt(data, "Condition") }

func decodeConditionsAt(data []byte, path string) (Conditions, error) {
	ops, err := decodeObject(data, path)
	if err != nil {
		return nil, err
	}
	c := make(Conditions, len(ops))
	for _, op := range sortedKeys(ops) {
		raw := ops[op]
		field := path + "." + op
		if _, err := parseOperator(op); err != nil {
			return nil, &SyntaxError{field, err.Error()}
		}
		keys, err := decodeObject(raw, field)
		if err != nil {
			return nil, err
		}
		m := make(map[string]StringList, len(keys))
		for _, key := range sortedKeys(keys) {
			raw := keys[key]
			l, err := decodeStringList(raw, true)
			if err != nil {
				return nil, &SyntaxError{field + "." + key, err.Error()}
			}
			m[key] = l
		}
		c[op] = m
	}
	if len(c) == 0 {
		return nil, nil
	}
	return c, nil
}

func decodeObject(data []byte, path string) (map[string]json.RawMessage, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, &SyntaxError{path, "want a JSON object, got " + jsonKind(data)}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		var se *json.SyntaxError
		if asSyntax(err, &se) {
			return nil, &SyntaxError{path, fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se)}
		}
		return nil, &SyntaxError{path, "invalid JSON: " + err.Error()}
	}
	return obj, nil
}

func asSyntax(err error, target **json.SyntaxError) bool {
	se, ok := err.(*json.SyntaxError)
	if ok {
		*target = se
	}
	return ok
}

func decodeString(data []byte, path string) (string, error) {
	s, ok := decodeScalar(bytes.TrimSpace(data), false)
	if !ok {
		return "", &SyntaxError{path, "want a string, got " + jsonKind(data)}
	}
	return s, nil
}

// jsonKind names the JSON type of a value for error messages.
func jsonKind(data []byte) string {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return "nothing"
	}
	switch data[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	if _, err := strconv.ParseFloat(string(data), 64); err == nil {
		return "a number"
	}
	return "invalid JSON"
}

func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// sortedKeys gives map iteration a stable order, so that evaluation reports the same matched condition every
// time.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
