package sandbox

import (
	"io"
	"net/http"
	"strings"
)

// Bedrock Runtime's operations outside /model/{modelId}/{op}:
//
//	POST /guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply   ApplyGuardrail (applyguardrail.go)
//	POST /async-invoke                                                      StartAsyncInvoke (asyncinvoke.go)
//	GET  /async-invoke/{invocationArn}                                      GetAsyncInvoke
//	GET  /async-invoke                                                      ListAsyncInvokes
//
// They sign as "bedrock" like the model operations and take Bedrock API keys too. ServeHTTP sends them here by
// path before serveAWS, whose guess of the service from an unsigned request's shape knows only /model/.

// isRuntimeOperation reports whether r is one of those: its path is, and it is a Bedrock request (SigV4 for the
// service "bedrock", or not SigV4 at all: a bearer API key or no credentials).
func isRuntimeOperation(r *http.Request) bool {
	p := r.URL.EscapedPath()
	if !strings.HasPrefix(p, "/guardrail/") && p != "/async-invoke" && !strings.HasPrefix(p, "/async-invoke/") {
		return false
	}
	if a, ok := parseSigV4(r.Header.Get("Authorization")); ok {
		return a.Service == "bedrock"
	}
	return true
}

// serveRuntimeOperation reads and authenticates the request as serveAWS does, then serves its operation.
func (s *Sandbox) serveRuntimeOperation(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	op := runtimeOperationName(r)
	rec := Call{Service: "bedrock", Operation: op, RequestID: reqID}
	fail := func(e *awsError) {
		rec.Outcome = e.Code
		s.record(rec)
		writeBedrockError(w, reqID, e)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		fail(validationException("could not read the request body: %v", err))
		return
	}
	if len(body) > maxBody {
		fail(newError(http.StatusRequestEntityTooLarge, "ValidationException", "The request body is over %d bytes.", maxBody))
		return
	}
	c := &call{ID: reqID, Service: serviceBedrock, Body: body, r: r}
	if e := s.authenticate(c); e != nil {
		rec.Region, rec.Account = c.Region, s.accountOfKey(r)
		fail(e)
		return
	}
	switch op {
	case "ApplyGuardrail":
		s.serveApplyGuardrail(w, c)
	case "StartAsyncInvoke":
		s.serveStartAsyncInvoke(w, c)
	case "GetAsyncInvoke":
		s.serveGetAsyncInvoke(w, c)
	case "ListAsyncInvokes":
		s.serveListAsyncInvokes(w, c)
	default:
		rec.Principal, rec.Account, rec.Region = c.Principal.ARN, c.Principal.Account, c.Region
		fail(newError(http.StatusNotFound, "UnknownOperationException",
			"The sandbox serves POST /guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply, POST /async-invoke, GET /async-invoke/{invocationArn} and GET /async-invoke; not %s %s.",
			r.Method, r.URL.Path))
	}
}

// runtimeOperationName names the operation of a request isRuntimeOperation accepted, "" for none.
func runtimeOperationName(r *http.Request) string {
	p := r.URL.EscapedPath()
	switch {
	case strings.HasPrefix(p, "/guardrail/") && r.Method == http.MethodPost && strings.HasSuffix(p, "/apply"):
		return "ApplyGuardrail"
	case p == "/async-invoke" && r.Method == http.MethodPost:
		return "StartAsyncInvoke"
	case p == "/async-invoke" && r.Method == http.MethodGet:
		return "ListAsyncInvokes"
	case strings.HasPrefix(p, "/async-invoke/") && r.Method == http.MethodGet:
		return "GetAsyncInvoke"
	}
	return ""
}
