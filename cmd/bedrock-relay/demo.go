package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go"

	relay "github.com/bedrock-relay/bedrock-relay"
	"github.com/bedrock-relay/bedrock-relay/bedrock"
	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/internal/mainlib"
	"github.com/bedrock-relay/bedrock-relay/router"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

func init() {
	register(command{name: "demo", synopsis: "run the seed's cross-account call and a pooled burst, offline on the sandbox", run: runDemo})
}

const demoPrompt = "クロスアカウントでのBedrock呼び出しテストです"

func runDemo(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "demo", "demo [--burst N]")
	burst := fs.Int("burst", 60, "requests in the pooled burst (1 to 1000)")
	if err := fs.parseNoArgs(args); err != nil {
		return err
	}
	if *burst < 1 || *burst > 1000 {
		return usagef("demo: --burst %d: want 1 to 1000", *burst)
	}
	sb, err := sandbox.New(sandbox.DefaultScenario())
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo: listen on loopback: %w", err)
	}
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	endpoint := "http://" + ln.Addr().String()
	src := aws.Config{Region: sandbox.SeedRegion, BaseEndpoint: aws.String(endpoint), RetryMaxAttempts: 1,
		Credentials: credentials.StaticCredentialsProvider{Value: sb.CallerCredentials()}}
	out := e.stdout

	fmt.Fprintf(out, "bedrock-relay demo: the seed's cross-account Bedrock call, offline against the sandbox on %s\n\n", endpoint)
	target := relay.Target{RoleARN: sandbox.TargetRoleARN(sandbox.SmallAccount), Region: sandbox.SeedRegion,
		SessionName: "lambda-bedrock-cross-account", SessionDuration: 15 * time.Minute}
	client, err := bedrock.New(src, target, bedrock.Options{})
	if err != nil {
		return err
	}
	id, err := client.CallerIdentity(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "1. Caller      %s\n", id.ARN)
	acct, err := client.AssumedAccount(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "2. AssumeRole  %s -> %s  (%s, 15-minute session, cached)\n", id.Account, acct, target.RoleARN)
	body, _ := json.Marshal(map[string]any{"anthropic_version": "bedrock-2023-05-31", "max_tokens": 1000,
		"messages": []map[string]string{{"role": "user", "content": demoPrompt}}})
	resp, err := client.Invoke(ctx, body, sandbox.SeedProfile)
	if err != nil {
		return err
	}
	var answer struct {
		Content []struct{ Text string } `json:"content"`
	}
	json.Unmarshal(resp.Body, &answer)
	text := ""
	if len(answer.Content) > 0 {
		text = answer.Content[0].Text
	}
	fmt.Fprintf(out, "3. Invoke      %s in %s\n", sandbox.SeedProfile, sandbox.SeedRegion)
	fmt.Fprintf(out, "   answer      %s\n", text)
	fmt.Fprintf(out, "   tokens      %d in, %d out\n\n", resp.Usage.InputTokens, resp.Usage.OutputTokens)

	fmt.Fprintf(out, "4. Account %s allows 2 requests/minute (a new account's quota). Two more calls:\n", sandbox.SmallAccount)
	for i := 2; i <= 3; i++ {
		_, err := client.Invoke(ctx, body, sandbox.SeedProfile)
		var ae smithy.APIError
		switch {
		case err == nil:
			fmt.Fprintf(out, "   call %d      ok\n", i)
		case errors.As(err, &ae):
			fmt.Fprintf(out, "   call %d      %s: %s\n", i, ae.ErrorCode(), ae.ErrorMessage())
		default:
			return err
		}
	}
	st := sb.Stats()
	fmt.Fprintf(out, "   STS AssumeRole calls so far: %d (credentials are reused, not fetched per request)\n\n", st.STSCalls("AssumeRole"))

	return demoPool(ctx, out, sb, src, *burst)
}

// demoPool sends a burst through the router over both sandbox accounts, with no client-side budgets so that
// the table shows throttles being absorbed by failover.
func demoPool(ctx context.Context, out io.Writer, sb *sandbox.Sandbox, src aws.Config, burst int) error {
	if err := sb.Reset(); err != nil {
		return err
	}
	cfg := config.Default()
	cfg.Auth.Mode = "none"
	for _, a := range []string{sandbox.SmallAccount, sandbox.LargeAccount} {
		cfg.Targets = append(cfg.Targets, config.TargetSpec{Name: a, RoleARN: sandbox.TargetRoleARN(a), Region: sandbox.SeedRegion,
			Models: []string{sandbox.SeedProfile}})
	}
	cfg.FillDefaults()
	r, err := mainlib.NewRouter(ctx, &cfg, src, mainlib.RouterOptions{})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "5. The pool: %s (2/min) + %s (50/min) behind one router; a burst of %d requests, 8 at a time:\n",
		sandbox.SmallAccount, sandbox.LargeAccount, burst)
	type row struct{ served, failedOver, refused int }
	rows := map[string]*row{sandbox.SmallAccount: {}, sandbox.LargeAccount: {}}
	var mu sync.Mutex
	var refused int
	var retryAfter time.Duration
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	body := []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":200,"messages":[{"role":"user","content":"hello from the pool"}]}`)
	for i := 0; i < burst; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res, err := r.Do(ctx, &router.Request{Op: upstream.OpInvoke, Model: "anthropic.claude-sonnet-4-5-20250929-v1:0", Body: body})
			mu.Lock()
			defer mu.Unlock()
			var attempts []router.Attempt
			var ex *router.ExhaustedError
			switch {
			case err == nil:
				rows[res.Target.Name].served++
				attempts = res.Attempts
			case errors.As(err, &ex):
				refused++
				retryAfter = ex.RetryAfter
				attempts = ex.Attempts
			default:
				refused++
			}
			for _, a := range attempts {
				if a.Code != "" {
					rows[a.Target].failedOver++
				}
			}
		}()
	}
	wg.Wait()
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "   account\tserved\tthrottled, failed over\t")
	names := make([]string, 0, len(rows))
	for n := range rows {
		names = append(names, n)
	}
	sort.Strings(names)
	served := 0
	for _, n := range names {
		fmt.Fprintf(tw, "   %s\t%d\t%d\t\n", n, rows[n].served, rows[n].failedOver)
		served += rows[n].served
	}
	tw.Flush()
	fmt.Fprintf(out, "   %d of %d answered", served, burst)
	if refused > 0 {
		fmt.Fprintf(out, "; %d refused with 429 ThrottlingException, Retry-After %s: every account is at its quota", refused, retryAfter.Round(time.Second))
	}
	fmt.Fprintf(out, ".\n   STS AssumeRole calls: %d (one per account).\n\n", sb.Stats().STSCalls("AssumeRole"))
	fmt.Fprintln(out, "Next: `bedrock-relay serve --sandbox` serves this pool on the Bedrock wire API; `bedrock-relay policy` writes the IAM documents for real accounts.")
	return nil
}
