package setup

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	relay "github.com/bedrock-relay/bedrock-relay"
	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/iampolicy"
)

// Inline policy names the generated documents are attached under. The sandbox's default scenario uses the same.
const (
	PolicyInvoke     = "BedrockInvoke"
	PolicyReadQuotas = "ReadQuotas"
	PolicyAssume     = "AssumeBedrockRoles"
	PolicyLogs       = "CloudWatchLogs"
)

// Grant is one Bedrock-account role in one region and the models called through it, as a relay config
// target has them.
type Grant struct {
	RoleARN    string
	ExternalID string
	Region     string
	// Models as the relay config writes them: profile ids, foundation-model ids, or application-profile
	// ARNs written "ARN=FOUNDATION_MODEL_ID".
	Models []string
	// SessionDuration the relay asks AssumeRole for; the role's maximum must allow it.
	SessionDuration time.Duration
}

// GrantsFromConfig takes the targets of a relay config.
func GrantsFromConfig(cfg *config.Config) []Grant {
	out := make([]Grant, 0, len(cfg.Targets))
	for _, t := range cfg.Targets {
		out = append(out, Grant{RoleARN: t.RoleARN, ExternalID: t.ExternalID, Region: t.Region,
			Models: slices.Clone(t.Models), SessionDuration: time.Duration(t.SessionDuration)})
	}
	return out
}

// ModelID is what a config model entry passes to Bedrock as modelId: the entry without its "=MODEL" suffix.
func ModelID(entry string) string {
	id, _, _ := strings.Cut(entry, "=")
	return id
}

// Options say what to generate the documents for.
type Options struct {
	// CallerRoleARN is the role the relay or Lambda runs as (the seed's lambda-execution-role).
	CallerRoleARN string
	Targets       []Grant
	// Stream also allows bedrock:InvokeModelWithResponseStream, which the relay needs for streaming calls.
	Stream bool
	// ProfileCondition restricts the foundation-model ARNs to calls through the inference profile.
	ProfileCondition bool
	// Regions are explicit destination regions, for profile prefixes the catalogue does not know.
	Regions []string
	// SessionTags are the session tag keys the relay passes when it assumes the roles (SessionTagKeys: the
	// per-key sessions of attribution.session_per_key). With any, the trust policies and the caller's policy
	// also allow sts:TagSession for those keys only; without, the documents are as they always were.
	SessionTags []string
}

// SessionTagKeys are the session tags cfg's relay passes to AssumeRole: config.TagKey and config.TagGroup
// with attribution.session_per_key, none otherwise.
func SessionTagKeys(cfg *config.Config) []string {
	if !cfg.Attribution.SessionPerKey {
		return nil
	}
	return []string{config.TagKey, config.TagGroup}
}

// Plan is every document of a deployment, grouped by where it goes.
type Plan struct {
	Caller Caller
	// Roles in the Bedrock accounts, in the order the config first names them.
	Roles []Role
	// Lambda is the environment the Lambda function reads: the config's first target and its first model.
	Lambda LambdaEnv
}

// Caller is the caller account's side: the role the relay runs as and its identity policy.
type Caller struct {
	RoleARN, Account, Name, Path string
	// Assume allows sts:AssumeRole on every target role (and sts:TagSession, with Options.SessionTags).
	Assume *iampolicy.Document
}

// Role is one Bedrock-account role.
type Role struct {
	ARN, Account, Name, Path string
	ExternalID               string
	// MaxSessionSeconds is the role's maximum session duration: 3600 unless a target asks for longer.
	MaxSessionSeconds int
	Trust             *iampolicy.Document
	// Permissions allows every model of every target that uses this role, merged into one document.
	Permissions *iampolicy.Document
	// ReadQuotas lets the role read Service Quotas (for check and budgets: auto).
	ReadQuotas *iampolicy.Document
}

// LambdaEnv is the environment variables of the caller's Lambda function.
type LambdaEnv struct {
	TargetRoleARN, ModelID, Region, ExternalID string
}

// Vars returns the variables in a fixed order, leaving out an empty EXTERNAL_ID.
func (l LambdaEnv) Vars() [][2]string {
	v := [][2]string{{"TARGET_ROLE_ARN", l.TargetRoleARN}, {"MODEL_ID", l.ModelID}, {"BEDROCK_REGION", l.Region}}
	if l.ExternalID != "" {
		v = append(v, [2]string{"EXTERNAL_ID", l.ExternalID})
	}
	return v
}

// ErrInvalid wraps every error New returns for bad input.
var ErrInvalid = errors.New("invalid setup")

// New generates the documents. Every problem is reported at once.
func New(opts Options) (*Plan, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	p := &Plan{}
	acct, path, name, err := splitRoleARN(opts.CallerRoleARN)
	if err != nil {
		bad("caller role: %v", err)
	}
	p.Caller = Caller{RoleARN: opts.CallerRoleARN, Account: acct, Name: name, Path: path}
	if len(opts.Targets) == 0 {
		bad("no targets: the config needs at least one target with role_arn, region and models")
	}

	byARN := map[string]int{}
	perms := map[string][]*iampolicy.Document{}
	var roleARNs []string
	for i, t := range opts.Targets {
		at := fmt.Sprintf("targets[%d]", i)
		acct, path, name, err := splitRoleARN(t.RoleARN)
		if err != nil {
			bad("%s.role_arn: %v", at, err)
			continue
		}
		j, seen := byARN[t.RoleARN]
		if !seen {
			j = len(p.Roles)
			byARN[t.RoleARN] = j
			roleARNs = append(roleARNs, t.RoleARN)
			p.Roles = append(p.Roles, Role{ARN: t.RoleARN, Account: acct, Name: name, Path: path, ExternalID: t.ExternalID,
				MaxSessionSeconds: 3600, ReadQuotas: iampolicy.ReadQuotas()})
		}
		r := &p.Roles[j]
		if r.ExternalID != t.ExternalID {
			bad("%s.external_id: role %s is used with two different external ids (%q and %q); a trust policy takes one", at, t.RoleARN, r.ExternalID, t.ExternalID)
		}
		if s := int(t.SessionDuration / time.Second); s > r.MaxSessionSeconds {
			r.MaxSessionSeconds = s
		}
		if len(t.Models) == 0 {
			bad("%s.models: list the model or profile ids this target calls", at)
		}
		for k, m := range t.Models {
			d, err := iampolicy.Permissions(iampolicy.PermissionOptions{TargetAccount: acct, Model: ModelID(m), Region: t.Region,
				Stream: opts.Stream, Regions: opts.Regions, ProfileCondition: opts.ProfileCondition})
			if err != nil {
				bad("%s.models[%d] %s: %v", at, k, m, err)
				continue
			}
			perms[t.RoleARN] = append(perms[t.RoleARN], d)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	for i := range p.Roles {
		r := &p.Roles[i]
		r.Trust = iampolicy.TrustTagged(opts.CallerRoleARN, r.ExternalID, opts.SessionTags)
		r.Permissions = iampolicy.Merge(perms[r.ARN]...)
	}
	p.Caller.Assume = iampolicy.CallerTagged(opts.SessionTags, roleARNs...)
	t := opts.Targets[0]
	p.Lambda = LambdaEnv{TargetRoleARN: t.RoleARN, ModelID: ModelID(t.Models[0]), Region: t.Region, ExternalID: t.ExternalID}
	return p, nil
}

// Accounts lists the Bedrock accounts in the order the config first names them.
func (p *Plan) Accounts() []string {
	var out []string
	for _, r := range p.Roles {
		if !slices.Contains(out, r.Account) {
			out = append(out, r.Account)
		}
	}
	return out
}

// RolesIn returns the roles of one Bedrock account.
func (p *Plan) RolesIn(account string) []Role {
	var out []Role
	for _, r := range p.Roles {
		if r.Account == account {
			out = append(out, r)
		}
	}
	return out
}

// WriteDocuments prints every document under a heading that says which account, role and policy slot it goes
// to: what `bedrock-relay policy --config` shows.
func (p *Plan) WriteDocuments(w io.Writer) error {
	ew := &errWriter{w: w}
	for _, acct := range p.Accounts() {
		for _, r := range p.RolesIn(acct) {
			ew.printf("# Bedrock account %s: role %s (%s)\n\n", acct, r.Name, r.ARN)
			ew.printf("## Trust policy of %s (IAM > Roles > %s > Trust relationships)\n", r.Name, r.Name)
			ew.doc(r.Trust)
			ew.printf("\n## Permission policy of %s (inline policy %q)\n", r.Name, PolicyInvoke)
			ew.doc(r.Permissions)
			ew.printf("\n## Optional, for `bedrock-relay check` and budgets: auto (inline policy %q on %s)\n", PolicyReadQuotas, r.Name)
			ew.doc(r.ReadQuotas)
			ew.printf("\n")
		}
	}
	ew.printf("# Caller account %s: role %s (%s)\n\n", p.Caller.Account, p.Caller.Name, p.Caller.RoleARN)
	ew.printf("## Identity policy of %s (inline policy %q)\n", p.Caller.Name, PolicyAssume)
	ew.doc(p.Caller.Assume)
	return ew.err
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

func (e *errWriter) doc(d *iampolicy.Document) {
	if e.err != nil {
		return
	}
	b, err := d.MarshalIndent()
	if err != nil {
		e.err = err
		return
	}
	_, e.err = e.w.Write(b)
}

// splitRoleARN takes arn:PARTITION:iam::ACCOUNT:role/PATH/NAME apart; path is "/" or "/a/b/".
func splitRoleARN(arn string) (account, path, name string, err error) {
	account, err = relay.RoleAccount(arn)
	if err != nil {
		return "", "", "", err
	}
	res := arn[strings.Index(arn, ":role/")+len(":role/"):]
	path = "/"
	if i := strings.LastIndex(res, "/"); i >= 0 {
		path, res = "/"+res[:i+1], res[i+1:]
	}
	return account, path, res, nil
}

// partitionOf returns the partition of an ARN.
func partitionOf(arn string) string {
	parts := strings.SplitN(arn, ":", 3)
	if len(parts) < 2 || parts[1] == "" {
		return "aws"
	}
	return parts[1]
}
