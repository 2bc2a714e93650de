package router

// A JSON scanner just deep enough for the compatibility shim: it finds the members of an object and the
// elements of an array as byte offsets into the body, skipping nested values without decoding them, and
// allocates nothing. It is not a validator: a body it cannot read is passed on untouched, and Bedrock's
// answer to it stands.

// member is one member of a JSON object: the key's raw bytes (between the quotes, escapes not decoded) and
// where the member and its value lie in the body.
type member struct {
	keyStart         int // the key's opening quote
	key              []byte
	valStart, valEnd int // the value, [valStart, valEnd)
}

// span is a value's place in the body, [start, end).
type span struct{ start, end int }

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString reads the string whose opening quote is at b[i]: end is just past the closing quote; plain says
// it has no escapes, so that its bytes are its value.
func scanString(b []byte, i int) (end int, plain, ok bool) {
	plain = true
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			plain = false
			j++
		case '"':
			return j + 1, plain, true
		}
	}
	return 0, false, false
}

// skipValue skips the value starting at b[i] (no leading whitespace) and returns the index just past it.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		end, _, ok := scanString(b, i)
		return end, ok
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _, ok := scanString(b, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	}
	j := i
	for j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j, j > i
		}
		j++
	}
	return j, j > i
}

// objectMembers appends to buf the members of the object starting at b[i] and returns the index just past
// its closing brace.
func objectMembers(b []byte, i int, buf []member) ([]member, int, bool) {
	if i >= len(b) || b[i] != '{' {
		return buf, 0, false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return buf, i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return buf, 0, false
		}
		keyEnd, _, ok := scanString(b, i)
		if !ok {
			return buf, 0, false
		}
		m := member{keyStart: i, key: b[i+1 : keyEnd-1]}
		i = skipWS(b, keyEnd)
		if i >= len(b) || b[i] != ':' {
			return buf, 0, false
		}
		i = skipWS(b, i+1)
		end, ok := skipValue(b, i)
		if !ok {
			return buf, 0, false
		}
		m.valStart, m.valEnd = i, end
		buf = append(buf, m)
		i = skipWS(b, end)
		if i >= len(b) {
			return buf, 0, false
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return buf, i + 1, true
		default:
			return buf, 0, false
		}
	}
}

// topMembers lists the members of a body that is one JSON object.
func topMembers(b []byte, buf []member) ([]member, bool) {
	ms, end, ok := objectMembers(b, skipWS(b, 0), buf)
	if !ok || skipWS(b, end) != len(b) {
		return nil, false
	}
	return ms, true
}

// stringElements appends to buf the elements of the array at b[start:end] when every one is a string without
// escapes (each span includes its quotes).
func stringElements(b []byte, start, end int, buf []span) ([]span, bool) {
	b = b[:end]
	i := start
	if i >= len(b) || b[i] != '[' {
		return buf, false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return buf, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return buf, false
		}
		e, plain, ok := scanString(b, i)
		if !ok || !plain {
			return buf, false
		}
		buf = append(buf, span{i, e})
		i = skipWS(b, e)
		if i >= len(b) {
			return buf, false
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case ']':
			return buf, true
		default:
			return buf, false
		}
	}
}

// plainString is the value of the string at b[start:end] when it has no escapes.
func plainString(b []byte, start, end int) ([]byte, bool) {
	if end-start < 2 || b[start] != '"' {
		return nil, false
	}
	e, plain, ok := scanString(b, start)
	if !ok || !plain || e != end {
		return nil, false
	}
	return b[start+1 : end-1], true
}
