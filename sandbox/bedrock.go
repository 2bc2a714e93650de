package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// Bedrock Runtime operations by the last path segment of /model/{modelId}/{op}.
var bedrockOps = map[string]struct {
	name, action string
	stream       bool
}{
	"invoke":                      {"InvokeModel", "bedrock:InvokeModel", false},
	"invoke-with-response-stream": {"InvokeModelWithResponseStream", "bedrock:InvokeModelWithResponseStream", true},
	"converse":                    {"Converse", "bedrock:InvokeModel", false},
	"converse-stream":             {"ConverseStream", "bedrock:InvokeModelWithResponseStream", true},
	"count-tokens":                {"CountTokens", "bedrock:CountTokens", false},
}

const msgInvalidModel = "The provided model identifier is invalid."

// splitModelPath splits /model/{modelId}/{op} on the escaped path, so that an ARN's encoded slash stays
// inside the model id.
func splitModelPath(r *http.Request) (modelID, op string, ok bool) {
	p := r.URL.EscapedPath()
	rest, found := strings.CutPrefix(p, "/model/")
	if !found {
		return "", "", false
	}
	i := strings.LastIndex(rest, "/")
	if i <= 0 {
		return "", "", false
	}
	id, err := url.PathUnescape(rest[:i])
	if err != nil {
		return "", "", false
	}
	o, known := bedrockOps[rest[i+1:]]
	if !known {
		return id, rest[i+1:], false
	}
	return id, o.name, true
}

// resolved is what a modelId turned out to name, where the request is served and what IAM must allow.
type resolved struct {
	Model      catalog.Model
	ProfileARN string // system or application profile ARN, if any
	Served     string // region that serves the request
	// Resources to authorize, each with its condition context.
	Resources []resourceCheck
	QuotaKey  string // "cross-region/<fm id>", "global/<fm id>", "on-demand/<fm id>"
}

type resourceCheck struct {
	ARN string
	Ctx map[string][]string
}

func (s *Sandbox) resolve(ref catalog.Ref, p *principal, region string, strict bool) (*resolved, *awsError) {
	partition := catalog.PartitionOf(region)
	if ref.IsARN && ref.Region != "" && ref.Region != region {
		return nil, validationException(msgInvalidModel)
	}
	switch ref.Kind {
	case catalog.KindSystemProfile:
		prof, err := s.catalog.Profile(ref.ID)
		if err != nil {
			return nil, validationException(msgInvalidModel)
		}
		if !slices.Contains(prof.Geography.SourceRegions, region) {
			return nil, validationException(msgInvalidModel)
		}
		arn := catalog.InferenceProfileARN(partition, region, p.Account, ref.ID)
		if ref.IsARN && ref.Account != p.Account {
			arn = catalog.InferenceProfileARN(partition, region, ref.Account, ref.ID)
			return nil, accessDeniedException("User: %s is not authorized to perform: bedrock:InvokeModel on resource: %s because no resource-based policy allows the bedrock:InvokeModel action", p.ARN, arn)
		}
		res := &resolved{Model: prof.Model, ProfileARN: arn, QuotaKey: "cross-region/" + prof.Model.ID}
		s.mu.Lock()
		seq := s.routeSeq[arn]
		s.routeSeq[arn]++
		s.mu.Unlock()
		res.Served = prof.DestinationRegions[seq%uint64(len(prof.DestinationRegions))]
		res.Resources = []resourceCheck{{ARN: arn}}
		ctx := map[string][]string{"bedrock:InferenceProfileArn": {arn}}
		if prof.Geography.Global {
			res.QuotaKey = "global/" + prof.Model.ID
			res.Resources = append(res.Resources, resourceCheck{ARN: catalog.FoundationModelARN(partition, "", prof.Model.ID), Ctx: ctx})
			return res, nil
		}
		dests := []string{res.Served}
		if strict {
			dests = prof.DestinationRegions
		}
		for _, d := range dests {
			res.Resources = append(res.Resources, resourceCheck{ARN: catalog.FoundationModelARN(partition, d, prof.Model.ID), Ctx: ctx})
		}
		return res, nil
	case catalog.KindFoundationModel:
		m, ok := s.catalog.Model(ref.ID)
		if !ok {
			return nil, validationException(msgInvalidModel)
		}
		if !slices.Contains(m.OnDemandRegions, region) {
			if m.ProfileOnly() || s.hasProfileIn(m, region) {
				// AWS writes this message with a typographic apostrophe (U+2019); clients match on it.
				return nil, validationException("Invocation of model ID %s with on-demand throughput isn’t supported. Retry your request with the ID or ARN of an inference profile that contains this model.", m.ID)
			}
			return nil, validationException(msgInvalidModel)
		}
		return &resolved{Model: m, Served: region, QuotaKey: "on-demand/" + m.ID,
			Resources: []resourceCheck{{ARN: catalog.FoundationModelARN(partition, region, m.ID)}}}, nil
	case catalog.KindApplicationProfile:
		full := catalog.ApplicationProfileARN(partition, region, ref.Account, ref.ID)
		s.mu.Lock()
		ap, ok := s.appProfiles[full]
		s.mu.Unlock()
		if !ok {
			return nil, newError(404, "ResourceNotFoundException", "The application inference profile %s was not found.", full)
		}
		if ref.Account != p.Account {
			return nil, accessDeniedException("User: %s is not authorized to perform: bedrock:InvokeModel on resource: %s because no resource-based policy allows the bedrock:InvokeModel action", p.ARN, full)
		}
		inner, err := catalog.ParseRef(ap.CopyFrom)
		if err != nil {
			return nil, validationException(msgInvalidModel)
		}
		res, aerr := s.resolve(inner, p, region, strict)
		if aerr != nil {
			return nil, aerr
		}
		// The application profile replaces a system profile in what IAM sees; the foundation models it
		// routes to are checked with it as the profile.
		ctx := map[string][]string{"bedrock:InferenceProfileArn": {full}}
		checks := []resourceCheck{{ARN: full}}
		for _, rc := range res.Resources {
			if strings.Contains(rc.ARN, ":foundation-model/") {
				checks = append(checks, resourceCheck{ARN: rc.ARN, Ctx: ctx})
			}
		}
		res.Resources, res.ProfileARN = checks, full
		return res, nil
	}
	return nil, validationException("The sandbox does not emulate provisioned throughput (%s).", ref.ID)
}

// resolveCountTokens resolves a foundation-model id or ARN for CountTokens: the model must be offered in the
// region, on demand or through a profile.
func (s *Sandbox) resolveCountTokens(ref catalog.Ref, region string) (*resolved, *awsError) {
	m, ok := s.catalog.Model(ref.ID)
	if !ok || (ref.IsARN && ref.Region != "" && ref.Region != region) ||
		(!slices.Contains(m.OnDemandRegions, region) && !s.hasProfileIn(m, region)) {
		return nil, validationException(msgInvalidModel)
	}
	return &resolved{Model: m, Served: region, QuotaKey: "on-demand/" + m.ID,
		Resources: []resourceCheck{{ARN: catalog.FoundationModelARN(catalog.PartitionOf(region), region, m.ID)}}}, nil
}

func (s *Sandbox) hasProfileIn(m catalog.Model, region string) bool {
	for prefix := range m.Profiles {
		if g, ok := s.catalog.Geography(prefix); ok && slices.Contains(g.SourceRegions, region) {
			return true
		}
	}
	return false
}

// quotaModelKey maps what a quota is set for (a profile id, "global." id or foundation-model id) to the key
// quotas are kept under.
func (s *Sandbox) quotaModelKey(model string) string {
	ref, err := catalog.ParseRef(model)
	if err != nil {
		return "on-demand/" + model
	}
	if ref.Kind == catalog.KindSystemProfile {
		prefix, id, _ := catalog.SplitProfileID(ref.ID)
		if g, ok := s.catalog.Geography(prefix); ok && g.Global {
			return "global/" + id
		}
		return "cross-region/" + id
	}
	return "on-demand/" + ref.ID
}

func (s *Sandbox) serveBedrock(w http.ResponseWriter, c *call) {
	r := c.r
	rawID, opName, ok := splitModelPath(r)
	p := c.Principal
	rec := Call{Service: "bedrock", Operation: opName, Principal: p.ARN, Account: p.Account, Region: c.Region, Model: rawID, RequestID: c.ID}
	fail := func(e *awsError) {
		rec.Outcome = e.Code
		s.record(rec)
		writeBedrockError(w, c.ID, e)
	}
	if !ok {
		fail(newError(404, "UnknownOperationException", "The sandbox serves POST /model/{modelId}/invoke, invoke-with-response-stream, converse, converse-stream and count-tokens, POST /guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply, POST and GET /async-invoke and GET /async-invoke/{invocationArn}; not %s %s.", r.Method, r.URL.Path))
		return
	}
	if r.Method != http.MethodPost {
		fail(newError(405, "UnknownOperationException", "%s is not supported for %s; use POST.", r.Method, opName))
		return
	}
	var op = bedrockOps[r.URL.EscapedPath()[strings.LastIndex(r.URL.EscapedPath(), "/")+1:]]
	ref, err := catalog.ParseRef(rawID)
	if err != nil {
		fail(validationException("%s", err.Error()))
		return
	}
	s.mu.Lock()
	strict := s.strict
	s.mu.Unlock()
	var (
		res  *resolved
		aerr *awsError
	)
	if op.name == "CountTokens" && ref.Kind == catalog.KindFoundationModel {
		// CountTokens names a foundation model (FoundationModelVersionIdentifier) and invokes nothing, so a
		// profile-only model is counted by its own id.
		res, aerr = s.resolveCountTokens(ref, c.Region)
	} else {
		res, aerr = s.resolve(ref, p, c.Region, strict)
	}
	if aerr != nil {
		fail(aerr)
		return
	}
	rec.Model = res.Model.ID
	rec.ServedRegion = res.Served
	for _, rc := range res.Resources {
		ctx := map[string][]string{"aws:RequestedRegion": {c.Region}}
		for k, v := range rc.Ctx {
			ctx[k] = v
		}
		if e := s.authorizeBedrock(p, op.action, rc.ARN, ctx); e != nil {
			fail(e)
			return
		}
	}
	s.mu.Lock()
	acct := s.accounts[p.Account]
	enabled := acct == nil || acct.ModelAccess == nil || acct.ModelAccess[res.Model.ID]
	s.mu.Unlock()
	if !enabled {
		fail(accessDeniedException("You don't have access to the model with the specified model ID."))
		return
	}

	var (
		conv conversation
		perr *awsError
	)
	switch op.name {
	case "InvokeModel", "InvokeModelWithResponseStream":
		conv, perr = parseInvokeBody(res.Model, c.Body)
	case "Converse", "ConverseStream":
		conv, perr = parseConverseBody(c.Body)
		if perr == nil {
			perr = conv.checkMaxTokens(res.Model)
		}
		if perr == nil {
			perr = conv.checkConverseModel(res.Model, c.Body) // model_validation.go
		}
	case "CountTokens":
		conv, perr = parseCountTokensBody(res.Model, c.Body)
	}
	if perr == nil && op.name != "CountTokens" {
		perr = prepareRequest(&conv, res.Model, op.name, c.Body, r.Header) // cache points, tier (promptcache.go)
	}
	var guard *guardrailRun
	if perr == nil && op.name != "CountTokens" {
		guard, perr = s.prepareGuardrail(p, c.Region, op.name, c.Body, r.Header, conv) // guardrail_invoke.go
	}
	if perr != nil {
		fail(perr)
		return
	}
	fault := s.takeFault(faultBedrock, op.name, p.Account, c.Region, ref.ID, res.Model.ID, op.stream)
	if fault != nil && fault.delay() > 0 {
		if !sleepCtx(r.Context(), fault.delay()) {
			return
		}
	}
	if fault != nil && fault.Drop && fault.AfterEvents == 0 {
		rec.Outcome = "dropped"
		s.record(rec)
		dropConnection(w)
		return
	}
	if fault != nil && fault.Code != "" && fault.AfterEvents == 0 {
		fail(fault.answer())
		return
	}

	if op.name == "CountTokens" {
		rec.Outcome = "ok"
		rec.InputTokens = conv.inputTokens()
		s.record(rec)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("x-amzn-RequestId", c.ID)
		w.Write(countTokensResponseBody(conv.inputTokens()))
		return
	}

	input := conv.inputTokens()
	res2, qerr := s.quotas.reserve(s.clock(), p.Account, c.Region, res.QuotaKey, input, conv.MaxTokens)
	if qerr != nil {
		s.mu.Lock()
		s.stats.Throttles++
		s.mu.Unlock()
		fail(qerr)
		return
	}
	by := servedBy{Account: p.Account, Region: res.Served, ModelID: res.Model.ID, ModelName: res.Model.Name}
	rep := replyWithThinking(conv, by) // generateReply, after the thinking blocks if any (thinking.go)
	// The stop directive, the prompt cache's accounting and the tier to echo (promptcache.go).
	rep = s.finishReply(conv, rep, p.Account, res.Model)
	rep = guard.apply(rep) // a guardrail's intervention (guardrail_invoke.go)
	// Cache reads do not count against the quota (AWS's prompt-caching page); writes do.
	s.quotas.commit(res2, rep.InputTokens+rep.Cache.write()+rep.OutputTokens*res.Model.OutputBurndown)
	rec.InputTokens, rec.OutputTokens = rep.InputTokens, rep.OutputTokens
	rec.CacheReadInputTokens, rec.CacheWriteInputTokens = rep.Cache.read(), rep.Cache.write()

	lat := s.latencyFor(res.Model.ID)
	firstByte := time.Duration(lat.FirstTokenMillis) * time.Millisecond
	total := firstByte
	if lat.TokensPerSecond > 0 {
		total += time.Duration(float64(rep.OutputTokens) / lat.TokensPerSecond * float64(time.Second))
	}

	h := w.Header()
	h.Set("x-amzn-RequestId", c.ID)
	h.Set("X-Sandbox-Served-By", p.Account+"/"+res.Served)
	outputHeaders(h, op.name, rep) // cache counts, tier (promptcache.go)
	if !op.stream {
		if !sleepCtx(r.Context(), total) {
			return
		}
		var body []byte
		if op.name == "InvokeModel" {
			body = invokeResponseBody(res.Model, rep, by)
			h.Set("X-Amzn-Bedrock-Input-Token-Count", strconv.Itoa(rep.InputTokens))
			h.Set("X-Amzn-Bedrock-Output-Token-Count", strconv.Itoa(rep.OutputTokens))
			h.Set("X-Amzn-Bedrock-Invocation-Latency", strconv.FormatInt(total.Milliseconds(), 10))
		} else {
			body = converseResponseBody(rep, total.Milliseconds())
		}
		body = guard.addTo(op.name, body)
		h.Set("Content-Type", "application/json")
		rec.Outcome = "ok"
		s.record(rec)
		w.Write(body)
		return
	}

	var events []streamEvent
	var terminal int // how many events at the end make the stream complete
	if op.name == "InvokeModelWithResponseStream" {
		events = invokeStreamEvents(res.Model, rep, by, firstByte.Milliseconds(), total.Milliseconds())
		terminal = 1 // the chunk with amazon-bedrock-invocationMetrics
		h.Set("X-Amzn-Bedrock-Content-Type", "application/json")
	} else {
		events = converseStreamEvents(rep, total.Milliseconds())
		guard.addToStream(events)
		terminal = 2 // messageStop, metadata
	}
	h.Set("Content-Type", "application/vnd.amazon.eventstream")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := eventstream.NewEncoder()
	gap := time.Duration(0)
	if len(events) > 1 && total > firstByte {
		gap = (total - firstByte) / time.Duration(len(events)-1)
	}
	for i, ev := range events {
		wait := gap
		if i == 0 {
			wait = firstByte
		}
		if !sleepCtx(r.Context(), wait) {
			rec.Outcome = "client-gone"
			s.record(rec)
			return
		}
		// A stream shorter than AfterEvents is still cut, before its last event (its terminal events when it
		// ends early), so that a cut stream never looks complete.
		if fault != nil && fault.EndEarly && i == min(fault.AfterEvents, len(events)-terminal) {
			rec.Outcome = "ended-early"
			s.record(rec)
			return // a clean end of the HTTP response, at a frame boundary
		}
		if fault != nil && fault.Corrupt && i == min(fault.AfterEvents, len(events)-1) {
			var m eventstream.Message
			m.Headers.Set(":message-type", eventstream.StringValue("event"))
			m.Headers.Set(":event-type", eventstream.StringValue(ev.EventType))
			m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
			m.Payload = ev.Payload
			var buf bytes.Buffer
			if err := enc.Encode(&buf, m); err == nil {
				b := buf.Bytes()
				b[len(b)-5] ^= 0x20 // the payload's last byte: the message CRC no longer matches
				w.Write(b)
				if flusher != nil {
					flusher.Flush()
				}
			}
			rec.Outcome = "corrupted"
			continue
		}
		if fault != nil && fault.AfterEvents > 0 && !fault.EndEarly && !fault.Corrupt && i == min(fault.AfterEvents, len(events)-1) {
			rec.Outcome = fault.Code
			if fault.Drop {
				rec.Outcome = "dropped"
			}
			s.record(rec)
			if fault.Drop {
				panic(http.ErrAbortHandler) // the server closes the connection mid-stream
			}
			writeException(w, enc, fault.Code, fault.message())
			if flusher != nil {
				flusher.Flush()
			}
			return
		}
		var m eventstream.Message
		m.Headers.Set(":message-type", eventstream.StringValue("event"))
		m.Headers.Set(":event-type", eventstream.StringValue(ev.EventType))
		m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
		m.Payload = ev.Payload
		if err := enc.Encode(w, m); err != nil {
			rec.Outcome = "client-gone"
			s.record(rec)
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
	if rec.Outcome != "corrupted" {
		rec.Outcome = "ok"
	}
	s.record(rec)
}

// writeException writes a mid-stream exception frame, as Bedrock does inside an HTTP 200 stream.
func writeException(w http.ResponseWriter, enc *eventstream.Encoder, code, msg string) {
	var m eventstream.Message
	m.Headers.Set(":message-type", eventstream.StringValue("exception"))
	m.Headers.Set(":exception-type", eventstream.StringValue(lowerFirst(code)))
	m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	m.Payload, _ = json.Marshal(map[string]string{"message": msg})
	enc.Encode(w, m)
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func (s *Sandbox) latencyFor(model string) Latency {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.latency[model]; ok {
		return l
	}
	return s.latency["*"]
}

// sleepCtx waits d, or less if ctx ends; it reports whether the full wait happened.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
