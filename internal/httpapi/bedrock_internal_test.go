package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bedrock-relay/bedrock-relay/router"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

func TestSplitModelPath(t *testing.T) {
	tests := []struct {
		path, id, op string
		ok           bool
	}{
		{"/model/jp.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke", "jp.anthropic.claude-sonnet-4-5-20250929-v1:0", "invoke", true},
		{"/model/jp.anthropic.claude-sonnet-4-5-20250929-v1:0/converse-stream", "jp.anthropic.claude-sonnet-4-5-20250929-v1:0", "converse-stream", true},
		{"/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc123/invoke",
			"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123", "invoke", true},
		{"/model/arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123/converse",
			"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123", "converse", true},
		{"/model//invoke", "", "", false},
		{"/model/invoke", "", "", false},
		{"/model/abc%zz/invoke", "", "", false},
		{"/models/x/invoke", "", "", false},
		{"/model/%20x/invoke", "", "", false},
	}
	for _, tt := range tests {
		id, op, ok := splitModelPath(tt.path)
		if id != tt.id || op != tt.op || ok != tt.ok {
			t.Errorf("splitModelPath(%q) = %q, %q, %v; want %q, %q, %v", tt.path, id, op, ok, tt.id, tt.op, tt.ok)
		}
	}
}

func FuzzSplitModelPath(f *testing.F) {
	f.Add("/model/jp.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke")
	f.Add("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc/converse")
	f.Add("/model/%/x")
	f.Fuzz(func(t *testing.T, p string) {
		id, op, ok := splitModelPath(p)
		if ok && (id == "" || strings.Contains(op, "/")) {
			t.Errorf("splitModelPath(%q) = %q, %q, true", p, id, op)
		}
	})
}

func TestAsError(t *testing.T) {
	upstreamHdr := http.Header{"X-Amzn-Errortype": {"ThrottlingException:http://internal.amazon.com/coral/"}, "X-Amzn-Requestid": {"req-1"}, "Content-Type": {"application/json"}}
	tests := []struct {
		name       string
		err        error
		status     int
		code       string
		retryAfter string
		body       string
	}{
		{"caller error", &router.CallerError{Code: "ValidationException", Message: "no such model"}, 400, "ValidationException", "", ""},
		{"exhausted", &router.ExhaustedError{Model: "m", RetryAfter: 1500 * time.Millisecond}, 429, "ThrottlingException", "2", ""},
		{"exhausted under a second", &router.ExhaustedError{Model: "m", RetryAfter: 10 * time.Millisecond}, 429, "ThrottlingException", "1", ""},
		{"setup", &router.ExhaustedError{Model: "m", Setup: true}, 503, "ServiceUnavailableException", "", ""},
		{"upstream verbatim", &router.FinalError{Err: &upstream.Error{Status: 429, Code: "ThrottlingException", Header: upstreamHdr, Body: []byte(`{"message":"Too many tokens"}`)}},
			429, "ThrottlingException:http://internal.amazon.com/coral/", "", `{"message":"Too many tokens"}`},
		{"stream exception as first event", &router.FinalError{Err: &upstream.Error{Status: 200, Code: "ModelStreamErrorException", Message: "broke"}}, 424, "ModelStreamErrorException", "", ""},
		{"connection failures", &router.FinalError{Cause: errors.New("dial tcp: connection refused"), Attempts: []router.Attempt{{Target: "a", Code: "ConnectionError"}}}, 502, "ServiceUnavailableException", "", ""},
		{"deadline", &router.FinalError{Cause: fmt.Errorf("post: %w", context.DeadlineExceeded)}, 503, "ServiceUnavailableException", "", ""},
		{"anything else", errors.New("boom"), 500, "InternalServerException", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{h: http.Header{}}
			writeBedrockError(rec, AsError(tt.err))
			if rec.status != tt.status || rec.h.Get("X-Amzn-Errortype") != tt.code || rec.h.Get("Retry-After") != tt.retryAfter {
				t.Errorf("got %d %q Retry-After %q, want %d %q %q", rec.status, rec.h.Get("X-Amzn-Errortype"), rec.h.Get("Retry-After"), tt.status, tt.code, tt.retryAfter)
			}
			if tt.body != "" && rec.body.String() != tt.body {
				t.Errorf("body %s, want %s verbatim", rec.body.String(), tt.body)
			}
			if !strings.Contains(rec.body.String(), `"message"`) {
				t.Errorf("body %s has no message", rec.body.String())
			}
			if rec.h.Get("X-Amzn-Requestid") == "" {
				t.Errorf("no request id")
			}
		})
	}
}

type recorder struct {
	h      http.Header
	status int
	body   strings.Builder
}

func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) WriteHeader(s int)           { r.status = s }
func (r *recorder) Write(p []byte) (int, error) { return r.body.Write(p) }
