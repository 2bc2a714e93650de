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

// The catalog section adds a model this release does not know; targets and aliases may then name it.
func TestCatalogSection(t *testing.T) {
	c, err := load(t, strings.Replace(good, "aliases: {", "aliases: {opus: anthropic.claude-opus-4-8, ", 1)+`
routing: {anthropic_betas: reject}
catalog:
  models:
    - id: anthropic.claude-opus-4-8
      name: Claude Opus 4.8
      provider: anthropic
      family: anthropic-messages
      max_output_tokens: 128000
      output_burndown: 5
      profiles: {jp: null, global: null}
      anthropic_versions: ["2026-10-21"]
      anthropic_betas: [interleaved-thinking-2025-05-14]
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Targets[0].Models = append(c.Targets[0].Models, "jp.anthropic.claude-opus-4-8")
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	cat, err := c.ModelCatalog()
	if err != nil {
		t.Fatal(err)
	}
	if cp, ok := cat.Compat("anthropic.claude-opus-4-8"); !ok || !cp.AcceptsVersion("2026-10-21") {
		t.Errorf("Compat = %+v, %v; want 2026-10-21 accepted", cp, ok)
	}
	if fm, err := ServedModelIn(cat, "jp.anthropic.claude-opus-4-8", "ap-northeast-1"); err != nil || fm != "anthropic.claude-opus-4-8" {
		t.Errorf("ServedModelIn = %q, %v", fm, err)
	}
	if c.Routing.AnthropicBetas != BetasReject {
		t.Errorf("routing.anthropic_betas = %q", c.Routing.AnthropicBetas)
	}
}

func TestCatalogSectionErrors(t *testing.T) {
	c, err := load(t, good+`
routing: {anthropic_betas: strip}
catalog:
  models:
    - id: anthropic.claude-opus-4-8
      provider: anthropic
      family: anthropic
      profiles: {mars: null}
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	if err == nil {
		t.Fatal("Validate: nil, want errors")
	}
	for _, want := range []string{"routing.anthropic_betas", "catalog.models[0] (anthropic.claude-opus-4-8): family", "catalog.models[0] (anthropic.claude-opus-4-8): profiles.mars"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors %q: want one about %q", err, want)
		}
	}
	if _, err := load(t, "catalog:\n  models:\n    - id: x\n      profile: {us: null}\n", nil); err == nil || !strings.Contains(err.Error(), "profile") {
		t.Errorf("got %v, want the unknown field named", err)
	}
}

func TestAnthropicBetasDefault(t *testing.T) {
	c, err := load(t, good, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Routing.AnthropicBetas != BetasDrop {
		t.Errorf("routing.anthropic_betas = %q, want drop by default", c.Routing.AnthropicBetas)
	}
}
