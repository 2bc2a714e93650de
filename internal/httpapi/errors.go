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
	"time"

	relay "github.com/bedrock-relay/bedrock-relay"
	"github.com/bedrock-relay/bedrock-relay/anthropic"
	"github.com/bedrock-relay/bedrock-relay/openai"
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

// lastCause words the last upstream failure for a client: its AWS code and message when Bedrock answered,
// else the attempts' codes. It never carries a Go error's text, which can name upstream addresses.
func lastCause(last error, attempts []router.Attempt) string {
	var ue *upstream.Error
	if errors.As(last, &ue) {
		if ue.Message != "" {
			return " (last: " + ue.Code + ": " + ue.Message + ")"
		}
		return " (last: " + ue.Code + ")"
	}
	if len(attempts) > 0 {
		return " (" + router.Summary(attempts) + ")"
	}
	return ""
}

// codeStatus is the status Bedrock answers code with, for errors that arrive without one (an exception frame
// as a stream's first event, inside an HTTP 200): the one table's (relay.LookupCode).
func codeStatus(code string) int { return relay.LookupCode(code, 0).Status }

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
	var be *bodyError
	if errors.As(err, &be) {
		switch {
		case be.tooLarge:
			return validationError("1 validation error detected: Value at 'body' failed to satisfy constraint: Member must have length less than or equal to %d", be.max)
		case be.late:
			return &Error{Status: http.StatusRequestTimeout, Code: "RequestTimeoutException", cause: err,
				Header:  http.Header{"Connection": {"close"}},
				Message: fmt.Sprintf("The request body did not arrive within %s of the request; send it faster, or raise the relay's server.body_timeout.", be.timeout)}
		case be.busy:
			return &Error{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailableException", cause: err,
				Header:  http.Header{"Retry-After": {bodyRetryAfter}, "Connection": {"close"}},
				Message: "The relay is holding as many request bodies as it may (server.max_body_bytes_in_flight); retry shortly."}
		}
		return validationError("The request body could not be read.")
	}
	var kb *KeyBudgetError
	if errors.As(err, &kb) {
		return bedrockKeyBudget(kb)
	}
	var ce *router.CallerError
	if errors.As(err, &ce) {
		code := ce.Code
		if code == "" {
			code = "ValidationException"
		}
		return &Error{Status: relay.LookupCode(code, http.StatusBadRequest).Status, Code: code, Message: ce.Message, cause: err}
	}
	var ex *router.ExhaustedError
	if errors.As(err, &ex) {
		if ex.Setup {
			return &Error{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailableException", Attempts: ex.Attempts, cause: err,
				Message: fmt.Sprintf("Every target that serves %s has a setup problem (%s). The relay's operator should run `bedrock-relay check`.",
					ex.Model, router.Summary(ex.Attempts))}
		}
		secs := int(math.Ceil(ex.RetryAfter.Seconds()))
		if secs < 1 {
			secs = 1
		}
		if ex.Faults {
			// The targets are backing off after upstream faults, not budgets or throttles: say so, with the
			// last cause, rather than claim a throttle.
			return &Error{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailableException", Attempts: ex.Attempts, cause: err,
				Header: http.Header{"Retry-After": {strconv.Itoa(secs)}},
				Message: fmt.Sprintf("Every target for %s is backing off after upstream failures%s; retry after %ds.",
					ex.Model, lastCause(ex.Last, ex.Attempts), secs)}
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
				Message: "The request did not complete within the relay's request timeout (" + router.Summary(fe.Attempts) + ")."}
		}
		if errors.Is(fe.Cause, context.Canceled) {
			return &Error{Status: statusClientClosed, Code: "ClientClosedRequest", Message: "The caller went away.", Attempts: fe.Attempts, cause: err}
		}
		// The cause (a Go error) names the upstream's URL and address: it goes to the log, not the caller.
		return &Error{Status: http.StatusBadGateway, Code: "ServiceUnavailableException", Attempts: fe.Attempts, cause: err,
			Message: "The relay could not reach Bedrock through any target (" + router.Summary(fe.Attempts) + ")."}
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
		e.Status = codeStatus(ue.Code)
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

// bodyError is a request body the relay would not or could not read; each API's adapter words it.
type bodyError struct {
	tooLarge bool          // over Options.MaxBodyBytes
	late     bool          // not in within Options.BodyTimeout
	busy     bool          // over Options.MaxBodyBytesInFlight
	timeout  time.Duration // the body timeout, for late
	max      int64
	err      error
}

func (e *bodyError) Error() string {
	switch {
	case e.tooLarge:
		return fmt.Sprintf("request body larger than %d bytes", e.max)
	case e.late:
		return fmt.Sprintf("request body not received within %s", e.timeout)
	case e.busy:
		return "request bodies in flight at the relay's cap"
	}
	return "read request body: " + e.err.Error()
}

// bodyRetryAfter is the Retry-After of a body refused because too many are held: they are short-lived.
const bodyRetryAfter = "1"

func (e *bodyError) Unwrap() error { return e.err }

// attemptsOf is the targets tried on the way to err, if the router got that far.
func attemptsOf(err error) []router.Attempt {
	var e *Error
	var ex *router.ExhaustedError
	var fe *router.FinalError
	switch {
	case errors.As(err, &e):
		return e.Attempts
	case errors.As(err, &ex):
		return ex.Attempts
	case errors.As(err, &fe):
		return fe.Attempts
	}
	return nil
}

// openAIError maps an error an OpenAI-API handler returned (from this package, package openai or the
// router) to OpenAI's answer. A *router.CallerError is a 400 here: the handlers resolve the model first, so
// an unknown one is a 404 before the router is reached.
func openAIError(err error) *openai.Error {
	var oe *openai.Error
	var be *bodyError
	var ce *router.CallerError
	var ex *router.ExhaustedError
	var fe *router.FinalError
	var he *Error
	var kb *KeyBudgetError
	switch {
	case errors.As(err, &oe):
		return oe
	case errors.As(err, &kb):
		return &openai.Error{Status: http.StatusTooManyRequests, Type: openai.TypeRateLimit, Code: "key_budget_exceeded",
			RetryAfter: time.Duration(retrySeconds(kb.RetryAfter)) * time.Second, Message: kb.Error()}
	case errors.As(err, &be):
		switch {
		case be.tooLarge:
			return &openai.Error{Status: http.StatusRequestEntityTooLarge, Type: openai.TypeInvalidRequest, Code: "request_too_large",
				Message: "The request body is larger than the relay's limit of " + strconv.FormatInt(be.max, 10) + " bytes."}
		case be.late:
			return &openai.Error{Status: http.StatusRequestTimeout, Type: openai.TypeInvalidRequest, Code: "request_timeout",
				Message: fmt.Sprintf("The request body did not arrive within %s of the request.", be.timeout)}
		case be.busy:
			return &openai.Error{Status: http.StatusServiceUnavailable, Type: openai.TypeAPI, Code: "server_busy", RetryAfter: time.Second,
				Message: "The relay is holding as many request bodies as it may; retry shortly."}
		}
		return openai.Invalid("", "invalid_body", "The request body could not be read.")
	case errors.As(err, &ce):
		return &openai.Error{Status: http.StatusBadRequest, Type: openai.TypeInvalidRequest, Code: "invalid_request", Message: ce.Message}
	case errors.As(err, &ex):
		if ex.Setup {
			return &openai.Error{Status: http.StatusBadGateway, Type: openai.TypeAPI, Code: "upstream_setup_error",
				Message: "Every Bedrock account serving this model refused the relay." + openai.SetupHint}
		}
		if ex.Faults {
			return &openai.Error{Status: http.StatusServiceUnavailable, Type: openai.TypeAPI, Code: "upstream_unavailable", RetryAfter: max(ex.RetryAfter, time.Second),
				Message: fmt.Sprintf("Every Bedrock account serving this model is backing off after upstream failures%s; retry after %s.",
					lastCause(ex.Last, ex.Attempts), max(ex.RetryAfter, time.Second).Round(time.Second))}
		}
		return &openai.Error{Status: http.StatusTooManyRequests, Type: openai.TypeRateLimit, Code: "rate_limit_exceeded", RetryAfter: ex.RetryAfter,
			Message: fmt.Sprintf("Every Bedrock account serving this model is at its limit; retry after %s.", ex.RetryAfter.Round(time.Second))}
	case errors.As(err, &fe):
		if fe.Err == nil {
			if errors.Is(fe.Cause, context.DeadlineExceeded) {
				return &openai.Error{Status: http.StatusGatewayTimeout, Type: openai.TypeAPI, Code: "timeout", Message: "The request timed out before Bedrock answered."}
			}
			return &openai.Error{Status: http.StatusBadGateway, Type: openai.TypeAPI, Code: "upstream_unreachable", Message: "No Bedrock endpoint could be reached."}
		}
		return openai.FromBedrock(fe.Err.Status, fe.Err.Code, fe.Err.Message)
	case errors.As(err, &he):
		e := &openai.Error{Status: he.Status, Type: openAIType(he), Code: he.Code, Message: bedrockMessage(he)}
		if secs, err := strconv.Atoi(he.Header.Get("Retry-After")); err == nil && secs > 0 {
			e.RetryAfter = time.Duration(secs) * time.Second
		}
		return e
	case errors.Is(err, context.DeadlineExceeded):
		return &openai.Error{Status: http.StatusGatewayTimeout, Type: openai.TypeAPI, Code: "timeout", Message: "The request timed out before Bedrock answered."}
	case errors.Is(err, context.Canceled):
		// The client went away; whatever is written is not read. 499 is what proxies log for it.
		return &openai.Error{Status: statusClientClosed, Type: openai.TypeAPI, Code: "canceled", Message: "The request was canceled."}
	}
	return &openai.Error{Status: http.StatusInternalServerError, Type: openai.TypeAPI, Code: "internal_error", Message: "The relay failed to handle the request."}
}

// openAIType is the OpenAI error type of one of this package's own errors, by its status.
func openAIType(e *Error) string {
	switch {
	case e.Status == http.StatusUnauthorized || e.Code == "UnrecognizedClientException":
		return openai.TypeAuthentication
	case e.Status == http.StatusForbidden:
		return openai.TypePermission
	case e.Status == http.StatusNotFound:
		return openai.TypeNotFound
	case e.Status == http.StatusTooManyRequests:
		return openai.TypeRateLimit
	case e.Status >= 500:
		return openai.TypeAPI
	}
	return openai.TypeInvalidRequest
}

// bedrockMessage is e's message, or the message of the Bedrock body it carries.
func bedrockMessage(e *Error) string {
	if e.Message != "" || e.Body == nil {
		return e.Message
	}
	var b struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(e.Body, &b)
	return b.Message
}

// writeOpenAIError writes e in OpenAI's error shape, {"error": {"message", "type", "param", "code"}}, with
// Retry-After (seconds) and Retry-After-Ms, which the OpenAI SDKs honour, and the relay's attempt headers.
func writeOpenAIError(w http.ResponseWriter, e *openai.Error, attempts []router.Attempt) {
	if e.Status == statusClientClosed {
		return
	}
	body, _ := json.Marshal(e)
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
		h.Set("Retry-After-Ms", strconv.FormatInt(e.RetryAfter.Milliseconds(), 10))
	}
	setAttemptHeaders(h, attempts)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// errorAnswer is an error as one API's adapter answers it: what the access log and metrics record, and the
// write itself.
type errorAnswer struct {
	status   int
	code     string
	attempts []router.Attempt
	// internal is a failure of the relay itself, logged with its cause (never sent).
	internal error
	write    func(http.ResponseWriter)
}

// errorShape maps an error a handler returned to its answer in one API's shape.
type errorShape func(err error) errorAnswer

// bedrockShape answers in Bedrock Runtime's error shape (AsError, writeBedrockError).
func bedrockShape(err error) errorAnswer {
	e := AsError(err)
	a := errorAnswer{status: e.Status, code: e.Code, attempts: e.Attempts, write: func(w http.ResponseWriter) { writeBedrockError(w, e) }}
	if e.Status == http.StatusInternalServerError && e.Code == "InternalServerException" && e.cause != nil {
		a.internal = e.cause
	}
	return a
}

// openAIShape answers in OpenAI's error shape (openAIError, writeOpenAIError).
func openAIShape(err error) errorAnswer {
	e := openAIError(err)
	attempts := attemptsOf(err)
	a := errorAnswer{status: e.Status, code: e.Code, attempts: attempts, write: func(w http.ResponseWriter) { writeOpenAIError(w, e, attempts) }}
	if e.Status == http.StatusInternalServerError {
		a.internal = err
	}
	return a
}

// anthropicError maps an error an Anthropic-API handler returned (from this package, package anthropic or
// the router) to Anthropic's answer. Upstream capacity (Bedrock unavailable, every target backing off after
// faults, the relay holding as many bodies as it may) is 529 overloaded_error, as Anthropic answers its own;
// the pool at its limits is 429 rate_limit_error; both with retry-after.
func anthropicError(err error) *anthropic.Error {
	var ae *anthropic.Error
	var be *bodyError
	var ce *router.CallerError
	var ex *router.ExhaustedError
	var fe *router.FinalError
	var he *Error
	var kb *KeyBudgetError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &kb):
		return &anthropic.Error{Status: http.StatusTooManyRequests, Type: anthropic.TypeRateLimit, Code: "key_budget_exceeded",
			RetryAfter: time.Duration(retrySeconds(kb.RetryAfter)) * time.Second, Message: kb.Error()}
	case errors.As(err, &be):
		switch {
		case be.tooLarge:
			return &anthropic.Error{Status: http.StatusRequestEntityTooLarge, Type: anthropic.TypeRequestTooLarge, Code: "request_too_large",
				Message: "The request body is larger than the relay's limit of " + strconv.FormatInt(be.max, 10) + " bytes."}
		case be.late:
			return &anthropic.Error{Status: http.StatusRequestTimeout, Type: anthropic.TypeInvalidRequest, Code: "request_timeout",
				Message: fmt.Sprintf("The request body did not arrive within %s of the request.", be.timeout)}
		case be.busy:
			return &anthropic.Error{Status: anthropic.StatusOverloaded, Type: anthropic.TypeOverloaded, Code: "server_busy", RetryAfter: time.Second,
				Message: "The relay is holding as many request bodies as it may; retry shortly."}
		}
		return anthropic.Invalid("The request body could not be read.")
	case errors.As(err, &ce):
		return &anthropic.Error{Status: http.StatusBadRequest, Type: anthropic.TypeInvalidRequest, Code: ce.Code, Message: ce.Message}
	case errors.As(err, &ex):
		if ex.Setup {
			return &anthropic.Error{Status: http.StatusBadGateway, Type: anthropic.TypeAPI, Code: "upstream_setup_error", NoRetry: true,
				Message: "Every Bedrock account serving this model refused the relay." + anthropic.SetupHint}
		}
		wait := max(ex.RetryAfter, time.Second)
		if ex.Faults {
			return &anthropic.Error{Status: anthropic.StatusOverloaded, Type: anthropic.TypeOverloaded, Code: "upstream_unavailable", RetryAfter: wait,
				Message: fmt.Sprintf("Every Bedrock account serving this model is backing off after upstream failures%s; retry after %s.",
					lastCause(ex.Last, ex.Attempts), wait.Round(time.Second))}
		}
		return &anthropic.Error{Status: http.StatusTooManyRequests, Type: anthropic.TypeRateLimit, Code: "ThrottlingException", RetryAfter: wait,
			Message: fmt.Sprintf("Every Bedrock account serving this model is at its limit; retry after %s.", wait.Round(time.Second))}
	case errors.As(err, &fe):
		if fe.Err == nil {
			if errors.Is(fe.Cause, context.DeadlineExceeded) {
				return &anthropic.Error{Status: http.StatusGatewayTimeout, Type: anthropic.TypeTimeout, Code: "timeout", Message: "The request timed out before Bedrock answered."}
			}
			if errors.Is(fe.Cause, context.Canceled) {
				return &anthropic.Error{Status: statusClientClosed, Type: anthropic.TypeAPI, Code: "canceled", Message: "The request was canceled."}
			}
			return &anthropic.Error{Status: http.StatusBadGateway, Type: anthropic.TypeAPI, Code: "upstream_unreachable", Message: "No Bedrock endpoint could be reached."}
		}
		return anthropic.FromBedrock(fe.Err.Status, fe.Err.Code, fe.Err.Message)
	case errors.As(err, &he):
		e := &anthropic.Error{Status: he.Status, Type: anthropicType(he), Code: he.Code, Message: bedrockMessage(he)}
		if secs, err := strconv.Atoi(he.Header.Get("Retry-After")); err == nil && secs > 0 {
			e.RetryAfter = time.Duration(secs) * time.Second
		}
		return e
	case errors.Is(err, context.DeadlineExceeded):
		return &anthropic.Error{Status: http.StatusGatewayTimeout, Type: anthropic.TypeTimeout, Code: "timeout", Message: "The request timed out before Bedrock answered."}
	case errors.Is(err, context.Canceled):
		return &anthropic.Error{Status: statusClientClosed, Type: anthropic.TypeAPI, Code: "canceled", Message: "The request was canceled."}
	}
	return &anthropic.Error{Status: http.StatusInternalServerError, Type: anthropic.TypeAPI, Code: "internal_error", Message: "The relay failed to handle the request."}
}

// anthropicType is the Anthropic error type of one of this package's own errors, by its status.
func anthropicType(e *Error) string {
	switch {
	case e.Status == http.StatusUnauthorized || e.Code == "UnrecognizedClientException":
		return anthropic.TypeAuthentication
	case e.Status == http.StatusForbidden:
		return anthropic.TypePermission
	case e.Status == http.StatusNotFound:
		return anthropic.TypeNotFound
	case e.Status == http.StatusRequestEntityTooLarge:
		return anthropic.TypeRequestTooLarge
	case e.Status == http.StatusTooManyRequests:
		return anthropic.TypeRateLimit
	case e.Status == http.StatusGatewayTimeout:
		return anthropic.TypeTimeout
	case e.Status == http.StatusServiceUnavailable || e.Status == anthropic.StatusOverloaded:
		return anthropic.TypeOverloaded
	case e.Status >= 500:
		return anthropic.TypeAPI
	}
	return anthropic.TypeInvalidRequest
}

// writeAnthropicError writes e in Anthropic's error shape, {"type":"error","error":{"type","message"}}, with
// retry-after (seconds) and retry-after-ms, x-should-retry: false where waiting cannot help (both read by the
// Anthropic SDKs), request-id, and the relay's attempt headers.
func writeAnthropicError(w http.ResponseWriter, e *anthropic.Error, attempts []router.Attempt) {
	if e.Status == statusClientClosed {
		return
	}
	body, _ := json.Marshal(e)
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
		h.Set("Retry-After-Ms", strconv.FormatInt(e.RetryAfter.Milliseconds(), 10))
	}
	if e.NoRetry {
		h.Set("X-Should-Retry", "false")
	}
	if h.Get("Request-Id") == "" {
		h.Set("Request-Id", "req_"+strings.ReplaceAll(newRequestID(), "-", ""))
	}
	setAttemptHeaders(h, attempts)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// anthropicShape answers in Anthropic's error shape (anthropicError, writeAnthropicError).
func anthropicShape(err error) errorAnswer {
	e := anthropicError(err)
	attempts := attemptsOf(err)
	code := e.Code
	if code == "" {
		code = e.Type
	}
	a := errorAnswer{status: e.Status, code: code, attempts: attempts, write: func(w http.ResponseWriter) { writeAnthropicError(w, e, attempts) }}
	if e.Status == http.StatusInternalServerError && e.Code == "internal_error" {
		a.internal = err
	}
	return a
}
