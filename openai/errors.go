package openai

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	relay "github.com/bedrock-relay/bedrock-relay"
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

// SetupHint is what an operator does when Bedrock refuses the relay's own roles.
const SetupHint = " The relay's AWS setup needs fixing (role permissions, model access or region); its operator can run `bedrock-relay check`."

// FromBedrock is a Bedrock error answer (after failover) in OpenAI's shape, by what its code means
// (relay.LookupCode); status is Bedrock's (200 for an exception frame inside a stream).
func FromBedrock(status int, code, message string) *Error {
	msg := message
	if msg == "" {
		msg = code
	}
	msg = "Bedrock: " + msg
	c := relay.LookupCode(code, status)
	switch c.Class {
	case relay.ClassCaller:
		if c.Status < 400 || c.Status >= 500 || c.Status == http.StatusRequestTimeout || c.Status == http.StatusFailedDependency {
			break // not a status that says the request was at fault
		}
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: code, Message: msg}
	case relay.ClassThrottle, relay.ClassDaily:
		return &Error{Status: http.StatusTooManyRequests, Type: TypeRateLimit, Code: code, Message: msg, RetryAfter: time.Second}
	case relay.ClassSetup, relay.ClassExpired:
		return &Error{Status: http.StatusBadGateway, Type: TypeAPI, Code: code, Message: msg + "." + SetupHint}
	case relay.ClassFault:
		switch c.Status {
		case http.StatusServiceUnavailable, http.StatusTooManyRequests: // ModelNotReadyException: not ready yet
			return &Error{Status: http.StatusServiceUnavailable, Type: TypeAPI, Code: code, Message: msg}
		case http.StatusRequestTimeout:
			return &Error{Status: http.StatusGatewayTimeout, Type: TypeAPI, Code: code, Message: msg}
		}
	}
	return &Error{Status: http.StatusBadGateway, Type: TypeAPI, Code: code, Message: msg}
}
