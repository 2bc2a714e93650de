package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// The asynchronous invocations of Bedrock Runtime:
//
//	POST /async-invoke {clientRequestToken, modelId, modelInput, outputDataConfig, tags}   StartAsyncInvoke
//	GET  /async-invoke/{invocationArn}                                                     GetAsyncInvoke
//	GET  /async-invoke?statusEquals&submitTimeAfter&submitTimeBefore&sortBy&sortOrder&maxResults&nextToken
//	                                                                                       ListAsyncInvokes
//
// AWS serves StartAsyncInvoke for a few media models (Amazon Nova Reel, TwelveLabs Marengo), none of which
// the catalogue lists. The sandbox stands in with the models it can invoke: modelId is resolved, authorized
// (bedrock:InvokeModel on the same resources, as AWS documents for StartAsyncInvoke) and counted against the
// quotas exactly as InvokeModel's is, modelInput is that model's InvokeModel body, and the InvokeModel answer
// is written, when the invocation completes, to the scenario's in-memory bucket at
// {s3Uri}/{invocation id}/output.json (AWS writes a folder per invocation id; Nova Reel puts output.mp4 in
// it). An invocation completes at once, or after SetAsyncInvokeDuration by the sandbox's clock; a modelInput
// the model refuses ends it Failed, with the refusal as its failureMessage. A clientRequestToken seen before
// in the account and region returns the first invocation's ARN, or ConflictException when the request
// differs. GetAsyncInvoke is authorized as bedrock:GetAsyncInvoke on the invocation's ARN
// (arn:aws:bedrock:REGION:ACCOUNT:async-invoke/ID) and ListAsyncInvokes as bedrock:ListAsyncInvokes on "*";
// both see the caller's account in the request's region. Faults apply to all three, after IAM.

// asyncState is the invocations and the bucket of one sandbox. It is kept beside the Sandbox (asyncStates)
// rather than in it, and dropped when Reset rebuilds the sandbox's state, which it tells by the quota book
// that every load makes anew.
type asyncState struct {
	mu          sync.Mutex
	epoch       *quotaBook
	duration    time.Duration
	seq         int
	invocations []*asyncInvocation
	bucket      map[string]*BucketObject // by account + " " + URI
}

var asyncStates = struct {
	sync.Mutex
	m map[weak.Pointer[Sandbox]]*asyncState
}{m: map[weak.Pointer[Sandbox]]*asyncState{}}

// async is s's asyncState, new after a Reset.
func (s *Sandbox) async() *asyncState {
	s.mu.Lock()
	epoch := s.quotas
	s.mu.Unlock()
	key := weak.Make(s)
	asyncStates.Lock()
	st := asyncStates.m[key]
	if st == nil {
		st = &asyncState{}
		asyncStates.m[key] = st
		runtime.AddCleanup(s, func(k weak.Pointer[Sandbox]) {
			asyncStates.Lock()
			delete(asyncStates.m, k)
			asyncStates.Unlock()
		}, key)
	}
	asyncStates.Unlock()
	st.mu.Lock()
	if st.epoch != epoch {
		st.epoch, st.duration, st.seq, st.invocations, st.bucket = epoch, 0, 0, nil, map[string]*BucketObject{}
	}
	st.mu.Unlock()
	return st
}

// SetAsyncInvokeDuration makes invocations started from now on complete d after they start, by the sandbox's
// clock (WithClock); zero, the default, completes them at once. Reset restores zero.
func (s *Sandbox) SetAsyncInvokeDuration(d time.Duration) {
	st := s.async()
	st.mu.Lock()
	st.duration = d
	st.mu.Unlock()
}

// BucketObject is an object an asynchronous invocation wrote to the scenario's bucket.
type BucketObject struct {
	Account      string    `json:"account"` // the bucket owner's (outputDataConfig's bucketOwner, else the caller's)
	URI          string    `json:"uri"`     // s3://bucket/prefix/{invocation id}/output.json
	ContentType  string    `json:"content_type"`
	LastModified time.Time `json:"last_modified"`
	Body         []byte    `json:"-"`
}

// Bucket lists the objects whose URI starts with prefix (s3://bucket/...; "" for all) in account's buckets
// ("" for every account's), sorted by URI. Invocations that have completed by now have written theirs.
func (s *Sandbox) Bucket(account, prefix string) []BucketObject {
	st := s.async()
	now := s.clock()
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, inv := range st.invocations {
		st.settle(inv, now)
	}
	var out []BucketObject
	for _, o := range st.bucket {
		if (account == "" || o.Account == account) && strings.HasPrefix(o.URI, prefix) {
			out = append(out, *o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Account+out[i].URI < out[j].Account+out[j].URI })
	return out
}

// asyncInvocation is one StartAsyncInvoke.
type asyncInvocation struct {
	seq             int
	ID, ARN         string
	Account, Region string
	ModelARN        string
	Token           string
	fingerprint     string
	Submit, End     time.Time
	Failure         string // set: the invocation ends Failed with this message
	Output          s3OutputConfig
	Owner           string // the bucket's account
	Body            []byte // output.json
	written         bool
}

type s3OutputConfig struct {
	S3URI       string `json:"s3Uri"`
	KMSKeyID    string `json:"kmsKeyId,omitempty"`
	BucketOwner string `json:"bucketOwner,omitempty"`
}

func (a *asyncInvocation) status(now time.Time) string {
	switch {
	case now.Before(a.End):
		return "InProgress"
	case a.Failure != "":
		return "Failed"
	}
	return "Completed"
}

// objectURI is where the invocation's output goes.
func (a *asyncInvocation) objectURI() string {
	return strings.TrimSuffix(a.Output.S3URI, "/") + "/" + a.ID + "/output.json"
}

// settle writes a completed invocation's output to the bucket, once. Callers hold st.mu.
func (st *asyncState) settle(a *asyncInvocation, now time.Time) {
	if a.written || a.status(now) != "Completed" {
		return
	}
	a.written = true
	uri := a.objectURI()
	st.bucket[a.Owner+" "+uri] = &BucketObject{Account: a.Owner, URI: uri, ContentType: "application/json", LastModified: a.End, Body: a.Body}
}

// asyncInvokeSummary is AsyncInvokeSummary and GetAsyncInvokeResponse of the service model.
type asyncInvokeSummary struct {
	InvocationArn      string `json:"invocationArn"`
	ModelArn           string `json:"modelArn"`
	ClientRequestToken string `json:"clientRequestToken,omitempty"`
	Status             string `json:"status"`
	FailureMessage     string `json:"failureMessage,omitempty"`
	SubmitTime         string `json:"submitTime"`
	LastModifiedTime   string `json:"lastModifiedTime"`
	EndTime            string `json:"endTime,omitempty"`
	OutputDataConfig   struct {
		S3OutputDataConfig s3OutputConfig `json:"s3OutputDataConfig"`
	} `json:"outputDataConfig"`
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (a *asyncInvocation) summary(now time.Time) asyncInvokeSummary {
	out := asyncInvokeSummary{InvocationArn: a.ARN, ModelArn: a.ModelARN, ClientRequestToken: a.Token, Status: a.status(now),
		SubmitTime: isoTime(a.Submit), LastModifiedTime: isoTime(a.Submit)}
	out.OutputDataConfig.S3OutputDataConfig = a.Output
	if out.Status != "InProgress" {
		out.LastModifiedTime, out.EndTime = isoTime(a.End), isoTime(a.End)
		out.FailureMessage = a.Failure
	}
	return out
}

var (
	// The service model's patterns of StartAsyncInvoke's and GetAsyncInvoke's members.
	asyncModelIDPattern  = `[a-zA-Z_\.\-/0-9:]+`
	asyncTokenPattern    = `[!-~]*`
	s3URIPattern         = `s3://[a-z0-9][\.\-a-z0-9]{1,61}[a-z0-9](/.*)?`
	kmsKeyIDPattern      = `arn:aws(-[^:]+)?:kms:[a-zA-Z0-9-]*:[0-9]{12}:((key/[a-zA-Z0-9-]{36})|(alias/[a-zA-Z0-9-_/]+))`
	invocationARNPattern = `arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:async-invoke/[a-z0-9]{12}`
	tagPattern           = `[a-zA-Z0-9\s._:/=+@-]*`
	asyncModelIDRe       = regexp.MustCompile(`^` + asyncModelIDPattern + `$`)
	asyncTokenRe         = regexp.MustCompile(`^` + asyncTokenPattern + `$`)
	s3URIRe              = regexp.MustCompile(`^` + s3URIPattern + `$`)
	kmsKeyIDRe           = regexp.MustCompile(`^` + kmsKeyIDPattern + `$`)
	invocationARNRe      = regexp.MustCompile(`^` + invocationARNPattern + `$`)
	tagRe                = regexp.MustCompile(`^` + tagPattern + `$`)
)

// startAsyncRequest is a StartAsyncInvoke body, checked.
type startAsyncRequest struct {
	Token, ModelID string
	ModelInput     json.RawMessage
	Output         s3OutputConfig
	fingerprint    string
}

// parseStartAsyncBody checks a StartAsyncInvoke body against the service model, reporting every constraint
// failure at once in Bedrock's wording.
func parseStartAsyncBody(body []byte) (startAsyncRequest, *awsError) {
	var out startAsyncRequest
	obj, e := decodeRequestBody(body, coralWording)
	if e != nil {
		return out, e
	}
	var v coralViolations
	str := func(key, path string) (string, bool, *awsError) {
		raw, ok := obj[key]
		if !ok || isNull(raw) {
			return "", false, nil
		}
		s, isString := decodeString(raw)
		if !isString {
			return "", false, typeMismatch(path, "a string", raw)
		}
		return s, true, nil
	}
	lengthPattern := func(value, path string, lo, hi int, re *regexp.Regexp, pattern string) {
		switch n := len(value); {
		case n < lo:
			v.add("'"+value+"'", path, "must have length greater than or equal to "+strconv.Itoa(lo))
		case n > hi:
			v.add("'"+value+"'", path, "must have length less than or equal to "+strconv.Itoa(hi))
		case !re.MatchString(value):
			v.add("'"+value+"'", path, "must satisfy regular expression pattern: "+pattern)
		}
	}
	token, hasToken, e := str("clientRequestToken", "clientRequestToken")
	if e != nil {
		return out, e
	}
	if hasToken {
		lengthPattern(token, "clientRequestToken", 1, 256, asyncTokenRe, asyncTokenPattern)
	}
	model, hasModel, e := str("modelId", "modelId")
	if e != nil {
		return out, e
	}
	if hasModel {
		lengthPattern(model, "modelId", 1, 256, asyncModelIDRe, asyncModelIDPattern)
	} else {
		v.add("null", "modelId", "must not be null")
	}
	input, hasInput := obj["modelInput"]
	if !hasInput || isNull(input) {
		v.add("null", "modelInput", "must not be null")
	} else if jsonKind(input) != "JSONObject" {
		return out, typeMismatch("modelInput", "a JSON object", input) // wording: not observed
	}
	odc, hasODC := obj["outputDataConfig"]
	var s3 map[string]json.RawMessage
	switch {
	case !hasODC || isNull(odc):
		v.add("null", "outputDataConfig", "must not be null")
	default:
		u, isObj := decodeObject(odc)
		if !isObj {
			return out, typeMismatch("outputDataConfig", "a JSON object", odc)
		}
		raw, ok := u["s3OutputDataConfig"]
		if !ok || isNull(raw) || len(u) != 1 {
			// wording: not observed; the SDKs send the union's one member.
			return out, validationException("Malformed request body: outputDataConfig must set exactly one member, s3OutputDataConfig.")
		}
		if s3, isObj = decodeObject(raw); !isObj {
			return out, typeMismatch("outputDataConfig.s3OutputDataConfig", "a JSON object", raw)
		}
	}
	if s3 != nil {
		for _, m := range []struct {
			key, path string
			dst       *string
			required  bool
			lo, hi    int
			re        *regexp.Regexp
			pattern   string
		}{
			{"s3Uri", "outputDataConfig.s3OutputDataConfig.s3Uri", &out.Output.S3URI, true, 1, 1024, s3URIRe, s3URIPattern},
			{"kmsKeyId", "outputDataConfig.s3OutputDataConfig.kmsKeyId", &out.Output.KMSKeyID, false, 1, 2048, kmsKeyIDRe, kmsKeyIDPattern},
			{"bucketOwner", "outputDataConfig.s3OutputDataConfig.bucketOwner", &out.Output.BucketOwner, false, 0, 1 << 20, accountIDRe, "[0-9]{12}"},
		} {
			raw, ok := s3[m.key]
			if !ok || isNull(raw) {
				if m.required {
					v.add("null", m.path, "must not be null")
				}
				continue
			}
			val, isString := decodeString(raw)
			if !isString {
				return out, typeMismatch(m.path, "a string", raw)
			}
			lengthPattern(val, m.path, m.lo, m.hi, m.re, m.pattern)
			*m.dst = val
		}
	}
	if raw, ok := obj["tags"]; ok && !isNull(raw) {
		tags, isList := decodeArray(raw)
		if !isList {
			return out, typeMismatch("tags", "a list", raw)
		}
		if len(tags) > 200 {
			v.add("'["+strconv.Itoa(len(tags))+" items]'", "tags", "must have length less than or equal to 200")
		}
		for i, traw := range tags {
			tag, isObj := decodeObject(traw)
			if !isObj {
				return out, typeMismatch("tags["+strconv.Itoa(i)+"]", "a JSON object", traw)
			}
			at := "tags." + strconv.Itoa(i+1) + ".member."
			key, kok := decodeString(tag["key"])
			value, vok := decodeString(tag["value"])
			if !kok {
				v.add("null", at+"key", "must not be null")
			} else {
				lengthPattern(key, at+"key", 1, 128, tagRe, tagPattern)
			}
			if !vok {
				v.add("null", at+"value", "must not be null")
			} else {
				lengthPattern(value, at+"value", 0, 256, tagRe, tagPattern)
			}
		}
	}
	if e := v.err(); e != nil {
		return out, e
	}
	out.Token, out.ModelID, out.ModelInput = token, model, input
	h := sha256.New()
	for _, k := range []string{"modelId", "modelInput", "outputDataConfig", "tags"} {
		h.Write([]byte(k + "=" + compactJSON(obj[k]) + "\n"))
	}
	out.fingerprint = hex.EncodeToString(h.Sum(nil))
	return out, nil
}

func (s *Sandbox) serveStartAsyncInvoke(w http.ResponseWriter, c *call) {
	p := c.Principal
	rec := Call{Service: "bedrock", Operation: "StartAsyncInvoke", Principal: p.ARN, Account: p.Account, Region: c.Region, RequestID: c.ID}
	fail := func(e *awsError) {
		rec.Outcome = e.Code
		s.record(rec)
		writeBedrockError(w, c.ID, e)
	}
	req, e := parseStartAsyncBody(c.Body)
	if e != nil {
		fail(e)
		return
	}
	rec.Model = req.ModelID
	ref, err := catalog.ParseRef(req.ModelID)
	if err != nil {
		fail(validationException("%s", err.Error()))
		return
	}
	s.mu.Lock()
	strict := s.strict
	s.mu.Unlock()
	res, e := s.resolve(ref, p, c.Region, strict)
	if e != nil {
		fail(e)
		return
	}
	rec.Model, rec.ServedRegion = res.Model.ID, res.Served
	for _, rc := range res.Resources {
		ctx := map[string][]string{"aws:RequestedRegion": {c.Region}}
		for k, v := range rc.Ctx {
			ctx[k] = v
		}
		if e := s.authorizeBedrock(p, "bedrock:InvokeModel", rc.ARN, ctx); e != nil {
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

	st := s.async()
	if req.Token != "" {
		st.mu.Lock()
		var seen *asyncInvocation
		for _, inv := range st.invocations {
			if inv.Token == req.Token && inv.Account == p.Account && inv.Region == c.Region {
				seen = inv
			}
		}
		st.mu.Unlock()
		if seen != nil && seen.fingerprint != req.fingerprint {
			// wording: not observed; StartAsyncInvoke declares ConflictException (400) for this.
			fail(newError(http.StatusBadRequest, "ConflictException", "The clientRequestToken %s was used before by a different request.", req.Token))
			return
		}
		if seen != nil {
			rec.Outcome = "ok"
			s.record(rec)
			writeAsyncJSON(w, c.ID, map[string]string{"invocationArn": seen.ARN})
			return
		}
	}

	if s.asyncFault(w, c, "StartAsyncInvoke", ref.ID, res.Model.ID, &rec, fail) {
		return
	}

	now := s.clock()
	inv := &asyncInvocation{ID: randomString(12, "abcdefghijklmnopqrstuvwxyz0123456789"), Account: p.Account, Region: c.Region,
		ModelARN: catalog.FoundationModelARN(catalog.PartitionOf(c.Region), res.Served, res.Model.ID), Token: req.Token,
		fingerprint: req.fingerprint, Submit: now, Output: req.Output, Owner: p.Account}
	inv.ARN = "arn:" + catalog.PartitionOf(c.Region) + ":bedrock:" + c.Region + ":" + p.Account + ":async-invoke/" + inv.ID
	if req.Output.BucketOwner != "" {
		inv.Owner = req.Output.BucketOwner
	}
	conv, perr := parseInvokeBody(res.Model, req.ModelInput)
	if perr != nil {
		inv.Failure = perr.Message
	}
	if inv.Failure == "" {
		resv, qerr := s.quotas.reserve(now, p.Account, c.Region, res.QuotaKey, conv.inputTokens(), conv.MaxTokens)
		if qerr != nil {
			s.mu.Lock()
			s.stats.Throttles++
			s.mu.Unlock()
			fail(qerr)
			return
		}
		by := servedBy{Account: p.Account, Region: res.Served, ModelID: res.Model.ID, ModelName: res.Model.Name}
		rep := generateReply(conv, by)
		s.quotas.commit(resv, rep.InputTokens+rep.OutputTokens*res.Model.OutputBurndown)
		inv.Body = invokeResponseBody(res.Model, rep, by)
		rec.InputTokens, rec.OutputTokens = rep.InputTokens, rep.OutputTokens
	}
	st.mu.Lock()
	if req.Token != "" {
		// A concurrent start with the same token got here first: answer as the retry this is.
		for _, other := range st.invocations {
			if other.Token == req.Token && other.Account == p.Account && other.Region == c.Region {
				inv = other
			}
		}
	}
	if inv.seq == 0 {
		inv.End = now.Add(st.duration)
		st.seq++
		inv.seq = st.seq
		st.invocations = append(st.invocations, inv)
	}
	st.mu.Unlock()
	rec.Outcome = "ok"
	s.record(rec)
	writeAsyncJSON(w, c.ID, map[string]string{"invocationArn": inv.ARN})
}

// asyncFault applies a fault of op to the call, if one matches: it reports whether the call was answered
// (failed, dropped, or its caller gone during the fault's delay).
func (s *Sandbox) asyncFault(w http.ResponseWriter, c *call, op, calledID, modelID string, rec *Call, fail func(*awsError)) bool {
	fault := s.takeFault(faultBedrock, op, c.Principal.Account, c.Region, calledID, modelID, false)
	switch {
	case fault == nil:
		return false
	case fault.delay() > 0 && !sleepCtx(c.r.Context(), fault.delay()):
		return true
	case fault.Drop:
		rec.Outcome = "dropped"
		s.record(*rec)
		dropConnection(w)
		return true
	case fault.Code != "":
		fail(fault.answer())
		return true
	}
	return false
}

func writeAsyncJSON(w http.ResponseWriter, reqID string, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-RequestId", reqID)
	w.Write(b)
}

func (s *Sandbox) serveGetAsyncInvoke(w http.ResponseWriter, c *call) {
	p := c.Principal
	escaped := strings.TrimPrefix(c.r.URL.EscapedPath(), "/async-invoke/")
	ident, err := url.PathUnescape(escaped)
	rec := Call{Service: "bedrock", Operation: "GetAsyncInvoke", Principal: p.ARN, Account: p.Account, Region: c.Region, RequestID: c.ID}
	fail := func(e *awsError) {
		rec.Outcome = e.Code
		s.record(rec)
		writeBedrockError(w, c.ID, e)
	}
	switch {
	case err != nil:
		fail(validationException("1 validation error detected: the invocation ARN in the path %s is not valid percent-encoding.", c.r.URL.EscapedPath()))
		return
	case len(ident) > 2048:
		fail(validationException("1 validation error detected: Value '%s' at 'invocationArn' failed to satisfy constraint: Member must have length less than or equal to 2048", ident))
		return
	case !invocationARNRe.MatchString(ident):
		fail(validationException("1 validation error detected: Value '%s' at 'invocationArn' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", ident, invocationARNPattern))
		return
	}
	if e := s.authorizeBedrock(p, "bedrock:GetAsyncInvoke", ident, map[string][]string{"aws:RequestedRegion": {c.Region}}); e != nil {
		fail(e)
		return
	}
	if s.asyncFault(w, c, "GetAsyncInvoke", "", "", &rec, fail) {
		return
	}
	st := s.async()
	now := s.clock()
	st.mu.Lock()
	var found *asyncInvocation
	for _, inv := range st.invocations {
		if inv.ARN == ident && inv.Account == p.Account && inv.Region == c.Region {
			found = inv
			st.settle(inv, now)
		}
	}
	var out asyncInvokeSummary
	if found != nil {
		out = found.summary(now)
		rec.Model = found.ModelARN[strings.LastIndex(found.ModelARN, "/")+1:]
	}
	st.mu.Unlock()
	if found == nil {
		// GetAsyncInvoke declares no ResourceNotFoundException. wording: not observed.
		fail(validationException("Could not find an async invocation %s in this account and region.", ident))
		return
	}
	rec.Outcome = "ok"
	s.record(rec)
	writeAsyncJSON(w, c.ID, out)
}

func (s *Sandbox) serveListAsyncInvokes(w http.ResponseWriter, c *call) {
	p := c.Principal
	rec := Call{Service: "bedrock", Operation: "ListAsyncInvokes", Principal: p.ARN, Account: p.Account, Region: c.Region, RequestID: c.ID}
	fail := func(e *awsError) {
		rec.Outcome = e.Code
		s.record(rec)
		writeBedrockError(w, c.ID, e)
	}
	q := c.r.URL.Query()
	var after, before time.Time
	for _, e := range []*awsError{
		checkEnum(q, "statusEquals", "InProgress", "Completed", "Failed"),
		checkEnum(q, "sortBy", "SubmissionTime"),
		checkEnum(q, "sortOrder", "Ascending", "Descending"),
		parseQueryTime(q, "submitTimeAfter", &after),
		parseQueryTime(q, "submitTimeBefore", &before),
	} {
		if e != nil {
			fail(e)
			return
		}
	}
	if tok := q.Get("nextToken"); q.Has("nextToken") && (tok == "" || len(tok) > 2048 || strings.ContainsAny(tok, " \t\r\n")) {
		fail(validationException("1 validation error detected: Value '%s' at 'nextToken' failed to satisfy constraint: Member must satisfy regular expression pattern: \\S*", tok))
		return
	}
	if e := s.authorizeBedrock(p, "bedrock:ListAsyncInvokes", "*", map[string][]string{"aws:RequestedRegion": {c.Region}}); e != nil {
		fail(e)
		return
	}
	if s.asyncFault(w, c, "ListAsyncInvokes", "", "", &rec, fail) {
		return
	}
	st := s.async()
	now := s.clock()
	st.mu.Lock()
	var mine []*asyncInvocation
	for _, inv := range st.invocations {
		st.settle(inv, now)
		if inv.Account != p.Account || inv.Region != c.Region ||
			(q.Get("statusEquals") != "" && inv.status(now) != q.Get("statusEquals")) ||
			(!after.IsZero() && !inv.Submit.After(after)) || (!before.IsZero() && !inv.Submit.Before(before)) {
			continue
		}
		mine = append(mine, inv)
	}
	// Newest first unless asked otherwise (the service model gives no default; the console lists newest first).
	slices.SortStableFunc(mine, func(a, b *asyncInvocation) int {
		if q.Get("sortOrder") == "Ascending" {
			return a.seq - b.seq
		}
		return b.seq - a.seq
	})
	page, next, e := paginate(mine, q)
	summaries := make([]asyncInvokeSummary, 0, len(page))
	for _, inv := range page {
		summaries = append(summaries, inv.summary(now))
	}
	st.mu.Unlock()
	if e != nil {
		fail(e)
		return
	}
	rec.Outcome = "ok"
	s.record(rec)
	writeAsyncJSON(w, c.ID, struct {
		AsyncInvokeSummaries []asyncInvokeSummary `json:"asyncInvokeSummaries"`
		NextToken            string               `json:"nextToken,omitempty"`
	}{summaries, next})
}

// parseQueryTime reads an ISO 8601 timestamp query parameter (the SDKs send 2006-01-02T15:04:05Z).
func parseQueryTime(q url.Values, name string, dst *time.Time) *awsError {
	v := q.Get(name)
	if v == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		// wording: not observed.
		return validationException("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must be a timestamp in ISO 8601 format", v, name)
	}
	*dst = t
	return nil
}
