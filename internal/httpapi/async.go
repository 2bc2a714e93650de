package httpapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/bedrock-relay/bedrock-relay/router"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// The asynchronous invocations:
//
//	POST /async-invoke                   StartAsyncInvoke: routed as InvokeModel is (router.StartAsync): a target
//	                                     serving modelId with headroom, failover on throttles and faults that
//	                                     started nothing; the key must allow the model
//	GET  /async-invoke/{invocationArn}   GetAsyncInvoke: to the first target in the ARN's account and region,
//	                                     which names where the invocation was started
//	GET  /async-invoke                   ListAsyncInvokes: every account × region the targets cover, merged
//
// A key sees only the invocations of models it may call. ListAsyncInvokes passes statusEquals,
// submitTimeAfter, submitTimeBefore, sortBy and sortOrder to each place, reads every page there, sorts the
// merged list by submitTime (newest first unless sortOrder=Ascending) and pages it with the relay's own
// maxResults and nextToken.

// asyncInvokes serves POST /async-invoke (StartAsyncInvoke) and GET /async-invoke (ListAsyncInvokes).
func (h *Handler) asyncInvokes(w http.ResponseWriter, r *http.Request, x *exchange) error {
	switch r.Method {
	case http.MethodPost:
		return h.startAsyncInvoke(w, r, x)
	case http.MethodGet:
		return h.listAsyncInvokes(w, r, x)
	}
	w.Header().Set("Allow", "GET, POST")
	return &Error{Status: http.StatusMethodNotAllowed, Code: "UnknownOperationException",
		Message: "/async-invoke takes POST (StartAsyncInvoke) or GET (ListAsyncInvokes), not " + r.Method + "."}
}

func (h *Handler) startAsyncInvoke(w http.ResponseWriter, r *http.Request, x *exchange) error {
	x.op = "start-async-invoke"
	caller, err := h.Authenticate(r)
	if err != nil {
		return err
	}
	x.key = caller.Name
	body, err := h.readBody(w, r, x)
	if err != nil {
		return err
	}
	if err := checkJSON(r, body, false); err != nil {
		return err
	}
	var in struct {
		ModelID *string `json:"modelId"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return validationError("Invalid type for modelId: expected a string.")
	}
	if in.ModelID == nil {
		return validationError("1 validation error detected: Value null at 'modelId' failed to satisfy constraint: Member must not be null")
	}
	x.asked = *in.ModelID
	fm, err := h.deps.Router.Resolve(*in.ModelID)
	if err != nil {
		return err
	}
	x.model = fm
	if !caller.Allows(*in.ModelID, fm) {
		return notAllowed(caller, *in.ModelID)
	}
	ctx, cancel := h.requestContext(r)
	defer cancel()
	res, err := h.deps.Router.StartAsync(ctx, *in.ModelID, body, r.Header)
	if err != nil {
		if r.Context().Err() != nil {
			return r.Context().Err()
		}
		return err
	}
	return h.writeDirect(w, r, x, res)
}

// invocation is what the relay reads of an AsyncInvokeSummary or GetAsyncInvokeResponse.
type invocation struct {
	ModelArn   string    `json:"modelArn"`
	SubmitTime time.Time `json:"submitTime"`
}

// model is the foundation-model id of the invocation's modelArn.
func (v invocation) model() string {
	_, id, _ := strings.Cut(v.ModelArn, ":foundation-model/")
	return id
}

func (h *Handler) getAsyncInvoke(w http.ResponseWriter, r *http.Request, x *exchange) error {
	escaped := strings.TrimPrefix(r.URL.EscapedPath(), "/async-invoke/")
	x.op = "get-async-invoke"
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		return &Error{Status: http.StatusMethodNotAllowed, Code: "UnknownOperationException", Message: "GetAsyncInvoke takes GET, not " + r.Method + "."}
	}
	caller, err := h.Authenticate(r)
	if err != nil {
		return err
	}
	x.key = caller.Name
	ident, err := url.PathUnescape(escaped)
	a, aerr := arn.Parse(ident)
	if err != nil || aerr != nil || a.Service != "bedrock" || !strings.HasPrefix(a.Resource, "async-invoke/") {
		return validationError("1 validation error detected: Value '%s' at 'invocationArn' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:async-invoke/[a-z0-9]{12}", ident)
	}
	x.asked = ident
	t := h.deps.Router.TargetIn(a.AccountID, a.Region)
	if t == nil {
		// GetAsyncInvoke declares no ResourceNotFoundException; Bedrock answers an unknown one as invalid too.
		return validationError("The relay has no target in account %s and region %s, where invocation %s was started.", a.AccountID, a.Region, ident)
	}
	ctx, cancel := h.requestContext(r)
	defer cancel()
	res, err := h.deps.Router.Send(ctx, t, &upstream.Call{Method: http.MethodGet, Path: "/async-invoke/" + url.PathEscape(ident), Header: r.Header})
	if err != nil {
		return err
	}
	var v invocation
	_ = json.Unmarshal(res.Body, &v)
	if x.model = v.model(); !caller.Allows(x.model, x.model) {
		return notAllowed(caller, x.model)
	}
	return h.writeDirect(w, r, x, res)
}

// listQuery are the ListAsyncInvokes parameters passed to every place.
var listQuery = []string{"statusEquals", "submitTimeAfter", "submitTimeBefore", "sortBy", "sortOrder"}

func (h *Handler) listAsyncInvokes(w http.ResponseWriter, r *http.Request, x *exchange) error {
	x.op = "list-async-invokes"
	caller, err := h.Authenticate(r)
	if err != nil {
		return err
	}
	x.key = caller.Name
	q := r.URL.Query()
	pass := url.Values{}
	for _, k := range listQuery {
		if q.Has(k) {
			pass[k] = q[k]
		}
	}
	pass.Set("maxResults", strconv.Itoa(maxPage))
	ctx, cancel := h.requestContext(r)
	defer cancel()
	type summary struct {
		raw json.RawMessage
		invocation
	}
	var all []summary
	var attempts []router.Attempt
	for _, t := range h.deps.Router.Places() {
		next := ""
		for {
			query := pass
			if next != "" {
				query = url.Values{}
				for k, v := range pass {
					query[k] = v
				}
				query.Set("nextToken", next)
			}
			res, err := h.deps.Router.Send(ctx, t, &upstream.Call{Method: http.MethodGet, Path: "/async-invoke", RawQuery: query.Encode(), Header: r.Header})
			if err != nil {
				return err
			}
			attempts = append(attempts, res.Attempts...)
			var page struct {
				Summaries []json.RawMessage `json:"asyncInvokeSummaries"`
				NextToken string            `json:"nextToken"`
			}
			if err := json.Unmarshal(res.Body, &page); err != nil {
				return &Error{Status: http.StatusBadGateway, Code: "ServiceUnavailableException", Attempts: attempts,
					Message: "Target " + t.Name + " answered ListAsyncInvokes with a body that is not its response.", cause: err}
			}
			for _, raw := range page.Summaries {
				var v invocation
				if json.Unmarshal(raw, &v) == nil && caller.Allows(v.model(), v.model()) {
					all = append(all, summary{raw, v})
				}
			}
			if next = page.NextToken; next == "" {
				break
			}
		}
	}
	x.noteAttempts(attempts)
	slices.SortStableFunc(all, func(a, b summary) int {
		if q.Get("sortOrder") == "Ascending" {
			return a.SubmitTime.Compare(b.SubmitTime)
		}
		return b.SubmitTime.Compare(a.SubmitTime)
	})
	page, next, err := paginate(all, q)
	if err != nil {
		return err
	}
	out := make([]json.RawMessage, len(page))
	for i, s := range page {
		out[i] = s.raw
	}
	w.Header().Set("X-Amzn-RequestId", newRequestID())
	writeJSON(w, http.StatusOK, struct {
		AsyncInvokeSummaries []json.RawMessage `json:"asyncInvokeSummaries"`
		NextToken            string            `json:"nextToken,omitempty"`
	}{out, next})
	return nil
}
