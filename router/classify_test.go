package router

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/smithy-go"

	relay "github.com/bedrock-relay/bedrock-relay"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

func TestClassify(t *testing.T) {
	sts := func(code string) error {
		return &upstream.CredentialsError{Err: fmt.Errorf("assume role: %w", &smithy.GenericAPIError{Code: code, Message: "m"})}
	}
	tests := []struct {
		name string
		err  error
		want relay.Class
	}{
		{"Bedrock throttle", &upstream.Error{Status: 429, Code: "ThrottlingException"}, relay.ClassThrottle},
		{"Bedrock daily quota", &upstream.Error{Status: 429, Code: "ThrottlingException", Message: "Too many tokens per day"}, relay.ClassDaily},
		{"Bedrock 503", &upstream.Error{Status: 503, Code: "ServiceUnavailableException"}, relay.ClassFault},
		{"Bedrock unknown 5xx", &upstream.Error{Status: 502, Code: "HTTP502"}, relay.ClassFault},
		{"Bedrock validation", &upstream.Error{Status: 400, Code: "ValidationException"}, relay.ClassCaller},
		{"Bedrock access denied", &upstream.Error{Status: 403, Code: "AccessDeniedException"}, relay.ClassSetup},
		{"STS access denied", sts("AccessDenied"), relay.ClassSetup},
		{"STS malformed policy", sts("MalformedPolicyDocument"), relay.ClassSetup},
		{"STS throttling", sts("Throttling"), relay.ClassFault},
		{"STS 503", sts("ServiceUnavailable"), relay.ClassFault},
		{"STS 500", sts("InternalFailure"), relay.ClassFault},
		{"STS unreachable", &upstream.CredentialsError{Err: errors.New("dial tcp: connection refused")}, relay.ClassFault},
		{"caller went away", context.Canceled, relay.ClassCaller},
		{"connection reset", errors.New("read: connection reset by peer"), relay.ClassFault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, _ := classify(tt.err); got != tt.want {
				t.Errorf("classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
