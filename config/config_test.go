package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

func TestStateDefaults(t *testing.T) {
	c, err := load(t, good, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.State.Backend != StateMemory {
		t.Errorf("state.backend = %q, want memory by default", c.State.Backend)
	}
	c, err = load(t, good+`
state:
  backend: redis
  redis:
    addrs: ["cache.example.internal:6379"]
    tls: true
    password_env: REDIS_PASSWORD
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	r := c.State.Redis
	if r.KeyPrefix != "bedrock-relay:" || r.Timeout != Duration(50*time.Millisecond) || r.ProbeInterval != Duration(time.Second) ||
		r.FallbackShare == nil || *r.FallbackShare != 0.5 || !r.TLS.Enabled {
		t.Errorf("state.redis = %+v, want the defaults filled and tls on", r)
	}
	pw, err := r.Password(func(k string) string { return map[string]string{"REDIS_PASSWORD": "s3cret"}[k] })
	if err != nil || pw != "s3cret" {
		t.Errorf("Password = %q, %v; want the variable's value", pw, err)
	}
	if _, err := r.Password(func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "REDIS_PASSWORD") {
		t.Errorf("Password with the variable unset: %v, want an error naming it", err)
	}

	file := filepath.Join(t.TempDir(), "redis-password")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if pw, err := (RedisState{PasswordFile: file}).Password(nil); err != nil || pw != "from-file" {
		t.Errorf("Password from a file = %q, %v; want its line", pw, err)
	}
	if _, err := (RedisState{PasswordFile: file + ".missing"}).Password(nil); err == nil || !strings.Contains(err.Error(), "state.redis.password_file") {
		t.Errorf("Password from a missing file: %v, want an error naming the key", err)
	}
	c, err = load(t, good+"state: {backend: redis, redis: {addrs: [\"a:1\"], tls: {enabled: true, ca_file: /etc/ca.pem}}}\n", nil)
	if err != nil || c.State.Redis.TLS.CAFile != "/etc/ca.pem" {
		t.Errorf("tls as a mapping: %+v, %v", c, err)
	}
}

func TestStateErrors(t *testing.T) {
	tests := []struct{ state, want string }{
		{"{backend: etcd}", `state.backend "etcd": want memory (the default) or redis`},
		{"{backend: redis}", "state.redis.addrs: list the Redis address"},
		{`{backend: redis, redis: {addrs: ["cache.example.internal"]}}`, `state.redis.addrs[0] "cache.example.internal": want host:port`},
		{`{backend: redis, redis: {addrs: ["a:6379", ":6379", "b:http", "c:70000"]}}`, `state.redis.addrs[1] ":6379"`},
		{`{backend: redis, redis: {addrs: ["a:6379", "b:http"]}}`, `state.redis.addrs[1] "b:http"`},
		{`{backend: redis, redis: {addrs: ["a:1"], fallback_share: 0}}`, "state.redis.fallback_share 0: want a fraction in (0, 1]"},
		{`{backend: redis, redis: {addrs: ["a:1"], fallback_share: 1.5}}`, "state.redis.fallback_share 1.5"},
		{`{backend: redis, redis: {addrs: ["a:1"], fallback_share: -0.5}}`, "state.redis.fallback_share -0.5"},
		{`{backend: redis, redis: {addrs: ["a:1"], password_env: P, password_file: /run/p}}`, "state.redis.password_env and state.redis.password_file: set one, not both"},
		{`{backend: redis, redis: {addrs: ["a:1"], password_env: "hunter2!"}}`, "want the name of an environment variable"},
		{`{backend: redis, redis: {addrs: ["a:1"], key_prefix: "{x}"}}`, "state.redis.key_prefix"},
		{`{backend: redis, redis: {addrs: ["a:1"], timeout: -1s}}`, "state.redis.timeout"},
		{`{backend: redis, redis: {addrs: ["a:1"], tls: {ca_file: /x}}}`, "state.redis.tls: ca_file and server_name need enabled: true"},
		{`{backend: redis, redis: {addrs: ["a:1"], cluster: true, master_name: m}}`, "a Cluster or a Sentinel master, not both"},
		{`{redis: {addrs: ["a:1"]}}`, "state.redis.addrs: set, but state.backend is memory"},
	}
	for _, tt := range tests {
		c, err := load(t, good+"state: "+tt.state+"\n", nil)
		if err != nil {
			t.Errorf("%s: %v", tt.state, err)
			continue
		}
		err = c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("state: %s: got %v, want an error with %q", tt.state, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("state: %s: the error %q shows what may be the password", tt.state, err)
		}
	}
	// Every problem at once.
	c, err := load(t, good+`state: {backend: redis, redis: {addrs: ["x"], fallback_share: 2, password_env: P, password_file: /p}}`+"\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	for _, want := range []string{"state.redis.addrs[0]", "state.redis.fallback_share", "set one, not both"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors %v: want one about %q", err, want)
		}
	}
	for _, bad := range []string{"state: {redis: {tls: maybe}}\n", "state: {redis: {tls: {enable: true}}}\n", "state: {redis: {password: x}}\n"} {
		if _, err := load(t, good+bad, nil); err == nil {
			t.Errorf("%q: loaded, want a parse error", bad)
		}
	}
}
