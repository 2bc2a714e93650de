package main

import (
	"context"
	"fmt"

	relay "github.com/bedrock-relay/bedrock-relay"
	"github.com/bedrock-relay/bedrock-relay/check"
	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/credcache"
	"github.com/bedrock-relay/bedrock-relay/internal/awsenv"
)

func init() {
	register(command{name: "check", synopsis: "check a cross-account setup step by step and diagnose what fails", run: runCheck})
}

const checkSynopsis = "check [--config relay.yaml | --role-arn ARN [--model ID] [--region R] [--external-id X]] [--skip-invoke] [--invocations N] [--json]"

// checkKey is the key name check's per-key session stands for (attribution.session_per_key).
const checkKey = "check"

func runCheck(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "check", checkSynopsis)
	cfgPath := fs.String("config", "", "relay config: check every target and model in it")
	roleARN := fs.String("role-arn", e.getenv("TARGET_ROLE_ARN"), "the Bedrock account role to assume (default $TARGET_ROLE_ARN)")
	// The same defaults as invoke: check the call invoke would make.
	model := fs.String("model", envOr(e, "MODEL_ID", defaultModel), "the model or inference profile id to call (default $MODEL_ID, else the seed's)")
	region := fs.String("region", envOr(e, "BEDROCK_REGION", defaultRegion), "the Bedrock region (default $BEDROCK_REGION, else ap-northeast-1)")
	externalID := fs.String("external-id", e.getenv("EXTERNAL_ID"), "the external id to pass to AssumeRole (default $EXTERNAL_ID)")
	skipInvoke := fs.Bool("skip-invoke", false, "do not invoke the model (model access and the model's IAM are then not checked)")
	invocations := fs.Int("invocations", 0, "calls per model (default: one per destination region of the profile)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.parseNoArgs(args); err != nil {
		return err
	}

	var (
		targets    []check.Subject
		endpoint   string
		srcRegion  string
		keySession *check.KeySession
	)
	if *cfgPath != "" {
		cfg, err := config.Load(*cfgPath, e.getenv)
		if err != nil {
			return err
		}
		if len(cfg.Targets) == 0 {
			return fmt.Errorf("check: %s has no targets", *cfgPath)
		}
		for _, t := range cfg.Targets {
			targets = append(targets, check.Subject{Name: t.Name, RoleARN: t.RoleARN, ExternalID: t.ExternalID, Region: t.Region, Models: t.Models})
		}
		endpoint, srcRegion = cfg.Source.Endpoint, cfg.Source.Region
		if cfg.Attribution.SessionPerKey {
			// One AssumeRole per target as a key named "check" in a group named "check" would make it.
			keySession = &check.KeySession{SessionName: credcache.SessionName(checkKey),
				Tags: []check.Tag{{Key: config.TagKey, Value: checkKey}, {Key: config.TagGroup, Value: checkKey}}}
		}
	} else {
		if *roleARN == "" {
			fmt.Fprintf(e.stderr, "bedrock-relay check: pass --config, or --role-arn (or $TARGET_ROLE_ARN)\n\nusage: bedrock-relay %s\n", checkSynopsis)
			return errUsage
		}
		if *model == "" || *region == "" {
			fmt.Fprintf(e.stderr, "bedrock-relay check: --model and --region cannot be empty\n\nusage: bedrock-relay %s\n", checkSynopsis)
			return errUsage
		}
		name := *region
		if acct, err := relay.RoleAccount(*roleARN); err == nil {
			name = acct + "-" + *region
		}
		targets = []check.Subject{{Name: name, RoleARN: *roleARN, ExternalID: *externalID, Region: *region, Models: []string{*model}}}
	}

	awsCfg, err := awsenv.Load(ctx, awsenv.Options{Getenv: e.getenv, Endpoint: endpoint})
	if err != nil {
		return fmt.Errorf("check: AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = srcRegion
	}
	rep := check.Run(ctx, targets, check.Options{AWS: awsCfg, SkipInvoke: *skipInvoke, Invocations: *invocations, KeySession: keySession})
	if *asJSON {
		err = rep.WriteJSON(e.stdout)
	} else {
		err = rep.WriteText(e.stdout)
	}
	if err != nil {
		return err
	}
	if n := rep.Failed(); n > 0 {
		return fmt.Errorf("check: %d step(s) failed; see the diagnoses above", n)
	}
	return nil
}
