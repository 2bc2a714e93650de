package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	relay "github.com/bedrock-relay/bedrock-relay"
	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/iampolicy"
	"github.com/bedrock-relay/bedrock-relay/setup"
)

func init() {
	register(command{name: "policy", synopsis: "print the IAM documents of a cross-account setup (trust, permissions, caller, or all for a config)", run: runPolicy})
}

const policySynopsis = `policy trust --caller-role-arn ARN [--external-id X] [--session-per-key]
       policy permissions --target-account ID --model ID [--region R] [--stream] [--regions r1,r2] [--profile-condition]
       policy caller --target-role-arn ARN [--target-role-arn ARN ...] [--session-per-key]
       policy --config relay.yaml --caller-role-arn ARN [--stream=false] [--profile-condition]`

func runPolicy(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "trust":
			return runPolicyTrust(e, args[1:])
		case "permissions":
			return runPolicyPermissions(e, args[1:])
		case "caller":
			return runPolicyCaller(e, args[1:])
		}
		fmt.Fprintf(e.stderr, "bedrock-relay policy: unknown document %q\n\nusage: bedrock-relay %s\n", args[0], policySynopsis)
		return errUsage
	}
	fs := newFlags(e, "policy", policySynopsis)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: bedrock-relay %s\n\nWith --config:\n", policySynopsis)
		fs.PrintDefaults()
		fmt.Fprintln(e.stderr, "\nRun 'bedrock-relay policy trust -h' (permissions, caller) for a document's flags.")
	}
	cfgPath := fs.String("config", "", "relay config: print every document of every account it uses")
	caller := fs.String("caller-role-arn", "", "the role the relay or Lambda function runs as (required with --config)")
	stream := fs.Bool("stream", true, "also allow bedrock:InvokeModelWithResponseStream (the relay streams)")
	cond := fs.Bool("profile-condition", false, "allow the foundation models only through the inference profile")
	regions := fs.String("regions", "", "explicit destination regions, comma-separated, for profile prefixes the catalogue does not know")
	if err := fs.parseNoArgs(args); err != nil {
		return err
	}
	if *cfgPath == "" || *caller == "" {
		fmt.Fprintf(e.stderr, "bedrock-relay policy: name a document (trust, permissions, caller) or pass --config and --caller-role-arn\n\nusage: bedrock-relay %s\n", policySynopsis)
		return errUsage
	}
	cfg, err := config.Load(*cfgPath, e.getenv)
	if err != nil {
		return err
	}
	plan, err := setup.New(setup.Options{CallerRoleARN: *caller, Targets: setup.GrantsFromConfig(cfg), Stream: *stream,
		ProfileCondition: *cond, Regions: splitList(*regions), SessionTags: setup.SessionTagKeys(cfg)})
	if err != nil {
		return err
	}
	return plan.WriteDocuments(e.stdout)
}

func runPolicyTrust(e *env, args []string) error {
	fs := newFlags(e, "policy trust", "policy trust --caller-role-arn ARN [--external-id X] [--session-per-key]")
	caller := fs.String("caller-role-arn", "", "the role that assumes the Bedrock account's role (required)")
	ext := fs.String("external-id", "", "require this sts:ExternalId")
	perKey := fs.Bool("session-per-key", false, "also allow sts:TagSession with the per-key sessions' tags (attribution.session_per_key)")
	if err := fs.parseNoArgs(args); err != nil {
		return err
	}
	if *caller == "" {
		fmt.Fprintln(e.stderr, "bedrock-relay policy trust: --caller-role-arn is required")
		return errUsage
	}
	if _, err := relay.RoleAccount(*caller); err != nil {
		return usagef("policy trust: --caller-role-arn: %w", err)
	}
	return writeDoc(e, iampolicy.TrustTagged(*caller, *ext, perKeyTags(*perKey)))
}

func runPolicyPermissions(e *env, args []string) error {
	fs := newFlags(e, "policy permissions", "policy permissions --target-account ID --model ID [--region R] [--stream] [--regions r1,r2] [--profile-condition]")
	acct := fs.String("target-account", "", "the Bedrock account (12 digits)")
	model := fs.String("model", "", "what the caller passes as modelId: an inference profile id, foundation-model id or ARN")
	region := fs.String("region", e.getenv("BEDROCK_REGION"), "the region the Bedrock Runtime client calls (default $BEDROCK_REGION)")
	stream := fs.Bool("stream", false, "also allow bedrock:InvokeModelWithResponseStream")
	regions := fs.String("regions", "", "explicit destination regions, comma-separated")
	cond := fs.Bool("profile-condition", false, "allow the foundation models only through the inference profile")
	if err := fs.parseNoArgs(args); err != nil {
		return err
	}
	d, err := iampolicy.Permissions(iampolicy.PermissionOptions{TargetAccount: *acct, Model: *model, Region: *region,
		Stream: *stream, Regions: splitList(*regions), ProfileCondition: *cond})
	if err != nil {
		if errors.Is(err, iampolicy.ErrInvalidOptions) {
			return usagef("policy permissions: %w", err) // every option is a flag
		}
		return err
	}
	return writeDoc(e, d)
}

func runPolicyCaller(e *env, args []string) error {
	fs := newFlags(e, "policy caller", "policy caller --target-role-arn ARN [--target-role-arn ARN ...] [--session-per-key]")
	var targets listFlag
	fs.Var(&targets, "target-role-arn", "a Bedrock account role to assume (repeatable, or comma-separated)")
	perKey := fs.Bool("session-per-key", false, "also allow sts:TagSession with the per-key sessions' tags (attribution.session_per_key)")
	if err := fs.parseNoArgs(args); err != nil {
		return err
	}
	if len(targets) == 0 {
		fmt.Fprintln(e.stderr, "bedrock-relay policy caller: --target-role-arn is required")
		return errUsage
	}
	for _, t := range targets {
		if _, err := relay.RoleAccount(t); err != nil {
			return usagef("policy caller: --target-role-arn: %w", err)
		}
	}
	return writeDoc(e, iampolicy.CallerTagged(perKeyTags(*perKey), targets...))
}

// perKeyTags are the session tag keys of the per-key sessions when on is set, none otherwise.
func perKeyTags(on bool) []string {
	if !on {
		return nil
	}
	return []string{config.TagKey, config.TagGroup}
}

func writeDoc(e *env, d *iampolicy.Document) error {
	b, err := d.MarshalIndent()
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(b)
	return err
}

// listFlag is a repeatable flag that also takes comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, splitList(v)...)
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
