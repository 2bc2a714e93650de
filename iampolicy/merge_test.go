package iampolicy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMerge(t *testing.T) {
	a := mustPermissions(t, PermissionOptions{TargetAccount: seedAccount, Model: seedModel, Region: seedRegion})
	b := mustPermissions(t, PermissionOptions{TargetAccount: seedAccount, Model: "jp.anthropic.claude-haiku-4-5-20251001-v1:0", Region: seedRegion})
	got := Merge(a, b, a)
	want := &Document{Version: Version2012, Statement: []Statement{{
		Effect: EffectAllow,
		Action: StringList{ActionInvokeModel},
		Resource: StringList{
			"arn:aws:bedrock:ap-northeast-1:222222222222:inference-profile/jp.anthropic.claude-sonnet-4-5-20250929-v1:0",
			"arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
			"arn:aws:bedrock:ap-northeast-3::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
			"arn:aws:bedrock:ap-northeast-1:222222222222:inference-profile/jp.anthropic.claude-haiku-4-5-20251001-v1:0",
			"arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
			"arn:aws:bedrock:ap-northeast-3::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
		},
	}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Merge (-want +got):\n%s", diff)
	}

	// Conditioned statements stay apart (their conditions differ) and keep unique Sids.
	c := mustPermissions(t, PermissionOptions{TargetAccount: seedAccount, Model: seedModel, Region: seedRegion, ProfileCondition: true})
	d := mustPermissions(t, PermissionOptions{TargetAccount: seedAccount, Model: "jp.anthropic.claude-haiku-4-5-20251001-v1:0", Region: seedRegion, ProfileCondition: true})
	m := Merge(c, d)
	var sids []string
	for _, st := range m.Statement {
		sids = append(sids, st.Sid)
	}
	if diff := cmp.Diff([]string{"InvokeInferenceProfile", "InvokeFoundationModelsThroughProfile", "InvokeFoundationModelsThroughProfile2"}, sids); diff != "" {
		t.Errorf("Sids (-want +got):\n%s", diff)
	}
	if n := len(m.Statement[0].Resource); n != 2 {
		t.Errorf("profile statement has %d resources, want both profiles", n)
	}
	if _, err := Parse(mustMarshal(t, m)); err != nil {
		t.Errorf("merged document does not parse: %v", err)
	}
}

func mustMarshal(t *testing.T, d *Document) []byte {
	t.Helper()
	b, err := d.MarshalIndent()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseDenied(t *testing.T) {
	req := Request{Principal: "arn:aws:sts::222222222222:assumed-role/BedrockAccessRole/s", Action: ActionInvokeModel,
		Resource: "arn:aws:bedrock:ap-northeast-3::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"}
	tests := []struct {
		name string
		msg  string
		want Denial
		ok   bool
	}{
		{"implicit identity", DeniedMessage(req, Decision{Outcome: ImplicitDeny, Policy: PolicyIdentity}),
			Denial{Principal: req.Principal, Action: req.Action, Resource: req.Resource, Outcome: ImplicitDeny, Policy: PolicyIdentity,
				Reason: "because no identity-based policy allows the bedrock:InvokeModel action"}, true},
		{"explicit scp", DeniedMessage(req, Decision{Outcome: ExplicitDeny, Policy: PolicySCP}),
			Denial{Principal: req.Principal, Action: req.Action, Resource: req.Resource, Outcome: ExplicitDeny, Policy: PolicySCP,
				Reason: "with an explicit deny in a service control policy"}, true},
		{"explicit identity", DeniedMessage(req, Decision{Outcome: ExplicitDeny, Policy: PolicyIdentity}),
			Denial{Principal: req.Principal, Action: req.Action, Resource: req.Resource, Outcome: ExplicitDeny, Policy: PolicyIdentity,
				Reason: "with an explicit deny in an identity-based policy"}, true},
		{"assume role, no reason", AssumeRoleDeniedMessage("arn:aws:sts::111111111111:assumed-role/r/s", "arn:aws:iam::222222222222:role/B"),
			Denial{Principal: "arn:aws:sts::111111111111:assumed-role/r/s", Action: ActionAssumeRole, Resource: "arn:aws:iam::222222222222:role/B"}, true},
		{"model access", "You don't have access to the model with the specified model ID.", Denial{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseDenied(tt.msg)
			if ok != tt.ok {
				t.Fatalf("ParseDenied(%q) ok = %v, want %v", tt.msg, ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseDenied(%q) (-want +got):\n%s", tt.msg, diff)
			}
		})
	}
}
