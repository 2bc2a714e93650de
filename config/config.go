package config

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	relay "github.com/bedrock-relay/bedrock-relay"
	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// Config is the whole relay configuration.
type Config struct {
	Server  Server            `yaml:"server"`
	Auth    Auth              `yaml:"auth"`
	Source  Source            `yaml:"source"`
	Routing Routing           `yaml:"routing"`
	Aliases map[string]string `yaml:"aliases"` // alias → foundation-model id
	Targets []TargetSpec      `yaml:"targets"`
	// Catalog extends the embedded model catalogue for this relay (a model AWS added after the release).
	Catalog CatalogSpec `yaml:"catalog"`
	// State is where budgets and cooldowns are kept: in each process, or in Redis for every replica.
	State State `yaml:"state"`
	// Groups are budgets shared by the keys that name them (a team's keys), by name.
	Groups []Group `yaml:"groups"`
	// Prices override or add to the catalogue's model prices (keys.go), for cost accounting and USD budgets.
	Prices []PriceSpec `yaml:"prices"`
	// Attribution is how each caller shows in the Bedrock account's bill (keys.go).
	Attribution Attribution `yaml:"attribution"`
}

// State is where the budget windows and hard cooldowns of every target × model are kept.
type State struct {
	// Backend is memory (the default: each relay process, each Lambda instance, keeps its own) or redis
	// (shared by every process and instance that uses the same Redis and key prefix).
	Backend string     `yaml:"backend"`
	Redis   RedisState `yaml:"redis"`
}

// The values of State.Backend.
const (
	StateMemory = "memory"
	StateRedis  = "redis"
)

// RedisState is how to reach Redis (or Valkey, ElastiCache, MemoryDB) for state.backend redis.
type RedisState struct {
	// Addrs are host:port addresses: one for a single node (or a cluster's configuration endpoint, with
	// Cluster), several for a Cluster's nodes, or the Sentinels with MasterName.
	Addrs []string `yaml:"addrs"`
	// Cluster speaks the Cluster protocol to a single address (ElastiCache or MemoryDB cluster mode).
	Cluster bool `yaml:"cluster"`
	// MasterName is the Sentinel master's name; Addrs are then the Sentinels.
	MasterName string `yaml:"master_name"`
	// Username is the ACL user; empty with a password: the default user (requirepass).
	Username string `yaml:"username"`
	// PasswordEnv names the environment variable holding the password, PasswordFile a file holding it: one
	// or neither (no password). The password itself is never written in the config.
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	// TLS encrypts the connection (ElastiCache and MemoryDB in-transit encryption): `tls: true`, or a mapping.
	TLS RedisTLS `yaml:"tls"`
	// KeyPrefix starts every key; default "bedrock-relay:". Relays with the same prefix share budgets.
	KeyPrefix string `yaml:"key_prefix"`
	// Timeout bounds every call to Redis, a reservation's round trip included; default 50ms. A call that
	// takes longer falls back to local budgets, never fails the request.
	Timeout Duration `yaml:"timeout"`
	// FallbackShare is the fraction of each budget a relay process allows itself while Redis cannot be
	// reached, in (0, 1]: 1/N for N replicas. Default 0.5.
	FallbackShare *float64 `yaml:"fallback_share"`
	// ProbeInterval is how often a relay in fallback checks whether Redis is back; default 1s.
	ProbeInterval Duration `yaml:"probe_interval"`
}

// RedisTLS is the TLS of the connection to Redis.
type RedisTLS struct {
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of the CAs to trust; default the system's (which ElastiCache's certificates
	// chain to).
	CAFile string `yaml:"ca_file"`
	// ServerName overrides the name checked in the server's certificate; default the address's host.
	ServerName string `yaml:"server_name"`
}

// UnmarshalYAML takes true or false for Enabled alone, or the mapping (refusing unknown fields).
func (t *RedisTLS) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var on bool
		if err := n.Decode(&on); err != nil {
			return fmt.Errorf("line %d: tls %q: want true, false or a mapping of enabled, ca_file, server_name", n.Line, n.Value)
		}
		*t = RedisTLS{Enabled: on}
		return nil
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			switch k := n.Content[i]; k.Value {
			case "enabled", "ca_file", "server_name":
			default:
				return fmt.Errorf("line %d: field %s not found in tls (want enabled, ca_file, server_name)", k.Line, k.Value)
			}
		}
	}
	type plain RedisTLS
	return n.Decode((*plain)(t))
}

// Password reads the Redis password from the variable PasswordEnv names (through getenv) or from
// PasswordFile (without its trailing newline); "" when neither is set. Errors name the variable or the file,
// never what they hold.
func (r RedisState) Password(getenv func(string) string) (string, error) {
	switch {
	case r.PasswordEnv != "":
		if getenv == nil {
			getenv = os.Getenv
		}
		if v := getenv(r.PasswordEnv); v != "" {
			return v, nil
		}
		return "", fmt.Errorf("state.redis.password_env: $%s is empty or not set; export the Redis password in it", r.PasswordEnv)
	case r.PasswordFile != "":
		data, err := os.ReadFile(r.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("state.redis.password_file: %w", err)
		}
		if v := strings.TrimRight(string(data), "\r\n"); v != "" {
			return v, nil
		}
		return "", fmt.Errorf("state.redis.password_file: %s is empty; write the Redis password in it", r.PasswordFile)
	}
	return "", nil
}

// CatalogSpec is the relay's addition to catalog.Default(): models in catalog.yaml's format (id, name,
// provider, family, max_output_tokens, output_burndown, on_demand_regions, profiles, and for Anthropic models
// anthropic_versions and anthropic_betas). A model of an id the catalogue lists replaces that entry.
type CatalogSpec struct {
	Models []catalog.Model `yaml:"models"`
}

// Server is where the relay listens.
type Server struct {
	Addr        string `yaml:"addr"`
	AdminAddr   string `yaml:"admin_addr"`
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// AccessLog writes one JSON line per request (never prompts or keys) to stderr.
	AccessLog bool `yaml:"access_log"`
	// BodyTimeout is how long a caller has, from the moment its request arrives, to send the whole body; a
	// late body is answered 408 and the connection closed. Default 60s.
	BodyTimeout Duration `yaml:"body_timeout"`
	// MaxBodyBytesInFlight caps the request bodies held in memory at once, over every request; a request
	// that would go over it is answered 503 with Retry-After. Default 256 MiB; -1 for no cap.
	MaxBodyBytesInFlight int64 `yaml:"max_body_bytes_in_flight"`
}

// Auth is how callers authenticate.
type Auth struct {
	// Mode is "keys" (API keys sent as Bedrock bearer tokens or OpenAI keys) or "none" (loopback only).
	Mode string `yaml:"mode"`
	Keys []Key  `yaml:"keys"`
}

// Key is one caller API key, stored as the SHA-256 of the key (hex), never the key itself.
type Key struct {
	Name   string `yaml:"name"`
	SHA256 string `yaml:"sha256"`
	// Models the key may call: foundation-model ids, aliases, or "*".
	Models []string `yaml:"models"`
	// Group names an entry of the top-level groups: the key also counts against the group's budgets.
	Group string `yaml:"group"`
	// Budgets limit the key's own use, over every model and target (keys.go).
	Budgets KeyBudgets `yaml:"budgets"`
}

// Source is where the relay's own credentials and AWS endpoints come from.
type Source struct {
	// Region for STS calls; default AWS_REGION, then the first target's region.
	Region string `yaml:"region"`
	// Endpoint overrides every AWS endpoint (STS, Bedrock Runtime, Service Quotas): the sandbox, say.
	Endpoint string `yaml:"endpoint"`
}

// Routing tunes failover.
type Routing struct {
	// WaitForCapacity is how long a request may wait for a target to free up when every one is exhausted,
	// before it is answered 429. Zero answers at once.
	WaitForCapacity Duration `yaml:"wait_for_capacity"`
	// RequestTimeout bounds one request across all its attempts.
	RequestTimeout Duration `yaml:"request_timeout"`
	// MaxAttempts bounds the attempts of one request across targets and retry rounds; 0 is 3, or the number
	// of targets serving the model if that is more.
	MaxAttempts int `yaml:"max_attempts"`
	// StreamIdleTimeout ends a stream whose upstream sends nothing for that long, with an error event for
	// the caller. Default 2m (thinking models pause).
	StreamIdleTimeout Duration `yaml:"stream_idle_timeout"`
	// AnthropicBetas is what the relay does with an anthropic_beta flag the target's model does not accept
	// (docs/compat.md): drop (the default) removes it from the body, pass sends it on (Bedrock then answers
	// "invalid beta flag"), reject answers the caller 400 ValidationException naming it.
	AnthropicBetas string `yaml:"anthropic_betas"`
}

// The values of Routing.AnthropicBetas.
const (
	BetasDrop   = "drop"
	BetasPass   = "pass"
	BetasReject = "reject"
)

// TargetSpec is one account role × region and the models it serves.
type TargetSpec struct {
	Name       string `yaml:"name"`
	RoleARN    string `yaml:"role_arn"`
	ExternalID string `yaml:"external_id"`
	Region     string `yaml:"region"`
	// SessionName for AssumeRole; default "bedrock-relay".
	SessionName string `yaml:"session_name"`
	// SessionDuration for AssumeRole; default 1h.
	SessionDuration Duration `yaml:"session_duration"`
	// Models are the ids this target calls: system profile ids (jp.…), foundation-model ids, or
	// application-profile ARNs written "ARN=foundation-model-id". Each serves its foundation model.
	Models   []string `yaml:"models"`
	Weight   int      `yaml:"weight"`
	Priority int      `yaml:"priority"`
	Budgets  Budgets  `yaml:"budgets"`
}

// Budgets are a target's client-side limits per model; each is a number, 0 for none, or "auto" to read the
// account's quota from Service Quotas.
type Budgets struct {
	RequestsPerMinute Limit `yaml:"requests_per_minute"`
	TokensPerMinute   Limit `yaml:"tokens_per_minute"`
	TokensPerDay      Limit `yaml:"tokens_per_day"`
}

// Limit is a budget value: a number, or Auto.
type Limit struct {
	N    int
	Auto bool
}

// UnmarshalYAML accepts a non-negative integer or "auto".
func (l *Limit) UnmarshalYAML(n *yaml.Node) error {
	if n.Value == "auto" {
		*l = Limit{Auto: true}
		return nil
	}
	v, err := strconv.Atoi(strings.ReplaceAll(n.Value, "_", ""))
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: budget %q: want a whole number >= 0 or auto", n.Line, n.Value)
	}
	*l = Limit{N: v}
	return nil
}

// MarshalYAML writes a number or "auto".
func (l Limit) MarshalYAML() (any, error) {
	if l.Auto {
		return "auto", nil
	}
	return l.N, nil
}

// Duration is a time.Duration written as "90s", "5m".
type Duration time.Duration

// UnmarshalYAML parses Go duration syntax.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 30s or 5m", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes Go duration syntax.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Default is the configuration before any file: loopback addresses, keys required.
func Default() Config {
	return Config{
		Server:  Server{Addr: "127.0.0.1:8080", AdminAddr: "127.0.0.1:9090"},
		Auth:    Auth{Mode: "keys"},
		Routing: Routing{RequestTimeout: Duration(5 * time.Minute)},
	}
}

// Load reads a config: defaults, then the file (if path is not empty), then environment overrides.
func Load(path string, getenv func(string) string) (*Config, error) {
	cfg := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		if err := Parse(data, &cfg); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	cfg.applyEnv(getenv)
	cfg.FillDefaults()
	return &cfg, nil
}

// Parse decodes YAML onto cfg, refusing unknown fields (a typo must not silently do nothing).
func Parse(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) { // an empty file is the defaults
		return fmt.Errorf("parse config: %w", err)
	}
	return nil
}

// applyEnv applies BEDROCK_RELAY_* overrides.
func (c *Config) applyEnv(getenv func(string) string) {
	if getenv == nil {
		return
	}
	if v := getenv("BEDROCK_RELAY_ADDR"); v != "" {
		c.Server.Addr = v
	}
	if v := getenv("BEDROCK_RELAY_ADMIN_ADDR"); v != "" {
		c.Server.AdminAddr = v
	}
	if v := getenv("BEDROCK_RELAY_AUTH"); v != "" {
		c.Auth.Mode = v
	}
	if v := getenv("BEDROCK_RELAY_ENDPOINT"); v != "" {
		c.Source.Endpoint = v
	}
	if c.Source.Region == "" {
		c.Source.Region = getenv("AWS_REGION")
	}
}

// FillDefaults fills what a config may leave out (session names and durations, weights, target names).
func (c *Config) FillDefaults() {
	if c.Attribution.MaxSessions == 0 {
		c.Attribution.MaxSessions = DefaultMaxSessions
	}
	for i := range c.Targets {
		t := &c.Targets[i]
		if t.SessionName == "" {
			t.SessionName = "bedrock-relay"
		}
		if t.SessionDuration == 0 {
			t.SessionDuration = Duration(time.Hour)
		}
		if t.Weight == 0 {
			t.Weight = 1
		}
		if t.Name == "" {
			if acct, err := relay.RoleAccount(t.RoleARN); err == nil {
				t.Name = acct + "-" + t.Region
			}
		}
	}
	if c.Source.Region == "" && len(c.Targets) > 0 {
		c.Source.Region = c.Targets[0].Region
	}
	if c.Routing.RequestTimeout == 0 {
		c.Routing.RequestTimeout = Duration(5 * time.Minute)
	}
	if c.Server.BodyTimeout == 0 {
		c.Server.BodyTimeout = Duration(time.Minute)
	}
	if c.Server.MaxBodyBytesInFlight == 0 {
		c.Server.MaxBodyBytesInFlight = 256 << 20
	}
	if c.Routing.StreamIdleTimeout == 0 {
		c.Routing.StreamIdleTimeout = Duration(2 * time.Minute)
	}
	if c.Routing.AnthropicBetas == "" {
		c.Routing.AnthropicBetas = BetasDrop
	}
	if c.State.Backend == "" {
		c.State.Backend = StateMemory
	}
	if r := &c.State.Redis; c.State.Backend == StateRedis {
		if r.KeyPrefix == "" {
			r.KeyPrefix = "bedrock-relay:"
		}
		if r.Timeout == 0 {
			r.Timeout = Duration(50 * time.Millisecond)
		}
		if r.ProbeInterval == 0 {
			r.ProbeInterval = Duration(time.Second)
		}
		if r.FallbackShare == nil {
			share := 0.5
			r.FallbackShare = &share
		}
	}
}

// ModelCatalog is catalog.Default() with the config's catalog section merged in: the catalogue this relay's
// targets, aliases and router use.
func (c *Config) ModelCatalog() (*catalog.Catalog, error) {
	if len(c.Catalog.Models) == 0 {
		return catalog.Default(), nil
	}
	return catalog.Default().With(c.Catalog.Models)
}

var sha256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Relay is the library's view of the target: what to assume and where.
func (t TargetSpec) Relay() relay.Target {
	return relay.Target{RoleARN: t.RoleARN, Region: t.Region, ExternalID: t.ExternalID, SessionName: t.SessionName,
		SessionDuration: time.Duration(t.SessionDuration)}.WithDefaults()
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if _, _, err := net.SplitHostPort(c.Server.Addr); err != nil {
		add("server.addr %q: want host:port, e.g. 127.0.0.1:8080", c.Server.Addr)
	}
	if c.Server.AdminAddr != "" {
		if _, _, err := net.SplitHostPort(c.Server.AdminAddr); err != nil {
			add("server.admin_addr %q: want host:port, e.g. 127.0.0.1:9090 (or empty for none)", c.Server.AdminAddr)
		}
	}
	if c.Server.BodyTimeout < 0 {
		add("server.body_timeout %v: want a positive duration such as 60s", time.Duration(c.Server.BodyTimeout))
	}
	if c.Server.MaxBodyBytesInFlight < -1 {
		add("server.max_body_bytes_in_flight %d: want a number of bytes, or -1 for no cap", c.Server.MaxBodyBytesInFlight)
	}
	if c.Routing.MaxAttempts < 0 {
		add("routing.max_attempts %d: want 0 (the default) or a positive number", c.Routing.MaxAttempts)
	}
	if c.Routing.StreamIdleTimeout < 0 {
		add("routing.stream_idle_timeout %v: want a positive duration such as 2m", time.Duration(c.Routing.StreamIdleTimeout))
	}
	switch c.Routing.AnthropicBetas {
	case "", BetasDrop, BetasPass, BetasReject:
	default:
		add("routing.anthropic_betas %q: want drop (the default), pass or reject", c.Routing.AnthropicBetas)
	}
	c.State.validate(add)
	c.validateKeys(add)
	cat, err := c.ModelCatalog()
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			add("catalog.%s", line)
		}
		cat = catalog.Default() // check the rest against the embedded catalogue
	}
	if len(c.Prices) > 0 {
		if _, err := c.PriceTable(cat); err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				add("%s", line)
			}
		}
	}
	if (c.Server.TLSCertFile == "") != (c.Server.TLSKeyFile == "") {
		add("server.tls_cert_file and server.tls_key_file go together")
	}
	switch c.Auth.Mode {
	case "keys":
		if len(c.Auth.Keys) == 0 {
			add("auth.keys: mode keys needs at least one key (make one with `bedrock-relay keys new NAME`), or set auth.mode: none for loopback use")
		}
	case "none":
		if !IsLoopback(c.Server.Addr) {
			add("auth.mode none: only allowed when server.addr is a loopback address (got %q); configure auth.keys", c.Server.Addr)
		}
	default:
		add("auth.mode %q: want keys or none", c.Auth.Mode)
	}
	names := map[string]bool{}
	for i, k := range c.Auth.Keys {
		if k.Name == "" {
			add("auth.keys[%d].name: required", i)
		}
		if names["key:"+k.Name] {
			add("auth.keys[%d].name %q: duplicate", i, k.Name)
		}
		names["key:"+k.Name] = true
		if !sha256Re.MatchString(k.SHA256) {
			add("auth.keys[%d].sha256: want the 64 lower-case hex digits of the key's SHA-256 (`bedrock-relay keys new` prints it)", i)
		}
		if len(k.Models) == 0 {
			add("auth.keys[%d].models: list the models the key may call, or \"*\"", i)
		}
	}
	for alias, id := range c.Aliases {
		if _, ok := cat.Model(id); !ok {
			add("aliases.%s: %q is not a foundation-model id in the catalogue (e.g. anthropic.claude-sonnet-4-5-20250929-v1:0)", alias, id)
		}
	}
	if len(c.Targets) == 0 {
		add("targets: at least one target is required")
	}
	for i, t := range c.Targets {
		at := fmt.Sprintf("targets[%d]", i)
		if t.Name != "" {
			at = fmt.Sprintf("targets[%d] (%s)", i, t.Name)
			if names["target:"+t.Name] {
				add("%s.name: duplicate", at)
			}
			names["target:"+t.Name] = true
		}
		if err := t.Relay().Validate(); err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				add("%s: %s", at, strings.TrimPrefix(line, relay.ErrInvalidTarget.Error()+": "))
			}
		}
		if t.Weight < 0 {
			add("%s.weight: >= 0", at)
		}
		if len(t.Models) == 0 {
			add("%s.models: list the model or profile ids this target calls, e.g. jp.anthropic.claude-sonnet-4-5-20250929-v1:0", at)
		}
		for j, m := range t.Models {
			if _, err := ServedModelIn(cat, m, t.Region); err != nil {
				add("%s.models[%d]: %v", at, j, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid relay config:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}

var envNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// validate adds the state section's problems.
func (s State) validate(add func(format string, args ...any)) {
	r := s.Redis
	switch s.Backend {
	case "", StateMemory:
		if len(r.Addrs) > 0 {
			add("state.redis.addrs: set, but state.backend is %s; set state.backend: redis to share budgets through it", cmp.Or(s.Backend, StateMemory))
		}
		return
	case StateRedis:
	default:
		add("state.backend %q: want memory (the default) or redis", s.Backend)
		return
	}
	if len(r.Addrs) == 0 {
		add("state.redis.addrs: list the Redis address (host:port, e.g. cache.example.internal:6379), or several for a Cluster")
	}
	for i, a := range r.Addrs {
		host, port, err := net.SplitHostPort(a)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			add("state.redis.addrs[%d] %q: want host:port, e.g. cache.example.internal:6379", i, a)
		}
	}
	if r.Cluster && r.MasterName != "" {
		add("state.redis.cluster and state.redis.master_name: a Cluster or a Sentinel master, not both")
	}
	if r.PasswordEnv != "" && r.PasswordFile != "" {
		add("state.redis.password_env and state.redis.password_file: set one, not both")
	}
	if r.PasswordEnv != "" && !envNameRe.MatchString(r.PasswordEnv) {
		// Not echoed: a value that is no variable's name may be the password itself.
		add("state.redis.password_env: want the name of an environment variable, e.g. REDIS_PASSWORD, not the password itself")
	}
	if !r.TLS.Enabled && (r.TLS.CAFile != "" || r.TLS.ServerName != "") {
		add("state.redis.tls: ca_file and server_name need enabled: true")
	}
	if strings.ContainsAny(r.KeyPrefix, "{}") {
		add("state.redis.key_prefix %q: no { or } (the relay puts its own hash tags in keys)", r.KeyPrefix)
	}
	if r.Timeout < 0 {
		add("state.redis.timeout %v: want a short positive duration such as 50ms", time.Duration(r.Timeout))
	}
	if r.ProbeInterval < 0 {
		add("state.redis.probe_interval %v: want a positive duration such as 1s", time.Duration(r.ProbeInterval))
	}
	if f := r.FallbackShare; f != nil && (*f <= 0 || *f > 1) {
		add("state.redis.fallback_share %v: want a fraction in (0, 1], 1/N for N replicas (e.g. 0.5)", *f)
	}
}

// ServedModel returns the foundation-model id a target's model entry serves, checking that the entry makes
// sense in the target's region, against the embedded catalogue.
func ServedModel(entry, region string) (string, error) {
	return ServedModelIn(catalog.Default(), entry, region)
}

// ServedModelIn is ServedModel against cat (a config's ModelCatalog).
func ServedModelIn(cat *catalog.Catalog, entry, region string) (string, error) {
	if arn, fm, ok := strings.Cut(entry, "="); ok {
		if !strings.Contains(arn, ":application-inference-profile/") {
			return "", fmt.Errorf("%q: only application inference profile ARNs take =MODEL", entry)
		}
		if _, found := cat.Model(fm); !found {
			return "", fmt.Errorf("%q: %s is not a foundation-model id in the catalogue", entry, fm)
		}
		return fm, nil
	}
	ref, err := catalog.ParseRef(entry)
	if err != nil {
		return "", err
	}
	switch ref.Kind {
	case catalog.KindSystemProfile:
		p, err := cat.Profile(ref.ID)
		if err != nil {
			return "", err
		}
		ok := false
		for _, r := range p.Geography.SourceRegions {
			ok = ok || r == region
		}
		if !ok {
			return "", fmt.Errorf("%s cannot be called from %s (its source regions: %s)", ref.ID, region, strings.Join(p.Geography.SourceRegions, ", "))
		}
		return p.Model.ID, nil
	case catalog.KindFoundationModel:
		m, ok := cat.Model(ref.ID)
		if !ok {
			return "", fmt.Errorf("%s is not a model in the catalogue", ref.ID)
		}
		return m.ID, nil
	case catalog.KindApplicationProfile:
		return "", fmt.Errorf("%q: write application inference profiles as ARN=FOUNDATION_MODEL_ID so the relay knows what they serve", entry)
	}
	return "", fmt.Errorf("%q: provisioned throughput is not supported", entry)
}

// IsLoopback reports whether a host:port listens on loopback only.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// HashKey is the stored form of an API key.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
