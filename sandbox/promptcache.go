package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// Prompt caching as Bedrock does it for the models that offer it (the catalogue's prompt_cache). A cache point
// marks the prompt up to it as a prefix to cache: a cachePoint block in Converse's system, messages or
// toolConfig.tools (and Nova's InvokeModel body), a cache_control on an Anthropic block, tool or system block.
// The prompt is read in Bedrock's order, tools then system then messages, so a prefix holds everything before
// its point. A prefix seen for the first time is written to the cache (cacheWriteInputTokens,
// cache_creation_input_tokens); the same prefix again, from the same account to the same model within its TTL
// (5 minutes, or 1 hour for "ttl":"1h", by the sandbox's clock), is read from it (cacheReadInputTokens,
// cache_read_input_tokens), which starts the TTL again. As on Bedrock, each point of a Claude model looks back up
// to 20 block boundaries for a cached prefix, so that a conversation that moves its one point forward reads what
// the last turn wrote; inputTokens then counts only the tokens neither read nor written. A prefix shorter than the
// model's minimum is not cached, without an error. The sandbox keeps one cache per account and model, where
// Bedrock keeps one per region (a cross-region profile may miss where the sandbox reads).
//
// What Bedrock refuses, the sandbox refuses: cache points for a model without caching (AccessDeniedException),
// more points than the model takes, a TTL the model does not offer, a 1-hour point after a 5-minute one, a
// cache point in a field the model does not cache (Nova's tools).

const (
	// cacheLookback is how many block boundaries before a cache point Bedrock checks for a cached prefix
	// ("approximately 20 content blocks", AWS's prompt-caching page).
	cacheLookback = 20
	// defaultCacheTTL applies to a point without a ttl.
	defaultCacheTTL = "5m"
	// cachePruneEvery is how often (by the sandbox's clock) expired entries are dropped.
	cachePruneEvery = time.Minute
)

var cacheTTLs = map[string]time.Duration{"5m": 5 * time.Minute, "1h": time.Hour}

// Bedrock's answer to cache points for a model without prompt caching, as reported against it (a 403:
// BerriAI/litellm#39210, strands-agents/harness-sdk#1807; the wording: cline/cline#2064).
const msgCacheUnsupported = "You invoked an unsupported model or your request did not allow prompt caching. See the documentation for more information."

// promptCache is the sandbox's prompt cache: the prefixes written, by account, model and digest, each with the
// time it expires. It has its own lock: every call that marks cache points touches it once.
type promptCache struct {
	mu      sync.Mutex
	entries map[cacheKey]time.Time
	pruned  time.Time
}

type cacheKey struct {
	account, model string
	prefix         [sha256.Size]byte
}

func newPromptCache() *promptCache { return &promptCache{entries: map[cacheKey]time.Time{}} }

// cacheLayout is a prompt as the cache sees it: the boundary after each block, in Bedrock's order, with the
// tokens up to it and a digest of everything up to it; and the cache points among the boundaries.
type cacheLayout struct {
	bounds []cacheBound
	points []cachePoint
}

type cacheBound struct {
	tokens int
	digest [sha256.Size]byte
}

type cachePoint struct {
	bound   int    // the boundary it follows; -1 before any block
	ttl     string // "5m", "1h"; "" for the default
	section string // tools, system, messages
	at      string // where it is, in the words of the dialect's refusals
}

// cacheUsage is what a call read from and wrote to the cache.
type cacheUsage struct {
	Read, Write int
	Writes      []cacheWrite // Write by TTL, 1h before 5m (Converse's cacheDetails)
}

type cacheWrite struct {
	TTL    string `json:"ttl"`
	Tokens int    `json:"inputTokens"`
}

// layoutWalk builds a cacheLayout block by block. Tokens are counted as conversation.inputTokens counts them,
// so that prefixes add up to the request's input.
type layoutWalk struct {
	l      cacheLayout
	tokens int
	digest [sha256.Size]byte
}

func newLayoutWalk() *layoutWalk { return &layoutWalk{tokens: tokensPerRequest} }

func (w *layoutWalk) block(tokens int, parts ...string) {
	h := sha256.New()
	h.Write(w.digest[:])
	for _, p := range parts {
		h.Write([]byte(strconv.Itoa(len(p)) + ":" + p))
	}
	h.Sum(w.digest[:0])
	w.tokens += tokens
	w.l.bounds = append(w.l.bounds, cacheBound{w.tokens, w.digest})
}

func (w *layoutWalk) point(ttl, section, at string) {
	w.l.points = append(w.l.points, cachePoint{bound: len(w.l.bounds) - 1, ttl: ttl, section: section, at: at})
}

// canonicalJSON is a block's identity: its JSON with keys sorted, without cache_control markers (moving a
// marker does not change the prompt).
func canonicalJSON(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	b, err := json.Marshal(dropCacheControl(v))
	if err != nil {
		return string(raw)
	}
	return string(b)
}

func dropCacheControl(v any) any {
	switch t := v.(type) {
	case map[string]any:
		delete(t, "cache_control")
		for k, e := range t {
			t[k] = dropCacheControl(e)
		}
	case []any:
		for i, e := range t {
			t[i] = dropCacheControl(e)
		}
	}
	return v
}

// converseLayout walks a Converse body (or Nova's InvokeModel body), already validated.
func converseLayout(obj map[string]json.RawMessage) *cacheLayout {
	w := newLayoutWalk()
	tc, _ := decodeObject(obj["toolConfig"])
	tools, _ := decodeArray(tc["tools"])
	for i, raw := range tools {
		t, _ := decodeObject(raw)
		if cp, ok := t["cachePoint"]; ok && !isNull(cp) {
			w.point(cachePointTTL(cp), "tools", fmt.Sprintf("#/toolConfig/tools/%d", i))
			continue
		}
		tokens := 0
		if spec, ok := decodeObject(t["toolSpec"]); ok {
			name, _ := decodeString(spec["name"])
			desc, _ := decodeString(spec["description"])
			is, _ := decodeObject(spec["inputSchema"])
			schema := "{}"
			if s, ok := is["json"]; ok && !isNull(s) {
				schema = compactJSON(s)
			}
			tokens = tokensPerTool + countTokens(name) + countTokens(desc) + countTokens(schema)
		}
		w.block(tokens, "tool", canonicalJSON(raw))
	}
	sys, _ := decodeArray(obj["system"])
	for i, raw := range sys {
		b, _ := decodeObject(raw)
		if cp, ok := b["cachePoint"]; ok && !isNull(cp) {
			w.point(cachePointTTL(cp), "system", fmt.Sprintf("#/system/%d", i))
			continue
		}
		text, _ := decodeString(b["text"])
		w.block(countTokens(text), "system", canonicalJSON(raw))
	}
	msgs, _ := decodeArray(obj["messages"])
	for i, raw := range msgs {
		m, _ := decodeObject(raw)
		role, _ := decodeString(m["role"])
		w.block(tokensPerMessage, "message", role)
		blocks, _ := decodeArray(m["content"])
		for j, b := range blocks {
			ob, _ := decodeObject(b)
			if cp, ok := ob["cachePoint"]; ok && !isNull(cp) {
				w.point(cachePointTTL(cp), "messages", fmt.Sprintf("#/messages/%d/content/%d", i, j))
				continue
			}
			var p converseParser
			text, images, _, _ := p.block("", "", b)
			w.block(countTokens(text)+images*tokensPerImage, "block", canonicalJSON(b))
		}
	}
	return &w.l
}

func cachePointTTL(raw json.RawMessage) string {
	cp, _ := decodeObject(raw)
	s, _ := decodeString(cp["ttl"])
	return s
}

// cachePoint validates a Converse CachePointBlock (type, ttl) at path, the Coral constraint path of the member.
func (p *converseParser) cachePoint(path string, raw json.RawMessage) {
	cp, ok := decodeObject(raw)
	if !ok {
		p.v.add(quoteValue(raw), path, "must be a structure")
		return
	}
	switch t, ok := cp["type"]; {
	case !ok || isNull(t):
		p.v.add("null", path+".type", "must not be null")
	default:
		if s, _ := decodeString(t); s != "default" {
			p.v.add(quoteValue(t), path+".type", enumConstraint([]string{"default"}))
		}
	}
	if t, ok := cp["ttl"]; ok && !isNull(t) {
		if s, _ := decodeString(t); cacheTTLs[s] == 0 {
			p.v.add(quoteValue(t), path+".ttl", enumConstraint([]string{"5m", "1h"}))
		}
	}
}

// anthropicLayout walks an Anthropic Messages body, already validated but for its cache_control markers, which
// it checks as Anthropic's validation does.
func anthropicLayout(obj map[string]json.RawMessage) (*cacheLayout, *awsError) {
	w := newLayoutWalk()
	tools, _ := decodeArray(obj["tools"])
	for i, raw := range tools {
		t, _ := decodeObject(raw)
		name, _ := decodeString(t["name"])
		desc, _ := decodeString(t["description"])
		typ, _ := decodeString(t["type"])
		schema := ""
		if typ == "" || typ == "custom" {
			typ, schema = "custom", compactJSON(t["input_schema"])
		}
		w.block(tokensPerTool+countTokens(name)+countTokens(desc)+countTokens(schema), "tool", canonicalJSON(raw))
		if err := w.cacheControl(t, fmt.Sprintf("tools.%d.%s.cache_control", i, typ), "tools"); err != nil {
			return nil, err
		}
	}
	if raw, ok := obj["system"]; ok {
		if s, ok := decodeString(raw); ok {
			w.block(countTokens(s), "system", s)
		}
		blocks, _ := decodeArray(raw)
		for i, b := range blocks {
			ob, _ := decodeObject(b)
			text, _ := decodeString(ob["text"])
			w.block(countTokens(text), "system", canonicalJSON(b))
			if err := w.cacheControl(ob, fmt.Sprintf("system.%d.cache_control", i), "system"); err != nil {
				return nil, err
			}
		}
	}
	msgs, _ := decodeArray(obj["messages"])
	for i, raw := range msgs {
		m, _ := decodeObject(raw)
		role, _ := decodeString(m["role"])
		w.block(tokensPerMessage, "message", role)
		if s, ok := decodeString(m["content"]); ok {
			w.block(countTokens(s), "block", s)
			continue
		}
		blocks, _ := decodeArray(m["content"])
		for j, b := range blocks {
			ob, _ := decodeObject(b)
			typ, _ := decodeString(ob["type"])
			path := fmt.Sprintf("messages.%d.content.%d", i, j)
			text, images, _, _ := anthropicBlock(path, b, false)
			w.block(countTokens(text)+images*tokensPerImage, "block", canonicalJSON(b))
			if err := w.cacheControl(ob, path+"."+typ+".cache_control", "messages"); err != nil {
				return nil, err
			}
			if typ != "tool_result" {
				continue
			}
			inner, _ := decodeArray(ob["content"])
			for k, ib := range inner {
				iob, _ := decodeObject(ib)
				ityp, _ := decodeString(iob["type"])
				if err := w.cacheControl(iob, fmt.Sprintf("%s.tool_result.content.%d.%s.cache_control", path, k, ityp), "messages"); err != nil {
					return nil, err
				}
			}
		}
	}
	// A top-level cache_control (the Messages API's automatic caching, in the versions that have it) is a
	// point after the last block.
	if err := w.cacheControl(obj, "cache_control", "messages"); err != nil {
		return nil, err
	}
	return &w.l, nil
}

// cacheControl reads the cache_control of an Anthropic block (obj), at path (its cache_control member), as a
// point after the block just walked. Its checks and wording are the Messages API's (cache_control is a union
// tagged by type).
func (w *layoutWalk) cacheControl(obj map[string]json.RawMessage, path, section string) *awsError {
	raw, ok := obj["cache_control"]
	if !ok || isNull(raw) {
		return nil
	}
	cc, ok := decodeObject(raw)
	if !ok {
		return validationException("%s: Input should be a valid dictionary or object to extract fields from", path)
	}
	typ, ok := cc["type"]
	if !ok {
		return validationException("%s: Unable to extract tag using discriminator 'type'", path)
	}
	if s, _ := decodeString(typ); s != "ephemeral" {
		return validationException("%s: Input tag '%s' found using 'type' does not match any of the expected tags: 'ephemeral'", path, s)
	}
	ttl := ""
	if t, ok := cc["ttl"]; ok {
		s, _ := decodeString(t)
		if cacheTTLs[s] == 0 {
			return validationException("%s.ephemeral.ttl: Input should be '5m' or '1h'", path)
		}
		ttl = s
	}
	for _, k := range sortedKeys(cc) {
		if k != "type" && k != "ttl" {
			return validationException("%s.ephemeral.%s: Extra inputs are not permitted", path, k)
		}
	}
	w.point(ttl, section, path)
	return nil
}

// promptCacheLayout finds the cache points of a request to m and checks them against what m offers: nil when it
// marks none.
func promptCacheLayout(m catalog.Model, op string, body []byte) (*cacheLayout, *awsError) {
	converse := op == "Converse" || op == "ConverseStream" || m.Family == familyNova
	marker := []byte(`"cache_control"`)
	if converse {
		marker = []byte(`"cachePoint"`)
	}
	if !bytes.Contains(body, marker) {
		return nil, nil
	}
	obj, ok := decodeObject(body)
	if !ok {
		return nil, nil
	}
	var l *cacheLayout
	if converse {
		l = converseLayout(obj)
	} else {
		var err *awsError
		if l, err = anthropicLayout(obj); err != nil {
			return nil, err
		}
	}
	if len(l.points) == 0 {
		return nil, nil
	}
	return l, checkCachePoints(m, l, converse)
}

// checkCachePoints refuses cache points m does not take, as Bedrock does.
func checkCachePoints(m catalog.Model, l *cacheLayout, converse bool) *awsError {
	pc := m.PromptCache
	if pc == nil {
		return accessDeniedException("%s", msgCacheUnsupported)
	}
	anthropic := m.Family == familyAnthropic
	if pc.MaxPoints > 0 && len(l.points) > pc.MaxPoints {
		if anthropic {
			return validationException("A maximum of %d blocks with cache_control may be provided. Found %d.", pc.MaxPoints, len(l.points))
		}
		return validationException("The request has %d cache points; %s takes at most %d. Remove cache points and try again.", len(l.points), m.ID, pc.MaxPoints)
	}
	short := false // a 5-minute point seen, in processing order
	for _, p := range l.points {
		if !slices.Contains(pc.Fields, p.section) {
			// Nova's tools (reported for Converse as the schema's refusal: aws/aws-sdk-go-v2#3060).
			return malformedInput(p.at + ": extraneous key [cachePoint] is not permitted")
		}
		ttl := p.ttl
		if ttl == "" {
			ttl = defaultCacheTTL
		}
		if !slices.Contains(pc.TTLs, ttl) {
			switch {
			case !anthropic: // earendil-works/pi#1570, LibreChat-AI/agents#256
				return validationException("Extended TTL prompt caching is only supported for Anthropic models")
			case converse: // Claude before 4.5 has no ttl member (earendil-works/pi#1570, openclaw/openclaw#47121)
				return validationException("Extra inputs are not permitted")
			default:
				return validationException("%s.ephemeral.ttl: Extra inputs are not permitted", p.at)
			}
		}
		if ttl == "5m" {
			short = true
		} else if short && anthropic {
			return validationException("a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block")
		}
	}
	return nil
}

// account reads and writes the cache for a call of acct to m with layout l, whose input is input tokens, at now.
func (pc *promptCache) account(now time.Time, acct string, m catalog.Model, l *cacheLayout, input int) *cacheUsage {
	u := &cacheUsage{}
	spec := m.PromptCache
	if spec == nil {
		return u
	}
	ttl := func(p cachePoint) (string, time.Duration) {
		if p.ttl == "" {
			return defaultCacheTTL, cacheTTLs[defaultCacheTTL]
		}
		return p.ttl, cacheTTLs[p.ttl]
	}
	key := func(bound int) cacheKey { return cacheKey{acct, m.ID, l.bounds[bound].digest} }
	keep := func(k cacheKey, until time.Time) {
		if old, ok := pc.entries[k]; !ok || old.Before(until) {
			pc.entries[k] = until
		}
	}

	pc.mu.Lock()
	defer pc.mu.Unlock()
	if now.Sub(pc.pruned) >= cachePruneEvery {
		for k, exp := range pc.entries {
			if !now.Before(exp) {
				delete(pc.entries, k)
			}
		}
		pc.pruned = now
	}

	// The longest cached prefix any point reaches, looking back from each (the last point's window is the
	// furthest on, so the first hit is the longest).
	lookback := 0
	if m.Family == familyAnthropic { // Bedrock's simplified cache management is Claude's
		lookback = cacheLookback
	}
	hit := -1
	for i := len(l.points) - 1; i >= 0 && hit < 0; i-- {
		p := l.points[i]
		for b := p.bound; b >= 0 && b >= p.bound-lookback; b-- {
			if exp, ok := pc.entries[key(b)]; ok && now.Before(exp) {
				hit = b
				_, d := ttl(p)
				keep(key(b), now.Add(d))
				break
			}
		}
	}
	if hit >= 0 {
		u.Read = l.bounds[hit].tokens
	}

	// Every point past it that reaches the minimum writes its prefix; the tokens between written prefixes are
	// billed at the later point's TTL.
	from := u.Read
	byTTL := map[string]int{}
	for _, p := range l.points {
		if p.bound <= hit || l.bounds[p.bound].tokens < spec.MinTokens {
			continue
		}
		name, d := ttl(p)
		keep(key(p.bound), now.Add(d))
		if n := l.bounds[p.bound].tokens - from; n > 0 {
			u.Write += n
			byTTL[name] += n
			from = l.bounds[p.bound].tokens
		}
	}
	for _, name := range []string{"1h", "5m"} {
		if byTTL[name] > 0 {
			u.Writes = append(u.Writes, cacheWrite{name, byTTL[name]})
		}
	}
	// The walk counts as inputTokens does; should a dialect count more than the walk sees, the rest is input.
	if u.Read+u.Write > input {
		u.Read = min(u.Read, input)
		u.Write = input - u.Read
	}
	return u
}

// --- the answer's pieces ---

func (u *cacheUsage) read() int {
	if u == nil {
		return 0
	}
	return u.Read
}

func (u *cacheUsage) write() int {
	if u == nil {
		return 0
	}
	return u.Write
}

// counts are the two counts where an answer has them only for a request that marked cache points.
func (u *cacheUsage) counts() (read, write *int) {
	if u == nil {
		return nil, nil
	}
	r, w := u.Read, u.Write
	return &r, &w
}

// converse adds the cache members to Converse's TokenUsage; totalTokens counts them (Bedrock: total input =
// inputTokens + cacheReadInputTokens + cacheWriteInputTokens).
func (u *cacheUsage) converse(cu converseUsage) converseUsage {
	if u == nil {
		return cu
	}
	cu.CacheReadInputTokens, cu.CacheWriteInputTokens = u.counts()
	cu.CacheDetails = u.Writes
	cu.TotalTokens += u.Read + u.Write
	return cu
}

// anthropic adds the cache counts to the Messages API's usage.
func (u *cacheUsage) anthropic(au anthropicUsage) anthropicUsage {
	au.CacheReadInputTokens, au.CacheCreationInputTokens = u.read(), u.write()
	return au
}

// setHeaders adds InvokeModel's cache token-count headers.
func (u *cacheUsage) setHeaders(h http.Header) {
	if u == nil {
		return
	}
	h.Set("X-Amzn-Bedrock-Cache-Read-Input-Token-Count", strconv.Itoa(u.Read))
	h.Set("X-Amzn-Bedrock-Cache-Write-Input-Token-Count", strconv.Itoa(u.Write))
}

// --- wiring ---

// prepareRequest reads what a Bedrock Runtime request asks beyond its conversation (the tier; the cache points,
// checked against m) into c.
func prepareRequest(c *conversation, m catalog.Model, op string, body []byte, h http.Header) *awsError {
	if op == "InvokeModel" || op == "InvokeModelWithResponseStream" {
		t, err := invokeTier(h)
		if err != nil {
			return err
		}
		c.Tier = t
	}
	if err := c.Tier.check(); err != nil {
		return err
	}
	l, err := promptCacheLayout(m, op, body)
	if err != nil {
		return err
	}
	c.Cache = l
	return nil
}

// finishReply adds to r what c asked beyond the conversation: its stop directive, the cache's accounting for
// acct and m, and the tier to echo.
func (s *Sandbox) finishReply(c conversation, r reply, acct string, m catalog.Model) reply {
	r = withStopDirective(c, r)
	r.Tier = c.Tier
	if c.Cache != nil {
		r.Cache = s.prompts.account(s.clock(), acct, m, c.Cache, r.InputTokens)
		r.InputTokens -= r.Cache.Read + r.Cache.Write
	}
	return r
}

// outputHeaders are the headers InvokeModel answers with beyond the token counts: the cache counts (not on a
// stream, whose last chunk carries them) and the tier.
func outputHeaders(h http.Header, op string, r reply) {
	switch op {
	case "InvokeModel":
		r.Cache.setHeaders(h)
		r.Tier.setHeaders(h)
	case "InvokeModelWithResponseStream":
		r.Tier.setHeaders(h)
	}
}

// novaStreamUsage is the usage of the metadata event of Nova's InvokeModelWithResponseStream.
func novaStreamUsage(r reply) map[string]any {
	u := map[string]any{"inputTokens": r.InputTokens, "outputTokens": r.OutputTokens}
	if r.Cache != nil {
		u["cacheReadInputTokenCount"], u["cacheWriteInputTokenCount"] = r.Cache.Read, r.Cache.Write
	}
	return u
}

// converseMetadata is ConverseStream's metadata event: usage, metrics and the tier the request asked for.
func converseMetadata(r reply, latencyMs int64) map[string]any {
	md := map[string]any{"usage": usageOf(r), "metrics": map[string]any{"latencyMs": latencyMs}}
	if pc := r.Tier.performanceConfig(); pc != nil {
		md["performanceConfig"] = pc
	}
	if st := r.Tier.serviceTier(); st != nil {
		md["serviceTier"] = st
	}
	return md
}
