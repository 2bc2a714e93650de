package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/bedrock-relay/bedrock-relay/router"
)

// Error is an answer in OpenAI's error shape, {"error":{"message","type","param","code"}}, with the HTTP
// status it goes out with.
type Error struct {
	Status  int
	Message string
	Type    string // invalid_request_error, authentication_error, permission_error, not_found_error, rate_limit_error, api_error
	Param   string // the request field at fault ("messages[2].content[0].image_url.url"), if any
	Code    string
	// RetryAfter is sent as Retry-After (seconds) and retry-after-ms, which the OpenAI SDKs honour.
	RetryAfter time.Duration
}

// Error types, as OpenAI names them.
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeAuthentication = "authentication_error"
	TypePermission     = "permission_error"
	TypeNotFound       = "not_found_error"
	TypeRateLimit      = "rate_limit_error"
	TypeAPI            = "api_error"
)

func (e *Error) Error() string {
	if e.Param != "" {
		return fmt.Sprintf("%d %s: %s (param %s)", e.Status, e.Type, e.Message, e.Param)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Type, e.Message)
}

// MarshalJSON writes the whole error body; an empty param or code is null, as OpenAI sends it.
func (e *Error) MarshalJSON() ([]byte, error) {
	type body struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	}
	b := body{Message: e.Message, Type: e.Type}
	if e.Param != "" {
		b.Param = &e.Param
	}
	if e.Code != "" {
		b.Code = &e.Code
	}
	return json.Marshal(struct {
		Error body `json:"error"`
	}{b})
}

// Write sends e as an HTTP response.
func (e *Error) Write(w http.ResponseWriter) {
	body, _ := json.Marshal(e)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
		h.Set("Retry-After-Ms", strconv.FormatInt(e.RetryAfter.Milliseconds(), 10))
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(append(body, '\n'))
}

// Invalid is a 400 for a bad request field.
func Invalid(param, code, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Param: param, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Unauthorized is a 401: no key, or one the relay does not know. The key itself never appears.
func Unauthorized(missing bool) *Error {
	if missing {
		return &Error{Status: http.StatusUnauthorized, Type: TypeAuthentication, Code: "missing_api_key",
			Message: "No API key was provided. Send the relay key as `Authorization: Bearer <key>` (the OpenAI SDKs do this with api_key=...)."}
	}
	return &Error{Status: http.StatusUnauthorized, Type: TypeAuthentication, Code: "invalid_api_key",
		Message: "The API key is not one this relay knows. Use a key from the relay's auth.keys (`bedrock-relay keys new NAME` makes one)."}
}

// ModelNotAllowed is a 403: the key exists but may not call model.
func ModelNotAllowed(model string) *Error {
	return &Error{Status: http.StatusForbidden, Type: TypePermission, Param: "model", Code: "model_not_allowed",
		Message: fmt.Sprintf("This API key may not use the model %q. GET /v1/models lists the models it may use; the relay's auth.keys[].models grants more.", model)}
}

// ModelNotFound is a 404: the relay serves no such model.
func ModelNotFound(model string) *Error {
	return &Error{Status: http.StatusNotFound, Type: TypeNotFound, Param: "model", Code: "model_not_found",
		Message: fmt.Sprintf("The model %q does not exist on this relay. GET /v1/models lists the models your key may use.", model)}
}

// setupHint is what an operator does when Bedrock refuses the relay's own roles.
const setupHint = " The relay's AWS setup needs fixing (role permissions, model access or region); its operator can run `bedrock-relay check`."

// ErrorFrom maps an error from router.Router.Do (or from this package) to the OpenAI answer. A
// *router.CallerError is a 400 here: callers resolve the model first, so an unknown one is a 404 before
// Do is reached.
func ErrorFrom(err error) *Error {
	var oe *Error
	var ce *router.CallerError
	var ex *router.ExhaustedError
	var fe *router.FinalError
	switch {
	case errors.As(err, &oe):
		return oe
	case errors.As(err, &ce):
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: "invalid_request", Message: ce.Message}
	case errors.As(err, &ex):
		if ex.Setup {
			return &Error{Status: http.StatusBadGateway, Type: TypeAPI, Code: "upstream_setup_error",
				Message: "Every Bedrock account serving this model refused the relay." + setupHint}
		}
		return &Error{Status: http.StatusTooManyRequests, Type: TypeRateLimit, Code: "rate_limit_exceeded", RetryAfter: ex.RetryAfter,
			Message: fmt.Sprintf("Every Bedrock account serving this model is at its limit; retry after %s.", ex.RetryAfter.Round(time.Second))}
	case errors.As(err, &fe):
		if fe.Err == nil {
			if errors.Is(fe.Cause, context.DeadlineExceeded) {
				return &Error{Status: http.StatusGatewayTimeout, Type: TypeAPI, Code: "timeout", Message: "The request timed out before Bedrock answered."}
			}
			return &Error{Status: http.StatusBadGateway, Type: TypeAPI, Code: "upstream_unreachable", Message: "No Bedrock endpoint could be reached."}
		}
		return upstreamError(fe.Err.Status, fe.Err.Code, fe.Err.Message)
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusGatewayTimeout, Type: TypeAPI, Code: "timeout", Message: "The request timed out before Bedrock answered."}
	case errors.Is(err, context.Canceled):
		// The client went away; whatever is written is not read. 499 is what proxies log for it.
		return &Error{Status: 499, Type: TypeAPI, Code: "canceled", Message: "The request was canceled."}
	}
	return &Error{Status: http.StatusInternalServerError, Type: TypeAPI, Code: "internal_error", Message: "The relay failed to handle the request."}
}

// upstreamError maps a Bedrock error (after failover) by its code; status is Bedrock's (200 for an
// exception frame inside a stream).
func upstreamError(status int, code, message string) *Error {
	msg := message
	if msg == "" {
		msg = code
	}
	msg = "Bedrock: " + msg
	switch code {
	case "ValidationException":
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: code, Message: msg}
	case "ThrottlingException", "ServiceQuotaExceededException":
		return &Error{Status: http.StatusTooManyRequests, Type: TypeRateLimit, Code: code, Message: msg, RetryAfter: time.Second}
	case "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException",
		"ResourceNotFoundException", "CredentialsUnavailable":
		return &Error{Status: http.StatusBadGateway, Type: TypeAPI, Code: code, Message: msg + "." + setupHint}
	case "ServiceUnavailableException", "ModelNotReadyException":
		return &Error{Status: http.StatusServiceUnavailable, Type: TypeAPI, Code: code, Message: msg}
	case "ModelTimeoutException":
		return &Error{Status: http.StatusGatewayTimeout, Type: TypeAPI, Code: code, Message: msg}
	}
	if status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusFailedDependency {
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: code, Message: msg}
	}
	return &Error{Status: http.StatusBadGateway, Type: TypeAPI, Code: code, Message: msg}
}
