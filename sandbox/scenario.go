package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Scenario is the AWS side the sandbox plays: accounts, their roles and policies, quotas, the caller's
// credentials, latency. DefaultScenario is the seed setup; a YAML file (see testdata/scenario-example.yaml)
// describes any other.
type Scenario struct {
	// DefaultRegion answers requests whose region cannot be told (bearer-token calls to a plain endpoint).
	DefaultRegion string `yaml:"default_region" json:"default_region"`
	// CredentialLifetimeSeconds, when > 0, makes every AssumeRole session expire after this many seconds
	// whatever DurationSeconds asked for, so that refresh paths can be tested quickly.
	CredentialLifetimeSeconds int `yaml:"credential_lifetime_seconds" json:"credential_lifetime_seconds"`
	// Strict authorizes a profile call against the foundation-model ARN of every destination region, not
	// just the one the request was routed to, so that a policy missing one fails on the first call.
	Strict bool `yaml:"strict" json:"strict"`
	// Caller is the session that `bedrock-relay sandbox env` exports: the seed's Lambda execution role.
	Caller CallerSession `yaml:"caller" json:"caller"`
	// Accounts by 12-digit id.
	Accounts map[string]*AccountSpec `yaml:"accounts" json:"accounts"`
	// Latency per foundation-model id ("*" for all): time to first token and output pace. Zero by default.
	Latency map[string]Latency `yaml:"latency" json:"latency"`
	// ApplicationProfiles are application inference profiles, by ARN.
	ApplicationProfiles []ApplicationProfile `yaml:"application_profiles" json:"application_profiles"`
}

// CallerSession is a pre-issued session of a role, with fixed keys so they can be printed before the
// sandbox runs and stay valid across restarts.
type CallerSession struct {
	RoleARN         string `yaml:"role_arn" json:"role_arn"`
	SessionName     string `yaml:"session_name" json:"session_name"`
	AccessKeyID     string `yaml:"access_key_id" json:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key" json:"secret_access_key"`
	SessionToken    string `yaml:"session_token" json:"session_token"`
}

// AccountSpec is one AWS account.
type AccountSpec struct {
	Roles map[string]*RoleSpec `yaml:"roles" json:"roles"`
	Users map[string]*UserSpec `yaml:"users" json:"users"`
	// APIKeys are Bedrock API keys (bearer tokens) of this account, with full Bedrock Runtime access.
	APIKeys []string `yaml:"api_keys" json:"api_keys"`
	// SCPs are service control policies applied to every principal of the account (deny lists).
	SCPs []PolicyText `yaml:"scps" json:"scps"`
	// DisabledRegions are opt-in regions not enabled for the account: every call there fails as on AWS.
	DisabledRegions []string `yaml:"disabled_regions" json:"disabled_regions"`
	// ModelAccess lists the foundation-model ids enabled in the account; empty means all of them.
	ModelAccess []string `yaml:"model_access" json:"model_access"`
	// Quotas of the account. Unlisted models get DefaultQuota.
	Quotas []QuotaSpec `yaml:"quotas" json:"quotas"`
	// Guardrails of the account (see GuardrailSpec).
	Guardrails []GuardrailSpec `yaml:"guardrails" json:"guardrails"`
}

// RoleSpec is an IAM role.
type RoleSpec struct {
	// Path is the role's IAM path, "/" when empty: a role at path /team/ is arn:aws:iam::ACCOUNT:role/team/NAME,
	// and only that ARN names it (AssumeRole with arn:aws:iam::ACCOUNT:role/NAME is AccessDenied, as for a role
	// that does not exist). Its sessions are arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION all the same.
	Path     string                `yaml:"path" json:"path"`
	Trust    PolicyText            `yaml:"trust" json:"trust"`
	Policies map[string]PolicyText `yaml:"policies" json:"policies"`
	// MaxSessionDurationSeconds is the role's maximum session duration; default 3600.
	MaxSessionDurationSeconds int `yaml:"max_session_duration_seconds" json:"max_session_duration_seconds"`
}

// UserSpec is an IAM user with one long-term access key.
type UserSpec struct {
	AccessKeyID     string                `yaml:"access_key_id" json:"access_key_id"`
	SecretAccessKey string                `yaml:"secret_access_key" json:"secret_access_key"`
	Policies        map[string]PolicyText `yaml:"policies" json:"policies"`
}

// QuotaSpec sets an account's quota for a model. Model is a system profile id ("jp.anthropic..."; the quota is
// the model's cross-region quota, shared by its geographic profiles), a "global." profile id (the global
// quota) or a foundation-model id (the on-demand quota). Region limits it to one region; empty is every region.
type QuotaSpec struct {
	Model             string `yaml:"model" json:"model"`
	Region            string `yaml:"region,omitempty" json:"region,omitempty"`
	RequestsPerMinute int    `yaml:"requests_per_minute" json:"requests_per_minute"`
	TokensPerMinute   int    `yaml:"tokens_per_minute" json:"tokens_per_minute"`
	TokensPerDay      int    `yaml:"tokens_per_day" json:"tokens_per_day"`
}

// Quota is a quota's values; 0 means unlimited.
type Quota struct {
	RequestsPerMinute int `json:"requests_per_minute"`
	TokensPerMinute   int `json:"tokens_per_minute"`
	TokensPerDay      int `json:"tokens_per_day"`
}

// DefaultQuota applies to a model an account has no quota listed for: the common values of an established
// account (*unverified*: AWS sets them per account).
var DefaultQuota = Quota{RequestsPerMinute: 200, TokensPerMinute: 2_000_000, TokensPerDay: 0}

// Latency is a model's pace. Zero answers at once.
type Latency struct {
	FirstTokenMillis int     `yaml:"first_token_ms" json:"first_token_ms"`
	TokensPerSecond  float64 `yaml:"tokens_per_second" json:"tokens_per_second"`
}

// ApplicationProfile is an application inference profile: an ARN in an account that forwards to a system
// profile or a foundation model.
type ApplicationProfile struct {
	ARN string `yaml:"arn" json:"arn"`
	// CopyFrom is the system profile id or foundation-model id it was created from.
	CopyFrom string `yaml:"copy_from" json:"copy_from"`
}

// PolicyText is a policy document given in a scenario either as a JSON string or as a YAML mapping.
type PolicyText string

// UnmarshalYAML accepts a JSON string or a YAML mapping and keeps it as JSON text.
func (p *PolicyText) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*p = PolicyText(n.Value)
		return nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("policy at line %d: %w", n.Line, err)
	}
	*p = PolicyText(b)
	return nil
}

// LoadScenario reads a scenario YAML file.
func LoadScenario(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read sandbox scenario: %w", err)
	}
	sc, err := ParseScenario(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sc, nil
}

// ParseScenario parses a scenario in YAML (JSON is YAML too). Fields left out keep DefaultScenario's caller
// and region; accounts are exactly those listed.
func ParseScenario(data []byte) (*Scenario, error) {
	sc := &Scenario{}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(sc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("parse sandbox scenario: the file is empty; describe at least one account (see sandbox/testdata/scenario-example.yaml)")
		}
		return nil, fmt.Errorf("parse sandbox scenario: %w", err)
	}
	def := DefaultScenario()
	if sc.DefaultRegion == "" {
		sc.DefaultRegion = def.DefaultRegion
	}
	if sc.Caller.RoleARN == "" {
		sc.Caller = def.Caller
	}
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	return sc, nil
}

var (
	accountIDRe = regexp.MustCompile(`^\d{12}$`)
	roleNameRe  = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	regionRe    = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$`)
	// rolePathRe is IAM's pattern for paths, (\u002F)|(\u002F[\u0021-\u007E]+\u002F), 1-512 characters.
	rolePathRe = regexp.MustCompile(`^(/|/[\x21-\x7E]{1,510}/)$`)
	// Guardrail ids and versions, as Bedrock's model gives their patterns.
	guardrailIDRe      = regexp.MustCompile(`^[a-z0-9]{1,64}$`)
	guardrailVersionRe = regexp.MustCompile(`^(DRAFT|[1-9][0-9]{0,7})$`)
)

// Validate reports every problem of the scenario at once.
func (sc *Scenario) Validate() error {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if !regionRe.MatchString(sc.DefaultRegion) {
		add("default_region %q is not a region name like ap-northeast-1", sc.DefaultRegion)
	}
	ids := make([]string, 0, len(sc.Accounts))
	for id := range sc.Accounts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		a := sc.Accounts[id]
		if !accountIDRe.MatchString(id) {
			add("accounts.%s: an account id is 12 digits", id)
		}
		if a == nil {
			add("accounts.%s: empty account", id)
			continue
		}
		for name, r := range a.Roles {
			if !roleNameRe.MatchString(name) {
				add("accounts.%s.roles.%s: role names are 1-64 of [A-Za-z0-9+=,.@_-]", id, name)
			}
			if r == nil {
				add("accounts.%s.roles.%s: empty role", id, name)
				continue
			}
			if r.Path != "" && !rolePathRe.MatchString(r.Path) {
				add("accounts.%s.roles.%s.path %q: a path starts and ends with / (\"/\" or like \"/team/\"), at most 512 printable ASCII characters", id, name, r.Path)
			}
			if r.Trust == "" {
				add("accounts.%s.roles.%s.trust: a role needs a trust policy", id, name)
			} else if _, err := parsePolicy(string(r.Trust)); err != nil {
				add("accounts.%s.roles.%s.trust: %v", id, name, err)
			}
			for pn, p := range r.Policies {
				if _, err := parsePolicy(string(p)); err != nil {
					add("accounts.%s.roles.%s.policies.%s: %v", id, name, pn, err)
				}
			}
			if d := r.MaxSessionDurationSeconds; d != 0 && (d < 3600 || d > 43200) {
				add("accounts.%s.roles.%s.max_session_duration_seconds: %d is outside 3600..43200", id, name, d)
			}
		}
		for name, u := range a.Users {
			if u == nil || u.AccessKeyID == "" || u.SecretAccessKey == "" {
				add("accounts.%s.users.%s: a user needs access_key_id and secret_access_key", id, name)
				continue
			}
			for pn, p := range u.Policies {
				if _, err := parsePolicy(string(p)); err != nil {
					add("accounts.%s.users.%s.policies.%s: %v", id, name, pn, err)
				}
			}
		}
		for i, p := range a.SCPs {
			if _, err := parsePolicy(string(p)); err != nil {
				add("accounts.%s.scps[%d]: %v", id, i, err)
			}
		}
		for i, q := range a.Quotas {
			if q.Model == "" {
				add("accounts.%s.quotas[%d].model: name a profile or model id", id, i)
			}
			if q.RequestsPerMinute < 0 || q.TokensPerMinute < 0 || q.TokensPerDay < 0 {
				add("accounts.%s.quotas[%d]: quotas are >= 0 (0 = unlimited)", id, i)
			}
		}
		seen := map[string]bool{}
		for i, g := range a.Guardrails {
			if !guardrailIDRe.MatchString(g.ID) {
				add("accounts.%s.guardrails[%d].id %q: a guardrail id is 1-64 of [a-z0-9]", id, i, g.ID)
			}
			if seen[g.ID] {
				add("accounts.%s.guardrails[%d].id %q: declared twice", id, i, g.ID)
			}
			seen[g.ID] = true
			for _, v := range g.Versions {
				if !guardrailVersionRe.MatchString(v) {
					add("accounts.%s.guardrails[%d].versions: %q is not DRAFT or a version number", id, i, v)
				}
			}
			for _, r := range g.Regions {
				if !regionRe.MatchString(r) {
					add("accounts.%s.guardrails[%d].regions: %q is not a region name", id, i, r)
				}
			}
			if len(g.BlockedWords) == 0 {
				add("accounts.%s.guardrails[%d].blocked_words: a guardrail needs at least one word to block", id, i)
			}
		}
	}
	if sc.Caller.RoleARN != "" {
		if _, _, ok := splitRoleARN(sc.Caller.RoleARN); !ok {
			add("caller.role_arn %q is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)", sc.Caller.RoleARN)
		}
		if sc.Caller.AccessKeyID == "" || sc.Caller.SecretAccessKey == "" {
			add("caller: access_key_id and secret_access_key are required")
		}
	}
	for i, ap := range sc.ApplicationProfiles {
		if !strings.Contains(ap.ARN, ":application-inference-profile/") {
			add("application_profiles[%d].arn %q is not an application inference profile ARN", i, ap.ARN)
		}
		if ap.CopyFrom == "" {
			add("application_profiles[%d].copy_from: name the profile or model it serves", i)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid sandbox scenario:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}

// splitRoleARN splits arn:aws:iam::ACCOUNT:role/NAME or arn:aws:iam::ACCOUNT:role/PATH/NAME into the account
// and the name. The path is not returned: whether it is the role's is for the caller to check against the
// role's ARN (Sandbox.roleByARN).
func splitRoleARN(arn string) (account, name string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || !accountIDRe.MatchString(parts[4]) {
		return "", "", false
	}
	res, found := strings.CutPrefix(parts[5], "role/")
	if !found || res == "" {
		return "", "", false
	}
	if i := strings.LastIndex(res, "/"); i >= 0 {
		res = res[i+1:]
	}
	return parts[4], res, res != ""
}

const (
	CallerAccount = "111111111111"
	CallerRoleARN = "arn:aws:iam::111111111111:role/lambda-execution-role"
	SeedProfile   = "jp.anthropic.claude-sonnet-4-5-20250929-v1:0"
	SeedRegion    = "ap-northeast-1"
	// HaikuProfile is the default scenario's second model, Claude Haiku 4.5 in Japan: the small, fast model
	// that agents such as Claude Code call beside their main one.
	HaikuProfile = "jp.anthropic.claude-haiku-4-5-20251001-v1:0"
	// OpusProfile is the default scenario's third model, Claude Opus 5.5 in Japan: Claude Code 2.1.333's
	// default main model, so that it runs against `serve --sandbox` with no model named.
	OpusProfile     = "jp.anthropic.claude-opus-5-5"
	TargetRoleName  = "BedrockAccessRole"
	SmallAccount    = "222222222222" // the seed's Bedrock account, 2 requests/minute
	LargeAccount    = "333333333333" // a second Bedrock account to pool with
	callerSessionNm = "bedrock-relay-sandbox"
)

// TargetRoleARN is the BedrockAccessRole of a sandbox account.
func TargetRoleARN(account string) string {
	return "arn:aws:iam::" + account + ":role/" + TargetRoleName
}

// DefaultScenario is the seed setup plus one more Bedrock account to pool with. Both Bedrock accounts' roles
// may also call Claude Haiku 4.5 (HaikuProfile) and Claude Opus 5.5 (OpusProfile) through their jp. profiles,
// with the same quotas as Sonnet's. Each Bedrock account has a guardrail, GuardrailID(account), that its role
// may apply (bedrock:ApplyGuardrail), and the role may read its asynchronous invocations
// (bedrock:GetAsyncInvoke, bedrock:ListAsyncInvokes); PoolScenario's accounts too.
func DefaultScenario() *Scenario {
	return poolScenario([]string{SmallAccount, LargeAccount}, map[string]Quota{
		SmallAccount: {RequestsPerMinute: 2, TokensPerMinute: 200_000},
		LargeAccount: {RequestsPerMinute: 50, TokensPerMinute: 1_000_000},
	}, SeedProfile, HaikuProfile, OpusProfile)
}

// PoolScenario is the default scenario's caller with one Bedrock account per entry of rpm (account id →
// requests per minute for Claude Sonnet 4.5 cross-region, with 1,000,000 tokens per minute), each set up as
// the seed's Bedrock account is: for tests and benchmarks of pooling.
func PoolScenario(rpm map[string]int) *Scenario {
	ids := make([]string, 0, len(rpm))
	quotas := map[string]Quota{}
	for id, n := range rpm {
		ids = append(ids, id)
		quotas[id] = Quota{RequestsPerMinute: n, TokensPerMinute: 1_000_000}
	}
	sort.Strings(ids)
	return poolScenario(ids, quotas, SeedProfile)
}

// poolScenario sets up each of targets as the seed's Bedrock account, allowed the jp. profiles given (the
// seed's policy: the profile in ap-northeast-1 and its foundation model in both destination regions), each with
// the account's quota.
func poolScenario(targets []string, quotas map[string]Quota, profiles ...string) *Scenario {
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + CallerRoleARN + `"},"Action":"sts:AssumeRole"}]}`
	perms := func(acct string) PolicyText {
		var res []string
		for _, p := range profiles {
			fm := strings.TrimPrefix(p, "jp.")
			res = append(res, `"arn:aws:bedrock:ap-northeast-1:`+acct+`:inference-profile/`+p+`"`,
				`"arn:aws:bedrock:ap-northeast-1::foundation-model/`+fm+`"`,
				`"arn:aws:bedrock:ap-northeast-3::foundation-model/`+fm+`"`)
		}
		return PolicyText(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["bedrock:InvokeModel","bedrock:InvokeModelWithResponseStream"],"Resource":[` +
			strings.Join(res, ",") + `]}]}`)
	}
	readQuotas := PolicyText(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["servicequotas:GetServiceQuota","servicequotas:ListServiceQuotas","bedrock:CountTokens"],"Resource":"*"}]}`)
	sc := &Scenario{
		DefaultRegion: SeedRegion,
		Caller: CallerSession{
			RoleARN:         CallerRoleARN,
			SessionName:     callerSessionNm,
			AccessKeyID:     "ASIASANDBOX1EXAMPLE1",
			SecretAccessKey: "sandboxSecretKeyForLambdaExecutionRole00",
			SessionToken:    "SandboxSessionToken/lambda-execution-role/111111111111/not-a-real-secret",
		},
		Accounts: map[string]*AccountSpec{},
	}
	roles := make([]string, len(targets))
	for i, acct := range targets {
		q := quotas[acct]
		roles[i] = `"` + TargetRoleARN(acct) + `"`
		sc.Accounts[acct] = &AccountSpec{
			Roles: map[string]*RoleSpec{TargetRoleName: {
				Trust:    PolicyText(trust),
				Policies: map[string]PolicyText{"BedrockInvoke": perms(acct), "ReadQuotas": readQuotas, "GuardrailsAndAsync": guardrailsAndAsync(acct)},
			}},
			Guardrails: []GuardrailSpec{defaultGuardrail(acct)},
		}
		for _, p := range profiles {
			sc.Accounts[acct].Quotas = append(sc.Accounts[acct].Quotas,
				QuotaSpec{Model: p, RequestsPerMinute: q.RequestsPerMinute, TokensPerMinute: q.TokensPerMinute, TokensPerDay: q.TokensPerDay})
		}
	}
	callerPolicy := PolicyText(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":[` + strings.Join(roles, ",") + `]}]}`)
	sc.Accounts[CallerAccount] = &AccountSpec{Roles: map[string]*RoleSpec{"lambda-execution-role": {
		Trust:    `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`,
		Policies: map[string]PolicyText{"AssumeBedrockRoles": callerPolicy},
	}}}
	return sc
}
