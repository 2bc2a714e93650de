// Command bedrock-relay-lambda is the bedrock-relay Lambda function (runtime provided.al2023): the seed
// article's cross-account Bedrock call, configured by environment variables. See internal/lambdafn.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bedrock-relay/bedrock-relay/internal/lambdafn"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	lambda.Start(lambdafn.NewFromEnv(context.Background(), os.Getenv, log))
}
