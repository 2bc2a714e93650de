package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/bedrock-relay/bedrock-relay/router"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// Error is an answer the relay gives instead of a model response. Handlers return it (or the router's errors,
// which AsError maps to it) and the route's adapter writes it.
type Error struct {
	Status  int
	Code    string // the AWS error code: ValidationException, ThrottlingException, ...
	Message string
	// Header holds extra response headers: Retry-After, or an upstream answer's own headers.
	Header http.Header
	// Body, when set, is written verbatim (an upstream error passed on); otherwise {"message": Message}.
	Body []byte
	// Attempts are the targets tried, for the relay's response headers and the access log.
	Attempts []router.Attempt
	cause    error
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }
func (e *Error) Unwrap() error { return e.cause }

// Status of the errors Bedrock Runtime answers with, for errors that arrive without one (an exception frame
// as a stream's first event, inside an HTTP 200).
var codeStatus = map[string]int{
	"ValidationException":           http.StatusBadRequest,
	"ServiceQuotaExceededException": http.StatusBadRequest,
	"AccessDeniedException":         http.StatusForbidden,
	"UnrecognizedClientException":   http.StatusForbidden,
	"ResourceNotFoundException":     http.StatusNotFound,
	"ModelTimeoutException":         http.StatusRequestTimeout,
	"ModelErrorException":           http.StatusFailedDependency,
	"ModelStreamErrorException":     http.StatusFailedDependency,
	"ThrottlingException":           http.StatusTooManyRequests,
	"ModelNotReadyException":        http.StatusTooManyRequests,
	"InternalServerException":       http.StatusInternalServerError,
	"ServiceUnavailableException":   http.StatusServiceUnavailable,
}

// statusClientClosed is logged (never sent) when the caller went away before the answer.
const statusClientClosed = 499

func validationError(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "ValidationException", Message: fmt.Sprintf(format, args...)}
}

// AsError maps an error a handler returned to the answer to write:
//   - *router.CallerError: 400 ValidationException (or the code it names);
//   - *router.ExhaustedError: 429 ThrottlingException with Retry-After, or 503 ServiceUnavailableException when
//     every target is out with a setup problem;
//   - *router.FinalError with an upstream answer: that answer's status, X-Amzn-ErrorType and body, verbatim;
//     without one (connections failed): 502 ServiceUnavailableException naming the reason;
//   - a deadline: 503 ServiceUnavailableException; the caller going away: 499 (logged, not sent);
//   - anything else: 500 InternalServerException, without details.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var ce *router.CallerError
	if errors.As(err, &ce) {
		code := ce.Code
		if code == "" {
			code = "ValidationException"
		}
		status := codeStatus[code]
		if status == 0 {
			status = http.StatusBadRequest
		}
		return &Error{Status: status, Code: code, Message: ce.Message, cause: err}
	}
	var ex *router.ExhaustedError
	if errors.As(err, &ex) {
		if ex.Setup {
			return &Error{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailableException", Attempts: ex.Attempts, cause: err,
				Message: fmt.Sprintf("Every target that serves %s has a setup problem (%s). The relay's operator should run `bedrock-relay check`.",
					ex.Model, attemptSummary(ex.Attempts))}
		}
		secs := int(math.Ceil(ex.RetryAfter.Seconds()))
		if secs < 1 {
			secs = 1
		}
		return &Error{Status: http.StatusTooManyRequests, Code: "ThrottlingException", Attempts: ex.Attempts, cause: err,
			Header:  http.Header{"Retry-After": {strconv.Itoa(secs)}},
			Message: fmt.Sprintf("Too many requests, please wait before trying again. Every target for %s is at its limit; retry after %ds.", ex.Model, secs)}
	}
	var fe *router.FinalError
	if errors.As(err, &fe) {
		if fe.Err != nil {
			return upstreamError(fe.Err, fe.Attempts, err)
		}
		if errors.Is(fe.Cause, context.DeadlineExceeded) {
			return &Error{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailableException", Attempts: fe.Attempts, cause: err,
				Message: "The request did not complete within the relay's request timeout (" + attemptSummary(fe.Attempts) + ")."}
		}
		if errors.Is(fe.Cause, context.Canceled) {
			return &Error{Status: statusClientClosed, Code: "ClientClosedRequest", Message: "The caller went away.", Attempts: fe.Attempts, cause: err}
		}
		return &Error{Status: http.StatusBadGateway, Code: "ServiceUnavailableException", Attempts: fe.Attempts, cause: err,
			Message: "The relay could not reach Bedrock through any target (" + attemptSummary(fe.Attempts) + "): " + fe.Cause.Error()}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailableException", cause: err,
			Message: "The request did not complete within the relay's request timeout."}
	}
	if errors.Is(err, context.Canceled) {
		return &Error{Status: statusClientClosed, Code: "ClientClosedRequest", Message: "The caller went away.", cause: err}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "InternalServerException", Message: "The relay failed to process the request.", cause: err}
}

// upstreamError passes an upstream answer on as it came. An exception that arrived as a stream's first event
// has no HTTP status of its own: it gets the status Bedrock uses for its code.
func upstreamError(ue *upstream.Error, attempts []router.Attempt, cause error) *Error {
	e := &Error{Status: ue.Status, Code: ue.Code, Message: ue.Message, Attempts: attempts, cause: cause, Header: http.Header{}}
	if ue.Status < 400 {
		e.Status = codeStatus[ue.Code]
		if e.Status == 0 {
			e.Status = http.StatusInternalServerError
		}
		e.Header.Set("X-Amzn-ErrorType", ue.Code)
		if ue.Message == "" {
			e.Message = ue.Code
		}
		return e
	}
	e.Body = ue.Body
	for _, k := range []string{"Content-Type", "X-Amzn-Errortype", "X-Amzn-Requestid", "Retry-After"} {
		if v := ue.Header.Values(k); len(v) > 0 {
			e.Header[k] = v
		}
	}
	if e.Header.Get("X-Amzn-Errortype") == "" {
		e.Header.Set("X-Amzn-ErrorType", ue.Code)
	}
	return e
}

func attemptSummary(as []router.Attempt) string {
	var parts []string
	for _, a := range as {
		if a.Code != "" {
			parts = append(parts, a.Target+": "+a.Code)
		}
	}
	if len(parts) == 0 {
		return "no target was tried"
	}
	return strings.Join(parts, ", ")
}

// writeBedrockError writes e the way Bedrock Runtime does: X-Amzn-ErrorType and {"message": ...}.
func writeBedrockError(w http.ResponseWriter, e *Error) {
	if e.Status == statusClientClosed {
		return
	}
	h := w.Header()
	for k, v := range e.Header {
		h[k] = v
	}
	h.Del("Content-Length")
	body := e.Body
	if body == nil {
		body, _ = json.Marshal(struct {
			Message string `json:"message"`
		}{e.Message})
		h.Set("Content-Type", "application/json")
	} else if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	if h.Get("X-Amzn-Errortype") == "" {
		h.Set("X-Amzn-ErrorType", e.Code)
	}
	if h.Get("X-Amzn-Requestid") == "" {
		h.Set("X-Amzn-RequestId", newRequestID())
	}
	setAttemptHeaders(h, e.Attempts)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	w.Write(body)
}

// writeOpenAIError writes e in OpenAI's error shape: {"error": {"message", "type", "code"}}.
func writeOpenAIError(w http.ResponseWriter, e *Error) {
	if e.Status == statusClientClosed {
		return
	}
	typ := "invalid_request_error"
	switch {
	case e.Status == http.StatusUnauthorized || e.Code == "UnrecognizedClientException":
		typ = "authentication_error"
	case e.Status == http.StatusForbidden:
		typ = "permission_error"
	case e.Status == http.StatusNotFound:
		typ = "not_found_error"
	case e.Status == http.StatusTooManyRequests:
		typ = "rate_limit_error"
	case e.Status >= 500:
		typ = "api_error"
	}
	msg := e.Message
	if msg == "" && e.Body != nil {
		var b struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(e.Body, &b)
		msg = b.Message
	}
	body, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": e.Code}})
	h := w.Header()
	if v := e.Header.Get("Retry-After"); v != "" {
		h.Set("Retry-After", v)
	}
	setAttemptHeaders(h, e.Attempts)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	w.Write(body)
}
