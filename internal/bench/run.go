// Package bench measures what bedrock-relay costs per request against a floor, side by side in one run:
// the sandbox called directly, a minimal SigV4 re-signing reverse proxy, bedrock-relay itself, and the
// per-request-AssumeRole flow of the usual Lambda sample. Every server is its own process on loopback, so
// the CPU time and memory of each are its own.
//
//	go run ./bench            # the full set (about 15 minutes)
//	go run ./bench -quick     # a reduced set in under a minute, ending with a one-line summary
//	go run ./bench -out bench/results-latest.md
package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"time"
)

// Main is the bench command: `serve-proxy` runs the reference proxy (the command re-executes itself for
// it, so that the proxy's CPU and memory are its own process's); anything else is a measurement run.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "serve-proxy" {
		return runProxy(ctx, args[1:])
	}
	return run(ctx, args, stdout, stderr)
}

// settings are the run's knobs; -quick picks smaller ones.
type settings struct {
	quick      bool
	out        string
	rates      []float64     // fixed rates for the latency table
	cell       time.Duration // how long each fixed-rate cell runs, per round
	rounds     int           // fixed-rate rounds, systems taking turns
	warmup     time.Duration
	ladder     []float64 // rates tried for the highest sustained rate
	ladderStep time.Duration
	soak       time.Duration
	streams    int // concurrent streams for the memory test
	targets    int // relay targets (sandbox accounts) to pool
	lambdaPkg  string
	relayEnv   []string // extra environment for the relay process (GOGC, GOMEMLIMIT experiments)
	phases     map[string]bool
	phasesArg  string          // -phases as given, for the report's command line
	words      int             // answer tokens at zero model latency
	redis      string          // the redis-server binary, for the shared phase
	profDir    string          // -cpuprofile: where the relay and the proxy write their CPU profiles
	sbAddr     string          // where the sandbox listens ("": a free port)
	peersNote  string          // why the peers phase cannot run, if it cannot
	ops        map[string]bool // -ops: the fixed-rate request shapes measured (empty: all)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "a reduced run in under a minute")
	out := fs.String("out", "", "also write the markdown report to this file")
	soak := fs.Duration("soak", 2*time.Minute, "soak length (full run)")
	cell := fs.Duration("cell", 5*time.Second, "length of each fixed-rate measurement per round (full run)")
	lambdaPkg := fs.String("lambda", "./cmd/bedrock-relay-lambda", "the Lambda bootstrap's main package")
	phases := fs.String("phases", "fixed,ladder,soak,paced,streams,lambda", "which measurements to run: fixed, ladder, soak, paced, streams, lambda, faults (the fault matrix), shared (two relays sharing budgets through a redis-server against one with the memory backend), peers (Portkey's gateway from npm against the relay on the OpenAI path; needs port 80 on loopback)")
	opsFlag := fs.String("ops", "", "comma-separated request shapes for the fixed-rate phase (default all): InvokeModel, Converse, ConverseStream, InvokeModelWithResponseStream, OpenAI, OpenAIStream, Anthropic, AnthropicStream")
	profDir := fs.String("cpuprofile", "", "a directory: the relay and the reference proxy each write a CPU profile of their process's life there (relay-N.cpu, proxy-N.cpu)")
	var relayEnv multiFlag
	fs.Var(&relayEnv, "relay-env", "KEY=VALUE added to the relay's environment (repeatable), e.g. GOMEMLIMIT=48MiB")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// The load generator shares the machine with what it measures: collect its garbage less often.
	debug.SetGCPercent(400)
	s := settings{quick: *quick, out: *out, rates: []float64{200, 1000}, cell: *cell, rounds: 3, warmup: time.Second,
		ladder: []float64{1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000}, ladderStep: 5 * time.Second,
		soak: *soak, streams: 1000, targets: 2, words: 50}
	s.lambdaPkg, s.phases, s.relayEnv, s.profDir = *lambdaPkg, map[string]bool{}, relayEnv, *profDir
	if *phases != fs.Lookup("phases").DefValue {
		s.phasesArg = *phases
	}
	for _, p := range strings.Split(*phases, ",") {
		s.phases[strings.TrimSpace(p)] = true
	}
	if *opsFlag != "" {
		known := ops(1)
		s.ops = map[string]bool{}
		for _, n := range strings.Split(*opsFlag, ",") {
			n = strings.TrimSpace(n)
			if _, ok := known[n]; !ok {
				return fmt.Errorf("-ops: unknown request shape %q", n)
			}
			s.ops[n] = true
		}
	}
	if s.phases["shared"] {
		// Before anything is built or measured: a run must not end, minutes in, for want of it.
		var err error
		if s.redis, err = exec.LookPath("redis-server"); err != nil {
			return fmt.Errorf("phase shared needs redis-server (apt-get install redis-server): %w", err)
		}
	}
	if s.phases["peers"] {
		// Before anything is built: the sandbox must then listen on port 80 for Portkey.
		if s.peersNote = peersPreflight(); s.peersNote == "" {
			s.sbAddr = peersSandboxAddr
		} else {
			fmt.Fprintf(stderr, "bench: the peers phase will be skipped: %s\n", s.peersNote)
		}
	}
	if s.quick {
		s.rates, s.cell, s.rounds, s.warmup, s.ladder, s.soak, s.streams = []float64{1000}, 1500*time.Millisecond, 2, 250*time.Millisecond, nil, 0, 0
	}
	b, err := newBench(ctx, s, stderr)
	if err != nil {
		return err
	}
	defer b.close()
	rep, err := b.runAll(ctx)
	if err != nil {
		return err
	}
	md := rep.markdown()
	fmt.Fprint(stdout, md)
	if s.out != "" {
		if err := os.WriteFile(s.out, []byte(md), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, rep.summary())
	return nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
