package anthropic

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	relay "github.com/bedrock-relay/bedrock-relay"
)

// Error is an answer in Anthropic's error shape, {"type":"error","error":{"type","message"}}, with the HTTP
// status it goes out with. In a stream it is the data of an `event: error`.
type Error struct {
	Status  int
	Type    string // one of the Type* constants
	Message string
	// Code is what the access log records: the AWS error code behind the answer, or the relay's reason
	// (invalid_api_key, model_not_found, ...). It is not sent.
	Code string
	// RetryAfter is sent as retry-after (seconds) and retry-after-ms, which the Anthropic SDKs honour.
	RetryAfter time.Duration
	// NoRetry sends x-should-retry: false, which the Anthropic SDKs obey: for a 5xx that waiting cannot fix.
	NoRetry bool
}

// Error types, as Anthropic names them.
const (
	TypeInvalidRequest  = "invalid_request_error" // 400
	TypeAuthentication  = "authentication_error"  // 401
	TypePermission      = "permission_error"      // 403
	TypeNotFound        = "not_found_error"       // 404
	TypeRequestTooLarge = "request_too_large"     // 413
	TypeRateLimit       = "rate_limit_error"      // 429
	TypeAPI             = "api_error"             // 500
	TypeTimeout         = "timeout_error"         // 504
	TypeOverloaded      = "overloaded_error"      // 529
)

// StatusOverloaded is the status Anthropic answers overloaded_error with.
const StatusOverloaded = 529

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Type, e.Message) }

// MarshalJSON writes the whole error body.
func (e *Error) MarshalJSON() ([]byte, error) {
	type detail struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}
	return json.Marshal(struct {
		Type  string `json:"type"`
		Error detail `json:"error"`
	}{"error", detail{e.Type, e.Message}})
}

// Event is e as a stream's error event.
func (e *Error) Event() Event {
	b, _ := json.Marshal(e) // a struct of strings always encodes
	return Event{Type: "error", Data: b}
}

// Invalid is a 400 for a bad request, worded as Anthropic words its validation ("max_tokens: Field required").
func Invalid(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: "invalid_request", Message: fmt.Sprintf(format, args...)}
}

// Unauthorized is a 401: no key, or one the relay does not know. The key itself never appears.
func Unauthorized(missing bool) *Error {
	if missing {
		return &Error{Status: http.StatusUnauthorized, Type: TypeAuthentication, Code: "missing_api_key",
			Message: "No API key was provided. Send the relay key as the x-api-key header (the Anthropic SDKs do this with apiKey) or as `Authorization: Bearer <key>`."}
	}
	return &Error{Status: http.StatusUnauthorized, Type: TypeAuthentication, Code: "invalid_api_key",
		Message: "invalid x-api-key: the key is not one this relay knows. Use a key from the relay's auth.keys (`bedrock-relay keys new NAME` makes one)."}
}

// ModelNotAllowed is a 403: the key exists but may not call model.
func ModelNotAllowed(model string) *Error {
	return &Error{Status: http.StatusForbidden, Type: TypePermission, Code: "model_not_allowed",
		Message: fmt.Sprintf("This API key may not use the model %q; the relay's auth.keys[].models grants more.", model)}
}

// ModelNotFound is a 404: the relay serves no such model.
func ModelNotFound(model, served string) *Error {
	msg := fmt.Sprintf("model: %s: the relay serves no such model.", model)
	if served != "" {
		msg += " Served: " + served + "."
	}
	return &Error{Status: http.StatusNotFound, Type: TypeNotFound, Code: "model_not_found", Message: msg}
}

// SetupHint is what an operator does when Bedrock refuses the relay's own roles.
const SetupHint = " The relay's AWS setup needs fixing (role permissions, model access or region); its operator can run `bedrock-relay check`."

// FromBedrock is a Bedrock error answer (after failover) in Anthropic's shape, by what its code means
// (relay.LookupCode); status is Bedrock's (200 for an exception frame inside a stream). A ValidationException
// keeps its message as it is: for Claude models it is Anthropic's own validation, passed on by Bedrock.
func FromBedrock(status int, code, message string) *Error {
	msg := message
	if msg == "" {
		msg = code
	}
	named := "Bedrock " + code + ": " + msg
	c := relay.LookupCode(code, status)
	switch c.Class {
	case relay.ClassCaller:
		if c.Status < 400 || c.Status >= 500 || c.Status == http.StatusRequestTimeout || c.Status == http.StatusFailedDependency {
			break // not a status that says the request was at fault
		}
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: code, Message: msg}
	case relay.ClassThrottle, relay.ClassDaily:
		return &Error{Status: http.StatusTooManyRequests, Type: TypeRateLimit, Code: code, Message: named, RetryAfter: time.Second}
	case relay.ClassSetup, relay.ClassExpired:
		return &Error{Status: http.StatusBadGateway, Type: TypeAPI, Code: code, Message: named + "." + SetupHint, NoRetry: true}
	case relay.ClassFault:
		switch c.Status {
		case http.StatusServiceUnavailable, http.StatusTooManyRequests: // ModelNotReadyException: not ready yet
			return &Error{Status: StatusOverloaded, Type: TypeOverloaded, Code: code, Message: named, RetryAfter: time.Second}
		case http.StatusRequestTimeout:
			return &Error{Status: http.StatusGatewayTimeout, Type: TypeTimeout, Code: code, Message: named}
		}
	}
	return &Error{Status: http.StatusInternalServerError, Type: TypeAPI, Code: code, Message: named}
}
