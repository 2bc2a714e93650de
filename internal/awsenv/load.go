package awsenv

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Options tune Load. The zero value is the process environment and the SDK's default chain.
type Options struct {
	// Getenv reads the environment; nil is os.Getenv.
	Getenv func(string) string
	// Region, when set, wins over AWS_REGION and AWS_DEFAULT_REGION.
	Region string
	// Endpoint, when set, overrides every service endpoint (a relay config's source.endpoint), winning over
	// AWS_ENDPOINT_URL.
	Endpoint string
}

// Load is the caller's SDK configuration. With AWS_ACCESS_KEY_ID in the environment it is built from the
// environment alone (the keys, AWS_REGION or AWS_DEFAULT_REGION, AWS_ENDPOINT_URL), so that a test or a
// Lambda environment fully decides it. Otherwise the SDK's default chain runs (shared config and profiles,
// SSO, container and instance credentials); that chain reads the process environment itself, which is what
// Getenv is outside tests. An endpoint on this machine gets LoopbackHTTPClient.
func Load(ctx context.Context, o Options) (aws.Config, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	region := o.Region
	if region == "" {
		region = getenv("AWS_REGION")
	}
	if region == "" {
		region = getenv("AWS_DEFAULT_REGION")
	}
	endpoint := o.Endpoint
	if endpoint == "" {
		endpoint = getenv("AWS_ENDPOINT_URL")
	}
	var cfg aws.Config
	if id := getenv("AWS_ACCESS_KEY_ID"); id != "" {
		cfg = aws.Config{
			Region:      region,
			Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, getenv("AWS_SECRET_ACCESS_KEY"), getenv("AWS_SESSION_TOKEN"))),
		}
		if endpoint != "" {
			cfg.BaseEndpoint = aws.String(endpoint)
		}
	} else {
		var opts []func(*awsconfig.LoadOptions) error
		if region != "" {
			opts = append(opts, awsconfig.WithRegion(region))
		}
		if endpoint != "" {
			opts = append(opts, awsconfig.WithBaseEndpoint(endpoint))
		}
		var err error
		if cfg, err = awsconfig.LoadDefaultConfig(ctx, opts...); err != nil {
			return aws.Config{}, fmt.Errorf("load AWS source credentials: %w", err)
		}
	}
	if cfg.BaseEndpoint != nil && IsLoopback(*cfg.BaseEndpoint) {
		// A server on this machine answers fast enough to lose the SDK's request-body race
		// (aws/aws-sdk-go-v2#2737), which cuts responses, event streams most, at random.
		cfg.HTTPClient = LoopbackHTTPClient(nil)
	}
	return cfg, nil
}
