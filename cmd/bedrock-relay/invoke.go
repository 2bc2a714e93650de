package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	relay "github.com/bedrock-relay/bedrock-relay"
	"github.com/bedrock-relay/bedrock-relay/bedrock"
	"github.com/bedrock-relay/bedrock-relay/internal/awsenv"
)

func init() {
	register(command{name: "invoke", synopsis: "assume the Bedrock account's role and stream a model's answer to a prompt", run: runInvoke})
}

const (
	invokeSynopsis = `invoke [--role-arn ARN] [--model ID] [--region R] [--external-id X] [--max-tokens N] [--system S] "prompt" (or - / nothing to read stdin)`

	// The seed's model and region: what invoke calls, and check checks, when no flag or variable names one.
	defaultModel  = "jp.anthropic.claude-sonnet-4-5-20250929-v1:0"
	defaultRegion = "ap-northeast-1"
)

// runInvoke is the seed's flow from a workstation: source credentials from the default chain (so
// `eval "$(bedrock-relay sandbox env)"` points it at the sandbox), AssumeRole into the target, then
// InvokeModelWithResponseStream, printing text as it arrives.
func runInvoke(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "invoke", invokeSynopsis)
	roleARN := fs.String("role-arn", e.getenv("TARGET_ROLE_ARN"), "the Bedrock account's role to assume (default $TARGET_ROLE_ARN)")
	model := fs.String("model", envOr(e, "MODEL_ID", defaultModel), "model or inference profile id or ARN (default $MODEL_ID, else the seed's)")
	region := fs.String("region", envOr(e, "BEDROCK_REGION", defaultRegion), "region to call Bedrock in (default $BEDROCK_REGION, else ap-northeast-1)")
	externalID := fs.String("external-id", e.getenv("EXTERNAL_ID"), "external id the role's trust policy asks for (default $EXTERNAL_ID)")
	sessionName := fs.String("session-name", "bedrock-relay-invoke", "role session name, shown in the target account's CloudTrail")
	maxTokens := fs.Int("max-tokens", 1000, "most tokens to generate")
	system := fs.String("system", "", "system prompt")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *roleARN == "" {
		fmt.Fprintf(e.stderr, "bedrock-relay invoke: --role-arn (or $TARGET_ROLE_ARN) is required\n\nusage: bedrock-relay %s\n", invokeSynopsis)
		return errUsage
	}
	if *maxTokens < 1 {
		fmt.Fprintf(e.stderr, "bedrock-relay invoke: --max-tokens %d: want a positive number\n", *maxTokens)
		return errUsage
	}
	target := relay.Target{RoleARN: *roleARN, Region: *region, ExternalID: *externalID, SessionName: *sessionName}
	if err := target.WithDefaults().Validate(); err != nil {
		return usagef("invoke: %w", err) // --role-arn, --region and the rest are all flags
	}
	prompt := strings.Join(fs.Args(), " ")
	if prompt == "" || prompt == "-" {
		b, err := io.ReadAll(e.stdin)
		if err != nil {
			return fmt.Errorf("read the prompt from stdin: %w", err)
		}
		prompt = strings.TrimSpace(string(b))
	}
	if prompt == "" {
		fmt.Fprintf(e.stderr, "bedrock-relay invoke: no prompt: pass it as an argument or on stdin\n\nusage: bedrock-relay %s\n", invokeSynopsis)
		return errUsage
	}

	src, err := awsenv.Load(ctx, awsenv.Options{Getenv: e.getenv})
	if err != nil {
		return fmt.Errorf("load the source AWS configuration: %w", err)
	}
	client, err := bedrock.New(src, target, bedrock.Options{})
	if err != nil {
		return err
	}
	id, err := client.CallerIdentity(ctx)
	if err != nil {
		return withHint(err)
	}
	acct, err := client.AssumedAccount(ctx)
	if err != nil {
		return withHint(err)
	}
	fmt.Fprintf(e.stderr, "%s -> %s  (%s as %s, %s in %s)\n", id.Account, acct, id.ARN, *roleARN, *model, *region)

	body, err := bedrock.AnthropicPrompt(prompt, *system, *maxTokens, nil)
	if err != nil {
		return err
	}
	start := time.Now()
	stream, err := client.InvokeStream(ctx, body, *model)
	if err != nil {
		return withHint(err)
	}
	defer stream.Close()
	var last string
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if last != "" && !strings.HasSuffix(last, "\n") {
				fmt.Fprintln(e.stdout)
			}
			return withHint(err)
		}
		if text, ok := bedrock.AnthropicTextDelta(chunk); ok && text != "" {
			if _, err := io.WriteString(e.stdout, text); err != nil {
				return err
			}
			last = text
		}
	}
	if last != "" && !strings.HasSuffix(last, "\n") {
		fmt.Fprintln(e.stdout)
	}
	u := stream.Usage()
	fmt.Fprintf(e.stderr, "usage: %d input tokens, %d output tokens, %.1fs\n", u.InputTokens, u.OutputTokens, time.Since(start).Seconds())
	return nil
}

func envOr(e *env, name, def string) string {
	if v := e.getenv(name); v != "" {
		return v
	}
	return def
}

// withHint adds what to do about a known setup mistake to a bedrock error.
func withHint(err error) error {
	var be *bedrock.Error
	if errors.As(err, &be) {
		if h := be.Hint(); h != "" {
			return fmt.Errorf("%w\nhint: %s", err, h)
		}
	}
	return err
}
