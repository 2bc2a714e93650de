package check

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"

	relay "github.com/bedrock-relay/bedrock-relay"
	"github.com/bedrock-relay/bedrock-relay/catalog"
	"github.com/bedrock-relay/bedrock-relay/iampolicy"
	"github.com/bedrock-relay/bedrock-relay/quotas"
)

// Subject is one role × region and the models to check through it.
type Subject struct {
	Name       string `json:"name"`
	RoleARN    string `json:"role_arn"`
	ExternalID string `json:"external_id,omitempty"`
	Region     string `json:"region"`
	// Models as a relay config writes them (application profiles as ARN=FOUNDATION_MODEL_ID).
	Models []string `json:"models"`
}

// Options tune a run.
type Options struct {
	// AWS is the caller's SDK configuration (see AWSConfig).
	AWS aws.Config
	// SkipInvoke leaves out the invocations (and so what only they can tell: model access, IAM for the model).
	SkipInvoke bool
	// Invocations per model. Zero means one per destination region of a geographic profile (AWS routes each
	// call to one of them, and a permission policy missing one region fails only there), one otherwise.
	Invocations int
	// SessionName for AssumeRole; default "bedrock-relay-check".
	SessionName string
	// KeySession, when set, also checks the relay's per-key sessions (attribution.session_per_key) on each
	// target whose role could be assumed: one AssumeRole as a caller key's would be, with this session name
	// and these session tags (which need sts:TagSession).
	KeySession *KeySession
}

// KeySession is the AssumeRole of a per-key session to try: a test key's session name ("brk-check") and
// its tags, in order.
type KeySession struct {
	SessionName string `json:"session_name"`
	Tags        []Tag  `json:"tags"`
}

// Tag is one session tag.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// TagKeys are the keys of k's tags.
func (k *KeySession) TagKeys() []string {
	out := make([]string, len(k.Tags))
	for i, t := range k.Tags {
		out[i] = t.Key
	}
	return out
}

// Status of a step.
type Status string

const (
	OK   Status = "ok"
	Fail Status = "fail"
	Warn Status = "warn" // could not be checked, but the relay can work without it
	Skip Status = "skip"
)

// Symbol is how the text report shows a status.
func (s Status) Symbol() string {
	switch s {
	case OK:
		return "✓"
	case Fail:
		return "✗"
	case Warn:
		return "!"
	}
	return "-"
}

// Step names.
const (
	StepIdentity    = "identity"
	StepAssumeRole  = "assume-role"
	StepKeySession  = "key-session" // a per-key session's tagged AssumeRole (Options.KeySession)
	StepModelAccess = "model-access"
	StepInvoke      = "invoke"
	StepQuotas      = "quotas"
)

// Step is the outcome of one step.
type Step struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Error is the AWS error, as the SDK reported it.
	Error string `json:"error,omitempty"`
}

// Quota is a model's quotas in the target's account and region, as Service Quotas reports them (0: not listed).
type Quota = quotas.Quota

// ModelResult is the steps of one model of a target.
type ModelResult struct {
	Model string `json:"model"`
	Steps []Step `json:"steps"`
	Quota *Quota `json:"quota,omitempty"`
}

// TargetResult is everything checked for one target.
type TargetResult struct {
	Target Subject       `json:"target"`
	Steps  []Step        `json:"steps"`
	Models []ModelResult `json:"models"`
	// Session is the assumed-role ARN when AssumeRole worked.
	Session string `json:"session,omitempty"`
}

// Fix is one thing to do. Add, when set, is the policy statement to add to the policy Where names.
type Fix struct {
	Text  string              `json:"text"`
	Where string              `json:"where,omitempty"`
	Add   *iampolicy.Document `json:"add,omitempty"`
}

// Diagnosis explains one failed step.
type Diagnosis struct {
	Target  string `json:"target,omitempty"`
	Model   string `json:"model,omitempty"`
	Step    string `json:"step"`
	Problem string `json:"problem"`
	Fixes   []Fix  `json:"fixes"`
}

// Report is the result of Run.
type Report struct {
	Caller    string         `json:"caller,omitempty"`
	Targets   []TargetResult `json:"targets"`
	Diagnoses []Diagnosis    `json:"diagnoses"`
}

// Failed counts the failed steps.
func (r *Report) Failed() int {
	n := 0
	for _, t := range r.Targets {
		for _, s := range t.Steps {
			if s.Status == Fail {
				n++
			}
		}
		for _, m := range t.Models {
			for _, s := range m.Steps {
				if s.Status == Fail {
					n++
				}
			}
		}
	}
	return n
}

// run is one Run's state.
type run struct {
	opts       Options
	report     *Report
	callerARN  string // the caller's session or user ARN
	callerRole string // the IAM role behind callerARN, if it is a role session
}

// Run checks every target. It does not fail: what went wrong is in the report.
func Run(ctx context.Context, targets []Subject, opts Options) *Report {
	if opts.SessionName == "" {
		opts.SessionName = "bedrock-relay-check"
	}
	r := &run{opts: opts, report: &Report{Targets: []TargetResult{}, Diagnoses: []Diagnosis{}}}
	identity := r.identity(ctx, targets)
	for _, t := range targets {
		r.report.Targets = append(r.report.Targets, r.target(ctx, t, identity))
	}
	return r.report
}

func (r *run) diagnose(d Diagnosis) { r.report.Diagnoses = append(r.report.Diagnoses, d) }

// identity asks STS who the caller is, once for all targets.
func (r *run) identity(ctx context.Context, targets []Subject) Step {
	cfg := r.opts.AWS.Copy()
	if cfg.Region == "" && len(targets) > 0 {
		cfg.Region = targets[0].Region
	}
	cfg.RetryMaxAttempts = 1
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		d := Diagnosis{Step: StepIdentity}
		code, msg := apiError(err)
		switch {
		case code == "":
			d.Problem = "no usable AWS credentials: " + err.Error()
			d.Fixes = []Fix{{Text: "Run where the caller role's credentials are available (the Lambda function, or a shell with AWS_PROFILE / AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN of the caller role) and set AWS_REGION."}}
		case relay.IsExpired(code):
			d.Problem = "the caller's credentials have expired (" + msg + ")"
			d.Fixes = []Fix{{Text: "Refresh them (aws sso login, a new session token) and run check again."}}
		case code == "InvalidClientTokenId" || code == "UnrecognizedClientException" || code == "SignatureDoesNotMatch":
			d.Problem = fmt.Sprintf("STS in %s does not accept the caller's credentials (%s: %s)", cfg.Region, code, msg)
			d.Fixes = []Fix{{Text: "Check the access key and secret; if they are right, the region " + cfg.Region + " may not be enabled for the caller's account: set AWS_REGION to an enabled region."}}
		default:
			d.Problem = fmt.Sprintf("GetCallerIdentity failed: %s: %s", code, msg)
		}
		r.diagnose(d)
		return Step{Name: StepIdentity, Status: Fail, Detail: "who am I: failed", Error: err.Error()}
	}
	r.callerARN = aws.ToString(out.Arn)
	r.callerRole = roleOfSession(r.callerARN)
	r.report.Caller = r.callerARN
	return Step{Name: StepIdentity, Status: OK, Detail: r.callerARN}
}

// roleOfSession returns arn:aws:iam::A:role/R for arn:aws:sts::A:assumed-role/R/S (the role's path, which the
// session ARN does not carry, is lost), or the ARN itself for users and roles.
func roleOfSession(arn string) string {
	m := sessionRe.FindStringSubmatch(arn)
	if m == nil {
		return arn
	}
	return "arn:" + m[1] + ":iam::" + m[2] + ":role/" + m[3]
}

var sessionRe = regexp.MustCompile(`^arn:([\w-]+):sts::(\d{12}):assumed-role/([^/]+)/.+$`)

func (r *run) target(ctx context.Context, t Subject, identity Step) TargetResult {
	res := TargetResult{Target: t, Steps: []Step{identity}}
	skipAll := func(why string) TargetResult {
		for _, m := range t.Models {
			mr := ModelResult{Model: m}
			for _, s := range []string{StepModelAccess, StepInvoke, StepQuotas} {
				mr.Steps = append(mr.Steps, Step{Name: s, Status: Skip, Detail: why})
			}
			res.Models = append(res.Models, mr)
		}
		return res
	}
	if identity.Status != OK {
		res.Steps = append(res.Steps, Step{Name: StepAssumeRole, Status: Skip, Detail: "needs the caller's identity"})
		return skipAll("needs the caller's identity")
	}

	stsCfg := r.opts.AWS.Copy()
	if stsCfg.Region == "" {
		stsCfg.Region = t.Region
	}
	stsCfg.RetryMaxAttempts = 1
	prov := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(stsCfg), t.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = r.opts.SessionName
		o.Duration = 15 * time.Minute
		if t.ExternalID != "" {
			o.ExternalID = aws.String(t.ExternalID)
		}
	})
	creds, err := prov.Retrieve(ctx)
	if err != nil {
		r.diagnoseAssumeRole(t, err)
		res.Steps = append(res.Steps, Step{Name: StepAssumeRole, Status: Fail, Detail: "AssumeRole " + t.RoleARN + ": refused", Error: err.Error()})
		return skipAll("needs the assumed role")
	}
	res.Session = r.opts.SessionName
	res.Steps = append(res.Steps, Step{Name: StepAssumeRole, Status: OK, Detail: t.RoleARN})
	if ks := r.opts.KeySession; ks != nil {
		res.Steps = append(res.Steps, r.keySession(ctx, sts.NewFromConfig(stsCfg), t, ks))
	}

	cfg := r.opts.AWS.Copy()
	cfg.Region = t.Region
	cfg.Credentials = aws.NewCredentialsCache(staticProvider{creds})
	cfg.RetryMaxAttempts = 1 // a throttle is a finding, not something to wait out
	for _, m := range t.Models {
		res.Models = append(res.Models, r.model(ctx, cfg, t, m))
	}
	return res
}

// keySession assumes t's role as a per-key session would: with ks's session name and session tags, through
// the SDK's AssumeRoleProvider as the relay's credential cache does.
func (r *run) keySession(ctx context.Context, client *sts.Client, t Subject, ks *KeySession) Step {
	prov := stscreds.NewAssumeRoleProvider(client, t.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = ks.SessionName
		o.Duration = 15 * time.Minute
		if t.ExternalID != "" {
			o.ExternalID = aws.String(t.ExternalID)
		}
		for _, tag := range ks.Tags {
			o.Tags = append(o.Tags, ststypes.Tag{Key: aws.String(tag.Key), Value: aws.String(tag.Value)})
		}
	})
	if _, err := prov.Retrieve(ctx); err != nil {
		r.diagnoseKeySession(t, ks, err)
		return Step{Name: StepKeySession, Status: Fail, Detail: "AssumeRole " + t.RoleARN + " with session tags " + strings.Join(ks.TagKeys(), ", ") + ": refused", Error: err.Error()}
	}
	return Step{Name: StepKeySession, Status: OK, Detail: "session " + ks.SessionName + " tagged " + strings.Join(ks.TagKeys(), ", ")}
}

type staticProvider struct{ c aws.Credentials }

func (p staticProvider) Retrieve(context.Context) (aws.Credentials, error) { return p.c, nil }

// model runs the model-access, invoke and quotas steps for one model entry.
func (r *run) model(ctx context.Context, cfg aws.Config, t Subject, entry string) ModelResult {
	mr := ModelResult{Model: entry}
	modelID, fm, _ := strings.Cut(entry, "=")
	info := describe(modelID, fm, t.Region)

	quota, quotaStep := r.quotas(ctx, cfg, t, entry, info)
	mr.Quota = quota

	if d, bad := info.staticProblem(t, entry); bad {
		r.diagnose(d)
		mr.Steps = append(mr.Steps,
			Step{Name: StepModelAccess, Status: Skip, Detail: "not reachable from " + t.Region},
			Step{Name: StepInvoke, Status: Fail, Detail: d.Problem},
			quotaStep)
		return mr
	}
	if r.opts.SkipInvoke {
		mr.Steps = append(mr.Steps,
			Step{Name: StepModelAccess, Status: Skip, Detail: "not checked (--skip-invoke): Bedrock only tells by serving a call"},
			Step{Name: StepInvoke, Status: Skip, Detail: "--skip-invoke"},
			quotaStep)
		return mr
	}

	n := r.opts.Invocations
	if n <= 0 {
		n = max(1, len(info.destinations))
	}
	client := bedrockruntime.NewFromConfig(cfg, func(o *bedrockruntime.Options) {
		o.AuthSchemePreference = []string{"sigv4"} // never a bearer token from the environment: the check is of the role
	})
	var (
		served     int
		firstErr   error
		missingARN []string // foundation-model ARNs the permission policy lacks, from the denials
		otherErr   error
	)
	for i := 0; i < n; i++ {
		err := invokeOnce(ctx, client, modelID, info.model)
		if err == nil {
			served++
			continue
		}
		if firstErr == nil {
			firstErr = err
		}
		code, msg := apiError(err)
		if d, ok := iampolicy.ParseDenied(msg); ok && code == "AccessDeniedException" && d.Outcome == iampolicy.ImplicitDeny &&
			strings.Contains(d.Resource, ":foundation-model/") {
			if !contains(missingARN, d.Resource) {
				missingARN = append(missingARN, d.Resource)
			}
			continue // another call may be routed to another region: find every missing one
		}
		otherErr = err
		break
	}

	access := Step{Name: StepModelAccess, Status: OK, Detail: "enabled: Bedrock served the model"}
	invoke := Step{Name: StepInvoke, Status: OK, Detail: fmt.Sprintf("%d of %d call(s) served, max_tokens 1", served, n)}
	switch {
	case len(missingARN) > 0:
		invoke.Status, invoke.Error = Fail, firstErr.Error()
		invoke.Detail = fmt.Sprintf("%d of %d call(s) refused by IAM", n-served, n)
		if served == 0 {
			access = Step{Name: StepModelAccess, Status: Skip, Detail: "unknown: IAM refused the call first"}
		}
		r.diagnoseMissingRegions(t, entry, info, missingARN)
	}
	if otherErr != nil {
		code, _ := apiError(otherErr)
		invoke.Status, invoke.Error = Fail, otherErr.Error()
		invoke.Detail = code
		d := r.diagnoseInvoke(t, entry, info, otherErr, quota, quotaStep)
		switch {
		case d.Step == StepModelAccess:
			access = Step{Name: StepModelAccess, Status: Fail, Detail: "not enabled in account " + relay.AccountOf(t.RoleARN), Error: otherErr.Error()}
			invoke.Detail = "refused: model access"
		case relay.LookupCode(code, 0).Class == relay.ClassThrottle:
			access = Step{Name: StepModelAccess, Status: OK, Detail: "enabled: the call got as far as the quota"}
		case served == 0:
			access = Step{Name: StepModelAccess, Status: Skip, Detail: "unknown: the call failed before model access was checked"}
		}
		r.diagnose(d)
	}
	mr.Steps = append(mr.Steps, access, invoke, quotaStep)
	return mr
}

// modelInfo is what the catalogue says about a model entry.
type modelInfo struct {
	ref          catalog.Ref
	model        catalog.Model // zero if unknown
	known        bool
	geography    catalog.Geography
	destinations []string // of a geographic profile
	global       bool
	parseErr     error
}

func describe(modelID, fm, region string) modelInfo {
	var info modelInfo
	ref, err := catalog.ParseRef(modelID)
	if err != nil {
		info.parseErr = err
		return info
	}
	info.ref = ref
	cat := catalog.Default()
	switch ref.Kind {
	case catalog.KindSystemProfile:
		prefix, id, _ := catalog.SplitProfileID(ref.ID)
		info.model, info.known = cat.Model(id)
		info.geography, _ = cat.Geography(prefix)
		info.global = info.geography.Global
		if p, err := cat.Profile(ref.ID); err == nil && !info.global {
			info.destinations = p.DestinationRegions
		}
	case catalog.KindFoundationModel:
		info.model, info.known = cat.Model(ref.ID)
	case catalog.KindApplicationProfile:
		info.model, info.known = cat.Model(fm)
	}
	return info
}

// staticProblem reports what the catalogue alone says cannot work: a profile called outside its geography.
func (info modelInfo) staticProblem(t Subject, entry string) (Diagnosis, bool) {
	if info.parseErr != nil {
		return Diagnosis{Target: t.Name, Model: entry, Step: StepInvoke, Problem: info.parseErr.Error(),
			Fixes: []Fix{{Text: "Use a model id, an inference profile id (jp.anthropic.claude-...) or an ARN."}}}, true
	}
	if info.ref.Kind == catalog.KindSystemProfile && info.geography.Prefix != "" && !contains(info.geography.SourceRegions, t.Region) {
		return outsideGeography(t, entry, info), true
	}
	return Diagnosis{}, false
}

func outsideGeography(t Subject, entry string, info modelInfo) Diagnosis {
	g := info.geography
	d := Diagnosis{Target: t.Name, Model: entry, Step: StepInvoke,
		Problem: fmt.Sprintf("%s is a %s. inference profile, which can only be called from %s; this target calls it from %s",
			entry, g.Prefix, strings.Join(g.SourceRegions, ", "), t.Region)}
	fix := fmt.Sprintf("Set the target's region to one of %s", strings.Join(g.SourceRegions, ", "))
	if alt := profileFor(info.model, t.Region); alt != "" {
		fix += fmt.Sprintf(", or call %s, which serves the same model from %s", alt, t.Region)
	}
	d.Fixes = []Fix{{Text: fix + "; then regenerate the permission policy (bedrock-relay policy permissions) for that region."}}
	return d
}

// profileFor names a geographic profile of m that can be called from region (global as a last resort), or "".
func profileFor(m catalog.Model, region string) string {
	if id, ok := catalog.Default().ProfileFor(m, region); ok {
		return id
	}
	return ""
}

// invokeOnce makes the cheapest real call: one output token.
func invokeOnce(ctx context.Context, c *bedrockruntime.Client, modelID string, m catalog.Model) error {
	if m.Family == "anthropic-messages" {
		_, err := c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{
			ModelId:     aws.String(modelID),
			ContentType: aws.String("application/json"),
			Accept:      aws.String("application/json"),
			Body:        []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":1,"messages":[{"role":"user","content":"ping"}]}`),
		})
		return err
	}
	_, err := c.Converse(ctx, &bedrockruntime.ConverseInput{
		ModelId:         aws.String(modelID),
		Messages:        []brtypes.Message{{Role: brtypes.ConversationRoleUser, Content: []brtypes.ContentBlock{&brtypes.ContentBlockMemberText{Value: "ping"}}}},
		InferenceConfig: &brtypes.InferenceConfiguration{MaxTokens: aws.Int32(1)},
	})
	return err
}

// quotas reads the model's quotas through the assumed role.
func (r *run) quotas(ctx context.Context, cfg aws.Config, t Subject, entry string, info modelInfo) (*Quota, Step) {
	if !info.known {
		return nil, Step{Name: StepQuotas, Status: Skip, Detail: "model not in the catalogue: its quota names are unknown"}
	}
	scope := quotas.ScopeOf(catalog.Default(), modelIDOf(entry))
	q, err := quotas.Read(ctx, servicequotas.NewFromConfig(cfg), scope, info.model)
	var nl *quotas.NotListedError
	switch {
	case errors.As(err, &nl):
		return nil, Step{Name: StepQuotas, Status: Warn, Detail: fmt.Sprintf("no %s quota listed for %s in %s", scope, info.model.Name, t.Region)}
	case err != nil:
		code, msg := apiError(err)
		step := Step{Name: StepQuotas, Status: Warn, Detail: "could not read Service Quotas", Error: err.Error()}
		d := Diagnosis{Target: t.Name, Model: entry, Step: StepQuotas,
			Problem: fmt.Sprintf("the role cannot read its quotas (%s: %s); check cannot say what the account allows, and budgets: auto will not work", code, msg)}
		if code == "AccessDeniedException" || code == "AccessDenied" {
			d.Fixes = []Fix{{Text: "Optional: let the role read Service Quotas.", Where: "an inline policy (e.g. ReadQuotas) of " + t.RoleARN, Add: iampolicy.ReadQuotas()}}
		}
		r.diagnose(d)
		return nil, step
	}
	return &q, Step{Name: StepQuotas, Status: OK, Detail: fmt.Sprintf("%d requests/min, %d tokens/min", q.RequestsPerMinute, q.TokensPerMinute)}
}

// apiError returns an SDK error's code and message, or "" and the error text.
func apiError(err error) (code, msg string) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode(), ae.ErrorMessage()
	}
	if err == nil {
		return "", ""
	}
	return "", err.Error()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
