package sandbox

import (
	"net/http"

	"github.com/bedrock-relay/bedrock-relay/internal/awsenv"
)

// SDKHTTPClient is awsenv.LoopbackHTTPClient, for tests that point AWS SDK clients at a sandbox: see there
// why such clients need it (aws/aws-sdk-go-v2#2737).
func SDKHTTPClient(base *http.Client) *http.Client { return awsenv.LoopbackHTTPClient(base) }
