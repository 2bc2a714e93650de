package main

import (
	"context"
	"time"
)

// lambdaResult is the Lambda binary's start-to-ready time and warm invocation overhead.
type lambdaResult struct {
	ready    time.Duration
	overhead time.Duration
	note     string
}

func (l lambdaResult) markdown() string {
	return l.note
}

// measureLambda measures the Lambda bootstrap under the Runtime Interface Emulator, when both are there.
func (b *bench) measureLambda(ctx context.Context) lambdaResult {
	return lambdaResult{note: "not measured: cmd/bedrock-relay-lambda has no main package in this tree yet"}
}
