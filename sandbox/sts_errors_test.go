package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

const msgRegionDisabled = "STS is not activated in this region for account:222222222222. Your account administrator can activate STS in this region using the IAM Console."

// TestAssumeRoleRegionDisabled: STS refuses to issue credentials of an account in a region the account has not
// enabled, with the SDK's typed RegionDisabledException (403); the caller's own account lacking the region
// makes the caller's credentials invalid there instead.
func TestAssumeRoleRegionDisabled(t *testing.T) {
	ctx := context.Background()
	small, large := sandbox.TargetRoleARN(sandbox.SmallAccount), sandbox.TargetRoleARN(sandbox.LargeAccount)
	tests := []struct {
		name    string
		disable [2]string // account, region
		region  string    // where STS is called
		role    string
		code    string
		status  int
		message string
	}{
		{"role's account has the region disabled", [2]string{sandbox.SmallAccount, sandbox.SeedRegion}, sandbox.SeedRegion, small,
			"RegionDisabledException", 403, msgRegionDisabled},
		{"another account's role", [2]string{sandbox.SmallAccount, sandbox.SeedRegion}, sandbox.SeedRegion, large, "", 200, ""},
		{"another region than the one disabled", [2]string{sandbox.SmallAccount, "ap-northeast-3"}, sandbox.SeedRegion, small, "", 200, ""},
		{"STS called in the disabled region", [2]string{sandbox.SmallAccount, "ap-northeast-3"}, "ap-northeast-3", small,
			"RegionDisabledException", 403, msgRegionDisabled},
		{"caller's account has the region disabled", [2]string{sandbox.CallerAccount, sandbox.SeedRegion}, sandbox.SeedRegion, small,
			"InvalidClientTokenId", 403, "The security token included in the request is invalid."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			must(t, e.sb.SetRegionEnabled(tt.disable[0], tt.disable[1], false))
			cfg := e.cfg.Copy()
			cfg.Region = tt.region
			_, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(tt.role), RoleSessionName: aws.String("regions")})
			if tt.code == "" {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
				return
			}
			if got := apiCode(err); got != tt.code {
				t.Fatalf("got %v, want %s", err, tt.code)
			}
			if got := httpStatus(err); got != tt.status {
				t.Errorf("status: got %d, want %d", got, tt.status)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("message %q: want %q", err, tt.message)
			}
			var typed *ststypes.RegionDisabledException
			if tt.code == "RegionDisabledException" && !errors.As(err, &typed) {
				t.Errorf("%T is not the SDK's *types.RegionDisabledException", err)
			}
		})
	}
}

// TestOtherPartitions: the sandbox's accounts are commercial (aws) ones, unknown to the aws-us-gov and aws-cn
// partitions: their keys and sessions used in a us-gov-* or cn-* region are refused as unknown keys, by STS and
// Bedrock alike.
func TestOtherPartitions(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	session, err := e.sb.SessionFor(sandbox.TargetRoleARN(sandbox.SmallAccount), "partitions", time.Hour)
	must(t, err)
	const invalid = "The security token included in the request is invalid."
	for _, region := range []string{"us-gov-west-1", "us-gov-east-1", "cn-north-1", "cn-northwest-1"} {
		t.Run(region, func(t *testing.T) {
			caller := e.cfg.Copy()
			caller.Region = region
			_, err := sts.NewFromConfig(caller).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			if apiCode(err) != "InvalidClientTokenId" || httpStatus(err) != 403 || !strings.Contains(err.Error(), invalid) {
				t.Errorf("STS GetCallerIdentity: got %v (status %d), want InvalidClientTokenId 403 %q", err, httpStatus(err), invalid)
			}
			_, err = sts.NewFromConfig(caller).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(sandbox.TargetRoleARN(sandbox.SmallAccount)), RoleSessionName: aws.String("partitions")})
			if apiCode(err) != "InvalidClientTokenId" || httpStatus(err) != 403 {
				t.Errorf("STS AssumeRole: got %v (status %d), want InvalidClientTokenId 403", err, httpStatus(err))
			}
			assumed := sdkConfig(e.url, credentials.StaticCredentialsProvider{Value: session})
			assumed.Region = region
			_, err = invoke(ctx, assumed, sandbox.SeedProfile)
			if apiCode(err) != "UnrecognizedClientException" || httpStatus(err) != 403 || !strings.Contains(err.Error(), invalid) {
				t.Errorf("Bedrock InvokeModel: got %v (status %d), want UnrecognizedClientException 403 %q", err, httpStatus(err), invalid)
			}
		})
	}
	t.Run("us-east-1, the same partition", func(t *testing.T) {
		caller := e.cfg.Copy()
		caller.Region = "us-east-1"
		if _, err := sts.NewFromConfig(caller).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
			t.Errorf("got %v, want success", err)
		}
	})
}

// randomText is n characters of [A-Za-z0-9] from a fixed seed: content that compresses as little as text can.
func randomText(r *rand.Rand, n int) string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[r.IntN(len(alnum))]
	}
	return string(b)
}

// policyOfLength is a valid session policy allowing Bedrock on as many inference profiles as fit in n characters,
// padded to exactly n with spaces; resource(i) names the i-th.
func policyOfLength(n int, resource func(i int) string) string {
	doc := func(res []string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["bedrock:InvokeModel","bedrock:InvokeModelWithResponseStream"],"Resource":[` + strings.Join(res, ",") + `]}]}`
	}
	var res []string
	for i := 0; len(doc(append(res, `"`+resource(i)+`"`))) <= n; i++ {
		res = append(res, `"`+resource(i)+`"`)
	}
	p := doc(res)
	return p[:len(p)-1] + strings.Repeat(" ", n-len(p)) + "}"
}

// TestSessionPolicyLimits: the session policy's plaintext limits are the model's (ValidationError), a policy
// STS cannot read is MalformedPolicyDocument in AWS's words, and the policy and tags together must fit the
// packed size (PackedPolicyTooLarge), each as the SDK's typed error.
func TestSessionPolicyLimits(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, stsScenario())
	admin := sts.NewFromConfig(e.static(adminKey, adminSecret, ""))
	r := rand.New(rand.NewPCG(13, 13))
	compressible := policyOfLength(2048, func(i int) string {
		return fmt.Sprintf("arn:aws:bedrock:ap-northeast-1:222222222222:inference-profile/jp.anthropic.claude-model-%02d-v1:0", i)
	})
	random := policyOfLength(2048, func(int) string { return "arn:aws:s3:::" + randomText(r, 40) })
	nonLatin1 := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket/日本"}]}`
	tags := func(n int) []ststypes.Tag {
		out := make([]ststypes.Tag, n)
		for i := range out {
			out[i] = ststypes.Tag{Key: aws.String(fmt.Sprintf("tag-%02d", i)), Value: aws.String(randomText(r, 256))}
		}
		return out
	}
	type want struct {
		code, message string // message: a prefix of the SDK error's message
		status        int
		typed         any // pointer to the SDK's typed error
	}
	tests := []struct {
		name   string
		policy *string
		tags   []ststypes.Tag
		want   want
	}{
		{"not JSON", aws.String("invalid policy"), nil,
			want{"MalformedPolicyDocument", "The policy is not in the valid JSON format.", 400, new(*ststypes.MalformedPolicyDocumentException)}},
		{"JSON but not a policy", aws.String(`{"Version":"2012-10-17"}`), nil,
			want{"MalformedPolicyDocument", "Syntax errors in policy.", 400, new(*ststypes.MalformedPolicyDocumentException)}},
		{"empty", aws.String(""), nil,
			want{"ValidationError", "1 validation error detected: Value '' at 'policy' failed to satisfy constraint: Member must have length greater than or equal to 1", 400, nil}},
		{"over 2048 characters", aws.String(compressible + " "), nil,
			want{"ValidationError", "1 validation error detected: Value '" + compressible + " ' at 'policy' failed to satisfy constraint: Member must have length less than or equal to 2048", 400, nil}},
		{"a character outside the pattern", aws.String(nonLatin1), nil,
			want{"ValidationError", "1 validation error detected: Value '" + nonLatin1 + `' at 'policy' failed to satisfy constraint: Member must satisfy regular expression pattern: [\u0009\u000A\u000D\u0020-\u00FF]+`, 400, nil}},
		{"compressible policy of 2048 characters", aws.String(compressible), nil, want{}},
		{"random policy of 2048 characters", aws.String(random), nil, want{}},
		{"50 tags with random 256-character values", nil, tags(50),
			want{"PackedPolicyTooLarge", "Packed size of session tags consumes 1", 400, new(*ststypes.PackedPolicyTooLargeException)}},
		{"40 such tags and a random policy", aws.String(random), tags(40),
			want{"PackedPolicyTooLarge", "Packed policy consumes 1", 400, new(*ststypes.PackedPolicyTooLargeException)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := admin.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(chainRole), RoleSessionName: aws.String("limits"), Policy: tt.policy, Tags: tt.tags})
			if tt.want.code == "" {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
				size := aws.ToInt32(out.PackedPolicySize)
				if out.PackedPolicySize == nil || size < 1 || size > 100 {
					t.Errorf("PackedPolicySize %v, want a percentage of at most 100", out.PackedPolicySize)
				}
				return
			}
			if got := apiCode(err); got != tt.want.code {
				t.Fatalf("got %v, want %s", err, tt.want.code)
			}
			if got := httpStatus(err); got != tt.want.status {
				t.Errorf("status: got %d, want %d", got, tt.want.status)
			}
			if !strings.Contains(err.Error(), tt.want.code+": "+tt.want.message) {
				t.Errorf("message %q: want it to start %q", err, tt.want.message)
			}
			if tt.want.typed != nil && !errors.As(err, tt.want.typed) {
				t.Errorf("%T is not the SDK's %T", err, tt.want.typed)
			}
		})
	}

	// PackedPolicySize grows with what is passed, and a tag counts.
	sizeOf := func(policy string) int32 {
		t.Helper()
		out, err := admin.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(chainRole), RoleSessionName: aws.String("sizes"), Policy: aws.String(policy)})
		if err != nil {
			t.Fatalf("AssumeRole: %v", err)
		}
		return aws.ToInt32(out.PackedPolicySize)
	}
	small := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:CountTokens","Resource":"*"}]}`
	if s, c, rnd := sizeOf(small), sizeOf(compressible), sizeOf(random); !(s <= c && c < rnd) {
		t.Errorf("PackedPolicySize small %d, compressible %d, random %d: want them in this order", s, c, rnd)
	}
}

// TestRolePaths: a role with a path is named by its ARN with the path, and only by it, as on AWS; its sessions'
// ARNs carry no path.
func TestRolePaths(t *testing.T) {
	ctx := context.Background()
	const (
		pathRole  = "arn:aws:iam::222222222222:role/team/relay/PathRole"
		noPath    = "arn:aws:iam::222222222222:role/PathRole"
		wrongPath = "arn:aws:iam::222222222222:role/other/PathRole"
		session   = "arn:aws:sts::222222222222:assumed-role/PathRole/paths"
	)
	sc := stsScenario()
	sc.Accounts[sandbox.SmallAccount].Roles["PathRole"] = &sandbox.RoleSpec{Path: "/team/relay/",
		Trust:    sandbox.PolicyText(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + adminARN + `"},"Action":"sts:AssumeRole"}]}`),
		Policies: map[string]sandbox.PolicyText{"AssumeLong": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"` + chainRole + `"}]}`},
	}
	// The role LongSessionRole trusts PathRole by its ARN with the path: its sessions match it.
	sc.Accounts[sandbox.SmallAccount].Roles["LongSessionRole"].Trust = sandbox.PolicyText(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + pathRole + `"},"Action":"sts:AssumeRole"}]}`)
	e := newEnv(t, sc)
	admin := sts.NewFromConfig(e.static(adminKey, adminSecret, ""))

	for _, tt := range []struct{ name, arn, code string }{
		{"ARN with the path", pathRole, ""},
		{"ARN without the path", noPath, "AccessDenied"},
		{"ARN with another path", wrongPath, "AccessDenied"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := admin.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(tt.arn), RoleSessionName: aws.String("paths")})
			if tt.code != "" {
				want := "User: " + adminARN + " is not authorized to perform: sts:AssumeRole on resource: " + tt.arn
				if apiCode(err) != tt.code || httpStatus(err) != 403 || !strings.Contains(err.Error(), want) {
					t.Errorf("got %v (status %d), want %s 403 %q", err, httpStatus(err), tt.code, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want success", err)
			}
			if got := aws.ToString(out.AssumedRoleUser.Arn); got != session {
				t.Errorf("AssumedRoleUser.Arn %s, want %s (no path)", got, session)
			}
			c := out.Credentials
			cfg := e.static(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
			id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			if err != nil || aws.ToString(id.Arn) != session {
				t.Errorf("GetCallerIdentity: %v, %v; want %s", id, err, session)
			}
			// Role chaining into a role whose trust policy names this one with its path.
			if _, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(chainRole), RoleSessionName: aws.String("chained")}); err != nil {
				t.Errorf("AssumeRole %s as a PathRole session: %v", chainRole, err)
			}
		})
	}

	t.Run("knobs take the ARN with the path", func(t *testing.T) {
		if _, err := e.sb.SessionFor(pathRole, "knob", time.Hour); err != nil {
			t.Errorf("SessionFor(%s): %v", pathRole, err)
		}
		must(t, e.sb.SetRolePolicy(pathRole, "Extra", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:CountTokens","Resource":"*"}]}`))
		_, err := e.sb.SessionFor(noPath, "knob", time.Hour)
		if err == nil || !strings.Contains(err.Error(), pathRole) {
			t.Errorf("SessionFor(%s): got %v, want an error giving the role's ARN %s", noPath, err, pathRole)
		}
		if err := e.sb.SetTrustPolicy(wrongPath, `{"Version":"2012-10-17","Statement":[]}`); err == nil {
			t.Errorf("SetTrustPolicy(%s): got success, want an error", wrongPath)
		}
	})

	t.Run("scenario paths", func(t *testing.T) {
		for path, ok := range map[string]bool{"": true, "/": true, "/team/": true, "/a/b/c/": true, "team": false, "/team": false, "team/": false, "//": false, "/te am/": false} {
			sc := sandbox.DefaultScenario()
			sc.Accounts[sandbox.SmallAccount].Roles[sandbox.TargetRoleName].Path = path
			err := sc.Validate()
			if ok != (err == nil) {
				t.Errorf("path %q: Validate() = %v, want ok %v", path, err, ok)
			}
			if err != nil && !strings.Contains(err.Error(), "roles.BedrockAccessRole.path") {
				t.Errorf("path %q: error %q does not name the field", path, err)
			}
		}
		sc, err := sandbox.ParseScenario([]byte(`
accounts:
  "222222222222":
    roles:
      Pathed:
        path: /team/
        trust: {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}
  "111111111111":
    roles:
      lambda-execution-role:
        trust: {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}
`))
		must(t, err)
		sb, err := sandbox.New(sc)
		must(t, err)
		if _, err := sb.SessionFor("arn:aws:iam::222222222222:role/team/Pathed", "yaml", time.Hour); err != nil {
			t.Errorf("a role with path: /team/ from YAML: %v", err)
		}
	})
}
