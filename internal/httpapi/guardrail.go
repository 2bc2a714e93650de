package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	relay "github.com/bedrock-relay/bedrock-relay"
	"github.com/bedrock-relay/bedrock-relay/router"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// ApplyGuardrail, POST /guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply, is passed on to one
// target, re-signed with its credentials: a guardrail lives in one account and region.
//
//   - An identifier that is a guardrail ARN goes to the first target in the ARN's account and region; with
//     none there the relay answers ResourceNotFoundException itself.
//   - A bare id is tried at each account × region the targets cover, in configuration order, until one
//     answers otherwise than ResourceNotFoundException: a pool user names the guardrail of whichever account
//     holds it, and guardrail ids are unique to their account. When every place answers
//     ResourceNotFoundException, the last answer is passed on.
//
// Any relay key may apply guardrails (they are not models), and no budget is spent: ApplyGuardrail has quotas
// of its own, which the relay does not track.

// splitGuardrailPath splits an escaped /guardrail/{id}/version/{version}/apply path; the id may be an ARN
// with its slash raw or as %2F.
func splitGuardrailPath(escaped string) (ident, version string, ok bool) {
	rest, found := strings.CutPrefix(escaped, "/guardrail/")
	if !found {
		return "", "", false
	}
	if rest, found = strings.CutSuffix(rest, "/apply"); !found {
		return "", "", false
	}
	i := strings.LastIndex(rest, "/version/")
	if i <= 0 {
		return "", "", false
	}
	id, err1 := url.PathUnescape(rest[:i])
	v, err2 := url.PathUnescape(rest[i+len("/version/"):])
	return id, v, err1 == nil && err2 == nil && id != "" && v != ""
}

// applyGuardrail serves POST /guardrail/{id}/version/{version}/apply.
func (h *Handler) applyGuardrail(w http.ResponseWriter, r *http.Request, x *exchange) error {
	ident, version, ok := splitGuardrailPath(r.URL.EscapedPath())
	if !ok {
		return unknownOperation(r)
	}
	x.op, x.asked = "apply-guardrail", ident
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return &Error{Status: http.StatusMethodNotAllowed, Code: "UnknownOperationException", Message: "ApplyGuardrail takes POST, not " + r.Method + "."}
	}
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
	call := &upstream.Call{Method: http.MethodPost, Path: "/guardrail/" + url.PathEscape(ident) + "/version/" + url.PathEscape(version) + "/apply",
		Body: body, Header: r.Header}
	ctx, cancel := h.requestContext(r)
	defer cancel()

	places := h.deps.Router.Places()
	if a, err := arn.Parse(ident); err == nil {
		t := h.deps.Router.TargetIn(a.AccountID, a.Region)
		if t == nil {
			return &Error{Status: http.StatusNotFound, Code: "ResourceNotFoundException",
				Message: "The relay has no target in account " + a.AccountID + " and region " + a.Region + ", where guardrail " + ident + " lives."}
		}
		places = []*router.Member{t}
	}
	var attempts []router.Attempt
	var last error
	for _, t := range places {
		res, err := h.deps.Router.Send(ctx, t, call)
		if err == nil {
			res.Attempts = append(attempts, res.Attempts...)
			return h.writeDirect(w, r, x, res)
		}
		var fe *router.FinalError
		if errors.As(err, &fe) {
			attempts = append(attempts, fe.Attempts...)
			fe.Attempts = attempts
		}
		last = err
		if r.Context().Err() != nil || !notFound(err) {
			break
		}
	}
	return last
}

// notFound reports an upstream answer that the thing asked for is not there.
func notFound(err error) bool {
	var ue *upstream.Error
	return errors.As(err, &ue) && relay.LookupCode(ue.Code, ue.Status).Sentinel == relay.ErrNotFound
}

// writeDirect passes a direct call's answer on: its status, content type, request id and body, and the
// relay's target headers.
func (h *Handler) writeDirect(w http.ResponseWriter, r *http.Request, x *exchange, res *router.DirectResult) error {
	x.noteAttempts(res.Attempts)
	hdr := w.Header()
	copyResponseHeaders(hdr, res.Response.Header)
	setAttemptHeaders(hdr, res.Attempts)
	hdr.Set("Content-Length", strconv.Itoa(len(res.Body)))
	w.WriteHeader(res.Response.StatusCode)
	if _, err := w.Write(res.Body); err != nil && r.Context().Err() != nil {
		x.status, x.code = statusClientClosed, "ClientClosedRequest"
	}
	return nil
}
