package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const good = `
server: {addr: "127.0.0.1:8080"}
auth:
  mode: keys
  keys:
    - {name: app, sha256: "` + "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b" + `", models: ["*"]}
aliases: {sonnet: anthropic.claude-sonnet-4-5-20250929-v1:0}
targets:
  - role_arn: arn:aws:iam::222222222222:role/BedrockAccessRole
    region: ap-northeast-1
    models: [jp.anthropic.claude-sonnet-4-5-20250929-v1:0]
    budgets: {requests_per_minute: 2, tokens_per_minute: auto}
`

func load(t *testing.T, yaml string, env map[string]string) (*Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "relay.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(path, func(k string) string { return env[k] })
}

func TestLoadGood(t *testing.T) {
	c, err := load(t, good, map[string]string{"BEDROCK_RELAY_ADDR": "127.0.0.1:9999"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	tg := c.Targets[0]
	if tg.Name != "222222222222-ap-northeast-1" || tg.SessionName != "bedrock-relay" || tg.Weight != 1 {
		t.Errorf("defaults not filled: %+v", tg)
	}
	if !tg.Budgets.TokensPerMinute.Auto || tg.Budgets.RequestsPerMinute.N != 2 {
		t.Errorf("budgets = %+v, want rpm 2 and tpm auto", tg.Budgets)
	}
	if c.Server.Addr != "127.0.0.1:9999" {
		t.Errorf("env override: addr = %s", c.Server.Addr)
	}
	if c.Source.Region != "ap-northeast-1" {
		t.Errorf("source region = %q, want the first target's", c.Source.Region)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c, err := load(t, `
server: {addr: "0.0.0.0:8080"}
auth: {mode: none}
aliases: {x: not-a-model}
targets:
  - role_arn: arn:aws:iam::22:role/R
    region: tokyo
    external_id: "a"
    models: [jp.anthropic.claude-sonnet-4-5-20250929-v1:0, us.anthropic.claude-sonnet-4-5-20250929-v1:0]
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	if err == nil {
		t.Fatal("Validate: nil, want errors")
	}
	for _, want := range []string{"auth.mode none", "aliases.x", "role ARN", "region", "external ID", "cannot be called from tokyo"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors %q: want one about %q", err, want)
		}
	}
}

func TestUnknownFieldIsAnError(t *testing.T) {
	if _, err := load(t, "targets:\n  - role_arn: x\n    regoin: ap-northeast-1\n", nil); err == nil || !strings.Contains(err.Error(), "regoin") {
		t.Errorf("got %v, want an error naming the unknown field", err)
	}
	if _, err := load(t, "targets:\n  - budgets: {requests_per_minute: lots}\n", nil); err == nil || !strings.Contains(err.Error(), "auto") {
		t.Errorf("got %v, want a budget error saying number or auto", err)
	}
}

func TestServedModel(t *testing.T) {
	tests := []struct{ entry, region, want, wantErr string }{
		{"jp.anthropic.claude-sonnet-4-5-20250929-v1:0", "ap-northeast-1", "anthropic.claude-sonnet-4-5-20250929-v1:0", ""},
		{"global.anthropic.claude-sonnet-4-5-20250929-v1:0", "us-east-1", "anthropic.claude-sonnet-4-5-20250929-v1:0", ""},
		{"amazon.nova-pro-v1:0", "us-east-1", "amazon.nova-pro-v1:0", ""},
		{"arn:aws:bedrock:us-east-1:222222222222:application-inference-profile/abc=anthropic.claude-haiku-4-5-20251001-v1:0", "us-east-1", "anthropic.claude-haiku-4-5-20251001-v1:0", ""},
		{"arn:aws:bedrock:us-east-1:222222222222:application-inference-profile/abc", "us-east-1", "", "ARN=FOUNDATION_MODEL_ID"},
		{"jp.anthropic.claude-sonnet-4-5-20250929-v1:0", "us-east-1", "", "cannot be called from us-east-1"},
		{"xx.anthropic.claude-sonnet-4-5-20250929-v1:0", "us-east-1", "", "unknown inference profile geography"},
	}
	for _, tt := range tests {
		got, err := ServedModel(tt.entry, tt.region)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ServedModel(%q, %s): err %v, want %q", tt.entry, tt.region, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ServedModel(%q, %s) = %q, %v; want %q", tt.entry, tt.region, got, err, tt.want)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:1": true, "localhost:1": true, "[::1]:1": true, "0.0.0.0:1": false, ":8080": false, "10.0.0.1:1": false} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestEmptyFileIsTheDefaults(t *testing.T) {
	c, err := load(t, "", nil)
	if err != nil {
		t.Fatalf("empty file: %v, want the defaults", err)
	}
	if c.Server.Addr != "127.0.0.1:8080" || c.Auth.Mode != "keys" {
		t.Errorf("got %+v, want the defaults", c.Server)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "targets") {
		t.Errorf("Validate: %v, want it to ask for targets", err)
	}
}
