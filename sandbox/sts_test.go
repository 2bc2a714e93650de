package sandbox_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

const (
	adminKey    = "AKIASANDBOXADMIN0001"
	adminSecret = "sandboxAdminSecretKey000000000000000000"
	adminARN    = "arn:aws:iam::111111111111:user/admin"
	chainRole   = "arn:aws:iam::222222222222:role/LongSessionRole"
)

// stsScenario is the default scenario plus an IAM user in the caller account and a role allowing 12 h
// sessions that both the user and the seed's BedrockAccessRole may assume.
func stsScenario() *sandbox.Scenario {
	sc := sandbox.DefaultScenario()
	sc.Accounts[sandbox.CallerAccount].Users = map[string]*sandbox.UserSpec{"admin": {
		AccessKeyID: adminKey, SecretAccessKey: adminSecret,
		Policies: map[string]sandbox.PolicyText{"AssumeAny": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`},
	}}
	sc.Accounts[sandbox.SmallAccount].Roles["LongSessionRole"] = &sandbox.RoleSpec{
		Trust: sandbox.PolicyText(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["` +
			sandbox.TargetRoleARN(sandbox.SmallAccount) + `","` + adminARN + `"]},"Action":"sts:AssumeRole"}]}`),
		MaxSessionDurationSeconds: 43200,
	}
	return sc
}

func TestAssumeRoleValidation(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, stsScenario())
	admin := sts.NewFromConfig(e.static(adminKey, adminSecret, ""))
	seedRole := sandbox.TargetRoleARN(sandbox.SmallAccount)
	tests := []struct {
		name    string
		in      sts.AssumeRoleInput
		code    string
		message string
	}{
		{"session name too short", sts.AssumeRoleInput{RoleArn: aws.String(seedRole), RoleSessionName: aws.String("a")}, "ValidationError",
			"1 validation error detected: Value 'a' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2"},
		{"session name too long", sts.AssumeRoleInput{RoleArn: aws.String(seedRole), RoleSessionName: aws.String(strings.Repeat("s", 65))}, "ValidationError",
			"1 validation error detected: Value '" + strings.Repeat("s", 65) + "' at 'roleSessionName' failed to satisfy constraint: Member must have length less than or equal to 64"},
		{"session name pattern", sts.AssumeRoleInput{RoleArn: aws.String(seedRole), RoleSessionName: aws.String("has space")}, "ValidationError",
			`1 validation error detected: Value 'has space' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*`},
		{"duration below 900", sts.AssumeRoleInput{RoleArn: aws.String(seedRole), RoleSessionName: aws.String("ok"), DurationSeconds: aws.Int32(899)}, "ValidationError",
			"1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"},
		{"duration above 43200", sts.AssumeRoleInput{RoleArn: aws.String(chainRole), RoleSessionName: aws.String("ok"), DurationSeconds: aws.Int32(43201)}, "ValidationError",
			"1 validation error detected: Value '43201' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200"},
		{"two errors at once", sts.AssumeRoleInput{RoleArn: aws.String(seedRole), RoleSessionName: aws.String("a"), DurationSeconds: aws.Int32(100)}, "ValidationError",
			"2 validation errors detected: Value 'a' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2; Value '100' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"},
		{"duration above the role's max", sts.AssumeRoleInput{RoleArn: aws.String(seedRole), RoleSessionName: aws.String("ok"), DurationSeconds: aws.Int32(7200)}, "ValidationError",
			"The requested DurationSeconds exceeds the MaxSessionDuration set for this role."},
		{"role ARN too short", sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::1:role"), RoleSessionName: aws.String("ok")}, "ValidationError",
			"1 validation error detected: Value 'arn:aws:iam::1:role' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20"},
		{"external id too short", sts.AssumeRoleInput{RoleArn: aws.String(seedRole), RoleSessionName: aws.String("ok"), ExternalId: aws.String("x")}, "ValidationError",
			"1 validation error detected: Value 'x' at 'externalId' failed to satisfy constraint: Member must have length greater than or equal to 2"},
		{"source identity pattern", sts.AssumeRoleInput{RoleArn: aws.String(seedRole), RoleSessionName: aws.String("ok"), SourceIdentity: aws.String("a b")}, "ValidationError",
			`1 validation error detected: Value 'a b' at 'sourceIdentity' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*`},
		{"tag key too long", sts.AssumeRoleInput{RoleArn: aws.String(seedRole), RoleSessionName: aws.String("ok"), Tags: []ststypes.Tag{{Key: aws.String(strings.Repeat("k", 129)), Value: aws.String("v")}}}, "ValidationError",
			"1 validation error detected: Value '" + strings.Repeat("k", 129) + "' at 'tags.1.member.key' failed to satisfy constraint: Member must have length less than or equal to 128"},
		{"unknown role", sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::222222222222:role/NoSuchRole"), RoleSessionName: aws.String("ok")}, "AccessDenied",
			"User: " + adminARN + " is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::222222222222:role/NoSuchRole"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := admin.AssumeRole(ctx, &tt.in)
			if got := apiCode(err); got != tt.code {
				t.Fatalf("got %v, want %s", err, tt.code)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("got message %q, want %q", err, tt.message)
			}
		})
	}
}

func TestAssumeRoleDurations(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, stsScenario())
	tests := []struct {
		name     string
		cfg      aws.Config
		duration int32
		wantErr  string
	}{
		{"user, 2 h within the role's 12 h", e.static(adminKey, adminSecret, ""), 7200, ""},
		{"user, 12 h", e.static(adminKey, adminSecret, ""), 43200, ""},
		{"role chaining, 1 h", e.session(t, sandbox.TargetRoleARN(sandbox.SmallAccount)), 3600, ""},
		{"role chaining, 2 h", e.session(t, sandbox.TargetRoleARN(sandbox.SmallAccount)), 7200,
			"The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := sts.NewFromConfig(tt.cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(chainRole), RoleSessionName: aws.String("durations"), DurationSeconds: aws.Int32(tt.duration)})
			if tt.wantErr != "" {
				if apiCode(err) != "ValidationError" || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got %v, want ValidationError %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want success", err)
			}
			want := time.Duration(tt.duration) * time.Second
			if got := time.Until(aws.ToTime(out.Credentials.Expiration)); got < want-time.Minute || got > want+time.Minute {
				t.Errorf("credentials expire in %v, want about %v", got, want)
			}
		})
	}
}

func TestAssumeRoleExternalID(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	role := sandbox.TargetRoleARN(sandbox.LargeAccount)
	if err := e.sb.SetTrustPolicy(role, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"`+sandbox.CallerRoleARN+`"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"relay-ext-1"}}}]}`); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, externalID, want string
	}{
		{"missing", "", "AccessDenied"},
		{"wrong", "relay-ext-2", "AccessDenied"},
		{"right", "relay-ext-1", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := e.assume(t, role, func(o *stscreds.AssumeRoleOptions) {
				if tt.externalID != "" {
					o.ExternalID = aws.String(tt.externalID)
				}
			})
			_, err := invoke(ctx, cfg, sandbox.SeedProfile)
			if got := apiCode(err); got != tt.want {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestAssumeRoleSessionPolicy(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	role := sandbox.TargetRoleARN(sandbox.SmallAccount)
	cfg := e.assume(t, role, func(o *stscreds.AssumeRoleOptions) {
		o.Policy = aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:CountTokens","Resource":"*"}]}`)
	})
	_, err := invoke(ctx, cfg, sandbox.SeedProfile)
	if got, want := apiCode(err), "AccessDeniedException"; got != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	if want := "because no session policy allows the bedrock:InvokeModel action"; !strings.Contains(err.Error(), want) {
		t.Errorf("message %q: want it to contain %q", err, want)
	}
	_, err = sts.NewFromConfig(e.cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("bad-policy"), Policy: aws.String("{not json")})
	if got, want := apiCode(err), "MalformedPolicyDocument"; got != want {
		t.Errorf("malformed session policy: got %v, want %s", err, want)
	}
}

// TestAssumeRoleTagsAndSourceIdentity: tags and a source identity need sts:TagSession / sts:SetSourceIdentity
// from the trust policy and, across accounts, from the caller's own policy.
func TestAssumeRoleTagsAndSourceIdentity(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	role := sandbox.TargetRoleARN(sandbox.SmallAccount)
	client := sts.NewFromConfig(e.cfg)
	tagged := &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("tagged"),
		Tags: []ststypes.Tag{{Key: aws.String("team"), Value: aws.String("relay")}}}
	withSource := &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("sourced"), SourceIdentity: aws.String("alice@example.com")}

	t.Run("seed trust policy refuses tags", func(t *testing.T) {
		_, err := client.AssumeRole(ctx, tagged)
		want := "User: arn:aws:sts::111111111111:assumed-role/lambda-execution-role/bedrock-relay-sandbox is not authorized to perform: sts:TagSession on resource: " + role
		if apiCode(err) != "AccessDenied" || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want AccessDenied %q", err, want)
		}
	})
	t.Run("seed trust policy refuses a source identity", func(t *testing.T) {
		_, err := client.AssumeRole(ctx, withSource)
		if apiCode(err) != "AccessDenied" || !strings.Contains(err.Error(), "sts:SetSourceIdentity") {
			t.Errorf("got %v, want AccessDenied naming sts:SetSourceIdentity", err)
		}
	})

	actions := `["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]`
	if err := e.sb.SetTrustPolicy(role, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"`+sandbox.CallerRoleARN+`"},"Action":`+actions+`,"Condition":{"StringEqualsIfExists":{"aws:RequestTag/team":"relay"}}}]}`); err != nil {
		t.Fatal(err)
	}
	t.Run("trust policy allows, caller policy does not", func(t *testing.T) {
		_, err := client.AssumeRole(ctx, tagged)
		if apiCode(err) != "AccessDenied" || !strings.Contains(err.Error(), "sts:TagSession") {
			t.Errorf("got %v, want AccessDenied naming sts:TagSession", err)
		}
	})
	if err := e.sb.SetRolePolicy(sandbox.CallerRoleARN, "AssumeBedrockRoles", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":`+actions+`,"Resource":"`+role+`"}]}`); err != nil {
		t.Fatal(err)
	}
	t.Run("tags allowed", func(t *testing.T) {
		out, err := client.AssumeRole(ctx, tagged)
		if err != nil {
			t.Fatalf("got %v, want success", err)
		}
		if out.PackedPolicySize == nil {
			t.Errorf("PackedPolicySize missing: AWS reports it when tags are passed")
		}
	})
	t.Run("tag value refused by a trust condition", func(t *testing.T) {
		in := *tagged
		in.Tags = []ststypes.Tag{{Key: aws.String("team"), Value: aws.String("other")}}
		if _, err := client.AssumeRole(ctx, &in); apiCode(err) != "AccessDenied" {
			t.Errorf("got %v, want AccessDenied", err)
		}
	})
	t.Run("source identity allowed", func(t *testing.T) {
		out, err := client.AssumeRole(ctx, withSource)
		if err != nil {
			t.Fatalf("got %v, want success", err)
		}
		if got, want := aws.ToString(out.SourceIdentity), "alice@example.com"; got != want {
			t.Errorf("SourceIdentity: got %q, want %q", got, want)
		}
	})
}

func TestGetCallerIdentity(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, stsScenario())
	role := sandbox.TargetRoleARN(sandbox.SmallAccount)
	out, err := sts.NewFromConfig(e.cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("who-am-i")})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	tests := []struct {
		name                 string
		cfg                  aws.Config
		account, arn, userID string
	}{
		{"caller session", e.cfg, sandbox.CallerAccount, "arn:aws:sts::111111111111:assumed-role/lambda-execution-role/bedrock-relay-sandbox", `^AROA[A-Z2-7]{17}:bedrock-relay-sandbox$`},
		{"assumed session", e.static(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)), sandbox.SmallAccount,
			"arn:aws:sts::222222222222:assumed-role/BedrockAccessRole/who-am-i", "^" + regexp.QuoteMeta(aws.ToString(out.AssumedRoleUser.AssumedRoleId)) + "$"},
		{"IAM user", e.static(adminKey, adminSecret, ""), sandbox.CallerAccount, adminARN, `^AIDA[A-Z2-7]{17}$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := sts.NewFromConfig(tt.cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatal(err)
			}
			if got := aws.ToString(id.Account); got != tt.account {
				t.Errorf("Account: got %s, want %s", got, tt.account)
			}
			if got := aws.ToString(id.Arn); got != tt.arn {
				t.Errorf("Arn: got %s, want %s", got, tt.arn)
			}
			if got := aws.ToString(id.UserId); !regexp.MustCompile(tt.userID).MatchString(got) {
				t.Errorf("UserId: got %s, want match %s", got, tt.userID)
			}
		})
	}
	if got, want := aws.ToString(out.AssumedRoleUser.AssumedRoleId), ":who-am-i"; !strings.HasPrefix(got, "AROA") || !strings.HasSuffix(got, want) {
		t.Errorf("AssumedRoleId: got %s, want AROA…%s", got, want)
	}
}

// TestStscredsRefresh: with a short credential lifetime, the SDK's credentials cache assumes the role again
// once the session has expired.
func TestStscredsRefresh(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	e.sb.SetCredentialLifetime(2 * time.Second)
	role := sandbox.TargetRoleARN(sandbox.LargeAccount)
	client := bedrockruntime.NewFromConfig(e.assume(t, role))
	call := func() {
		t.Helper()
		if _, err := client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile), Body: []byte(seedBody), ContentType: aws.String("application/json")}); err != nil {
			t.Fatalf("InvokeModel: %v", err)
		}
	}
	call()
	call()
	if got, want := e.sb.Stats().STSCalls("AssumeRole"), 1; got != want {
		t.Fatalf("AssumeRole calls before expiry: got %d, want %d", got, want)
	}
	time.Sleep(2100 * time.Millisecond)
	call()
	if got, want := e.sb.Stats().STSCalls("AssumeRole"), 2; got != want {
		t.Errorf("AssumeRole calls after expiry: got %d, want %d", got, want)
	}
}
