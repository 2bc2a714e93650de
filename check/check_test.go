package check

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

const (
	small     = sandbox.SmallAccount // 222222222222, 2 requests per minute
	seedModel = "anthropic.claude-sonnet-4-5-20250929-v1:0"
)

var smallRole = sandbox.TargetRoleARN(small)

func seedTarget() Subject {
	return Subject{Name: "seed", RoleARN: smallRole, Region: sandbox.SeedRegion, Models: []string{sandbox.SeedProfile}}
}

// runAgainst runs check against a fresh default-scenario sandbox broken by breakIt.
func runAgainst(t *testing.T, breakIt func(*testing.T, *sandbox.Sandbox), targets []Subject, opts Options) (*Report, string) {
	t.Helper()
	sb, err := sandbox.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if breakIt != nil {
		breakIt(t, sb)
	}
	ts := httptest.NewServer(sb)
	t.Cleanup(ts.Close)
	opts.AWS = aws.Config{Region: sandbox.SeedRegion, BaseEndpoint: aws.String(ts.URL), HTTPClient: sandbox.SDKHTTPClient(nil),
		Credentials: credentials.StaticCredentialsProvider{Value: sb.CallerCredentials()}}
	rep := Run(context.Background(), targets, opts)
	var buf bytes.Buffer
	if err := rep.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	return rep, buf.String()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// seedPermissionsWithout is the seed's permission policy minus one destination region's foundation model.
func seedPermissionsWithout(region string) string {
	res := []string{`"arn:aws:bedrock:ap-northeast-1:222222222222:inference-profile/` + sandbox.SeedProfile + `"`}
	for _, r := range []string{"ap-northeast-1", "ap-northeast-3"} {
		if r != region {
			res = append(res, `"arn:aws:bedrock:`+r+`::foundation-model/`+seedModel+`"`)
		}
	}
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["bedrock:InvokeModel","bedrock:InvokeModelWithResponseStream"],"Resource":[` + strings.Join(res, ",") + `]}]}`
}

func TestCheck(t *testing.T) {
	trustNaming := func(principal, condition string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + principal + `"},"Action":"sts:AssumeRole"` + condition + `}]}`
	}
	externalID := `,"Condition":{"StringEquals":{"sts:ExternalId":"relay-7f3a"}}`
	tests := []struct {
		name    string
		breakIt func(*testing.T, *sandbox.Sandbox)
		target  func(*Subject)
		opts    Options
		// failed is the step that fails ("" for none), want are texts the report must contain.
		failed string
		want   []string
	}{
		{
			name: "seed setup passes",
			want: []string{"seed    jp.anthropic.claude-sonnet-4-5-20250929-v1:0  ✓         ✓            ✓             ✓       ✓ 2 rpm, 200000 tpm", "All checks passed."},
		},
		{
			name: "trust policy does not name the caller",
			breakIt: func(t *testing.T, sb *sandbox.Sandbox) {
				must(t, sb.SetTrustPolicy(smallRole, trustNaming("arn:aws:iam::111111111111:role/other-role", "")))
			},
			failed: StepAssumeRole,
			want: []string{
				"STS does not say which side refused",
				"1. The trust policy of arn:aws:iam::222222222222:role/BedrockAccessRole does not name the caller role arn:aws:iam::111111111111:role/lambda-execution-role",
				`"AWS": "arn:aws:iam::111111111111:role/lambda-execution-role"`,
			},
		},
		{
			name: "caller role lacks sts:AssumeRole",
			breakIt: func(t *testing.T, sb *sandbox.Sandbox) {
				must(t, sb.SetRolePolicy(sandbox.CallerRoleARN, "AssumeBedrockRoles", ""))
			},
			failed: StepAssumeRole,
			want: []string{
				"2. The caller role arn:aws:iam::111111111111:role/lambda-execution-role lacks sts:AssumeRole on arn:aws:iam::222222222222:role/BedrockAccessRole.",
				"Add to an inline policy of the caller role arn:aws:iam::111111111111:role/lambda-execution-role",
				`"Resource": "arn:aws:iam::222222222222:role/BedrockAccessRole"`,
			},
		},
		{
			name: "external id missing",
			breakIt: func(t *testing.T, sb *sandbox.Sandbox) {
				must(t, sb.SetTrustPolicy(smallRole, trustNaming(sandbox.CallerRoleARN, externalID)))
			},
			failed: StepAssumeRole,
			want:   []string{"3. If the trust policy has an sts:ExternalId condition, the caller must pass that value: set external_id for this target (EXTERNAL_ID"},
		},
		{
			name: "external id wrong",
			breakIt: func(t *testing.T, sb *sandbox.Sandbox) {
				must(t, sb.SetTrustPolicy(smallRole, trustNaming(sandbox.CallerRoleARN, externalID)))
			},
			target: func(tg *Subject) { tg.ExternalID = "relay-0000" },
			failed: StepAssumeRole,
			want:   []string{`3. The external id this target passes ("relay-0000") must equal the trust policy's sts:ExternalId condition exactly`, `"sts:ExternalId": "relay-0000"`},
		},
		{
			name: "external id right",
			breakIt: func(t *testing.T, sb *sandbox.Sandbox) {
				must(t, sb.SetTrustPolicy(smallRole, trustNaming(sandbox.CallerRoleARN, externalID)))
			},
			target: func(tg *Subject) { tg.ExternalID = "relay-7f3a" },
			want:   []string{"All checks passed."},
		},
		{
			name: "destination region missing, found by round-robin calls",
			breakIt: func(t *testing.T, sb *sandbox.Sandbox) {
				must(t, sb.SetRolePolicy(smallRole, "BedrockInvoke", seedPermissionsWithout("ap-northeast-3")))
			},
			failed: StepInvoke,
			want: []string{
				"does not allow the foundation model in ap-northeast-3, a destination region of jp.anthropic.claude-sonnet-4-5-20250929-v1:0 (it routes to ap-northeast-1, ap-northeast-3",
				`"Resource": "arn:aws:bedrock:ap-northeast-3::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"`,
			},
		},
		{
			name: "destination region missing, strict sandbox",
			breakIt: func(t *testing.T, sb *sandbox.Sandbox) {
				must(t, sb.SetRolePolicy(smallRole, "BedrockInvoke", seedPermissionsWithout("ap-northeast-3")))
				sb.SetStrict(true)
			},
			opts:   Options{Invocations: 1},
			failed: StepInvoke,
			want:   []string{"does not allow the foundation model in ap-northeast-3", "Add to the permission policy of arn:aws:iam::222222222222:role/BedrockAccessRole"},
		},
		{
			name:   "profile called from outside its geography",
			target: func(tg *Subject) { tg.Region = "us-east-1" },
			failed: StepInvoke,
			want:   []string{"is a jp. inference profile, which can only be called from ap-northeast-1, ap-northeast-3; this target calls it from us-east-1", "or call us.anthropic.claude-sonnet-4-5-20250929-v1:0"},
		},
		{
			name: "profile-only model called by its foundation-model id",
			breakIt: func(t *testing.T, sb *sandbox.Sandbox) {
				must(t, sb.SetRolePolicy(smallRole, "All", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:*","Resource":"*"}]}`))
			},
			target: func(tg *Subject) { tg.Models = []string{seedModel} },
			failed: StepInvoke,
			want:   []string{"is only served through inference profiles", "Call the inference profile jp.anthropic.claude-sonnet-4-5-20250929-v1:0 from ap-northeast-1 instead"},
		},
		{
			name:    "model access not enabled",
			breakIt: func(t *testing.T, sb *sandbox.Sandbox) { must(t, sb.SetModelAccess(small, seedModel, false)) },
			failed:  StepModelAccess,
			want:    []string{"model access for Claude Sonnet 4.5 (anthropic.claude-sonnet-4-5-20250929-v1:0) is not enabled in account 222222222222", "Bedrock console > Model access"},
		},
		{
			name: "explicit deny in a service control policy",
			breakIt: func(t *testing.T, sb *sandbox.Sandbox) {
				must(t, sb.SetSCP(small, `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"bedrock:*","Resource":"*","Condition":{"StringEquals":{"aws:RequestedRegion":"ap-northeast-1"}}}]}`))
			},
			failed: StepInvoke,
			want:   []string{"a service control policy of account 222222222222's organization explicitly denies bedrock:InvokeModel", "with an explicit deny in a service control policy"},
		},
		{
			name: "region not enabled",
			breakIt: func(t *testing.T, sb *sandbox.Sandbox) {
				must(t, sb.SetRegionEnabled(small, sandbox.SeedRegion, false))
			},
			failed: StepAssumeRole,
			want:   []string{"RegionDisabledException", "the region is not enabled for account 222222222222", "Enable ap-northeast-1 for account 222222222222"},
		},
		{
			name: "throttled at the account's quota",
			breakIt: func(t *testing.T, sb *sandbox.Sandbox) {
				sb.SetQuota(small, sandbox.SeedProfile, sandbox.Quota{RequestsPerMinute: 1, TokensPerMinute: 200_000})
			},
			failed: StepInvoke,
			want:   []string{"throttled at quota 1 requests per minute: account 222222222222 allows 1 requests per minute for Claude Sonnet 4.5 in ap-northeast-1", "quota code L-"},
		},
		{
			name:    "quotas unreadable is a warning, not a failure",
			breakIt: func(t *testing.T, sb *sandbox.Sandbox) { must(t, sb.SetRolePolicy(smallRole, "ReadQuotas", "")) },
			want:    []string{"the role cannot read its quotas", `"servicequotas:ListServiceQuotas"`, "All checks passed."},
		},
		{
			name: "skip invoke",
			opts: Options{SkipInvoke: true},
			want: []string{"seed    jp.anthropic.claude-sonnet-4-5-20250929-v1:0  ✓         ✓            -             -       ✓ 2 rpm", "All checks passed."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := seedTarget()
			if tt.target != nil {
				tt.target(&tg)
			}
			rep, text := runAgainst(t, tt.breakIt, []Subject{tg}, tt.opts)
			t.Log("\n" + text)
			var failed []string
			for _, tr := range rep.Targets {
				for _, s := range tr.Steps {
					if s.Status == Fail {
						failed = append(failed, s.Name)
					}
				}
				for _, m := range tr.Models {
					for _, s := range m.Steps {
						if s.Status == Fail {
							failed = append(failed, s.Name)
						}
					}
				}
			}
			switch {
			case tt.failed == "" && len(failed) > 0:
				t.Errorf("failed steps %v, want none\n%s", failed, text)
			case tt.failed != "" && (len(failed) == 0 || !contains(failed, tt.failed)):
				t.Errorf("failed steps %v, want %s among them\n%s", failed, tt.failed, text)
			}
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("report lacks %q:\n%s", w, text)
				}
			}
		})
	}
}

func TestCheckJSON(t *testing.T) {
	rep, _ := runAgainst(t, func(t *testing.T, sb *sandbox.Sandbox) { must(t, sb.SetModelAccess(small, seedModel, false)) }, []Subject{seedTarget()}, Options{})
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("JSON report does not read back: %v\n%s", err, buf.String())
	}
	if back.Failed() == 0 || len(back.Diagnoses) != 1 || back.Diagnoses[0].Step != StepModelAccess {
		t.Errorf("JSON report: failed=%d diagnoses=%+v, want one model-access diagnosis", back.Failed(), back.Diagnoses)
	}
}

func TestCheckNoCredentials(t *testing.T) {
	ts := httptest.NewServer(http404{})
	defer ts.Close()
	rep := Run(context.Background(), []Subject{seedTarget()}, Options{AWS: aws.Config{Region: sandbox.SeedRegion, BaseEndpoint: aws.String(ts.URL)}})
	if rep.Failed() == 0 || len(rep.Diagnoses) == 0 || !strings.Contains(rep.Diagnoses[0].Problem, "no usable AWS credentials") {
		t.Errorf("got %+v, want a failed identity step saying there are no credentials", rep.Diagnoses)
	}
}

type http404 struct{}

func (http404) ServeHTTP(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }
