package httpapi_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/smithy-go"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// A client pointed at the relay with AWS credentials instead of a relay key is told what the endpoint is and
// what it expects, in Bedrock's shape.
func TestNoRelayKeySaysWhatToSet(t *testing.T) {
	e := newEnv(t, nil)
	sigv4 := bedrockruntime.New(bedrockruntime.Options{Region: sandbox.SeedRegion, BaseEndpoint: aws.String(e.srv.URL),
		HTTPClient: e.srv.Client(), RetryMaxAttempts: 1, Credentials: credentials.NewStaticCredentialsProvider("AKIAEXAMPLE", "secret", "")})
	_, err := converse(context.Background(), sigv4)
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnrecognizedClientException" ||
		!strings.Contains(ae.ErrorMessage(), "bedrock-relay") || !strings.Contains(ae.ErrorMessage(), "AWS_BEARER_TOKEN_BEDROCK") {
		t.Errorf("SigV4 to the relay: got %v, want UnrecognizedClientException naming the relay and AWS_BEARER_TOKEN_BEDROCK", err)
	}
	_, err = converse(context.Background(), e.client("brk-not-a-key-0123456789"))
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnrecognizedClientException" || strings.Contains(ae.ErrorMessage(), "brk-not-a-key") {
		t.Errorf("an unknown key: got %v, want UnrecognizedClientException that does not echo the key", err)
	}
}
