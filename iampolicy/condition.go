package iampolicy

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

type setOp int

const (
	setNone setOp = iota
	setAnyValue
	setAllValues
)

// operator is a parsed condition operator such as "ForAllValues:StringLikeIfExists".
type operator struct {
	set      setOp
	base     string // canonical spelling, e.g. "StringLike"
	ifExists bool
	// negated operators (StringNotEquals, ArnNotLike, ...) hold when no policy value matches a request value,
	// and hold when the key is absent: AWS evaluates "not equal to X" as true for a missing key.
	negated bool
	// match compares one request value with one policy value, before negation.
	match func(req, pol string) bool
}

var baseOperators = map[string]struct {
	name    string
	negated bool
	match   func(req, pol string) bool
}{}

func init() {
	add := func(name string, negated bool, match func(req, pol string) bool) {
		baseOperators[strings.ToLower(name)] = struct {
			name    string
			negated bool
			match   func(req, pol string) bool
		}{name, negated, match}
	}
	eq := func(a, b string) bool { return a == b }
	fold := strings.EqualFold
	like := func(req, pol string) bool { return wildcardMatch(pol, req, false) }
	add("StringEquals", false, eq)
	add("StringNotEquals", true, eq)
	add("StringEqualsIgnoreCase", false, fold)
	add("StringNotEqualsIgnoreCase", true, fold)
	add("StringLike", false, like)
	add("StringNotLike", true, like)
	// ArnEquals and ArnLike behave the same in IAM: both compare the six ARN fields with wildcards.
	add("ArnEquals", false, arnLike)
	add("ArnLike", false, arnLike)
	add("ArnNotEquals", true, arnLike)
	add("ArnNotLike", true, arnLike)
	add("Bool", false, fold)
	add("BinaryEquals", false, binaryEquals)
	add("IpAddress", false, ipMatch)
	add("NotIpAddress", true, ipMatch)
	num := func(f func(a, b float64) bool) func(string, string) bool {
		return func(req, pol string) bool {
			a, err1 := strconv.ParseFloat(req, 64)
			b, err2 := strconv.ParseFloat(pol, 64)
			return err1 == nil && err2 == nil && f(a, b)
		}
	}
	add("NumericEquals", false, num(func(a, b float64) bool { return a == b }))
	add("NumericNotEquals", true, num(func(a, b float64) bool { return a == b }))
	add("NumericLessThan", false, num(func(a, b float64) bool { return a < b }))
	add("NumericLessThanEquals", false, num(func(a, b float64) bool { return a <= b }))
	add("NumericGreaterThan", false, num(func(a, b float64) bool { return a > b }))
	add("NumericGreaterThanEquals", false, num(func(a, b float64) bool { return a >= b }))
	date := func(f func(a, b time.Time) bool) func(string, string) bool {
		return func(req, pol string) bool {
			a, ok1 := parseDate(req)
			b, ok2 := parseDate(pol)
			return ok1 && ok2 && f(a, b)
		}
	}
	add("DateEquals", false, date(time.Time.Equal))
	add("DateNotEquals", true, date(time.Time.Equal))
	add("DateLessThan", false, date(time.Time.Before))
	add("DateLessThanEquals", false, date(func(a, b time.Time) bool { return !a.After(b) }))
	add("DateGreaterThan", false, date(time.Time.After))
	add("DateGreaterThanEquals", false, date(func(a, b time.Time) bool { return !a.Before(b) }))
	add("Null", false, nil) // handled separately: it tests presence, not values
}

// parseOperator splits an operator into its set prefix, base and IfExists suffix. Operator names are matched
// case-insensitively, as IAM does.
func parseOperator(op string) (operator, error) {
	var o operator
	rest := op
	if prefix, after, ok := strings.Cut(op, ":"); ok {
		switch strings.ToLower(prefix) {
		case "foranyvalue":
			o.set = setAnyValue
		case "forallvalues":
			o.set = setAllValues
		default:
			return o, fmt.Errorf("unknown set operator %q; want ForAnyValue or ForAllValues", prefix)
		}
		rest = after
	}
	lower := strings.ToLower(rest)
	b, ok := baseOperators[lower]
	if !ok && strings.HasSuffix(lower, "ifexists") {
		b, ok = baseOperators[strings.TrimSuffix(lower, "ifexists")]
		o.ifExists = ok
	}
	if !ok {
		return o, fmt.Errorf("unknown condition operator %q (for example StringEquals, StringLike, ArnLike, Bool, Null)", op)
	}
	if b.name == "Null" && (o.set != setNone || o.ifExists) {
		return o, fmt.Errorf("operator %q: Null takes no ForAnyValue/ForAllValues prefix or IfExists suffix", op)
	}
	o.base, o.negated, o.match = b.name, b.negated, b.match
	return o, nil
}

// evalOperator reports whether one condition key holds for the request values (present=false: key absent).
func (o operator) eval(reqVals []string, present bool, polVals []string) bool {
	if o.base == "Null" {
		for _, v := range polVals {
			if strings.EqualFold(v, "true") && !present || strings.EqualFold(v, "false") && present {
				return true
			}
		}
		return false
	}
	if !present || len(reqVals) == 0 {
		switch {
		case o.ifExists:
			return true
		case o.set == setAllValues:
			return true // vacuously: every one of no values matches
		case o.set == setAnyValue:
			return false
		}
		return o.negated
	}
	valueOK := func(rv string) bool {
		hit := false
		for _, pv := range polVals {
			if o.match(rv, pv) {
				hit = true
				break
			}
		}
		return hit != o.negated
	}
	switch o.set {
	case setAllValues:
		for _, rv := range reqVals {
			if !valueOK(rv) {
				return false
			}
		}
		return true
	case setAnyValue:
		for _, rv := range reqVals {
			if valueOK(rv) {
				return true
			}
		}
		return false
	}
	// A single-valued operator on a multivalued key: positive operators need one value to match, negated ones
	// need no value to match; that is how IAM treats it and why ForAllValues exists.
	if o.negated {
		for _, rv := range reqVals {
			if !valueOK(rv) {
				return false
			}
		}
		return true
	}
	for _, rv := range reqVals {
		if valueOK(rv) {
			return true
		}
	}
	return false
}

func arnLike(req, pol string) bool {
	rp := strings.SplitN(req, ":", 6)
	pp := strings.SplitN(pol, ":", 6)
	if len(rp) != 6 || len(pp) != 6 {
		return pol == "*" && strings.HasPrefix(req, "arn:")
	}
	for i := range rp {
		if !wildcardMatch(pp[i], rp[i], false) {
			return false
		}
	}
	return true
}

func binaryEquals(req, pol string) bool {
	a, err1 := base64.StdEncoding.DecodeString(req)
	b, err2 := base64.StdEncoding.DecodeString(pol)
	return err1 == nil && err2 == nil && string(a) == string(b)
}

func ipMatch(req, pol string) bool {
	addr, err := netip.ParseAddr(req)
	if err != nil {
		return false
	}
	if p, err := netip.ParsePrefix(pol); err == nil {
		return p.Contains(addr)
	}
	a, err := netip.ParseAddr(pol)
	return err == nil && a == addr
}

func parseDate(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}

// wildcardMatch matches s against a pattern where '*' is any run of characters and '?' is one character.
// IAM matches actions case-insensitively and resources and condition values case-sensitively.
func wildcardMatch(pattern, s string, foldCase bool) bool {
	if foldCase {
		pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	}
	// Runes, so that '?' is one character of a non-ASCII tag value rather than one byte of it.
	pr, sr := []rune(pattern), []rune(s)
	// Iterative matching with one backtrack point: no recursion, and no exponential blow-up on a hostile
	// pattern from a fuzzer or a pasted policy.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(sr) {
		switch {
		case p < len(pr) && pr[p] != '*' && (pr[p] == '?' || pr[p] == sr[i]):
			p++
			i++
		case p < len(pr) && pr[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pr) && pr[p] == '*' {
		p++
	}
	return p == len(pr)
}
