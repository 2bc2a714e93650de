package relay_test

import (
	"net/http"
	"testing"

	relay "github.com/bedrock-relay/bedrock-relay"
)

func TestAccountOf(t *testing.T) {
	for in, want := range map[string]string{
		"arn:aws:iam::222222222222:role/BedrockAccessRole":                             "222222222222",
		"arn:aws:sts::111111111111:assumed-role/lambda-execution-role/s":               "111111111111",
		"arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-3-haiku":    "",
		"arn:aws-us-gov:bedrock:us-gov-west-1:333333333333:inference-profile/us-gov.x": "333333333333",
		"not an arn": "", "": "",
	} {
		if got := relay.AccountOf(in); got != want {
			t.Errorf("AccountOf(%q) = %q, want %q", in, got, want)
		}
	}
	if got := relay.PartitionOf("arn:aws-cn:iam::222222222222:role/x", "aws"); got != "aws-cn" {
		t.Errorf("PartitionOf: got %q, want aws-cn", got)
	}
	if got := relay.PartitionOf("*", "aws"); got != "aws" {
		t.Errorf("PartitionOf of a non-ARN: got %q, want the default", got)
	}
	if _, err := relay.RoleAccount("arn:aws:iam::222222222222:user/bob"); err == nil {
		t.Error("RoleAccount of a user ARN: got no error")
	}
}

// TestCodeTable holds the table to botocore's declared statuses for Bedrock Runtime and to the classes the
// router fails over by.
func TestCodeTable(t *testing.T) {
	tests := []struct {
		code     string
		status   int
		class    relay.Class
		sentinel error
	}{
		{"ValidationException", http.StatusBadRequest, relay.ClassCaller, relay.ErrInvalidRequest},
		{"AccessDeniedException", http.StatusForbidden, relay.ClassSetup, relay.ErrAccessDenied},
		{"ResourceNotFoundException", http.StatusNotFound, relay.ClassSetup, relay.ErrNotFound},
		{"ThrottlingException", http.StatusTooManyRequests, relay.ClassThrottle, relay.ErrThrottled},
		{"ServiceQuotaExceededException", http.StatusBadRequest, relay.ClassThrottle, relay.ErrThrottled},
		{"ModelNotReadyException", http.StatusTooManyRequests, relay.ClassFault, relay.ErrThrottled},
		{"ModelTimeoutException", http.StatusRequestTimeout, relay.ClassFault, relay.ErrUpstream},
		{"ModelErrorException", http.StatusFailedDependency, relay.ClassFault, relay.ErrUpstream},
		{"ModelStreamErrorException", http.StatusFailedDependency, relay.ClassFault, relay.ErrUpstream},
		{"InternalServerException", http.StatusInternalServerError, relay.ClassFault, relay.ErrUpstream},
		{"ServiceUnavailableException", http.StatusServiceUnavailable, relay.ClassFault, relay.ErrUpstream},
		{"ExpiredTokenException", http.StatusForbidden, relay.ClassExpired, relay.ErrExpiredCredentials},
		{"ExpiredToken", http.StatusForbidden, relay.ClassExpired, relay.ErrExpiredCredentials},
	}
	for _, tt := range tests {
		c := relay.LookupCode(tt.code, 0)
		if c.Status != tt.status || c.Class != tt.class || c.Sentinel != tt.sentinel {
			t.Errorf("%s: got %d %v %v, want %d %v %v", tt.code, c.Status, c.Class, c.Sentinel, tt.status, tt.class, tt.sentinel)
		}
	}
	if c := relay.LookupCode("SomethingNew", 502); c.Class != relay.ClassFault || c.Status != 502 {
		t.Errorf("an unknown 5xx: got %v %d, want a fault with its own status", c.Class, c.Status)
	}
	if c := relay.LookupCode("SomethingNew", 400); c.Class != relay.ClassCaller {
		t.Errorf("an unknown 4xx: got %v, want the caller's", c.Class)
	}
	if got := relay.ClassOf("ThrottlingException", 429, "Too many tokens per day, please wait"); got != relay.ClassDaily {
		t.Errorf("a daily throttle: got %v, want daily", got)
	}
}
