package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/bedrock-relay/bedrock-relay/config"
)

func TestTemplate(t *testing.T) {
	tests := []struct {
		golden string
		args   []string
	}{
		{"template-cloudformation.golden", []string{"template", "cloudformation", "--config", "testdata/policy-relay.yaml", "--caller-role-arn", seedCallerARN}},
		{"template-cloudformation-function-url.golden", []string{"template", "cloudformation", "--config", "testdata/url-relay.yaml", "--caller-role-arn", seedCallerARN, "--function-url"}},
		{"template-terraform.golden", []string{"template", "terraform", "--config", "testdata/url-relay.yaml", "--caller-account", "111111111111", "--caller-role-name", "lambda-execution-role", "--function-url"}},
		{"template-cloudformation-shared-state.golden", []string{"template", "cloudformation", "--config", "testdata/url-relay.yaml", "--caller-role-arn", seedCallerARN, "--function-url", "--shared-state"}},
		{"template-terraform-shared-state.golden", []string{"template", "terraform", "--config", "testdata/url-relay.yaml", "--caller-role-arn", seedCallerARN, "--function-url", "--shared-state", "--cache-name", "relay-state"}},
		{"template-terraform-direct.golden", []string{"template", "terraform", "--config", "testdata/policy-relay.yaml", "--caller-role-arn", seedCallerARN}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			out, stderr, err := runSetupCmd(t, nil, tt.args...)
			if err != nil {
				t.Fatalf("%v: %v\n%s", tt.args, err, stderr)
			}
			url := strings.Contains(strings.Join(tt.args, " "), "--function-url")
			if want := "the Lambda function's environment names one target and model"; !url && !strings.Contains(stderr, want) {
				t.Errorf("stderr %q: want the note that the Lambda takes the first target", stderr)
			}
			if want := "left out server.addr: the Function URL is the listener"; url && !strings.Contains(stderr, want) {
				t.Errorf("stderr %q: want the note %q", stderr, want)
			}
			if url && strings.Contains(out, "vpce-0123") {
				t.Errorf("the function's config keeps source.endpoint:\n%s", out)
			}
			golden(t, tt.golden, out)
			if strings.Contains(tt.golden, "cloudformation") {
				dec := yaml.NewDecoder(strings.NewReader(out))
				n := 0
				for {
					var doc map[string]any
					if err := dec.Decode(&doc); err != nil {
						break
					}
					n++
				}
				if n != 3 {
					t.Errorf("stdout holds %d YAML documents, want 3 (caller + two Bedrock accounts)", n)
				}
			}
		})
	}
}

// TestTemplateCloudFormationOut writes one template per account and says in which order to deploy them.
func TestTemplateCloudFormationOut(t *testing.T) {
	dir := t.TempDir()
	out, stderr, err := runSetupCmd(t, nil, "template", "cloudformation", "--config", "testdata/policy-relay.yaml",
		"--caller-role-arn", seedCallerARN, "--arch", "x86_64", "--out", dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, name := range []string{"caller-account-111111111111.yaml", "bedrock-account-222222222222.yaml", "bedrock-account-333333333333.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var tpl map[string]any
		if err := yaml.Unmarshal(b, &tpl); err != nil {
			t.Errorf("%s is not YAML: %v", name, err)
		}
		if _, ok := tpl["Resources"]; !ok {
			t.Errorf("%s has no Resources", name)
		}
	}
	caller := strings.Index(out, "caller-account-111111111111.yaml --stack-name")
	target := strings.Index(out, "bedrock-account-222222222222.yaml --stack-name")
	if caller < 0 || target < 0 || caller > target {
		t.Errorf("deploy commands: want the caller stack first:\n%s", out)
	}
	if !strings.Contains(out, "CodeS3Bucket=YOUR_BUCKET") {
		t.Errorf("deploy commands: want the code bucket parameter:\n%s", out)
	}
}

func TestTemplateErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no kind", []string{"template"}, "usage: bedrock-relay template cloudformation|terraform"},
		{"no config", []string{"template", "terraform", "--caller-role-arn", seedCallerARN}, "--config is required"},
		{"no caller", []string{"template", "terraform", "--config", "testdata/policy-relay.yaml"}, "name the caller role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, err := runSetupCmd(t, nil, tt.args...)
			if err != errUsage {
				t.Errorf("got %v, want a usage error", err)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q: want %q", stderr, tt.want)
			}
		})
	}
	_, _, err := runSetupCmd(t, nil, "template", "cloudformation", "--config", "testdata/policy-relay.yaml", "--caller-role-arn", seedCallerARN, "--arch", "sparc")
	if err == nil || !strings.Contains(err.Error(), "want arm64 or x86_64") {
		t.Errorf("--arch sparc: got %v, want an error naming arm64 and x86_64", err)
	}
}

// TestTemplateSharedState: --shared-state with a config that already names a Redis, an ACL user and a
// password takes the key prefix, notes what the cache makes moot, and writes neither the password nor where
// it is kept into any template.
func TestTemplateSharedState(t *testing.T) {
	const secret = "s3cret-Redis-passw0rd"
	fileCfg := filepath.Join(t.TempDir(), "relay.yaml")
	body, err := os.ReadFile("testdata/template-shared-state.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(t.TempDir(), "redis-password")
	if err := os.WriteFile(pwFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fileCfg, []byte(strings.Replace(string(body), "password_env: TEMPLATE_TEST_REDIS_PASSWORD", "password_file: "+pwFile, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TEMPLATE_TEST_REDIS_PASSWORD": secret}
	for _, cfgPath := range []string{"testdata/template-shared-state.yaml", fileCfg} {
		for _, kind := range []string{"cloudformation", "terraform"} {
			out, stderr, err := runSetupCmd(t, env, "template", kind, "--config", cfgPath, "--caller-role-arn", seedCallerARN, "--shared-state")
			if err != nil {
				t.Fatalf("%s %s: %v\n%s", kind, cfgPath, err, stderr)
			}
			for _, s := range []string{secret, "TEMPLATE_TEST_REDIS_PASSWORD", pwFile, "redis.example.internal", "password_", "username"} {
				if strings.Contains(out, s) {
					t.Errorf("%s %s: the template holds %q", kind, cfgPath, s)
				}
			}
			if !strings.Contains(out, `key_prefix: "team-a:"`) {
				t.Errorf("%s %s: want the config's key prefix in the state section", kind, cfgPath)
			}
			for _, note := range []string{"replaces the config's state.redis addresses", "no username and no password"} {
				if !strings.Contains(stderr, note) {
					t.Errorf("%s %s: stderr %q: want a note %q", kind, cfgPath, stderr, note)
				}
			}
			if strings.Contains(stderr, secret) {
				t.Errorf("%s %s: stderr holds the password", kind, cfgPath)
			}
		}
	}

	// Without the flag, a redis config gets a note and a template without the cache.
	out, stderr, err := runSetupCmd(t, env, "template", "terraform", "--config", "testdata/template-shared-state.yaml", "--caller-role-arn", seedCallerARN)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "elasticache") || !strings.Contains(stderr, "--shared-state adds") {
		t.Errorf("redis config without --shared-state: want no cache and a note on stderr %q", stderr)
	}
}

// TestTemplateSharedStateOut prints the deploy commands with the VPC parameters and how to read the state
// section back.
func TestTemplateSharedStateOut(t *testing.T) {
	dir := t.TempDir()
	out, stderr, err := runSetupCmd(t, nil, "template", "cloudformation", "--config", "testdata/policy-relay.yaml",
		"--caller-role-arn", seedCallerARN, "--shared-state", "--out", dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, want := range []string{
		"--parameter-overrides CodeS3Bucket=YOUR_BUCKET CodeS3Key=bedrock-relay-lambda-arm64.zip VpcId=YOUR_VPC_ID SubnetIds=YOUR_SUBNET_A,YOUR_SUBNET_B\n",
		"OutputKey=='RelayStateConfig'",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
	out, stderr, err = runSetupCmd(t, nil, "template", "cloudformation", "--config", "testdata/policy-relay.yaml",
		"--caller-role-arn", seedCallerARN, "--shared-state", "--no-function", "--out", dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(out, "CAPABILITY_NAMED_IAM --parameter-overrides VpcId=YOUR_VPC_ID SubnetIds=YOUR_SUBNET_A,YOUR_SUBNET_B\n") {
		t.Errorf("--no-function: want only the VPC parameters in:\n%s", out)
	}
	out, stderr, err = runSetupCmd(t, nil, "template", "terraform", "--config", "testdata/policy-relay.yaml",
		"--caller-role-arn", seedCallerARN, "--shared-state", "--out", dir)
	if err != nil || !strings.Contains(out, "terraform output -raw relay_state_config") {
		t.Errorf("terraform --out: %v, stdout %q: want how to print the state section", err, out)
	}
}

func TestTemplateSharedStateErrors(t *testing.T) {
	memory := filepath.Join(t.TempDir(), "relay.yaml")
	body, err := os.ReadFile("testdata/policy-relay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(memory, append(body, "state:\n  backend: memory\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"cloudformation", "terraform"} {
		_, _, err := runSetupCmd(t, nil, "template", kind, "--config", memory, "--caller-role-arn", seedCallerARN, "--shared-state")
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "sets state.backend: memory") {
			t.Errorf("%s, state.backend memory: got %v, want a usage error about state.backend: memory", kind, err)
		}
		// The same config without the flag is fine: memory is what it asks for.
		if _, stderr, err := runSetupCmd(t, nil, "template", kind, "--config", memory, "--caller-role-arn", seedCallerARN); err != nil {
			t.Errorf("%s, state.backend memory without --shared-state: %v\n%s", kind, err, stderr)
		}
		_, _, err = runSetupCmd(t, nil, "template", kind, "--config", "testdata/policy-relay.yaml", "--caller-role-arn", seedCallerARN, "--shared-state", "--cache-name", "Relay_State")
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), `cache name "Relay_State"`) {
			t.Errorf("%s, --cache-name Relay_State: got %v, want a usage error naming the cache name", kind, err)
		}
	}
	_, stderr, err := runSetupCmd(t, nil, "template", "terraform", "--config", "testdata/policy-relay.yaml", "--caller-role-arn", seedCallerARN, "--cache-name", "relay-state")
	if err != errUsage || !strings.Contains(stderr, "add --shared-state") {
		t.Errorf("--cache-name without --shared-state: got %v, stderr %q: want a usage error", err, stderr)
	}
}

// TestTemplateFunctionURL: --function-url deploys the relay package with the config the relay would serve,
// refuses a config without relay keys (the URL is public) and one too large for Lambda's environment, and
// prints the deploy parameters of the relay's zip.
func TestTemplateFunctionURL(t *testing.T) {
	dir := t.TempDir()
	out, stderr, err := runSetupCmd(t, nil, "template", "cloudformation", "--config", "testdata/url-relay.yaml",
		"--caller-role-arn", seedCallerARN, "--function-url", "--out", dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if want := "CodeS3Key=bedrock-relay-lambda-url-arm64.zip"; !strings.Contains(out, want) {
		t.Errorf("deploy commands: want %s in:\n%s", want, out)
	}
	body, err := os.ReadFile(filepath.Join(dir, "caller-account-111111111111.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Resources map[string]struct {
			Type       string         `yaml:"Type"`
			Properties map[string]any `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(body, &tpl); err != nil {
		t.Fatal(err)
	}
	env := tpl.Resources["Function"].Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	raw, _ := env["BEDROCK_RELAY_CONFIG_YAML"].(string)
	cfg := config.Default()
	if err := config.Parse([]byte(raw), &cfg); err != nil {
		t.Fatalf("the function's config %q does not parse: %v", raw, err)
	}
	cfg.FillDefaults()
	if err := cfg.Validate(); err != nil {
		t.Errorf("the function's config does not validate: %v", err)
	}
	if cfg.Auth.Mode != "keys" || len(cfg.Auth.Keys) != 1 || len(cfg.Targets) != 3 || !cfg.Server.AccessLog || cfg.Source.Endpoint != "" || cfg.Server.Addr != config.Default().Server.Addr {
		t.Errorf("the function's config: auth %+v, %d targets, access log %v, endpoint %q, addr %q; want the file's keys and targets, the access log, no endpoint, the default address",
			cfg.Auth, len(cfg.Targets), cfg.Server.AccessLog, cfg.Source.Endpoint, cfg.Server.Addr)
	}
	for name, want := range map[string]map[string]any{
		"FunctionUrl":             {"AuthType": "NONE", "InvokeMode": "RESPONSE_STREAM"},
		"FunctionUrlPublicAccess": {"Action": "lambda:InvokeFunctionUrl", "Principal": "*", "FunctionUrlAuthType": "NONE"},
		"FunctionUrlPublicInvoke": {"Action": "lambda:InvokeFunction", "Principal": "*", "InvokedViaFunctionUrl": true},
	} {
		for k, v := range want {
			if got := tpl.Resources[name].Properties[k]; got != v {
				t.Errorf("%s.%s = %v, want %v", name, k, got, v)
			}
		}
	}

	// auth.mode none: the relay would refuse to start behind a public URL, so the template refuses first.
	_, _, err = runSetupCmd(t, nil, "template", "terraform", "--config", "testdata/policy-relay.yaml", "--caller-role-arn", seedCallerARN, "--function-url")
	if err == nil || errors.Is(err, errUsage) || !strings.Contains(err.Error(), "needs auth.mode: keys") {
		t.Errorf("auth none with --function-url: got %v, want an error asking for auth.mode: keys", err)
	}
	// A config beyond Lambda's 4 KB of environment.
	big, err := os.ReadFile("testdata/url-relay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var keys strings.Builder
	for i := range 40 {
		fmt.Fprintf(&keys, "    - name: team-%02d\n      sha256: %s\n", i, config.HashKey(fmt.Sprint("brk-", i)))
	}
	bigPath := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(bigPath, []byte(strings.Replace(string(big), "  keys:\n", "  keys:\n"+keys.String(), 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"cloudformation", "terraform"} {
		_, _, err = runSetupCmd(t, nil, "template", kind, "--config", bigPath, "--caller-role-arn", seedCallerARN, "--function-url")
		if err == nil || !strings.Contains(err.Error(), "Lambda allows 4096 bytes") {
			t.Errorf("%s, a 41-key config: got %v, want an error about Lambda's 4 KB environment", kind, err)
		}
	}
}
