package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

func init() {
	register(command{name: "sandbox", synopsis: "serve the offline STS + Bedrock Runtime emulator (sandbox env: print its shell exports)", run: runSandbox})
}

const defaultSandboxAddr = "127.0.0.1:4566"

func runSandbox(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "env" {
		return runSandboxEnv(e, args[1:])
	}
	fs := newFlags(e, "sandbox", "sandbox [--addr 127.0.0.1:4566] [--config sandbox.yaml] | sandbox env [--addr ...]")
	addr := fs.String("addr", defaultSandboxAddr, "address to listen on")
	cfgPath := fs.String("config", "", "scenario YAML (default: the seed setup with accounts 111111111111, 222222222222, 333333333333)")
	verbose := fs.Bool("v", false, "log every request (--log-level debug)")
	logs := addLogFlags(fs, "text")
	if err := fs.parseNoArgs(args); err != nil {
		return err
	}
	if *verbose {
		*logs.level = "debug"
	}
	logger, err := logs.logger(e.stderr)
	if err != nil {
		return err
	}
	sc, err := loadScenario(*cfgPath)
	if err != nil {
		return err
	}
	sb, err := sandbox.New(sc, sandbox.WithLogger(logger))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("sandbox: listen on %s: %w (is another sandbox running? pick another --addr)", *addr, err)
	}
	endpoint := "http://" + ln.Addr().String()
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	// The AWS JS SDK v3 speaks HTTP/2 with prior knowledge to Bedrock Runtime even over plain http.
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	fmt.Fprintf(e.stdout, "# bedrock-relay sandbox on %s: STS, Bedrock Runtime and Service Quotas, offline.\n", endpoint)
	fmt.Fprintf(e.stdout, "# Point AWS SDKs and CLIs at it as the caller's Lambda execution role (%s):\n", sc.Caller.RoleARN)
	fmt.Fprint(e.stdout, sandbox.EnvLines(endpoint, sc.DefaultRegion, sb.CallerCredentials()))
	fmt.Fprintf(e.stdout, "# Admin API: %s/_sandbox/ (stats, reset, quotas, faults). Ctrl-C stops it.\n", endpoint)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func runSandboxEnv(e *env, args []string) error {
	fs := newFlags(e, "sandbox env", "sandbox env [--addr 127.0.0.1:4566] [--config sandbox.yaml]")
	addr := fs.String("addr", defaultSandboxAddr, "address the sandbox listens on")
	cfgPath := fs.String("config", "", "the scenario YAML the sandbox was started with")
	if err := fs.parseNoArgs(args); err != nil {
		return err
	}
	sc, err := loadScenario(*cfgPath)
	if err != nil {
		return err
	}
	sb, err := sandbox.New(sc)
	if err != nil {
		return err
	}
	fmt.Fprint(e.stdout, sandbox.EnvLines("http://"+*addr, sc.DefaultRegion, sb.CallerCredentials()))
	return nil
}

func loadScenario(path string) (*sandbox.Scenario, error) {
	if path == "" {
		return sandbox.DefaultScenario(), nil
	}
	return sandbox.LoadScenario(path)
}
