package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/internal/mainlib"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

func init() {
	register(command{name: "serve", synopsis: "serve the relay: one Bedrock Runtime endpoint in front of pooled accounts (--sandbox: in front of the offline sandbox)", run: runServe})
}

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "serve", "serve --config relay.yaml [--addr 127.0.0.1:8080] [--admin-addr 127.0.0.1:9090] | serve --sandbox [--addr ...]")
	cfgPath := fs.String("config", "", "relay config YAML (see examples/relay.yaml)")
	addr := fs.String("addr", "", "address to serve the Bedrock Runtime API on (default: server.addr, 127.0.0.1:8080)")
	adminAddr := fs.String("admin-addr", "", "address for /metrics, /healthz and /readyz (default: server.admin_addr, 127.0.0.1:9090)")
	useSandbox := fs.Bool("sandbox", false, "start the offline sandbox in-process and serve the pool of its default scenario (no config, auth: none on loopback, access log on)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (for `go tool pprof`; the bench's -cpuprofile uses it)")
	logs := addLogFlags(fs, "json")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "bedrock-relay serve: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return fmt.Errorf("serve: --cpuprofile: %w", err)
		}
		defer stop()
	}
	logger, err := logs.logger(e.stderr)
	if err != nil {
		return err
	}

	var cfg *config.Config
	var base aws.Config
	if *useSandbox {
		if *cfgPath != "" {
			fmt.Fprintln(e.stderr, "bedrock-relay serve: --sandbox makes its own config; drop --config")
			return errUsage
		}
		sbURL, stop, err := startSandbox(logger)
		if err != nil {
			return err
		}
		defer stop()
		var creds aws.Credentials
		cfg, creds = sandboxRelayConfig(sbURL)
		cfg.Server.AccessLog = true // a first run shows what each request did
		base = aws.Config{Region: sandbox.SeedRegion, BaseEndpoint: aws.String(sbURL),
			Credentials: credentials.StaticCredentialsProvider{Value: creds}}
	} else {
		if *cfgPath == "" {
			fmt.Fprintln(e.stderr, "bedrock-relay serve: give --config relay.yaml (examples/relay.yaml is a start), or --sandbox to try it offline")
			return errUsage
		}
		var err error
		if cfg, err = config.Load(*cfgPath, e.getenv); err != nil {
			return err
		}
	}
	if *addr != "" {
		cfg.Server.Addr = *addr
	}
	if *adminAddr != "" {
		cfg.Server.AdminAddr = *adminAddr
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if !*useSandbox {
		var err error
		if base, err = mainlib.LoadAWSConfig(ctx, cfg, e.getenv); err != nil {
			return err
		}
	}
	if err := checkServable(cfg); err != nil {
		return err
	}
	var accessLog *slog.Logger
	if cfg.Server.AccessLog {
		accessLog = logger.With("log", "access")
	}
	rl, err := mainlib.Build(ctx, cfg, base, mainlib.BuildOptions{Logger: logger, AccessLog: accessLog})
	if err != nil {
		return err
	}
	defer rl.Close() // writes the state backend's queued settlements
	return serveRelay(ctx, e, cfg, rl, logger, *useSandbox)
}

// checkServable refuses a config that validates but cannot serve, before anything claims to serve: TLS files
// that cannot be loaded as a key pair.
func checkServable(cfg *config.Config) error {
	if cfg.Server.TLSCertFile != "" {
		if _, err := tls.LoadX509KeyPair(cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile); err != nil {
			return fmt.Errorf("serve: server.tls_cert_file / tls_key_file: %w (fix the paths in the config, or drop both lines to serve plain HTTP on loopback)", err)
		}
	}
	return nil
}

// serveRelay listens on the API and admin addresses, prints how to reach them, and serves until ctx ends;
// then it stops accepting and lets the requests in flight, streams included, finish.
func serveRelay(ctx context.Context, e *env, cfg *config.Config, rl *mainlib.Relay, logger *slog.Logger, sandboxMode bool) error {
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("serve: listen on %s: %w (pick another --addr)", cfg.Server.Addr, err)
	}
	errLog := slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	// ReadTimeout only backs up the handler, which holds each body to server.body_timeout from the request's
	// arrival (answering 408) and lifts the deadline once the body is in: net/http cancels a request's context
	// when the connection's read deadline passes, and a stream lasts as long as the model writes. No write
	// timeout, for the same reason: routing.request_timeout bounds each request, stream included.
	srv := &http.Server{Handler: rl.Handler, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: time.Duration(cfg.Server.BodyTimeout) + 10*time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: errLog}
	// HTTP/1.1 and HTTP/2, over TLS and unencrypted (prior knowledge): the AWS SDK for JavaScript v3 speaks
	// HTTP/2 to Bedrock Runtime by default, and on an http:// endpoint it does so without TLS.
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetHTTP2(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	servers := []*http.Server{srv}
	errc := make(chan error, 2)
	useTLS := cfg.Server.TLSCertFile != ""
	go func() {
		if useTLS {
			errc <- srv.ServeTLS(ln, cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	adminURL := ""
	if cfg.Server.AdminAddr != "" {
		aln, err := net.Listen("tcp", cfg.Server.AdminAddr)
		if err != nil {
			srv.Close()
			return fmt.Errorf("serve: listen on %s for the admin endpoints: %w (pick another --admin-addr)", cfg.Server.AdminAddr, err)
		}
		admin := &http.Server{Handler: rl.Admin, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: errLog}
		servers = append(servers, admin)
		adminURL = "http://" + aln.Addr().String()
		go func() { errc <- admin.Serve(aln) }()
	}
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	printBanner(e.stdout, cfg, scheme+"://"+ln.Addr().String(), adminURL, sandboxMode)

	select {
	case err := <-errc:
		for _, s := range servers {
			s.Close()
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// /readyz says draining from now on, so that a load balancer stops sending. In-flight requests are bounded
	// by the request timeout; give them that long to finish.
	rl.Draining.Store(true)
	grace := max(time.Duration(cfg.Routing.RequestTimeout)+5*time.Second, 30*time.Second)
	logger.Info("shutting down: finishing requests in flight", "grace", grace.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var errs []error
	for _, s := range servers {
		if err := s.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func printBanner(w io.Writer, cfg *config.Config, endpoint, adminURL string, sandboxMode bool) {
	what := fmt.Sprintf("%d targets", len(cfg.Targets))
	if sandboxMode {
		what = "the sandbox's pool"
	}
	fmt.Fprintf(w, "# bedrock-relay serving %s on %s (auth: %s)\n", what, endpoint, cfg.Auth.Mode)
	for _, t := range cfg.Targets {
		fmt.Fprintf(w, "#   target %s: %s in %s, %s", t.Name, t.RoleARN, t.Region, strings.Join(t.Models, ", "))
		if rpm := t.Budgets.RequestsPerMinute; rpm.N > 0 || rpm.Auto {
			v, _ := rpm.MarshalYAML()
			fmt.Fprintf(w, " (%v requests/minute)", v)
		}
		fmt.Fprintln(w)
	}
	if adminURL != "" {
		fmt.Fprintf(w, "# admin: %s/metrics, /healthz, /readyz\n", adminURL)
	}
	fmt.Fprintln(w, "# Point the AWS SDKs and CLI at it:")
	fmt.Fprintf(w, "export AWS_ENDPOINT_URL_BEDROCK_RUNTIME=%s\n", endpoint)
	if cfg.Auth.Mode == "none" {
		fmt.Fprintln(w, "# auth is none: any credentials do (a bearer token would need HTTPS).")
		fmt.Fprintf(w, "export AWS_REGION=%[1]s AWS_DEFAULT_REGION=%[1]s AWS_ACCESS_KEY_ID=relay AWS_SECRET_ACCESS_KEY=relay\n", cfg.Source.Region)
		fmt.Fprintln(w, "unset AWS_SESSION_TOKEN AWS_PROFILE AWS_BEARER_TOKEN_BEDROCK")
	} else {
		fmt.Fprintln(w, "export AWS_BEARER_TOKEN_BEDROCK=<a relay key from `bedrock-relay keys new NAME`>")
	}
	if len(cfg.Targets) > 0 && len(cfg.Targets[0].Models) > 0 {
		fmt.Fprintf(w, "# e.g. aws bedrock-runtime converse --model-id %s --messages '[{\"role\":\"user\",\"content\":[{\"text\":\"hello\"}]}]'\n",
			strings.SplitN(cfg.Targets[0].Models[0], "=", 2)[0])
	}
}

// startSandbox serves the sandbox's default scenario on a free loopback port.
func startSandbox(logger *slog.Logger) (endpoint string, stop func(), err error) {
	sb, err := sandbox.New(sandbox.DefaultScenario(), sandbox.WithLogger(logger))
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("sandbox: listen on a loopback port: %w", err)
	}
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// sandboxRelayConfig is the pool of the sandbox's default scenario: its two Bedrock accounts as targets for the
// jp. Sonnet 4.5, Haiku 4.5 and Opus 5.5 profiles in ap-northeast-1 (Opus 5.5 is Claude Code 2.1.333's default
// main model, Haiku the small, fast model it calls beside it), each with per-model requests- and tokens-per-minute budgets equal to its sandbox quota
// (the scenario gives both models the same), and auth: none on loopback. The credentials are the scenario's
// caller session (its Lambda execution role).
func sandboxRelayConfig(endpoint string) (*config.Config, aws.Credentials) {
	sc := sandbox.DefaultScenario()
	cfg := config.Default()
	cfg.Auth.Mode = "none"
	cfg.Source = config.Source{Region: sc.DefaultRegion, Endpoint: endpoint}
	cfg.Aliases = map[string]string{"sonnet": "anthropic.claude-sonnet-4-5-20250929-v1:0", "haiku": "anthropic.claude-haiku-4-5-20251001-v1:0",
		"opus": "anthropic.claude-opus-5-5"}
	for _, acct := range []string{sandbox.SmallAccount, sandbox.LargeAccount} {
		t := config.TargetSpec{Name: "sandbox-" + acct, RoleARN: sandbox.TargetRoleARN(acct), Region: sandbox.SeedRegion,
			Models: []string{sandbox.SeedProfile, sandbox.HaikuProfile, sandbox.OpusProfile}}
		for _, q := range sc.Accounts[acct].Quotas {
			if q.Model == sandbox.SeedProfile {
				t.Budgets.RequestsPerMinute = config.Limit{N: q.RequestsPerMinute}
				t.Budgets.TokensPerMinute = config.Limit{N: q.TokensPerMinute}
			}
		}
		cfg.Targets = append(cfg.Targets, t)
	}
	cfg.FillDefaults()
	c := sc.Caller
	return &cfg, aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken, Source: "bedrock-relay sandbox"}
}

// startCPUProfile profiles the process into path until the returned stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
