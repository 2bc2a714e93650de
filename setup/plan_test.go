package setup

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/bedrock-relay/bedrock-relay/iampolicy"
)

const (
	seedCaller  = "arn:aws:iam::111111111111:role/lambda-execution-role"
	seedTarget  = "arn:aws:iam::222222222222:role/BedrockAccessRole"
	seedProfile = "jp.anthropic.claude-sonnet-4-5-20250929-v1:0"
	seedRegion  = "ap-northeast-1"
)

// twoAccounts is the seed plus a second Bedrock account with two targets (two regions) on one role.
func twoAccounts() Options {
	return Options{
		CallerRoleARN: seedCaller,
		Stream:        true,
		Targets: []Grant{
			{RoleARN: seedTarget, Region: seedRegion, Models: []string{seedProfile}},
			{RoleARN: "arn:aws:iam::333333333333:role/BedrockAccessRole", ExternalID: "relay-333", Region: "us-east-1",
				Models: []string{"us.anthropic.claude-sonnet-4-5-20250929-v1:0", "global.anthropic.claude-haiku-4-5-20251001-v1:0"}},
			{RoleARN: "arn:aws:iam::333333333333:role/BedrockAccessRole", ExternalID: "relay-333", Region: "ap-northeast-3",
				Models: []string{seedProfile}},
		},
	}
}

func TestNewMergesPerRole(t *testing.T) {
	p, err := New(twoAccounts())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"222222222222", "333333333333"}, p.Accounts()); diff != "" {
		t.Errorf("accounts (-want +got):\n%s", diff)
	}
	if got := len(p.Roles); got != 2 {
		t.Fatalf("got %d roles, want 2 (one per distinct role ARN)", got)
	}
	// The second account's one permission document covers all three models of its two targets.
	var want []*iampolicy.Document
	for _, o := range []iampolicy.PermissionOptions{
		{Model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0", Region: "us-east-1"},
		{Model: "global.anthropic.claude-haiku-4-5-20251001-v1:0", Region: "us-east-1"},
		{Model: seedProfile, Region: "ap-northeast-3"},
	} {
		o.TargetAccount, o.Stream = "333333333333", true
		d, err := iampolicy.Permissions(o)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, d)
	}
	if diff := cmp.Diff(iampolicy.Merge(want...), p.Roles[1].Permissions); diff != "" {
		t.Errorf("merged permissions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(iampolicy.Trust(seedCaller, "relay-333"), p.Roles[1].Trust); diff != "" {
		t.Errorf("trust with external id (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(iampolicy.Caller(seedTarget, "arn:aws:iam::333333333333:role/BedrockAccessRole"), p.Caller.Assume); diff != "" {
		t.Errorf("caller policy (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(LambdaEnv{TargetRoleARN: seedTarget, ModelID: seedProfile, Region: seedRegion}, p.Lambda); diff != "" {
		t.Errorf("lambda env (-want +got):\n%s", diff)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{"no caller", Options{Targets: []Grant{{RoleARN: seedTarget, Region: seedRegion, Models: []string{seedProfile}}}},
			[]string{"caller role:", "is not a role ARN"}},
		{"unknown prefix", Options{CallerRoleARN: seedCaller, Targets: []Grant{{RoleARN: seedTarget, Region: "ap-northeast-1", Models: []string{"xx.anthropic.claude-sonnet-4-5-20250929-v1:0"}}}},
			[]string{"targets[0].models[0]", "pass its destination regions explicitly with --regions"}},
		{"two external ids", Options{CallerRoleARN: seedCaller, Targets: []Grant{
			{RoleARN: seedTarget, Region: seedRegion, Models: []string{seedProfile}, ExternalID: "a1"},
			{RoleARN: seedTarget, Region: "ap-northeast-3", Models: []string{seedProfile}, ExternalID: "b2"}}},
			[]string{"targets[1].external_id", "two different external ids"}},
		{"no targets", Options{CallerRoleARN: seedCaller}, []string{"no targets"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q: want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestSplitRoleARN(t *testing.T) {
	acct, path, name, err := splitRoleARN("arn:aws:iam::222222222222:role/service/bedrock/Relay")
	if err != nil || acct != "222222222222" || path != "/service/bedrock/" || name != "Relay" {
		t.Errorf("got %q %q %q %v, want 222222222222 /service/bedrock/ Relay", acct, path, name, err)
	}
	if got := LogicalID("lambda-execution-role"); got != "LambdaExecutionRole" {
		t.Errorf("LogicalID = %q, want LambdaExecutionRole", got)
	}
}

func yamlUnmarshal(b []byte, v any) error { return yaml.Unmarshal(b, v) }
