package httpapi

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/bedrock-relay/bedrock-relay/openai"
	"github.com/bedrock-relay/bedrock-relay/router"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

func TestOpenAIError(t *testing.T) {
	final := func(status int, code string) error {
		return &router.FinalError{Err: &upstream.Error{Status: status, Code: code, Message: "m"}, Cause: errors.New(code)}
	}
	tests := []struct {
		name       string
		err        error
		status     int
		typ, code  string
		retryAfter time.Duration
	}{
		{"caller error", &router.CallerError{Code: "ValidationException", Message: "x"}, 400, openai.TypeInvalidRequest, "invalid_request", 0},
		{"exhausted", &router.ExhaustedError{Model: "m", RetryAfter: 1500 * time.Millisecond}, 429, openai.TypeRateLimit, "rate_limit_exceeded", 1500 * time.Millisecond},
		{"exhausted by setup", &router.ExhaustedError{Model: "m", Setup: true}, 502, openai.TypeAPI, "upstream_setup_error", 0},
		{"upstream validation", final(400, "ValidationException"), 400, openai.TypeInvalidRequest, "ValidationException", 0},
		{"upstream throttling", final(429, "ThrottlingException"), 429, openai.TypeRateLimit, "ThrottlingException", time.Second},
		{"access denied", final(403, "AccessDeniedException"), 502, openai.TypeAPI, "AccessDeniedException", 0},
		{"model not enabled", final(404, "ResourceNotFoundException"), 502, openai.TypeAPI, "ResourceNotFoundException", 0},
		{"unavailable", final(503, "ServiceUnavailableException"), 503, openai.TypeAPI, "ServiceUnavailableException", 0},
		{"internal", final(500, "InternalServerException"), 502, openai.TypeAPI, "InternalServerException", 0},
		{"model error", final(424, "ModelErrorException"), 502, openai.TypeAPI, "ModelErrorException", 0},
		{"model timeout", final(408, "ModelTimeoutException"), 504, openai.TypeAPI, "ModelTimeoutException", 0},
		{"no connection", &router.FinalError{Cause: errors.New("connection refused")}, 502, openai.TypeAPI, "upstream_unreachable", 0},
		{"deadline", &router.FinalError{Cause: context.DeadlineExceeded}, 504, openai.TypeAPI, "timeout", 0},
		{"canceled", context.Canceled, 499, openai.TypeAPI, "canceled", 0},
		{"ours", openai.ModelNotAllowed("m"), 403, openai.TypePermission, "model_not_allowed", 0},
		{"anything else", errors.New("boom"), 500, openai.TypeAPI, "internal_error", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := openAIError(tt.err)
			if e.Status != tt.status || e.Type != tt.typ || e.Code != tt.code || e.RetryAfter != tt.retryAfter {
				t.Errorf("got %d %s %s retry %v, want %d %s %s retry %v", e.Status, e.Type, e.Code, e.RetryAfter, tt.status, tt.typ, tt.code, tt.retryAfter)
			}
		})
	}
}

func TestErrorWriteRetryAfter(t *testing.T) {
	rec := &recorder{h: http.Header{}}
	writeOpenAIError(rec, openAIError(&router.ExhaustedError{Model: "m", RetryAfter: 1500 * time.Millisecond}), nil)
	if rec.status != 429 || rec.h.Get("Retry-After") != "2" || rec.h.Get("Retry-After-Ms") != "1500" {
		t.Errorf("got %d Retry-After %q retry-after-ms %q, want 429, 2, 1500", rec.status, rec.h.Get("Retry-After"), rec.h.Get("Retry-After-Ms"))
	}
}
