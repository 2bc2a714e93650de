package iampolicy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// Actions granted by Permissions.
const (
	ActionInvokeModel       = "bedrock:InvokeModel"
	ActionInvokeModelStream = "bedrock:InvokeModelWithResponseStream"
	ActionAssumeRole        = "sts:AssumeRole"
	ActionTagSession        = "sts:TagSession"
)

// Condition keys the generated documents use.
const (
	KeyExternalID          = "sts:ExternalId"
	KeyInferenceProfileArn = "bedrock:InferenceProfileArn"
	KeyTagKeys             = "aws:TagKeys"
)

// Trust is the target role's trust policy: it lets callerRoleARN (and every session of it) assume the role.
// With an external id, the caller must also pass it, which is what protects a role shared with a third party
// from the confused-deputy problem.
func Trust(callerRoleARN string, externalID string) *Document {
	st := Statement{
		Effect:    EffectAllow,
		Principal: &Principal{AWS: StringList{callerRoleARN}},
		Action:    StringList{ActionAssumeRole},
	}
	if externalID != "" {
		st.Condition = Conditions{"StringEquals": {KeyExternalID: StringList{externalID}}}
	}
	return &Document{Version: Version2012, Statement: []Statement{st}}
}

// TagSession is the statement that lets principal pass session tags when it assumes a role (in a trust policy,
// with principal set) or on resources (in the caller's identity policy, with principal "" and resources set),
// limited to the tag keys given: ForAllValues:StringEquals on aws:TagKeys, so that no other tag can be set.
func TagSession(principal string, tagKeys []string, resources ...string) Statement {
	st := Statement{
		Effect:    EffectAllow,
		Action:    StringList{ActionTagSession},
		Condition: Conditions{"ForAllValues:StringEquals": {KeyTagKeys: StringList(slices.Clone(tagKeys))}},
	}
	if principal != "" {
		st.Principal = &Principal{AWS: StringList{principal}}
	}
	if len(resources) > 0 {
		st.Resource = StringList(slices.Clone(resources))
	}
	return st
}

// TrustTagged is Trust with a second statement allowing callerRoleARN sts:TagSession with the tag keys
// given (TagSession): what a role needs for the relay's per-key sessions (attribution.session_per_key), which
// AssumeRole with session tags naming the caller key and its group. No tag keys is Trust.
func TrustTagged(callerRoleARN, externalID string, tagKeys []string) *Document {
	d := Trust(callerRoleARN, externalID)
	if len(tagKeys) > 0 {
		d.Statement = append(d.Statement, TagSession(callerRoleARN, tagKeys))
	}
	return d
}

// CallerTagged is Caller with a second statement allowing sts:TagSession with the tag keys given on the
// target roles: cross-account, the caller's own policy must allow the tags as well as the trust policy. No
// tag keys is Caller.
func CallerTagged(tagKeys []string, targetRoleARNs ...string) *Document {
	d := Caller(targetRoleARNs...)
	if len(tagKeys) > 0 {
		d.Statement = append(d.Statement, TagSession("", tagKeys, targetRoleARNs...))
	}
	return d
}

// Caller is the caller role's identity-based statement allowing it to assume the target roles. Cross-account
// AssumeRole needs it in addition to the target's trust policy.
func Caller(targetRoleARNs ...string) *Document {
	return &Document{Version: Version2012, Statement: []Statement{{
		Effect:   EffectAllow,
		Action:   StringList{ActionAssumeRole},
		Resource: StringList(slices.Clone(targetRoleARNs)),
	}}}
}

// PermissionOptions describes the model a target role must be allowed to invoke.
type PermissionOptions struct {
	// TargetAccount is the account that owns the role and in which inference profiles are invoked.
	TargetAccount string
	// Model is what the caller passes as modelId: a system inference profile id or ARN ("jp.anthropic...."), an
	// application inference profile ARN, or a foundation-model id or ARN.
	Model string
	// Region is the source region the Bedrock Runtime client calls.
	Region string
	// Stream also allows bedrock:InvokeModelWithResponseStream (ConverseStream and streaming invokes).
	Stream bool
	// Regions are explicit destination regions: required for a profile prefix the catalogue does not know, and
	// the regions an application inference profile routes to (default: its own region).
	Regions []string
	// ProfileCondition puts the foundation-model ARNs in a second statement that only applies when the model is
	// reached through the inference profile (bedrock:InferenceProfileArn), so the role cannot call the model
	// directly in the destination regions.
	ProfileCondition bool
}

// ErrInvalidOptions wraps every PermissionOptions error, for callers that map it to a usage error.
var ErrInvalidOptions = errors.New("invalid policy options")

// Permissions is the target role's permission policy for invoking opts.Model from opts.Region. A cross-region
// inference profile needs the profile ARN in the source region and the foundation-model ARN in every region the
// profile may route to; missing one fails only when a request happens to be routed there, which is why this is
// generated from the catalogue rather than written by hand.
func Permissions(opts PermissionOptions) (*Document, error) {
	return permissions(catalog.Default(), opts)
}

func permissions(cat *catalog.Catalog, opts PermissionOptions) (*Document, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...)
	}
	if opts.Model == "" {
		return nil, bad("model is empty; pass a model id, inference profile id or ARN")
	}
	ref, err := catalog.ParseRef(opts.Model)
	if err != nil {
		return nil, bad("%v", err)
	}
	region, account := opts.Region, opts.TargetAccount
	if ref.IsARN {
		// The ARN is authoritative; a different --region or account would generate a policy for another resource.
		if region != "" && ref.Region != "" && region != ref.Region {
			return nil, bad("model ARN is in %s but region is %s; drop one or make them agree", ref.Region, region)
		}
		if account != "" && ref.Account != "" && account != ref.Account {
			return nil, bad("model ARN is in account %s but target account is %s; drop one or make them agree", ref.Account, account)
		}
		if ref.Region != "" {
			region = ref.Region
		}
		if ref.Account != "" {
			account = ref.Account
		}
	}
	if region == "" {
		return nil, bad("region is empty; pass the region the Bedrock Runtime client calls, e.g. ap-northeast-1")
	}
	partition := catalog.PartitionOf(region)
	if ref.IsARN && ref.Partition != "" && ref.Partition != partition {
		return nil, bad("model ARN is in partition %s but region %s is in %s", ref.Partition, region, partition)
	}
	actions := StringList{ActionInvokeModel}
	if opts.Stream {
		actions = append(actions, ActionInvokeModelStream)
	}

	switch ref.Kind {
	case catalog.KindFoundationModel:
		if m, ok := cat.Model(ref.ID); ok && m.ProfileOnly() {
			return nil, bad("%s is only served through inference profiles; pass a profile id instead, e.g. %s",
				ref.ID, suggestProfile(cat, m, region))
		}
		return &Document{Version: Version2012, Statement: []Statement{{
			Effect:   EffectAllow,
			Action:   actions,
			Resource: StringList{catalog.FoundationModelARN(partition, region, ref.ID)},
		}}}, nil

	case catalog.KindSystemProfile:
		if !isAccountID(account) {
			return nil, bad("target account %q is not a 12-digit account id", account)
		}
		modelID, dests, err := profileDestinations(cat, ref.ID, region, opts.Regions)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
		}
		profileARN := catalog.InferenceProfileARN(partition, region, account, ref.ID)
		var models StringList
		if dests == nil {
			// A global profile may route to any commercial region. IAM names that as the regionless ARN; AWS's
			// examples also list the source region's foundation model, which the request may be served from.
			models = StringList{
				catalog.FoundationModelARN(partition, region, modelID),
				catalog.FoundationModelARN(partition, "", modelID),
			}
		}
		for _, r := range dests {
			models = append(models, catalog.FoundationModelARN(catalog.PartitionOf(r), r, modelID))
		}
		return profileDocument(actions, profileARN, models, opts.ProfileCondition), nil

	case catalog.KindApplicationProfile:
		// An application profile's underlying model is only known to the Bedrock control plane, so the
		// foundation models are a wildcard, always restricted to calls made through this profile.
		regions := opts.Regions
		if len(regions) == 0 {
			regions = []string{region}
		}
		var models StringList
		for _, r := range regions {
			models = append(models, catalog.FoundationModelARN(catalog.PartitionOf(r), r, "*"))
		}
		profileARN := catalog.ApplicationProfileARN(partition, region, account, ref.ID)
		return profileDocument(actions, profileARN, models, true), nil
	}
	return nil, bad("%s ARNs are not supported; pass an inference profile or foundation model", ref.Kind)
}

// profileDocument allows the profile and the foundation models behind it, in one statement or, with
// condition, in two so that the models are only reachable through the profile.
func profileDocument(actions StringList, profileARN string, models StringList, condition bool) *Document {
	if !condition {
		return &Document{Version: Version2012, Statement: []Statement{{
			Effect:   EffectAllow,
			Action:   actions,
			Resource: append(StringList{profileARN}, models...),
		}}}
	}
	return &Document{Version: Version2012, Statement: []Statement{
		{
			Sid:      "InvokeInferenceProfile",
			Effect:   EffectAllow,
			Action:   actions,
			Resource: StringList{profileARN},
		},
		{
			Sid:       "InvokeFoundationModelsThroughProfile",
			Effect:    EffectAllow,
			Action:    slices.Clone(actions),
			Resource:  models,
			Condition: Conditions{"StringEquals": {KeyInferenceProfileArn: StringList{profileARN}}},
		},
	}}
}

// profileDestinations resolves a system profile to its foundation model and destination regions. A nil region
// list with no error means a global profile.
func profileDestinations(cat *catalog.Catalog, profileID, region string, explicit []string) (string, []string, error) {
	prefix, modelID, ok := catalog.SplitProfileID(profileID)
	if !ok {
		return "", nil, fmt.Errorf("%q is not an inference profile id", profileID)
	}
	g, known := cat.Geography(prefix)
	if !known {
		if len(explicit) == 0 {
			return "", nil, fmt.Errorf("%w %q: the catalogue does not know where %s routes; pass its destination regions explicitly with --regions (for example --regions %s)",
				catalog.ErrUnknownGeography, prefix+".", profileID, region)
		}
		return modelID, slices.Clone(explicit), nil
	}
	if len(g.SourceRegions) > 0 && !slices.Contains(g.SourceRegions, region) {
		return "", nil, fmt.Errorf("%s. profiles cannot be called from %s; allowed source regions: %s",
			prefix, region, strings.Join(g.SourceRegions, ", "))
	}
	if len(explicit) > 0 {
		return modelID, slices.Clone(explicit), nil
	}
	if g.Global {
		return modelID, nil, nil
	}
	p, err := cat.Profile(profileID)
	switch {
	case err == nil:
		return modelID, p.DestinationRegions, nil
	case errors.Is(err, catalog.ErrUnknownModel):
		if _, listed := cat.Model(modelID); listed {
			return "", nil, err // a known model that has no profile in this geography
		}
		// A model newer than the catalogue: the geography's usual destinations are the best guess.
		return modelID, slices.Clone(g.DestinationRegions), nil
	}
	return "", nil, err
}

// suggestProfile names a profile id for m that can be called from region, for error messages.
func suggestProfile(cat *catalog.Catalog, m catalog.Model, region string) string {
	if id, _ := cat.ProfileFor(m, region); id != "" {
		return id
	}
	return "<geography>." + m.ID
}
