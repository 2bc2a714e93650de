package router

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/bedrock-relay/bedrock-relay/catalog"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// The compatibility shim: an InvokeModel body is adapted, per attempt, to what the target's model accepts
// on Bedrock (the catalogue's anthropic table): an anthropic_version the model does not serve is rewritten
// to one it does when the body means the same under it, and anthropic_beta flags the model refuses are
// dropped, passed on or refused by the BetaPolicy. docs/compat.md states the rules.
//
// The common body needs nothing: a byte search finds that out without decoding it or allocating. Only a
// body that has a member to change is scanned (jsonscan.go) and copied, with the other bytes kept as they
// came.

// BetaPolicy is what the relay does with an anthropic_beta flag the target's model does not accept.
type BetaPolicy int

const (
	// BetasDrop removes the flag from the body (the default): the request is served without that beta.
	BetasDrop BetaPolicy = iota
	// BetasPass sends the body on as it came; Bedrock answers 400 "invalid beta flag".
	BetasPass
	// BetasReject refuses the request with a ValidationException naming the flag, before any target.
	BetasReject
)

// ParseBetaPolicy reads drop, pass or reject ("" is drop).
func ParseBetaPolicy(s string) (BetaPolicy, error) {
	switch s {
	case "", "drop":
		return BetasDrop, nil
	case "pass":
		return BetasPass, nil
	case "reject":
		return BetasReject, nil
	}
	return 0, fmt.Errorf("beta policy %q: want drop, pass or reject", s)
}

func (p BetaPolicy) String() string {
	switch p {
	case BetasPass:
		return "pass"
	case BetasReject:
		return "reject"
	}
	return "drop"
}

// modelCompat is one model's row of the anthropic table, compiled for lookups by the body's bytes (a map
// indexed by string(b) does not allocate).
type modelCompat struct {
	id       string
	versions map[string]bool
	betas    map[string]bool
	// rewrites maps a version the model does not accept to the one it accepts that a body of it is sent as.
	rewrites map[string]*rewrite
}

type rewrite struct {
	from, to string
	quoted   []byte          // the new value, with its quotes
	fields   map[string]bool // the top-level members a body of the target version may have
	servedBy string          // the models that accept from, for the refusal's message
}

// compileCompat builds the compiled row of modelID from cat; nil for a model with no anthropic row.
func compileCompat(cat *catalog.Catalog, modelID string) *modelCompat {
	cp, ok := cat.Compat(modelID)
	if !ok {
		return nil
	}
	mc := &modelCompat{id: modelID, versions: map[string]bool{}, betas: map[string]bool{}, rewrites: map[string]*rewrite{}}
	for _, v := range cp.Versions {
		mc.versions[v] = true
	}
	for _, b := range cp.Betas {
		mc.betas[b] = true
	}
	for _, row := range cat.Anthropic.Versions {
		if row.RewriteTo == "" || mc.versions[row.Version] || !mc.versions[row.RewriteTo] {
			continue
		}
		to, _ := cat.APIVersion(row.RewriteTo)
		rw := &rewrite{from: row.Version, to: row.RewriteTo, quoted: []byte(`"` + row.RewriteTo + `"`), fields: map[string]bool{}}
		for _, f := range to.Fields {
			rw.fields[f] = true
		}
		var served []string
		for _, m := range cat.Models {
			if c, ok := cat.Compat(m.ID); ok && c.AcceptsVersion(row.Version) {
				served = append(served, m.ID)
			}
		}
		rw.servedBy = strings.Join(served, ", ")
		mc.rewrites[row.Version] = rw
	}
	return mc
}

var (
	keyVersion = []byte(`"anthropic_version"`)
	keyBeta    = []byte(`"anthropic_beta"`)
	keyInvoke  = []byte(`"invokeModel"`)
)

const (
	maxTokensKey = "max_tokens"
	thinkingKey  = "thinking"
)

// Changes an adaptation made, for metrics.
const (
	changedVersion = 1 << iota
	changedBetas
)

// adapt returns the body to send to a target running mc's model: body itself when nothing needs to change,
// a rewritten copy, or a CallerError when the body cannot be sent to that model as the caller meant it.
func (mc *modelCompat) adapt(body []byte, policy BetaPolicy) ([]byte, int, *CallerError) {
	if mc == nil || !mc.mayNeed(body, policy) {
		return body, 0, nil
	}
	return mc.rewriteBody(body, policy)
}

// mayNeed is the hot path's check: whether the body has an anthropic_beta member the policy may act on, or
// an anthropic_version value the model has a rewrite for. It looks at bytes only. A match inside a string
// cannot happen (quotes in strings are escaped), but one in a nested object can: rewriteBody then finds
// nothing to do at the top level.
func (mc *modelCompat) mayNeed(body []byte, policy BetaPolicy) bool {
	if policy != BetasPass && bytes.Contains(body, keyBeta) {
		return true
	}
	if len(mc.rewrites) == 0 {
		return false
	}
	for rest := body; ; {
		i := bytes.Index(rest, keyVersion)
		if i < 0 {
			return false
		}
		rest = rest[i+len(keyVersion):]
		j := skipWS(rest, 0)
		if j >= len(rest) || rest[j] != ':' {
			continue
		}
		j = skipWS(rest, j+1)
		if j >= len(rest) || rest[j] != '"' {
			continue
		}
		end, plain, ok := scanString(rest, j)
		if !ok || !plain {
			continue
		}
		if _, has := mc.rewrites[string(rest[j+1:end-1])]; has {
			return true
		}
	}
}

// edit replaces body[start:end] with with.
type edit struct {
	start, end int
	with       []byte
}

func (mc *modelCompat) rewriteBody(body []byte, policy BetaPolicy) ([]byte, int, *CallerError) {
	var mbuf [32]member
	ms, ok := topMembers(body, mbuf[:0])
	if !ok {
		return body, 0, nil
	}
	var ebuf [4]edit
	edits := ebuf[:0]
	changed := 0
	for _, m := range ms {
		if string(m.key) != "anthropic_version" {
			continue
		}
		v, ok := plainString(body, m.valStart, m.valEnd)
		if !ok {
			continue
		}
		rw, has := mc.rewrites[string(v)]
		if !has {
			continue // accepted, or a version no rewrite serves: Bedrock's answer stands
		}
		if err := rw.check(body, ms, mc.id); err != nil {
			return nil, 0, err
		}
		edits = append(edits, edit{m.valStart, m.valEnd, rw.quoted})
		changed |= changedVersion
	}
	if policy != BetasPass {
		for k, m := range ms {
			if string(m.key) != "anthropic_beta" {
				continue
			}
			e, ok, err := mc.betaEdit(body, ms, k, policy)
			if err != nil {
				return nil, 0, err
			}
			if ok {
				edits = append(edits, e)
				changed |= changedBetas
			}
		}
	}
	if len(edits) == 0 {
		return body, 0, nil
	}
	// Members come in order, the version edits first: sort the few edits by position.
	for i := 1; i < len(edits); i++ {
		for j := i; j > 0 && edits[j].start < edits[j-1].start; j-- {
			edits[j], edits[j-1] = edits[j-1], edits[j]
		}
	}
	out := make([]byte, 0, len(body)+16)
	at := 0
	for _, e := range edits {
		out = append(out, body[at:e.start]...)
		out = append(out, e.with...)
		at = e.end
	}
	return append(out, body[at:]...), changed, nil
}

// betaEdit is the edit to the anthropic_beta member ms[k]: the flags the model refuses removed (the member
// too when none is left), or a refusal under BetasReject. ok is false when nothing changes, or the member is
// not an array of plain strings (Bedrock's own validation answers that).
func (mc *modelCompat) betaEdit(body []byte, ms []member, k int, policy BetaPolicy) (edit, bool, *CallerError) {
	m := ms[k]
	var sbuf [16]span
	flags, ok := stringElements(body, m.valStart, m.valEnd, sbuf[:0])
	if !ok {
		return edit{}, false, nil
	}
	refused := 0
	for _, f := range flags {
		if !mc.betas[string(body[f.start+1:f.end-1])] {
			refused++
		}
	}
	if refused == 0 {
		return edit{}, false, nil
	}
	if policy == BetasReject {
		var names []string
		for _, f := range flags {
			if name := string(body[f.start+1 : f.end-1]); !mc.betas[name] {
				names = append(names, fmt.Sprintf("%q", name))
			}
		}
		return edit{}, false, &CallerError{Code: "ValidationException", Message: fmt.Sprintf(
			"anthropic_beta: %s does not accept %s on Bedrock, and this relay refuses such flags rather than dropping them. Remove them from anthropic_beta.",
			mc.id, strings.Join(names, ", "))}
	}
	if refused == len(flags) {
		// Remove the whole member with one of its commas.
		switch {
		case k+1 < len(ms):
			return edit{m.keyStart, ms[k+1].keyStart, nil}, true, nil
		case k > 0:
			return edit{ms[k-1].valEnd, m.valEnd, nil}, true, nil
		}
		return edit{m.keyStart, m.valEnd, nil}, true, nil
	}
	kept := make([]byte, 0, m.valEnd-m.valStart)
	kept = append(kept, '[')
	for _, f := range flags {
		if mc.betas[string(body[f.start+1:f.end-1])] {
			if len(kept) > 1 {
				kept = append(kept, ',')
			}
			kept = append(kept, body[f.start:f.end]...)
		}
	}
	return edit{m.valStart, m.valEnd, append(kept, ']')}, true, nil
}

// thinkingTypes are the thinking.type values bedrock-2023-05-31 has (adaptive on the 4.6 models).
var thinkingTypes = map[string]bool{"enabled": true, "disabled": true, "adaptive": true}

// check says whether a body of rw.from means the same under rw.to, and refuses it naming the field where
// not: every top-level member must be one rw.to has; max_tokens 0 (which rw.from reads as "fill the prompt
// cache, generate nothing") has no equivalent; thinking may only say type (enabled, disabled, adaptive) and
// budget_tokens. Nested content (block types, tool types) is not inspected: a kind only the newer version
// has gets the model's own 400.
func (rw *rewrite) check(body []byte, ms []member, model string) *CallerError {
	refuse := func(what string) *CallerError {
		return &CallerError{Code: "ValidationException", Message: fmt.Sprintf(
			"anthropic_version: %s does not serve %q on Bedrock, and the relay sends such a body as %q only when it means the same there, but %s. Leave it out, or call a model that serves %q (%s).",
			model, rw.from, rw.to, what, rw.from, rw.servedBy)}
	}
	for _, m := range ms {
		if !rw.fields[string(m.key)] {
			return refuse(fmt.Sprintf("the body's field %q is not one of %q", m.key, rw.to))
		}
		switch string(m.key) {
		case maxTokensKey:
			if v := bytes.TrimSpace(body[m.valStart:m.valEnd]); string(v) == "0" {
				return refuse(fmt.Sprintf("max_tokens 0 asks %q to fill the prompt cache without answering, which %q has no way to say", rw.from, rw.to))
			}
		case thinkingKey:
			if body[m.valStart] != '{' {
				continue // Bedrock's schema check answers a thinking that is no object
			}
			var tbuf [4]member
			tm, _, ok := objectMembers(body, m.valStart, tbuf[:0])
			if !ok {
				continue
			}
			for _, t := range tm {
				switch string(t.key) {
				case "type":
					if v, ok := plainString(body, t.valStart, t.valEnd); ok && !thinkingTypes[string(v)] {
						return refuse(fmt.Sprintf("thinking.type %q is not a thinking type of %q", v, rw.to))
					}
				case "budget_tokens":
				default:
					return refuse(fmt.Sprintf("thinking.%s is not a thinking setting of %q", t.key, rw.to))
				}
			}
		}
	}
	return nil
}

// adaptCountTokens adapts the InvokeModel body inside a CountTokens request ({"input":{"invokeModel":
// {"body":"<base64>"}}}) as adapt does a plain one; a Converse input is left alone.
func (mc *modelCompat) adaptCountTokens(body []byte, policy BetaPolicy) ([]byte, int, *CallerError) {
	if mc == nil || !bytes.Contains(body, keyInvoke) {
		return body, 0, nil
	}
	s, ok := countTokensBodySpan(body)
	if !ok {
		return body, 0, nil
	}
	inner, err := base64.StdEncoding.DecodeString(string(body[s.start+1 : s.end-1]))
	if err != nil {
		return body, 0, nil
	}
	adapted, changed, cerr := mc.adapt(inner, policy)
	if cerr != nil || changed == 0 {
		return body, 0, cerr
	}
	out := make([]byte, 0, len(body)+base64.StdEncoding.EncodedLen(len(adapted))-(s.end-s.start))
	out = append(out, body[:s.start+1]...)
	out = base64.StdEncoding.AppendEncode(out, adapted)
	return append(append(out, '"'), body[s.end:]...), changed, nil
}

// countTokensBodySpan finds input.invokeModel.body, a plain string.
func countTokensBodySpan(body []byte) (span, bool) {
	ms, ok := topMembers(body, nil)
	if !ok {
		return span{}, false
	}
	for _, path := range []string{"input", "invokeModel", "body"} {
		var next *member
		for i := range ms {
			if string(ms[i].key) == path {
				next = &ms[i]
			}
		}
		if next == nil {
			return span{}, false
		}
		if path == "body" {
			if _, ok := plainString(body, next.valStart, next.valEnd); !ok {
				return span{}, false
			}
			return span{next.valStart, next.valEnd}, true
		}
		ms, _, ok = objectMembers(body, next.valStart, nil)
		if !ok {
			return span{}, false
		}
	}
	return span{}, false
}

// modelOf is the foundation model target t runs when it serves fm: the model of the system profile it calls,
// or fm itself (a foundation-model id, or an application profile listed as serving fm). The shim adapts a
// body to it per attempt, at send time, so that a request failing over between targets that run different
// models is adapted to each.
func modelOf(t *Member, fm string) string {
	if _, m, ok := catalog.SplitProfileID(t.Models[fm]); ok {
		return m
	}
	return fm
}

// adaptedBody remembers the last adaptation of a request's body, since every target of a model gets the same.
type adaptedBody struct {
	mc   *modelCompat
	done bool
	body []byte
	err  *CallerError
}

// forTarget is the body to send to t for req (an InvokeModel one adapted to t's model; CountTokens' inner
// body likewise), or the CallerError that says why t's model cannot take it.
func (a *adaptedBody) forTarget(r *Router, t *Member, fm string, req *Request) ([]byte, *CallerError) {
	var adapt func(*modelCompat, []byte, BetaPolicy) ([]byte, int, *CallerError)
	switch req.Op {
	case upstream.OpInvoke, upstream.OpInvokeStream:
		adapt = (*modelCompat).adapt
	case upstream.OpCountTokens:
		adapt = (*modelCompat).adaptCountTokens
	default:
		return req.Body, nil
	}
	mc := r.compat[modelOf(t, fm)]
	if a.done && a.mc == mc {
		return a.body, a.err
	}
	body, changed, err := adapt(mc, req.Body, r.opts.Betas)
	a.mc, a.done, a.body, a.err = mc, true, body, err
	if err != nil {
		r.opts.Metrics.adapted(mc.id, "refused")
	}
	if changed&changedVersion != 0 {
		r.opts.Metrics.adapted(mc.id, "version_rewritten")
	}
	if changed&changedBetas != 0 {
		r.opts.Metrics.adapted(mc.id, "betas_dropped")
	}
	return body, err
}

// allRefused reports whether every target that could take a request for fm was refused by the shim.
func (r *Router) allRefused(fm string, refused map[*Member]bool) bool {
	for _, t := range r.byModel[fm] {
		if r.senders[t] != nil && !refused[t] {
			return false
		}
	}
	return true
}
