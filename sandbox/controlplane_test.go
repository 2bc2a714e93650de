package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrock/types"
	"github.com/aws/smithy-go/auth/bearer"
	"github.com/google/go-cmp/cmp"

	"github.com/bedrock-relay/bedrock-relay/catalog"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

const (
	cpReadModels = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["bedrock:ListInferenceProfiles","bedrock:GetInferenceProfile","bedrock:ListFoundationModels","bedrock:GetFoundationModel"],"Resource":"*"}]}`
	// cpAppARN is an application profile of SmallAccount made from the seed profile.
	cpAppID  = "a1b2c3d4e5f6"
	cpAppARN = "arn:aws:bedrock:ap-northeast-1:" + sandbox.SmallAccount + ":application-inference-profile/" + cpAppID
	cpAPIKey = "ABSKQmVkcm9ja0FQSUtleS1zYW5kYm94LWNvbnRyb2wtcGxhbmU="
)

// controlPlaneScenario is the default scenario with the target role's policies replaced by policies (so that
// the test, not the default scenario, decides what it may do), an application profile in each Bedrock account
// and an API key in SmallAccount.
func controlPlaneScenario(policies map[string]sandbox.PolicyText) *sandbox.Scenario {
	sc := sandbox.DefaultScenario()
	for _, acct := range []string{sandbox.SmallAccount, sandbox.LargeAccount} {
		sc.Accounts[acct].Roles[sandbox.TargetRoleName].Policies = policies
		sc.ApplicationProfiles = append(sc.ApplicationProfiles, sandbox.ApplicationProfile{
			ARN: "arn:aws:bedrock:ap-northeast-1:" + acct + ":application-inference-profile/" + cpAppID, CopyFrom: sandbox.SeedProfile})
	}
	sc.ApplicationProfiles = append(sc.ApplicationProfiles, sandbox.ApplicationProfile{
		ARN: "arn:aws:bedrock:us-east-1:" + sandbox.SmallAccount + ":application-inference-profile/usprofile01", CopyFrom: "us.anthropic.claude-haiku-4-5-20251001-v1:0"})
	sc.Accounts[sandbox.SmallAccount].APIKeys = []string{cpAPIKey}
	return sc
}

// controlPlane is a Bedrock control-plane client for a session of SmallAccount's target role, allowed the four
// read actions.
func controlPlane(t *testing.T) (*env, *bedrock.Client) {
	t.Helper()
	e := newEnv(t, controlPlaneScenario(map[string]sandbox.PolicyText{"ReadModels": cpReadModels}))
	return e, bedrock.NewFromConfig(e.session(t, sandbox.TargetRoleARN(sandbox.SmallAccount)))
}

// wantProfiles is what ListInferenceProfiles should list as system profiles from region: every catalogue
// model's profile whose geography has region as a source region.
func wantProfiles(region string) []string {
	cat := catalog.Default()
	var ids []string
	for _, m := range cat.Models {
		for prefix := range m.Profiles {
			if g, _ := cat.Geography(prefix); slices.Contains(g.SourceRegions, region) {
				ids = append(ids, prefix+"."+m.ID)
			}
		}
	}
	slices.Sort(ids)
	return ids
}

func listAllProfiles(t *testing.T, c *bedrock.Client, in *bedrock.ListInferenceProfilesInput) ([]types.InferenceProfileSummary, int) {
	t.Helper()
	var all []types.InferenceProfileSummary
	pages := 0
	for p := bedrock.NewListInferenceProfilesPaginator(c, in); p.HasMorePages(); {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("ListInferenceProfiles page %d: %v", pages+1, err)
		}
		pages++
		all = append(all, out.InferenceProfileSummaries...)
	}
	return all, pages
}

func profileIDs(ps []types.InferenceProfileSummary) []string {
	var ids []string
	for _, p := range ps {
		ids = append(ids, aws.ToString(p.InferenceProfileId))
	}
	return ids
}

func modelARNs(ms []types.InferenceProfileModel) []string {
	var out []string
	for _, m := range ms {
		out = append(out, aws.ToString(m.ModelArn))
	}
	return out
}

func TestListInferenceProfiles(t *testing.T) {
	_, c := controlPlane(t)
	ctx := context.Background()

	sys, pages := listAllProfiles(t, c, &bedrock.ListInferenceProfilesInput{TypeEquals: types.InferenceProfileTypeSystemDefined, MaxResults: aws.Int32(2)})
	want := wantProfiles(sandbox.SeedRegion)
	if diff := cmp.Diff(want, profileIDs(sys)); diff != "" {
		t.Errorf("system profiles from %s (-want +got):\n%s", sandbox.SeedRegion, diff)
	}
	if wantPages := (len(want) + 1) / 2; pages != wantPages {
		t.Errorf("pages of 2: got %d, want %d", pages, wantPages)
	}
	one, err := c.ListInferenceProfiles(ctx, &bedrock.ListInferenceProfilesInput{TypeEquals: types.InferenceProfileTypeSystemDefined})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(profileIDs(sys), profileIDs(one.InferenceProfileSummaries)); diff != "" || one.NextToken != nil {
		t.Errorf("one page without maxResults differs from the paginated list (next token %v):\n%s", one.NextToken, diff)
	}

	i := slices.IndexFunc(sys, func(p types.InferenceProfileSummary) bool {
		return aws.ToString(p.InferenceProfileId) == sandbox.SeedProfile
	})
	if i < 0 {
		t.Fatalf("%s is not listed", sandbox.SeedProfile)
	}
	seed := sys[i]
	if got, want := aws.ToString(seed.InferenceProfileArn), "arn:aws:bedrock:ap-northeast-1:"+sandbox.SmallAccount+":inference-profile/"+sandbox.SeedProfile; got != want {
		t.Errorf("ARN: got %s, want %s", got, want)
	}
	wantModels := []string{"arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
		"arn:aws:bedrock:ap-northeast-3::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"}
	if diff := cmp.Diff(wantModels, modelARNs(seed.Models)); diff != "" {
		t.Errorf("models (-want +got):\n%s", diff)
	}
	if seed.Status != types.InferenceProfileStatusActive || seed.Type != types.InferenceProfileTypeSystemDefined ||
		seed.CreatedAt == nil || seed.UpdatedAt == nil || aws.ToString(seed.InferenceProfileName) == "" {
		t.Errorf("status %q, type %q, createdAt %v, updatedAt %v, name %q: want ACTIVE, SYSTEM_DEFINED, times and a name",
			seed.Status, seed.Type, seed.CreatedAt, seed.UpdatedAt, aws.ToString(seed.InferenceProfileName))
	}

	apps, _ := listAllProfiles(t, c, &bedrock.ListInferenceProfilesInput{TypeEquals: types.InferenceProfileTypeApplication})
	if len(apps) != 1 || aws.ToString(apps[0].InferenceProfileArn) != cpAppARN || apps[0].Type != types.InferenceProfileTypeApplication {
		t.Fatalf("application profiles: got %+v, want only %s (not the other account's, not us-east-1's)", apps, cpAppARN)
	}
	if diff := cmp.Diff(wantModels, modelARNs(apps[0].Models)); diff != "" {
		t.Errorf("application profile models (-want +got):\n%s", diff)
	}

	every, _ := listAllProfiles(t, c, &bedrock.ListInferenceProfilesInput{MaxResults: aws.Int32(4)})
	if len(every) != len(want)+1 {
		t.Errorf("without a type: got %d profiles, want %d system and 1 application", len(every), len(want))
	}

	// From another region, the profiles of that region's geographies, with ARNs there.
	usc := bedrock.New(c.Options(), func(o *bedrock.Options) { o.Region = "us-east-1" })
	usSys, _ := listAllProfiles(t, usc, &bedrock.ListInferenceProfilesInput{TypeEquals: types.InferenceProfileTypeSystemDefined})
	if diff := cmp.Diff(wantProfiles("us-east-1"), profileIDs(usSys)); diff != "" {
		t.Errorf("system profiles from us-east-1 (-want +got):\n%s", diff)
	}
	for _, p := range usSys {
		if !strings.HasPrefix(aws.ToString(p.InferenceProfileArn), "arn:aws:bedrock:us-east-1:"+sandbox.SmallAccount+":inference-profile/") {
			t.Errorf("from us-east-1: ARN %s, want one in us-east-1 and the caller's account", aws.ToString(p.InferenceProfileArn))
		}
	}
}

func TestGetInferenceProfile(t *testing.T) {
	_, c := controlPlane(t)
	seedARN := "arn:aws:bedrock:ap-northeast-1:" + sandbox.SmallAccount + ":inference-profile/" + sandbox.SeedProfile
	for _, tc := range []struct {
		name, ident      string
		wantARN, wantErr string
		wantType         types.InferenceProfileType
	}{
		{"system profile by id", sandbox.SeedProfile, seedARN, "", types.InferenceProfileTypeSystemDefined},
		{"system profile by ARN", seedARN, seedARN, "", types.InferenceProfileTypeSystemDefined},
		{"global profile", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "arn:aws:bedrock:ap-northeast-1:" + sandbox.SmallAccount + ":inference-profile/global.anthropic.claude-sonnet-4-5-20250929-v1:0", "", types.InferenceProfileTypeSystemDefined},
		{"application profile by ARN", cpAppARN, cpAppARN, "", types.InferenceProfileTypeApplication},
		{"application profile by id", cpAppID, cpAppARN, "", types.InferenceProfileTypeApplication},
		{"unknown model", "jp.anthropic.claude-nonesuch-v1:0", "", "ResourceNotFoundException", ""},
		{"geography not served from the region", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "", "ResourceNotFoundException", ""},
		{"unknown application profile", "zzzzzzzzzzzz", "", "ResourceNotFoundException", ""},
		{"ARN of another region", "arn:aws:bedrock:us-east-1:" + sandbox.SmallAccount + ":inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0", "", "ResourceNotFoundException", ""},
		{"another account's profile", "arn:aws:bedrock:ap-northeast-1:" + sandbox.LargeAccount + ":application-inference-profile/" + cpAppID, "", "AccessDeniedException", ""},
		{"a foundation-model ARN", "arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0", "", "ValidationException", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.GetInferenceProfile(context.Background(), &bedrock.GetInferenceProfileInput{InferenceProfileIdentifier: aws.String(tc.ident)})
			if tc.wantErr != "" {
				if apiCode(err) != tc.wantErr {
					t.Fatalf("got %v, want %s", err, tc.wantErr)
				}
				want := map[string]int{"ResourceNotFoundException": 404, "AccessDeniedException": 403, "ValidationException": 400}[tc.wantErr]
				if got := httpStatus(err); got != want {
					t.Errorf("status: got %d, want %d", got, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(out.InferenceProfileArn) != tc.wantARN || out.Type != tc.wantType || out.Status != types.InferenceProfileStatusActive || len(out.Models) == 0 {
				t.Errorf("got ARN %s, type %s, status %s, %d models; want %s, %s, ACTIVE, some",
					aws.ToString(out.InferenceProfileArn), out.Type, out.Status, len(out.Models), tc.wantARN, tc.wantType)
			}
		})
	}
}

func TestListFoundationModels(t *testing.T) {
	e, c := controlPlane(t)
	ctx := context.Background()
	list := func(in *bedrock.ListFoundationModelsInput) []string {
		t.Helper()
		out, err := c.ListFoundationModels(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range out.ModelSummaries {
			ids = append(ids, aws.ToString(m.ModelId))
		}
		return ids
	}
	// Every catalogue model offered in the region, on demand or through a profile (Claude Opus 4.1 has only a
	// us. profile).
	cat := catalog.Default()
	var want, onDemand, amazon []string
	for _, m := range cat.Models {
		_, callable := cat.ProfileFor(m, sandbox.SeedRegion)
		od := slices.Contains(m.OnDemandRegions, sandbox.SeedRegion)
		if !callable && !od {
			continue
		}
		want = append(want, m.ID)
		if od {
			onDemand = append(onDemand, m.ID)
		}
		if m.Provider == "amazon" {
			amazon = append(amazon, m.ID)
		}
	}
	for _, s := range [][]string{want, onDemand, amazon} {
		slices.Sort(s)
	}
	for _, tc := range []struct {
		name string
		in   bedrock.ListFoundationModelsInput
		want []string
	}{
		{"all", bedrock.ListFoundationModelsInput{}, want},
		{"by provider", bedrock.ListFoundationModelsInput{ByProvider: aws.String("Amazon")}, amazon},
		{"by provider in lower case", bedrock.ListFoundationModelsInput{ByProvider: aws.String("amazon")}, amazon},
		{"text output", bedrock.ListFoundationModelsInput{ByOutputModality: types.ModelModalityText}, want},
		{"embedding output", bedrock.ListFoundationModelsInput{ByOutputModality: types.ModelModalityEmbedding}, nil},
		{"on demand", bedrock.ListFoundationModelsInput{ByInferenceType: types.InferenceTypeOnDemand}, onDemand},
		{"fine-tuning", bedrock.ListFoundationModelsInput{ByCustomizationType: types.ModelCustomizationFineTuning}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, list(&tc.in)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if slices.Contains(want, "anthropic.claude-opus-4-1-20250805-v1:0") {
		t.Errorf("Claude Opus 4.1 is listed in %s, which none of its profiles serves", sandbox.SeedRegion)
	}

	out, err := c.ListFoundationModels(ctx, &bedrock.ListFoundationModelsInput{ByProvider: aws.String("anthropic")})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(out.ModelSummaries, func(m types.FoundationModelSummary) bool {
		return aws.ToString(m.ModelId) == "anthropic.claude-sonnet-4-5-20250929-v1:0"
	})
	if i < 0 {
		t.Fatal("Claude Sonnet 4.5 is not listed")
	}
	m := out.ModelSummaries[i]
	if aws.ToString(m.ModelArn) != "arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0" ||
		aws.ToString(m.ModelName) != "Claude Sonnet 4.5" || aws.ToString(m.ProviderName) != "Anthropic" ||
		!slices.Contains(m.OutputModalities, types.ModelModalityText) || !aws.ToBool(m.ResponseStreamingSupported) ||
		m.ModelLifecycle == nil || m.ModelLifecycle.Status != types.FoundationModelLifecycleStatusActive ||
		!slices.Contains(m.InferenceTypesSupported, "INFERENCE_PROFILE") || slices.Contains(m.InferenceTypesSupported, types.InferenceTypeOnDemand) {
		t.Errorf("Claude Sonnet 4.5: got %+v", m)
	}

	// A model the account has no access to is neither listed nor found.
	if err := e.sb.SetModelAccess(sandbox.SmallAccount, "amazon.nova-pro-v1:0", false); err != nil {
		t.Fatal(err)
	}
	if got := list(&bedrock.ListFoundationModelsInput{ByProvider: aws.String("amazon")}); slices.Contains(got, "amazon.nova-pro-v1:0") {
		t.Errorf("without model access, Nova Pro is still listed: %v", got)
	}

	_, err = c.ListFoundationModels(ctx, &bedrock.ListFoundationModelsInput{ByOutputModality: "VIDEO"})
	if apiCode(err) != "ValidationException" || httpStatus(err) != 400 {
		t.Errorf("byOutputModality VIDEO: got %v, want ValidationException 400", err)
	}
}

func TestGetFoundationModel(t *testing.T) {
	e, c := controlPlane(t)
	if err := e.sb.SetModelAccess(sandbox.SmallAccount, "amazon.nova-pro-v1:0", false); err != nil {
		t.Fatal(err)
	}
	const sonnetARN = "arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"
	for _, tc := range []struct{ name, ident, wantErr string }{
		{"by id", "anthropic.claude-sonnet-4-5-20250929-v1:0", ""},
		{"by ARN", sonnetARN, ""},
		{"unknown", "anthropic.claude-nonesuch-v1:0", "ResourceNotFoundException"},
		{"not offered in the region", "anthropic.claude-opus-4-1-20250805-v1:0", "ResourceNotFoundException"},
		{"ARN of another region", "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0", "ResourceNotFoundException"},
		{"no model access", "amazon.nova-pro-v1:0", "ResourceNotFoundException"},
		{"a profile id", sandbox.SeedProfile, "ValidationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.GetFoundationModel(context.Background(), &bedrock.GetFoundationModelInput{ModelIdentifier: aws.String(tc.ident)})
			if tc.wantErr != "" {
				if apiCode(err) != tc.wantErr {
					t.Fatalf("got %v, want %s", err, tc.wantErr)
				}
				var nf *types.ResourceNotFoundException
				if tc.wantErr == "ResourceNotFoundException" && (!errors.As(err, &nf) || httpStatus(err) != 404) {
					t.Errorf("got %T (status %d), want *types.ResourceNotFoundException, 404", err, httpStatus(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := out.ModelDetails; d == nil || aws.ToString(d.ModelArn) != sonnetARN || aws.ToString(d.ModelId) != "anthropic.claude-sonnet-4-5-20250929-v1:0" {
				t.Errorf("got %+v, want Claude Sonnet 4.5 in %s", out.ModelDetails, sandbox.SeedRegion)
			}
		})
	}
}

func TestControlPlaneErrors(t *testing.T) {
	_, c := controlPlane(t)
	ctx := context.Background()
	_, err := c.ListInferenceProfiles(ctx, &bedrock.ListInferenceProfilesInput{MaxResults: aws.Int32(1001)})
	if apiCode(err) != "ValidationException" {
		t.Errorf("maxResults 1001: got %v, want ValidationException", err)
	}
	_, err = c.ListInferenceProfiles(ctx, &bedrock.ListInferenceProfilesInput{NextToken: aws.String("not-a-token")})
	if apiCode(err) != "ValidationException" {
		t.Errorf("a made-up nextToken: got %v, want ValidationException", err)
	}
	_, err = c.ListInferenceProfiles(ctx, &bedrock.ListInferenceProfilesInput{TypeEquals: "CUSTOM"})
	if apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "SYSTEM_DEFINED, APPLICATION") {
		t.Errorf("type CUSTOM: got %v, want ValidationException naming the types", err)
	}
}

// TestControlPlaneIAM checks that each operation is authorized as AWS does: the list actions on "*", the Get
// actions on the resource's ARN.
func TestControlPlaneIAM(t *testing.T) {
	invokeOnly := sandbox.DefaultScenario().Accounts[sandbox.SmallAccount].Roles[sandbox.TargetRoleName].Policies["BedrockInvoke"]
	seedOnly := sandbox.PolicyText(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:GetInferenceProfile","Resource":"arn:aws:bedrock:ap-northeast-1:` + sandbox.SmallAccount + `:inference-profile/` + sandbox.SeedProfile + `"},` +
		`{"Effect":"Allow","Action":"bedrock:GetFoundationModel","Resource":"arn:aws:bedrock:*::foundation-model/anthropic.*"},` +
		`{"Effect":"Allow","Action":"bedrock:ListFoundationModels","Resource":"arn:aws:bedrock:*::foundation-model/*"}]}`)
	e := newEnv(t, controlPlaneScenario(map[string]sandbox.PolicyText{"BedrockInvoke": invokeOnly, "SeedOnly": seedOnly}))
	c := bedrock.NewFromConfig(e.session(t, sandbox.TargetRoleARN(sandbox.SmallAccount)))
	ctx := context.Background()
	denied := func(what string, err error, action, resource string) {
		t.Helper()
		if apiCode(err) != "AccessDeniedException" || httpStatus(err) != 403 ||
			!strings.Contains(err.Error(), "not authorized to perform: "+action+" on resource: "+resource) {
			t.Errorf("%s: got %v, want AccessDeniedException for %s on %s", what, err, action, resource)
		}
	}
	_, err := c.ListInferenceProfiles(ctx, &bedrock.ListInferenceProfilesInput{})
	denied("ListInferenceProfiles", err, "bedrock:ListInferenceProfiles", "*")
	// A statement naming ARNs does not grant an action that has no resource: AWS checks it against "*".
	_, err = c.ListFoundationModels(ctx, &bedrock.ListFoundationModelsInput{})
	denied("ListFoundationModels", err, "bedrock:ListFoundationModels", "*")

	if _, err := c.GetInferenceProfile(ctx, &bedrock.GetInferenceProfileInput{InferenceProfileIdentifier: aws.String(sandbox.SeedProfile)}); err != nil {
		t.Errorf("GetInferenceProfile of the allowed profile: %v", err)
	}
	const haiku = "jp.anthropic.claude-haiku-4-5-20251001-v1:0"
	_, err = c.GetInferenceProfile(ctx, &bedrock.GetInferenceProfileInput{InferenceProfileIdentifier: aws.String(haiku)})
	denied("GetInferenceProfile of another profile", err, "bedrock:GetInferenceProfile", "arn:aws:bedrock:ap-northeast-1:"+sandbox.SmallAccount+":inference-profile/"+haiku)

	if _, err := c.GetFoundationModel(ctx, &bedrock.GetFoundationModelInput{ModelIdentifier: aws.String("anthropic.claude-haiku-4-5-20251001-v1:0")}); err != nil {
		t.Errorf("GetFoundationModel of an allowed model: %v", err)
	}
	_, err = c.GetFoundationModel(ctx, &bedrock.GetFoundationModelInput{ModelIdentifier: aws.String("amazon.nova-pro-v1:0")})
	denied("GetFoundationModel of another provider's model", err, "bedrock:GetFoundationModel", "arn:aws:bedrock:ap-northeast-1::foundation-model/amazon.nova-pro-v1:0")

	// The default scenario's caller role may only assume roles.
	_, err = bedrock.NewFromConfig(e.cfg).ListInferenceProfiles(ctx, &bedrock.ListInferenceProfilesInput{})
	denied("the caller role", err, "bedrock:ListInferenceProfiles", "*")
}

// TestControlPlaneAPIKey checks that a Bedrock API key, which the control plane takes as a bearer token, may
// call the reads.
func TestControlPlaneAPIKey(t *testing.T) {
	sb, err := sandbox.New(controlPlaneScenario(nil))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(sb) // smithy-go sends bearer tokens over TLS only
	t.Cleanup(ts.Close)
	c := bedrock.New(bedrock.Options{Region: sandbox.SeedRegion, BaseEndpoint: aws.String(ts.URL), RetryMaxAttempts: 1,
		HTTPClient:              sandbox.SDKHTTPClient(ts.Client()),
		BearerAuthTokenProvider: bearer.StaticTokenProvider{Token: bearer.Token{Value: cpAPIKey}},
		AuthSchemePreference:    []string{"httpBearerAuth"},
	})
	out, err := c.ListInferenceProfiles(context.Background(), &bedrock.ListInferenceProfilesInput{TypeEquals: types.InferenceProfileTypeApplication})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.InferenceProfileSummaries) != 1 || aws.ToString(out.InferenceProfileSummaries[0].InferenceProfileArn) != cpAppARN {
		t.Errorf("got %+v, want the API key's account's application profile %s", out.InferenceProfileSummaries, cpAppARN)
	}
	if _, err := c.GetFoundationModel(context.Background(), &bedrock.GetFoundationModelInput{ModelIdentifier: aws.String("anthropic.claude-sonnet-4-5-20250929-v1:0")}); err != nil {
		t.Errorf("GetFoundationModel with the API key: %v", err)
	}
	calls := sb.Calls()
	var ops []string
	for _, c := range calls {
		if c.Service != "bedrock" || c.Account != sandbox.SmallAccount || c.Outcome != "ok" {
			t.Errorf("recorded call %+v, want a Bedrock call by %s, ok", c, sandbox.SmallAccount)
		}
		ops = append(ops, c.Operation)
	}
	if diff := cmp.Diff([]string{"ListInferenceProfiles", "GetFoundationModel"}, ops); diff != "" {
		t.Errorf("recorded operations (-want +got):\n%s", diff)
	}
}

// TestControlPlaneNotEmulated checks that the control plane's writes fail loudly rather than pass for reads.
func TestControlPlaneNotEmulated(t *testing.T) {
	_, c := controlPlane(t)
	_, err := c.CreateInferenceProfile(context.Background(), &bedrock.CreateInferenceProfileInput{
		InferenceProfileName: aws.String("mine"), ModelSource: &types.InferenceProfileModelSourceMemberCopyFrom{Value: "arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"}})
	if apiCode(err) != "UnknownOperationException" || !strings.Contains(err.Error(), "GET /inference-profiles") {
		t.Errorf("CreateInferenceProfile: got %v, want UnknownOperationException naming what is served", err)
	}
}

// TestBoto3ControlPlane checks that boto3 parses what the sandbox answers.
func TestBoto3ControlPlane(t *testing.T) {
	_, err := exec.LookPath("python3")
	needTool(t, err == nil, "python3")
	needTool(t, exec.Command("python3", "-c", "import boto3").Run() == nil, "boto3")
	checkControlPlane(t, "python3", "-c", boto3ControlPlane)
}

// TestJSControlPlane: the same with the AWS SDK for JavaScript v3's Bedrock client.
func TestJSControlPlane(t *testing.T) {
	_, err := exec.LookPath("node")
	needTool(t, err == nil, "node")
	_, err = os.Stat("clients/node_modules/@aws-sdk/client-bedrock")
	needTool(t, err == nil, "sandbox/clients/node_modules (.ci/install-js-deps)")
	checkControlPlane(t, "node", "clients/js_control_plane.mjs")
}

// TestAWSCLIControlPlane: the same with aws bedrock list-inference-profiles (paginated by the CLI),
// get-inference-profile, get-foundation-model and list-foundation-models.
func TestAWSCLIControlPlane(t *testing.T) {
	t.Parallel() // a CLI call is a second of Python starting; its own sandbox
	_, err := exec.LookPath("aws")
	needTool(t, err == nil, "the AWS CLI (aws)")
	env := controlPlaneEnv(t)
	var listed struct {
		InferenceProfileSummaries []struct{ InferenceProfileId string }
	}
	mustJSON(t, runClient(t, env, "aws", "bedrock", "list-inference-profiles", "--type-equals", "SYSTEM_DEFINED", "--page-size", "3"), &listed)
	var ids []string
	for _, p := range listed.InferenceProfileSummaries {
		ids = append(ids, p.InferenceProfileId)
	}
	if diff := cmp.Diff(wantProfiles(sandbox.SeedRegion), ids); diff != "" {
		t.Errorf("the CLI's paginated list (-want +got):\n%s", diff)
	}
	var p struct {
		Type, CreatedAt string
		Models          []struct{ ModelArn string }
	}
	mustJSON(t, runClient(t, env, "aws", "bedrock", "get-inference-profile", "--inference-profile-identifier", sandbox.SeedProfile), &p)
	if p.Type != "SYSTEM_DEFINED" || !strings.HasPrefix(p.CreatedAt, "2024-08-27T00:00:00") || len(p.Models) == 0 {
		t.Fatalf("get-inference-profile: %+v", p)
	}
	var m struct{ ModelDetails struct{ ModelId string } }
	mustJSON(t, runClient(t, env, "aws", "bedrock", "get-foundation-model", "--model-identifier", p.Models[0].ModelArn), &m)
	if m.ModelDetails.ModelId != seedFM {
		t.Errorf("get-foundation-model: %+v", m)
	}
	var fm struct{ ModelSummaries []any }
	mustJSON(t, runClient(t, env, "aws", "bedrock", "list-foundation-models", "--by-provider", "anthropic"), &fm)
	if len(fm.ModelSummaries) == 0 {
		t.Error("list-foundation-models --by-provider anthropic: none")
	}
	want := "An error occurred (ResourceNotFoundException) when calling the GetInferenceProfile operation"
	if got := runFailing(t, env, "aws", "bedrock", "get-inference-profile", "--inference-profile-identifier", "jp.anthropic.claude-nonesuch-v1:0"); !strings.Contains(got, want) {
		t.Errorf("stderr %q, want %q", got, want)
	}
}

// controlPlaneEnv starts a sandbox whose small account's role may read models, and gives a client's
// environment with that role's session.
func controlPlaneEnv(t *testing.T) []string {
	t.Helper()
	sb, url := startSandbox(t)
	if err := sb.SetRolePolicy(sandbox.TargetRoleARN(sandbox.SmallAccount), "ReadModels", cpReadModels); err != nil {
		t.Fatal(err)
	}
	creds, err := sb.SessionFor(sandbox.TargetRoleARN(sandbox.SmallAccount), "client", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return clientEnv(t, url, sb, "PROFILE="+sandbox.SeedProfile, "AWS_ACCESS_KEY_ID="+creds.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey, "AWS_SESSION_TOKEN="+creds.SessionToken)
}

// checkControlPlane runs a script that prints what boto3ControlPlane prints, and checks it.
func checkControlPlane(t *testing.T, name string, args ...string) {
	t.Helper()
	env := controlPlaneEnv(t)
	var got struct {
		IDs                           []string
		Created, Type, Model, Missing string
		Models                        int
	}
	if err := json.Unmarshal(runClient(t, env, name, args...), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantProfiles(sandbox.SeedRegion), got.IDs); diff != "" {
		t.Errorf("%s's paginated list (-want +got):\n%s", name, diff)
	}
	if got.Type != "SYSTEM_DEFINED" || got.Model != "anthropic.claude-sonnet-4-5-20250929-v1:0" || got.Missing != "ResourceNotFoundException" ||
		got.Models == 0 || !strings.HasPrefix(got.Created, "2024-08-27T00:00:00") {
		t.Errorf("%s got %+v", name, got)
	}
}

// boto3ControlPlane is the boto3 script of TestBoto3ControlPlane.
const boto3ControlPlane = `
import json, os, boto3
c = boto3.client("bedrock", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="ap-northeast-1")
ids = []
for page in c.get_paginator("list_inference_profiles").paginate(typeEquals="SYSTEM_DEFINED", PaginationConfig={"PageSize": 3}):
    ids += [p["inferenceProfileId"] for p in page["inferenceProfileSummaries"]]
p = c.get_inference_profile(inferenceProfileIdentifier=os.environ["PROFILE"])
m = c.get_foundation_model(modelIdentifier=p["models"][0]["modelArn"])["modelDetails"]
try:
    c.get_inference_profile(inferenceProfileIdentifier="jp.anthropic.claude-nonesuch-v1:0")
    missing = ""
except c.exceptions.ResourceNotFoundException as e:
    missing = e.response["Error"]["Code"]
print(json.dumps({"ids": ids, "created": p["createdAt"].isoformat(), "type": p["type"], "model": m["modelId"],
                  "models": len(c.list_foundation_models(byProvider="anthropic")["modelSummaries"]), "missing": missing}))
`
