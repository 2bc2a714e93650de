// Command bedrock-relay-lambda-url runs the relay as a Lambda function behind a Function URL with response
// streaming (InvokeMode RESPONSE_STREAM, AuthType NONE: callers authenticate with relay keys as bearer
// tokens). It serves the same handler as `bedrock-relay serve`, so the SDKs and the AWS CLI work unchanged
// with AWS_ENDPOINT_URL_BEDROCK_RUNTIME set to the Function URL.
//
// The relay config comes from BEDROCK_RELAY_CONFIG (the path of a YAML file packaged with the function) or
// BEDROCK_RELAY_CONFIG_YAML (the YAML itself). The function's execution role is the source of the
// credentials that assume each target's role. Build for the provided.al2023 runtime:
//
//	GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -o bootstrap ./cmd/bedrock-relay-lambda-url
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/lambdaurl"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/internal/mainlib"
)

func main() {
	h, err := setup(context.Background(), os.Getenv, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bedrock-relay-lambda-url: "+err.Error())
		os.Exit(1)
	}
	lambdaurl.Start(h)
}

// setup builds the relay's handler from the config the environment names.
func setup(ctx context.Context, getenv func(string) string, stderr io.Writer) (http.Handler, error) {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return nil, err
	}
	if cfg.Auth.Mode != "keys" {
		return nil, errors.New("auth.mode must be keys: a Function URL is reachable from anywhere (make keys with `bedrock-relay keys new NAME`)")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base, err := mainlib.LoadAWSConfig(ctx, cfg, getenv)
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	var accessLog *slog.Logger
	if cfg.Server.AccessLog {
		accessLog = logger
	}
	rl, err := mainlib.Build(ctx, cfg, base, mainlib.BuildOptions{Logger: logger, AccessLog: accessLog, Getenv: getenv})
	if err != nil {
		return nil, err
	}
	return rl.Handler, nil
}

func loadConfig(getenv func(string) string) (*config.Config, error) {
	path, inline := getenv("BEDROCK_RELAY_CONFIG"), getenv("BEDROCK_RELAY_CONFIG_YAML")
	switch {
	case path != "" && inline != "":
		return nil, errors.New("set BEDROCK_RELAY_CONFIG (a file) or BEDROCK_RELAY_CONFIG_YAML (the YAML), not both")
	case path != "":
		return config.Load(path, getenv)
	case inline != "":
		cfg := config.Default()
		if err := config.Parse([]byte(inline), &cfg); err != nil {
			return nil, fmt.Errorf("BEDROCK_RELAY_CONFIG_YAML: %w", err)
		}
		if cfg.Source.Region == "" {
			cfg.Source.Region = getenv("AWS_REGION") // set by Lambda
		}
		cfg.FillDefaults()
		return &cfg, nil
	}
	return nil, errors.New("no relay config: set BEDROCK_RELAY_CONFIG to a YAML file's path or BEDROCK_RELAY_CONFIG_YAML to the YAML")
}
