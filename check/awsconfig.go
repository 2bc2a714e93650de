package check

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// AWSConfig is the caller's SDK configuration. With AWS_ACCESS_KEY_ID in getenv it is built from getenv alone
// (keys, AWS_REGION or AWS_DEFAULT_REGION, AWS_ENDPOINT_URL), so that a test or a Lambda environment fully
// decides it. Otherwise the SDK's default chain runs (shared config and profiles, container and instance
// credentials); that chain reads the process environment itself, which is what getenv is outside tests.
// endpoint, when set, overrides every service endpoint (a relay config's source.endpoint).
func AWSConfig(ctx context.Context, getenv func(string) string, endpoint string) (aws.Config, error) {
	region := getenv("AWS_REGION")
	if region == "" {
		region = getenv("AWS_DEFAULT_REGION")
	}
	if endpoint == "" {
		endpoint = getenv("AWS_ENDPOINT_URL")
	}
	if id := getenv("AWS_ACCESS_KEY_ID"); id != "" {
		cfg := aws.Config{
			Region:      region,
			Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, getenv("AWS_SECRET_ACCESS_KEY"), getenv("AWS_SESSION_TOKEN"))),
		}
		if endpoint != "" {
			cfg.BaseEndpoint = aws.String(endpoint)
		}
		return cfg, nil
	}
	var opts []func(*awsconfig.LoadOptions) error
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	if endpoint != "" {
		opts = append(opts, awsconfig.WithBaseEndpoint(endpoint))
	}
	return awsconfig.LoadDefaultConfig(ctx, opts...)
}
