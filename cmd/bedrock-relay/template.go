package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/setup"
)

func init() {
	register(command{name: "template", synopsis: "write CloudFormation or Terraform for both accounts of a relay config", run: runTemplate})
}

const templateSynopsis = "template cloudformation|terraform --config relay.yaml (--caller-role-arn ARN | --caller-account ID [--caller-role-name NAME]) [--function-url] [--arch arm64|x86_64] [--shared-state [--cache-name NAME]] [--out DIR]"

func runTemplate(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "template", templateSynopsis)
	cfgPath := fs.String("config", "", "relay config whose targets to deploy (required)")
	callerARN := fs.String("caller-role-arn", "", "the caller's Lambda execution role, as an ARN")
	callerAcct := fs.String("caller-account", "", "the caller account (12 digits), with --caller-role-name")
	callerName := fs.String("caller-role-name", "bedrock-relay-lambda", "name of the caller's Lambda execution role, with --caller-account")
	functionURL := fs.Bool("function-url", false, "deploy the relay itself as the function (bedrock-relay-lambda-url-ARCH.zip, serving the config; auth.mode must be keys) behind a Function URL (AuthType NONE: callers present relay keys; InvokeMode RESPONSE_STREAM); without it the function is the direct-invocation bedrock-relay-lambda")
	arch := fs.String("arch", "arm64", "Lambda architecture: arm64 or x86_64")
	function := fs.String("function-name", "bedrock-relay", "Lambda function name")
	noFunction := fs.Bool("no-function", false, "caller side without the Lambda function: the execution role and its policies only")
	stream := fs.Bool("stream", true, "also allow bedrock:InvokeModelWithResponseStream (the relay streams)")
	sharedState := fs.Bool("shared-state", false, "add the shared state backend (state.backend: redis): an ElastiCache Serverless cache for Valkey in subnets of an existing VPC (CloudFormation parameters VpcId, SubnetIds; Terraform vpc_id, subnet_ids), a security group admitting only the relay's group to it, the function in those subnets, and outputs with the endpoint and the config's state: section")
	cacheName := fs.String("cache-name", "", "name of the serverless cache, with --shared-state (default "+setup.DefaultCacheName+")")
	out := fs.String("out", "", "write files into this directory (CloudFormation: one template per account; Terraform: main.tf) instead of stdout")
	if len(args) == 0 || (args[0] != "cloudformation" && args[0] != "terraform") {
		if len(args) > 0 && strings.HasPrefix(args[0], "-") {
			// template -h prints the flags (both kinds take the same); a bad flag is reported by the flag package.
			if err := fs.parse(args); err != nil {
				return err
			}
		} else if len(args) > 0 {
			fmt.Fprintf(e.stderr, "bedrock-relay template: unknown kind %q\n", args[0])
		}
		fmt.Fprintf(e.stderr, "usage: bedrock-relay %s\n", templateSynopsis)
		return errUsage
	}
	kind := args[0]
	if err := fs.parseNoArgs(args[1:]); err != nil {
		return err
	}
	if *cfgPath == "" {
		fmt.Fprintf(e.stderr, "bedrock-relay template: --config is required\n\nusage: bedrock-relay %s\n", templateSynopsis)
		return errUsage
	}
	caller := *callerARN
	if caller == "" {
		if *callerAcct == "" {
			fmt.Fprintf(e.stderr, "bedrock-relay template: name the caller role: --caller-role-arn ARN, or --caller-account ID [--caller-role-name NAME]\n")
			return errUsage
		}
		caller = "arn:aws:iam::" + *callerAcct + ":role/" + *callerName
	}
	if *cacheName != "" && !*sharedState {
		fmt.Fprintf(e.stderr, "bedrock-relay template: --cache-name names the cache --shared-state adds; add --shared-state\n")
		return errUsage
	}
	cfg, err := config.Load(*cfgPath, e.getenv)
	if err != nil {
		return err
	}
	var shared *setup.SharedState
	if *sharedState {
		if shared, err = sharedStateOf(e, *cfgPath, cfg); err != nil {
			return err
		}
		shared.CacheName = *cacheName
	} else if cfg.State.Backend == config.StateRedis {
		fmt.Fprintf(e.stderr, "note: the config's state.backend is redis; --shared-state adds an ElastiCache Serverless cache for Valkey, its security groups and VPC access for the function to the template.\n")
	}
	plan, err := setup.New(setup.Options{CallerRoleARN: caller, Targets: setup.GrantsFromConfig(cfg), Stream: *stream, SessionTags: setup.SessionTagKeys(cfg)})
	if err != nil {
		return err
	}
	opts := setup.TemplateOptions{FunctionName: *function, Arch: *arch, FunctionURL: *functionURL, NoFunction: *noFunction, SharedState: shared}
	if *functionURL && !*noFunction {
		if opts.RelayConfig, err = relayConfigForLambda(e, *cfgPath, cfg, shared != nil); err != nil {
			return err
		}
	} else if n := len(cfg.Targets); !*noFunction && (n > 1 || len(cfg.Targets[0].Models) > 1) {
		fmt.Fprintf(e.stderr, "note: the Lambda function's environment names one target and model (the config's first: %s, %s); the roles and policies cover all of them. --function-url deploys the relay, which serves them all.\n",
			plan.Lambda.TargetRoleARN, plan.Lambda.ModelID)
	}

	if kind == "terraform" {
		body, err := setup.Terraform(plan, opts)
		if err != nil {
			return templateOptionsError(err)
		}
		if *out == "" {
			_, err = e.stdout.Write(body)
			return err
		}
		if err := writeTemplateFiles(e, *out, []setup.File{{Name: "main.tf", Body: body}}); err != nil {
			return err
		}
		if shared != nil {
			fmt.Fprintln(e.stdout, "\nAfter terraform apply (-var vpc_id=... -var 'subnet_ids=[...]'), `terraform output -raw relay_state_config` prints the state: section for the relay config.")
		}
		return nil
	}
	files, err := setup.CloudFormation(plan, opts)
	if err != nil {
		return templateOptionsError(err)
	}
	if *out == "" {
		for i, f := range files {
			if i > 0 {
				fmt.Fprintln(e.stdout)
			}
			fmt.Fprintf(e.stdout, "--- # %s: account %s, stack %s\n", f.Name, f.Account, f.Stack)
			if _, err := e.stdout.Write(f.Body); err != nil {
				return err
			}
		}
		return nil
	}
	if err := writeTemplateFiles(e, *out, files); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "\nDeploy the caller's stack first (the Bedrock account roles' trust policies name its role), each with that account's credentials:")
	for _, f := range files {
		var params []string
		if strings.HasPrefix(f.Name, "caller-") && !*noFunction {
			params = append(params, "CodeS3Bucket=YOUR_BUCKET", "CodeS3Key="+opts.CodeKey())
		}
		if strings.HasPrefix(f.Name, "caller-") && shared != nil {
			params = append(params, "VpcId=YOUR_VPC_ID", "SubnetIds=YOUR_SUBNET_A,YOUR_SUBNET_B")
		}
		overrides := ""
		if len(params) > 0 {
			overrides = " --parameter-overrides " + strings.Join(params, " ")
		}
		fmt.Fprintf(e.stdout, "  # account %s\n  aws cloudformation deploy --template-file %s --stack-name %s --capabilities CAPABILITY_NAMED_IAM%s\n",
			f.Account, filepath.Join(*out, f.Name), f.Stack, overrides)
	}
	if shared != nil {
		fmt.Fprintf(e.stdout, "\nThen the state: section for the relay config:\n  aws cloudformation describe-stacks --stack-name %s --query \"Stacks[0].Outputs[?OutputKey=='RelayStateConfig'].OutputValue\" --output text\n", files[0].Stack)
	}
	return nil
}

// relayConfigForLambda is the config the Function URL relay is deployed with (setup.RelayConfigForLambda),
// refusing one the relay would refuse: a Function URL is reachable from anywhere, so callers must present
// relay keys.
func relayConfigForLambda(e *env, path string, cfg *config.Config, sharedState bool) (map[string]any, error) {
	if cfg.Auth.Mode != "keys" {
		return nil, fmt.Errorf("template --function-url: %s has auth.mode %s; the Function URL relay needs auth.mode: keys, since the URL is reachable from anywhere (make keys with `bedrock-relay keys new NAME`)", path, cfg.Auth.Mode)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lc, notes, err := setup.RelayConfigForLambda(data)
	if err != nil {
		return nil, err
	}
	for _, n := range notes {
		fmt.Fprintf(e.stderr, "note: the function's config (%s) %s.\n", setup.RelayConfigVar, n)
	}
	if cfg.State.Backend == config.StateRedis && !sharedState {
		fmt.Fprintf(e.stderr, "note: the function keeps the config's state.redis; it must reach those addresses (and any password_env or password_file named there must exist in the function), or add --shared-state for a cache the template creates.\n")
	}
	return lc, nil
}

// sharedStateOf is what --shared-state takes from the config: its key prefix. A config that asks for
// per-process state in so many words is refused; the parts of state.redis the generated cache makes moot are
// named on stderr. Nothing of the password (or the name of its variable or file) reaches the template.
func sharedStateOf(e *env, path string, cfg *config.Config) (*setup.SharedState, error) {
	// config.Load fills in memory for a config without state.backend, so the file says whether it was written.
	var raw struct {
		State struct {
			Backend string `yaml:"backend"`
		} `yaml:"state"`
	}
	if data, err := os.ReadFile(path); err == nil {
		_ = yaml.Unmarshal(data, &raw) // config.Load has parsed it already
	}
	if raw.State.Backend == config.StateMemory {
		return nil, usagef("template --shared-state: %s sets state.backend: memory, so each relay process would keep its own budgets and never use the cache; set state.backend: redis (or leave state.backend out) to share them", path)
	}
	r := cfg.State.Redis
	s := &setup.SharedState{}
	if r.KeyPrefix != "" && r.KeyPrefix != "bedrock-relay:" {
		s.KeyPrefix = r.KeyPrefix
	}
	if len(r.Addrs) > 0 || r.MasterName != "" {
		fmt.Fprintf(e.stderr, "note: the state: section the template outputs replaces the config's state.redis addresses with the new cache's endpoint (cluster: true, tls: true).\n")
	}
	if r.Username != "" || r.PasswordEnv != "" || r.PasswordFile != "" {
		fmt.Fprintf(e.stderr, "note: the cache has no user group (access is by security group only), so the state: section the template outputs has no username and no password; to use ACL users, create an ElastiCache user group and set the cache's UserGroupId.\n")
	}
	return s, nil
}

// templateOptionsError makes setup's rejection of the template options (--arch, --function-name) a usage
// error: by then the config has been read, so it can only be about the flags.
func templateOptionsError(err error) error {
	if errors.Is(err, setup.ErrInvalid) {
		return usagef("template: %w", err)
	}
	return err
}

func writeTemplateFiles(e *env, dir string, files []setup.File) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		path := filepath.Join(dir, f.Name)
		if err := os.WriteFile(path, f.Body, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote %s\n", path)
	}
	return nil
}
