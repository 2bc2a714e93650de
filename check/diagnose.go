package check

import (
	"fmt"
	"strings"

	relay "github.com/bedrock-relay/bedrock-relay"
	"github.com/bedrock-relay/bedrock-relay/catalog"
	"github.com/bedrock-relay/bedrock-relay/iampolicy"
)

// relayActions are what the relay needs on a model: it streams as well as invokes.
var relayActions = iampolicy.StringList{iampolicy.ActionInvokeModel, iampolicy.ActionInvokeModelStream}

func allow(actions iampolicy.StringList, resources ...string) *iampolicy.Document {
	return &iampolicy.Document{Version: iampolicy.Version2012, Statement: []iampolicy.Statement{{
		Effect: iampolicy.EffectAllow, Action: actions, Resource: iampolicy.StringList(resources)}}}
}

// diagnoseAssumeRole explains a failed AssumeRole.
func (r *run) diagnoseAssumeRole(t Subject, err error) {
	code, msg := apiError(err)
	acct := relay.AccountOf(t.RoleARN)
	d := Diagnosis{Target: t.Name, Step: StepAssumeRole}
	trustWhere := "the trust policy of " + t.RoleARN + " (account " + acct + ", IAM > Roles > Trust relationships)"
	callerWhere := "an inline policy of the caller role " + r.callerRole + " (account " + relay.AccountOf(r.callerRole) + ")"
	trustFix := Fix{Text: "The Bedrock account's role must trust the caller role" + pathNote(r.callerARN) + ".",
		Where: trustWhere, Add: iampolicy.Trust(r.callerRole, t.ExternalID)}
	callerFix := Fix{Text: "The caller role must be allowed to call sts:AssumeRole on the target role; cross-account, both sides have to allow it.",
		Where: callerWhere, Add: iampolicy.Caller(t.RoleARN)}
	var extFix Fix
	if t.ExternalID == "" {
		extFix = Fix{Text: "If the trust policy has an sts:ExternalId condition, the caller must pass that value: set external_id for this target (EXTERNAL_ID for the Lambda function) to the external id the Bedrock account's owner gave you."}
	} else {
		extFix = Fix{Text: fmt.Sprintf("The external id this target passes (%q) must equal the trust policy's sts:ExternalId condition exactly; check external_id (EXTERNAL_ID) against the value the Bedrock account's owner set, or this trust statement:", t.ExternalID),
			Where: trustWhere, Add: iampolicy.Trust(r.callerRole, t.ExternalID)}
	}

	den, parsed := iampolicy.ParseDenied(msg)
	switch {
	case code == "RegionDisabledException":
		d.Problem = fmt.Sprintf("STS in %s will not issue credentials for %s (%s: %s): the region is not enabled for account %s", t.Region, t.RoleARN, code, msg, acct)
		d.Fixes = []Fix{{Text: fmt.Sprintf("Enable %s for account %s (Account > AWS Regions for an opt-in region; IAM > Account settings if STS is deactivated there), or give this target a region the account has enabled.", t.Region, acct)}}
	case code != "AccessDenied":
		d.Problem = fmt.Sprintf("AssumeRole %s failed: %s: %s", t.RoleARN, code, msg)
		if code == "" {
			d.Problem = "AssumeRole " + t.RoleARN + " failed: " + msg
		}
		if code == "ValidationError" && strings.Contains(msg, "externalId") {
			d.Fixes = []Fix{{Text: "external_id must be 2-1224 characters of [A-Za-z0-9+=,.@:/-]."}}
		}
	case parsed && den.Outcome == iampolicy.ExplicitDeny && den.Policy == iampolicy.PolicySCP:
		d.Problem = fmt.Sprintf("a service control policy of the caller account's organization explicitly denies sts:AssumeRole on %s", t.RoleARN)
		d.Fixes = []Fix{{Text: "No role policy can override an SCP: ask the organization's administrator to exempt the caller role or this target role from the Deny statement (AWS Organizations > Policies)."}}
	case parsed && den.Outcome == iampolicy.ExplicitDeny:
		d.Problem = fmt.Sprintf("a Deny statement in the caller's %s refuses sts:AssumeRole on %s", den.Policy, t.RoleARN)
		d.Fixes = []Fix{{Text: "Remove or narrow the Deny statement in " + callerWhere + "."}}
	case parsed && den.Policy == iampolicy.PolicyIdentity:
		d.Problem = fmt.Sprintf("the caller role %s is not allowed to call sts:AssumeRole on %s (%s)", r.callerRole, t.RoleARN, den.Reason)
		d.Fixes = []Fix{callerFix}
	default:
		// STS gives no reason when the trust policy refuses, and the same bare message in other cases; the
		// trust policy is in the other account, so the caller cannot look.
		d.Problem = fmt.Sprintf("AccessDenied: %s may not assume %s. STS does not say which side refused, and the trust policy in account %s cannot be read from here. In order of likelihood:", r.callerARN, t.RoleARN, acct)
		trustFix.Text = "1. The trust policy of " + t.RoleARN + " does not name the caller role " + r.callerRole + pathNote(r.callerARN) + " (or names it with a different external id condition)."
		callerFix.Text = "2. The caller role " + r.callerRole + " lacks sts:AssumeRole on " + t.RoleARN + "."
		extFix.Text = "3. " + extFix.Text
		d.Fixes = []Fix{trustFix, callerFix, extFix}
	}
	r.diagnose(d)
}

// diagnoseKeySession explains a failed AssumeRole of a per-key session (the role itself could be assumed).
func (r *run) diagnoseKeySession(t Subject, ks *KeySession, err error) {
	code, msg := apiError(err)
	acct := relay.AccountOf(t.RoleARN)
	keys := ks.TagKeys()
	d := Diagnosis{Target: t.Name, Step: StepKeySession}
	if code != "AccessDenied" || !strings.Contains(msg, "sts:TagSession") {
		d.Problem = fmt.Sprintf("AssumeRole %s as a per-key session (%s, tagged %s) failed: %s: %s", t.RoleARN, ks.SessionName, strings.Join(keys, ", "), code, msg)
		if code == "AccessDenied" {
			d.Problem += fmt.Sprintf(" (the session %s was allowed: look for a trust policy condition on sts:RoleSessionName or aws:RequestTag/ that a per-key session such as %s does not meet)",
				r.opts.SessionName, ks.SessionName)
		}
		if code == "" {
			d.Problem = fmt.Sprintf("AssumeRole %s as a per-key session (%s, tagged %s) failed: %s", t.RoleARN, ks.SessionName, strings.Join(keys, ", "), msg)
		}
		r.diagnose(d)
		return
	}
	d.Problem = fmt.Sprintf("the role can be assumed, but not with the session tags of the per-key sessions (attribution.session_per_key): %s. "+
		"Passing session tags needs sts:TagSession, allowed in the role's trust policy and, across accounts, in the caller role's own policy; "+
		"STS does not say which side refused", msg)
	trust := &iampolicy.Document{Version: iampolicy.Version2012, Statement: []iampolicy.Statement{iampolicy.TagSession(r.callerRole, keys)}}
	caller := &iampolicy.Document{Version: iampolicy.Version2012, Statement: []iampolicy.Statement{iampolicy.TagSession("", keys, t.RoleARN)}}
	d.Fixes = []Fix{
		{Text: "Add sts:TagSession for the caller role, limited to the relay's tag keys, to the trust policy of " + t.RoleARN + pathNote(r.callerARN) +
			"; `bedrock-relay policy --config relay.yaml --caller-role-arn " + r.callerRole + "` prints the whole trust policy with it (or `bedrock-relay policy trust --caller-role-arn " + r.callerRole + " --session-per-key`).",
			Where: "the trust policy of " + t.RoleARN + " (account " + acct + ", IAM > Roles > Trust relationships)", Add: trust},
		{Text: "Cross-account, the caller role must be allowed sts:TagSession on the target role too (`bedrock-relay policy caller --target-role-arn " + t.RoleARN + " --session-per-key`).",
			Where: "an inline policy of the caller role " + r.callerRole + " (account " + relay.AccountOf(r.callerRole) + ")", Add: caller},
		{Text: "If the trust policy limits the tag keys (aws:TagKeys), it must allow " + strings.Join(keys, " and ") + "."},
	}
	r.diagnose(d)
}

func pathNote(sessionARN string) string {
	if strings.Contains(sessionARN, ":assumed-role/") {
		return " (add the role's path to the ARN if it has one: a session ARN does not show it)"
	}
	return ""
}

// diagnoseMissingRegions explains AccessDeniedExceptions that name foundation-model ARNs the permission policy
// does not allow.
func (r *run) diagnoseMissingRegions(t Subject, entry string, info modelInfo, missing []string) {
	var regions []string
	for _, arn := range missing {
		ref, err := catalog.ParseRef(arn)
		if err == nil {
			if ref.Region == "" {
				regions = append(regions, "(regionless, global profiles)")
			} else {
				regions = append(regions, ref.Region)
			}
		}
	}
	d := Diagnosis{Target: t.Name, Model: entry, Step: StepInvoke}
	if info.ref.Kind == catalog.KindSystemProfile && len(info.destinations) > 0 {
		d.Problem = fmt.Sprintf("the permission policy of %s does not allow the foundation model in %s, a destination region of %s (it routes to %s; every one must be allowed, and a missing one fails only when a request is routed there)",
			t.RoleARN, strings.Join(regions, ", "), info.ref.ID, strings.Join(info.destinations, ", "))
	} else {
		d.Problem = fmt.Sprintf("the permission policy of %s does not allow %s", t.RoleARN, strings.Join(missing, ", "))
	}
	d.Fixes = []Fix{{
		Text:  fmt.Sprintf("Add the missing ARN(s); `bedrock-relay policy permissions --target-account %s --model %s --region %s --stream` prints the whole policy.", relay.AccountOf(t.RoleARN), modelIDOf(entry), t.Region),
		Where: "the permission policy of " + t.RoleARN + " (account " + relay.AccountOf(t.RoleARN) + ")",
		Add:   allow(relayActions, missing...),
	}}
	r.diagnose(d)
}

func modelIDOf(entry string) string {
	id, _, _ := strings.Cut(entry, "=")
	return id
}

// diagnoseInvoke explains a failed invocation other than a missing destination region.
func (r *run) diagnoseInvoke(t Subject, entry string, info modelInfo, err error, quota *Quota, quotaStep Step) Diagnosis {
	code, msg := apiError(err)
	acct := relay.AccountOf(t.RoleARN)
	d := Diagnosis{Target: t.Name, Model: entry, Step: StepInvoke}
	permWhere := "the permission policy of " + t.RoleARN + " (account " + acct + ")"
	switch code {
	case "AccessDeniedException":
		den, ok := iampolicy.ParseDenied(msg)
		switch {
		case !ok && strings.Contains(msg, "don't have access to the model"):
			d.Step = StepModelAccess
			name := entry
			if info.known {
				name = info.model.Name + " (" + info.model.ID + ")"
			}
			d.Problem = fmt.Sprintf("model access for %s is not enabled in account %s: %s", name, acct, msg)
			regions := t.Region
			if len(info.destinations) > 0 {
				regions = strings.Join(info.destinations, ", ")
			}
			d.Fixes = []Fix{{Text: fmt.Sprintf("In account %s, open the Bedrock console > Model access and enable %s (Anthropic models ask for a use-case form first) in %s. IAM is not the problem here.", acct, name, regions)}}
		case !ok:
			d.Problem = "AccessDeniedException: " + msg
		case den.Outcome == iampolicy.ExplicitDeny && den.Policy == iampolicy.PolicySCP:
			d.Problem = fmt.Sprintf("a service control policy of account %s's organization explicitly denies %s on %s", acct, den.Action, den.Resource)
			d.Fixes = []Fix{{Text: "The role's own policies cannot override an SCP (\"with an explicit deny in a service control policy\"). Ask the organization's administrator to allow this model (or region) for account " + acct + ", or use a target in another account."}}
		case den.Outcome == iampolicy.ExplicitDeny:
			d.Problem = fmt.Sprintf("a Deny statement in the role's %s refuses %s on %s", den.Policy, den.Action, den.Resource)
			d.Fixes = []Fix{{Text: "Remove or narrow that Deny statement in the policies of " + t.RoleARN + "."}}
		default:
			what := "the resource"
			switch {
			case strings.Contains(den.Resource, ":inference-profile/"):
				what = "the inference profile ARN"
			case strings.Contains(den.Resource, ":application-inference-profile/"):
				what = "the application inference profile ARN"
			case strings.Contains(den.Resource, ":foundation-model/"):
				what = "the foundation-model ARN"
			}
			d.Problem = fmt.Sprintf("the permission policy of %s does not allow %s on %s %s", t.RoleARN, den.Action, what, den.Resource)
			d.Fixes = []Fix{{Text: fmt.Sprintf("Add it; `bedrock-relay policy permissions --target-account %s --model %s --region %s --stream` prints the whole policy.", acct, modelIDOf(entry), t.Region),
				Where: permWhere, Add: allow(relayActions, den.Resource)}}
		}
	case "ValidationException":
		switch {
		case strings.Contains(msg, "with on-demand throughput isn"):
			d.Problem = fmt.Sprintf("%s is only served through inference profiles; calling its foundation-model id fails (%s)", modelIDOf(entry), msg)
			fix := Fix{Text: "Call an inference profile instead."}
			if alt := profileFor(info.model, t.Region); alt != "" {
				fix.Text = fmt.Sprintf("Call the inference profile %s from %s instead (models: [%s], or MODEL_ID=%s for the Lambda function), and allow it:", alt, t.Region, alt, alt)
				if doc, err := iampolicy.Permissions(iampolicy.PermissionOptions{TargetAccount: acct, Model: alt, Region: t.Region, Stream: true}); err == nil {
					fix.Where, fix.Add = permWhere, doc
				}
			}
			d.Fixes = []Fix{fix}
		case info.ref.Kind == catalog.KindSystemProfile && info.geography.Prefix != "" && !contains(info.geography.SourceRegions, t.Region):
			return outsideGeography(t, entry, info)
		default:
			d.Problem = fmt.Sprintf("Bedrock in %s refuses the model id %s: %s", t.Region, modelIDOf(entry), msg)
			d.Fixes = []Fix{{Text: "Check the id against the Bedrock console's model catalogue for " + t.Region + "; profile ids start with a geography (us., eu., jp., apac., global.)."}}
		}
	case "UnrecognizedClientException", "InvalidSignatureException":
		d.Problem = fmt.Sprintf("Bedrock Runtime in %s does not recognize the session just issued for %s (%s: %s): the region is not enabled for account %s", t.Region, t.RoleARN, code, msg, acct)
		d.Fixes = []Fix{{Text: fmt.Sprintf("Enable %s for account %s (Account > AWS Regions; opt-in regions are off by default), or give this target a region the account has enabled.", t.Region, acct)}}
	case "ThrottlingException":
		d.Problem = throttleProblem(t, entry, info, msg, quota, quotaStep)
		fix := "Wait a minute and run check again. To stop the relay from running into it, set budgets for this target at or below the quota (or budgets: auto), request an increase in Service Quotas"
		if quota != nil && quota.RPMCode != "" {
			fix += " (quota code " + quota.RPMCode + ")"
		}
		d.Fixes = []Fix{{Text: fix + ", or pool another account as a second target."}}
	case "ResourceNotFoundException":
		d.Problem = fmt.Sprintf("%s does not exist in account %s, %s: %s", modelIDOf(entry), acct, t.Region, msg)
	default:
		d.Problem = fmt.Sprintf("the invocation failed: %s: %s", code, msg)
	}
	return d
}

func throttleProblem(t Subject, entry string, info modelInfo, msg string, quota *Quota, quotaStep Step) string {
	acct := relay.AccountOf(t.RoleARN)
	tokens := strings.Contains(msg, "tokens")
	switch {
	case quota != nil && !tokens && quota.RequestsPerMinute > 0:
		return fmt.Sprintf("throttled at quota %d requests per minute: account %s allows %d requests per minute for %s in %s (%s) (%s)",
			quota.RequestsPerMinute, acct, quota.RequestsPerMinute, info.model.Name, t.Region, quota.RPMName, msg)
	case quota != nil && tokens && quota.TokensPerMinute > 0:
		return fmt.Sprintf("throttled at quota %d tokens per minute: account %s allows %d tokens per minute for %s in %s (%s) (%s)",
			quota.TokensPerMinute, acct, quota.TokensPerMinute, info.model.Name, t.Region, quota.TPMName, msg)
	}
	return fmt.Sprintf("throttled (%s); the quota could not be read: %s", msg, quotaStep.Detail)
}
