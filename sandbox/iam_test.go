package sandbox_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

const (
	haikuModel = "anthropic.claude-3-haiku-20240307-v1:0" // on demand in ap-northeast-1
	seedFM     = "anthropic.claude-sonnet-4-5-20250929-v1:0"
)

// TestBedrockAuthorization drives IAM evaluation through InvokeModel: each case edits the target role or its
// account, then calls as a session of the role.
func TestBedrockAuthorization(t *testing.T) {
	role := sandbox.TargetRoleARN(sandbox.SmallAccount)
	profileARN := "arn:aws:bedrock:ap-northeast-1:222222222222:inference-profile/" + sandbox.SeedProfile
	tests := []struct {
		name    string
		setup   func(t *testing.T, sb *sandbox.Sandbox)
		model   string
		code    string
		message string
	}{
		{"seed policy", nil, sandbox.SeedProfile, "", ""},
		{"explicit deny in an identity policy wins", func(t *testing.T, sb *sandbox.Sandbox) {
			must(t, sb.SetRolePolicy(role, "DenyInvoke", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"bedrock:InvokeModel","Resource":"*"}]}`))
		}, sandbox.SeedProfile, "AccessDeniedException",
			"User: arn:aws:sts::222222222222:assumed-role/BedrockAccessRole/test-session is not authorized to perform: bedrock:InvokeModel on resource: " + profileARN + " with an explicit deny in an identity-based policy"},
		{"SCP deny", func(t *testing.T, sb *sandbox.Sandbox) {
			must(t, sb.SetSCP(sandbox.SmallAccount, `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"bedrock:*","Resource":"*"}]}`))
		}, sandbox.SeedProfile, "AccessDeniedException", "with an explicit deny in a service control policy"},
		{"SCP deny of another region only", func(t *testing.T, sb *sandbox.Sandbox) {
			must(t, sb.SetSCP(sandbox.SmallAccount, `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":["ap-northeast-1"]}}}]}`))
		}, sandbox.SeedProfile, "", ""},
		{"NotAction allow", func(t *testing.T, sb *sandbox.Sandbox) {
			must(t, sb.SetRolePolicy(role, "BedrockInvoke", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":["iam:*","sts:*"],"Resource":"*"}]}`))
		}, sandbox.SeedProfile, "", ""},
		{"NotAction excluding bedrock", func(t *testing.T, sb *sandbox.Sandbox) {
			must(t, sb.SetRolePolicy(role, "BedrockInvoke", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"bedrock:*","Resource":"*"}]}`))
		}, sandbox.SeedProfile, "AccessDeniedException", "because no identity-based policy allows the bedrock:InvokeModel action"},
		{"resource wildcards", func(t *testing.T, sb *sandbox.Sandbox) {
			must(t, sb.SetRolePolicy(role, "BedrockInvoke", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:Invoke*","Resource":[
				"arn:aws:bedrock:ap-northeast-?:*:inference-profile/jp.anthropic.*","arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-*"]}]}`))
		}, sandbox.SeedProfile, "", ""},
		{"wildcard not covering the profile", func(t *testing.T, sb *sandbox.Sandbox) {
			must(t, sb.SetRolePolicy(role, "BedrockInvoke", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:Invoke*","Resource":["arn:aws:bedrock:*::foundation-model/*"]}]}`))
		}, sandbox.SeedProfile, "AccessDeniedException", "on resource: " + profileARN + " because no identity-based policy allows"},
		{"model access disabled", func(t *testing.T, sb *sandbox.Sandbox) {
			must(t, sb.SetModelAccess(sandbox.SmallAccount, seedFM, false))
		}, sandbox.SeedProfile, "AccessDeniedException", "You don't have access to the model with the specified model ID."},
		{"model access re-enabled", func(t *testing.T, sb *sandbox.Sandbox) {
			must(t, sb.SetModelAccess(sandbox.SmallAccount, seedFM, false))
			must(t, sb.SetModelAccess(sandbox.SmallAccount, "*", true))
		}, sandbox.SeedProfile, "", ""},
		{"other model disabled", func(t *testing.T, sb *sandbox.Sandbox) {
			must(t, sb.SetModelAccess(sandbox.SmallAccount, haikuModel, false))
		}, sandbox.SeedProfile, "", ""},
		{"region disabled", func(t *testing.T, sb *sandbox.Sandbox) {
			must(t, sb.SetRegionEnabled(sandbox.SmallAccount, sandbox.SeedRegion, false))
		}, sandbox.SeedProfile, "UnrecognizedClientException", "The security token included in the request is invalid."},
		{"region enabled again", func(t *testing.T, sb *sandbox.Sandbox) {
			must(t, sb.SetRegionEnabled(sandbox.SmallAccount, sandbox.SeedRegion, false))
			must(t, sb.SetRegionEnabled(sandbox.SmallAccount, sandbox.SeedRegion, true))
		}, sandbox.SeedProfile, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			if tt.setup != nil {
				tt.setup(t, e.sb)
			}
			_, err := invoke(context.Background(), e.session(t, role), tt.model)
			if got := apiCode(err); got != tt.code {
				t.Fatalf("got %v, want %q", err, tt.code)
			}
			if tt.code != "" && !strings.Contains(err.Error(), tt.message) {
				t.Errorf("message %q: want it to contain %q", err, tt.message)
			}
		})
	}
}

// TestAssumeRoleAuthorization drives IAM evaluation through AssumeRole from the seed's caller session.
func TestAssumeRoleAuthorization(t *testing.T) {
	role := sandbox.TargetRoleARN(sandbox.SmallAccount)
	rootTrust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}`
	tests := []struct {
		name  string
		setup func(t *testing.T, sb *sandbox.Sandbox)
		code  string
	}{
		{"seed trust", nil, ""},
		{":root trust, caller policy allows", func(t *testing.T, sb *sandbox.Sandbox) { must(t, sb.SetTrustPolicy(role, rootTrust)) }, ""},
		{":root trust, caller policy does not allow", func(t *testing.T, sb *sandbox.Sandbox) {
			must(t, sb.SetTrustPolicy(role, rootTrust))
			must(t, sb.SetRolePolicy(sandbox.CallerRoleARN, "AssumeBedrockRoles", ""))
		}, "AccessDenied"},
		{"trust names the role, caller policy does not allow (cross-account)", func(t *testing.T, sb *sandbox.Sandbox) {
			must(t, sb.SetRolePolicy(sandbox.CallerRoleARN, "AssumeBedrockRoles", ""))
		}, "AccessDenied"},
		{":root of another account", func(t *testing.T, sb *sandbox.Sandbox) {
			must(t, sb.SetTrustPolicy(role, strings.ReplaceAll(rootTrust, "111111111111", "999999999999")))
		}, "AccessDenied"},
		{"SCP of the caller's account denies sts:AssumeRole", func(t *testing.T, sb *sandbox.Sandbox) {
			must(t, sb.SetSCP(sandbox.CallerAccount, `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"sts:AssumeRole","Resource":"*"}]}`))
		}, "AccessDenied"},
		{"explicit deny in the trust policy", func(t *testing.T, sb *sandbox.Sandbox) {
			must(t, sb.SetTrustPolicy(role, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"`+sandbox.CallerRoleARN+`"},"Action":"sts:AssumeRole"},
				{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}`))
		}, "AccessDenied"},
		{"caller region disabled", func(t *testing.T, sb *sandbox.Sandbox) {
			must(t, sb.SetRegionEnabled(sandbox.CallerAccount, sandbox.SeedRegion, false))
		}, "InvalidClientTokenId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			if tt.setup != nil {
				tt.setup(t, e.sb)
			}
			_, err := sts.NewFromConfig(e.cfg).AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("authz")})
			if got := apiCode(err); got != tt.code {
				t.Errorf("got %v, want %q", err, tt.code)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
