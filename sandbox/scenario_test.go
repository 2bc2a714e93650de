package sandbox_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// TestScenarioExample loads the documented example and checks each thing it sets up with the SDK.
func TestScenarioExample(t *testing.T) {
	ctx := context.Background()
	sc, err := sandbox.LoadScenario("testdata/scenario-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(sc.Accounts), 3; got != want {
		t.Fatalf("accounts: got %d, want %d", got, want)
	}
	e := newEnv(t, sc)
	role := "arn:aws:iam::444444444444:role/BedrockAccessRole"
	withID := func(id string) func(*stscreds.AssumeRoleOptions) {
		return func(o *stscreds.AssumeRoleOptions) { o.ExternalID = aws.String(id) }
	}

	id, err := sts.NewFromConfig(e.cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(id.Arn), "arn:aws:sts::111111111111:assumed-role/lambda-execution-role/relay-example"; got != want {
		t.Errorf("caller: got %s, want %s", got, want)
	}
	t.Run("external id required", func(t *testing.T) {
		if _, err := invoke(ctx, e.assume(t, role), sandbox.SeedProfile); apiCode(err) != "AccessDenied" {
			t.Errorf("without ExternalId: got %v, want AccessDenied", err)
		}
	})
	t.Run("profile and application profile, strict", func(t *testing.T) {
		cfg := e.assume(t, role, withID("relay-example-external-id"))
		for _, m := range []string{sandbox.SeedProfile, "arn:aws:bedrock:ap-northeast-1:444444444444:application-inference-profile/relayexample1"} {
			if _, err := invoke(ctx, cfg, m); err != nil {
				t.Errorf("%s: got %v, want success", m, err)
			}
		}
	})
	t.Run("model access", func(t *testing.T) {
		_, err := invoke(ctx, e.assume(t, role, withID("relay-example-external-id")), haikuModel)
		if apiCode(err) != "AccessDeniedException" {
			t.Errorf("model not enabled: got %v, want AccessDeniedException", err)
		}
	})
	t.Run("SCP", func(t *testing.T) {
		cfg := e.assume(t, role, withID("relay-example-external-id"))
		cfg.Region = "us-east-1"
		_, err := invoke(ctx, cfg, "us."+seedFM)
		if apiCode(err) != "AccessDeniedException" || !strings.Contains(err.Error(), "service control policy") {
			t.Errorf("outside the SCP's regions: got %v, want AccessDeniedException from the SCP", err)
		}
	})
	t.Run(":root trust", func(t *testing.T) {
		// 555555555555 trusts the caller's account; the caller's own policy names only 444444444444.
		_, err := invoke(ctx, e.assume(t, "arn:aws:iam::555555555555:role/BedrockAccessRole"), sandbox.SeedProfile)
		if apiCode(err) != "AccessDenied" {
			t.Errorf("got %v, want AccessDenied (identity policy does not allow)", err)
		}
	})
	t.Run("quota", func(t *testing.T) {
		cfg := e.assume(t, role, withID("relay-example-external-id"))
		var throttled bool
		for i := 0; i < 6 && !throttled; i++ {
			_, err := invoke(ctx, cfg, sandbox.SeedProfile)
			throttled = apiCode(err) == "ThrottlingException"
		}
		if !throttled {
			t.Errorf("6 calls within a minute at 5 RPM (after the ones above): want a ThrottlingException")
		}
	})
}

func TestScenarioErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown field", "default_region: ap-northeast-1\nbogus: 1\n", []string{"field bogus not found"}},
		{"all problems at once", `
default_region: nowhere
accounts:
  "12345":
    roles:
      "bad name!":
        trust: '{"Version":"2012-10-17","Statement":[]}'
      NoTrust:
        max_session_duration_seconds: 100
    users:
      u: {access_key_id: AKIA}
    quotas:
      - {requests_per_minute: -1}
application_profiles:
  - arn: arn:aws:bedrock:ap-northeast-1:12345:inference-profile/x
`, []string{
			`default_region "nowhere"`,
			"accounts.12345: an account id is 12 digits",
			"accounts.12345.roles.bad name!: role names",
			"accounts.12345.roles.NoTrust.trust: a role needs a trust policy",
			"accounts.12345.roles.NoTrust.max_session_duration_seconds: 100 is outside 3600..43200",
			"accounts.12345.users.u: a user needs access_key_id and secret_access_key",
			"accounts.12345.quotas[0].model",
			"accounts.12345.quotas[0]: quotas are >= 0",
			"application_profiles[0].arn",
			"application_profiles[0].copy_from",
		}},
		{"bad policy", `
accounts:
  "123456789012":
    roles:
      R:
        trust: '{"Statement":'
`, []string{"accounts.123456789012.roles.R.trust"}},
		{"caller role missing from accounts", `
caller: {role_arn: "arn:aws:iam::123456789012:role/ghost", access_key_id: A, secret_access_key: B}
accounts:
  "123456789012": {}
`, []string{"caller.role_arn arn:aws:iam::123456789012:role/ghost: no such role"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := sandbox.ParseScenario([]byte(tt.yaml))
			if err == nil {
				_, err = sandbox.New(sc)
			}
			if err == nil {
				t.Fatalf("got no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q: want it to contain %q", err, w)
				}
			}
		})
	}
}
