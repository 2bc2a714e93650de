// Command bench measures what bedrock-relay costs per request against a floor (the sandbox called directly,
// a minimal SigV4 re-signing proxy, the relay, the per-request-AssumeRole Lambda flow); internal/bench is the
// harness, bench/RESULTS.md the figures.
//
//	go run ./bench            # the full set (about 15 minutes)
//	go run ./bench -quick     # a reduced set in under a minute, ending with a one-line summary
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/bedrock-relay/bedrock-relay/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := bench.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
