package bedrock

import (
	"context"
	"errors"
	"fmt"
	"strings"

	relay "github.com/bedrock-relay/bedrock-relay"
	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// Operations named in Error.Op.
const (
	OpInvokeModel       = "InvokeModel"
	OpInvokeModelStream = "InvokeModelWithResponseStream"
	OpAssumeRole        = "AssumeRole"
	OpGetCallerIdentity = "GetCallerIdentity"
)

// Error is a failed call, with what was being done. It holds no secret.
type Error struct {
	// Op is the AWS operation that failed: OpAssumeRole when the target's credentials could not be had.
	Op string
	// During is the operation the failed AssumeRole was for ("" unless Op is OpAssumeRole).
	During  string
	Target  relay.Target
	ModelID string
	// Caller is the source identity's ARN, when it has been looked up.
	Caller string
	// Code and Message are AWS's (Code is empty for a failure that is not an AWS answer, such as a network
	// error or a cancelled context).
	Code       string
	Message    string
	StatusCode int
	RequestID  string
	// Err is the SDK's error: errors.As finds smithy.APIError and the service's typed errors in it.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.Op == OpAssumeRole:
		fmt.Fprintf(&b, "assume role %s", e.Target.RoleARN)
		if e.During != "" && e.ModelID != "" {
			fmt.Fprintf(&b, " to call %s on %s in %s", e.During, e.ModelID, e.Target.Region)
		}
	case e.Op == OpGetCallerIdentity:
		b.WriteString("get caller identity of the source credentials")
	default:
		fmt.Fprintf(&b, "%s %s in %s as %s", e.Op, e.ModelID, e.Target.Region, e.Target.RoleARN)
	}
	b.WriteString(": ")
	if e.Code != "" {
		b.WriteString(e.Code + ": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches the relay sentinel errors by AWS error code, through the one table (relay.LookupCode).
func (e *Error) Is(target error) bool {
	switch target {
	case relay.ErrInvalidRequest, relay.ErrAccessDenied, relay.ErrExpiredCredentials, relay.ErrNotFound,
		relay.ErrThrottled, relay.ErrUpstream:
	default:
		return false
	}
	if target == relay.ErrExpiredCredentials {
		return relay.IsExpired(e.Code)
	}
	return e.Kind() == target
}

// Kind is the relay sentinel error e matches: one of ErrInvalidRequest, ErrAccessDenied, ErrNotFound,
// ErrThrottled, ErrUpstream (an expired credential is ErrAccessDenied here; Is also matches
// ErrExpiredCredentials). A cancelled or timed-out context is ErrUpstream here; check ctx.Err() or
// errors.Is(err, context.Canceled) first where that matters.
func (e *Error) Kind() error {
	if e.Code == "" {
		return relay.ErrUpstream
	}
	k := relay.LookupCode(e.Code, e.StatusCode).Sentinel
	if k == relay.ErrExpiredCredentials {
		return relay.ErrAccessDenied
	}
	return k
}

// Hint says what to do about a known setup mistake, or "".
func (e *Error) Hint() string {
	acct := e.Target.Account()
	caller := "the caller's role"
	if e.Caller != "" {
		caller = roleOfSession(e.Caller)
	}
	switch {
	case errors.Is(e.Err, context.DeadlineExceeded):
		return "the call timed out; raise the timeout (for a Lambda function, its configured timeout) or ask for fewer max_tokens"
	case e.Op == OpAssumeRole && e.Code == "AccessDenied":
		h := fmt.Sprintf("the trust policy of %s must name %s as Principal with Action sts:AssumeRole", e.Target.RoleARN, caller)
		if e.Target.ExternalID != "" {
			h += " (and a Condition StringEquals sts:ExternalId matching the configured external ID)"
		}
		return h + fmt.Sprintf(", and %s's own permission policy must allow sts:AssumeRole on %s", caller, e.Target.RoleARN)
	case e.Op == OpAssumeRole && relay.IsExpired(e.Code), e.Op == OpGetCallerIdentity && relay.IsExpired(e.Code):
		return "the source credentials have expired: renew them (a new session, aws sso login, or fresh environment variables)"
	case e.Code == "InvalidClientTokenId" || e.Code == "UnrecognizedClientException":
		return "the source credentials are not valid: check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN or the AWS profile in use"
	case e.Code == "SignatureDoesNotMatch":
		return "the request signature was refused: check the secret access key, and that this machine's clock is right"
	case e.Code == "RegionDisabledException":
		return fmt.Sprintf("STS is not activated in this region for account %s: activate the region, or use another STS endpoint", acct)
	case relay.IsExpired(e.Code):
		return "Bedrock refused the assumed-role credentials as expired even after a refresh: check this machine's clock"
	case e.Code == "AccessDeniedException":
		return accessHint(e, acct)
	case e.Code == "ThrottlingException" || e.Code == "ServiceQuotaExceededException":
		return fmt.Sprintf("account %s has used up its Bedrock quota for %s (requests or tokens per minute, or tokens per day; a new account can have as little as 2 requests per minute): retry later, ask for an increase in Service Quotas, or consider pooling the quota of several accounts with more targets", acct, e.ModelID)
	case e.Code == "ModelNotReadyException":
		return "the model is not ready to serve yet: retry in a little while"
	case e.Code == "ResourceNotFoundException":
		return fmt.Sprintf("check the model id %s, that it is offered in %s, and that model access is enabled in account %s", e.ModelID, e.Target.Region, acct)
	case e.Code == "ValidationException" && strings.Contains(e.Message, "on-demand throughput"):
		if p := profileFor(e.ModelID, e.Target.Region); p != "" {
			return fmt.Sprintf("call the model through an inference profile: %s", p)
		}
		return "call the model through an inference profile id (such as jp.<model id>) or ARN"
	}
	return ""
}

// accessHint names the ARNs the target role's permission policy must allow for e.ModelID.
func accessHint(e *Error, acct string) string {
	action := "bedrock:InvokeModel"
	if e.Op == OpInvokeModelStream {
		action = "bedrock:InvokeModelWithResponseStream"
	}
	part := catalog.PartitionOf(e.Target.Region)
	if p, err := catalog.Default().Profile(e.ModelID); err == nil {
		arns := []string{catalog.InferenceProfileARN(part, e.Target.Region, acct, p.ID)}
		if p.Geography.Global {
			arns = append(arns, catalog.FoundationModelARN(part, "", p.Model.ID))
		}
		for _, r := range p.DestinationRegions {
			arns = append(arns, catalog.FoundationModelARN(part, r, p.Model.ID))
		}
		return fmt.Sprintf("the permission policy of %s must allow %s on the inference profile and on the foundation model in every destination region of %s: %s",
			e.Target.RoleARN, action, p.ID, strings.Join(arns, ", "))
	}
	if ref, err := catalog.ParseRef(e.ModelID); err == nil && !ref.IsARN && ref.Kind == catalog.KindFoundationModel {
		return fmt.Sprintf("the permission policy of %s must allow %s on %s, and model access must be enabled in account %s",
			e.Target.RoleARN, action, catalog.FoundationModelARN(part, e.Target.Region, ref.ID), acct)
	}
	return fmt.Sprintf("the permission policy of %s must allow %s on %s", e.Target.RoleARN, action, e.ModelID)
}

// roleOfSession turns arn:aws:sts::111111111111:assumed-role/NAME/SESSION into the role's ARN, which is what a
// trust policy names.
func roleOfSession(arn string) string {
	rest, ok := strings.CutPrefix(arn, "arn:")
	if !ok {
		return arn
	}
	parts := strings.SplitN(rest, ":", 5)
	if len(parts) != 5 || parts[1] != "sts" {
		return arn
	}
	res, ok := strings.CutPrefix(parts[4], "assumed-role/")
	if !ok {
		return arn
	}
	name, _, _ := strings.Cut(res, "/")
	return "arn:" + parts[0] + ":iam::" + parts[3] + ":role/" + name
}

// profileFor is a system profile id serving modelID from region (catalog.ProfileFor), or "".
func profileFor(modelID, region string) string {
	cat := catalog.Default()
	m, ok := cat.Model(modelID)
	if !ok {
		return ""
	}
	id, _ := cat.ProfileFor(m, region)
	return id
}
