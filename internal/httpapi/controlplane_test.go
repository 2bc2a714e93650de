package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	btypes "github.com/aws/aws-sdk-go-v2/service/bedrock/types"
	"github.com/aws/smithy-go/auth/bearer"
	"github.com/google/go-cmp/cmp"

	"github.com/bedrock-relay/bedrock-relay/catalog"
	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

const haiku = "anthropic.claude-haiku-4-5-20251001-v1:0"

// newControlPlaneEnv is the test relay with Claude Haiku 4.5 (through its jp. profile) served beside Claude
// Sonnet 4.5, so that keys see different models. The control plane calls no target, so the sandbox's roles
// need no permission for Haiku.
func newControlPlaneEnv(t *testing.T) *env {
	t.Helper()
	return newEnv(t, func(c *config.Config) {
		for i := range c.Targets {
			c.Targets[i].Models = append(c.Targets[i].Models, "jp."+haiku)
		}
	})
}

// controlPlane is the SDK's Bedrock control-plane client pointed at the relay, authenticating with key as a
// Bedrock API key.
func (e *env) controlPlane(key string) *bedrock.Client {
	return bedrock.New(bedrock.Options{
		Region:                  sandbox.SeedRegion,
		BaseEndpoint:            aws.String(e.srv.URL),
		HTTPClient:              e.srv.Client(),
		RetryMaxAttempts:        1,
		BearerAuthTokenProvider: bearer.StaticTokenProvider{Token: bearer.Token{Value: key}},
		AuthSchemePreference:    []string{"httpBearerAuth"},
	})
}

// relayProfiles is what the relay should list for models: every geography's profile, in the aws partition.
func relayProfiles(models ...string) []string {
	cat := catalog.Default()
	var ids []string
	for _, fm := range models {
		m, _ := cat.Model(fm)
		for prefix := range m.Profiles {
			if g, _ := cat.Geography(prefix); g.Partition == "aws" {
				ids = append(ids, prefix+"."+fm)
			}
		}
	}
	slices.Sort(ids)
	return ids
}

func listProfiles(t *testing.T, c *bedrock.Client, in *bedrock.ListInferenceProfilesInput) ([]btypes.InferenceProfileSummary, int) {
	t.Helper()
	var all []btypes.InferenceProfileSummary
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

func ids(ps []btypes.InferenceProfileSummary) []string {
	var out []string
	for _, p := range ps {
		out = append(out, aws.ToString(p.InferenceProfileId))
	}
	return out
}

func TestRelayListInferenceProfiles(t *testing.T) {
	e := newControlPlaneEnv(t)
	all, pages := listProfiles(t, e.controlPlane(keyAll), &bedrock.ListInferenceProfilesInput{MaxResults: aws.Int32(3)})
	want := relayProfiles(haiku, sonnet)
	if diff := cmp.Diff(want, ids(all)); diff != "" {
		t.Errorf("profiles (-want +got):\n%s", diff)
	}
	if wantPages := (len(want) + 2) / 3; pages != wantPages {
		t.Errorf("pages of 3: got %d, want %d", pages, wantPages)
	}
	i := slices.IndexFunc(all, func(p btypes.InferenceProfileSummary) bool {
		return aws.ToString(p.InferenceProfileId) == sandbox.SeedProfile
	})
	if i < 0 {
		t.Fatalf("%s is not listed", sandbox.SeedProfile)
	}
	seed := all[i]
	if got, want := aws.ToString(seed.InferenceProfileArn), "arn:aws:bedrock:ap-northeast-1:000000000000:inference-profile/"+sandbox.SeedProfile; got != want {
		t.Errorf("ARN: got %s, want %s (the relay's region, the placeholder account)", got, want)
	}
	var models []string
	for _, m := range seed.Models {
		models = append(models, aws.ToString(m.ModelArn))
	}
	if diff := cmp.Diff([]string{"arn:aws:bedrock:ap-northeast-1::foundation-model/" + sonnet, "arn:aws:bedrock:ap-northeast-3::foundation-model/" + sonnet}, models); diff != "" {
		t.Errorf("models (-want +got):\n%s", diff)
	}
	if seed.Status != btypes.InferenceProfileStatusActive || seed.Type != btypes.InferenceProfileTypeSystemDefined || seed.CreatedAt == nil {
		t.Errorf("status %q, type %q, createdAt %v: want ACTIVE, SYSTEM_DEFINED and a time", seed.Status, seed.Type, seed.CreatedAt)
	}

	for _, tc := range []struct {
		name, key string
		in        bedrock.ListInferenceProfilesInput
		want      []string
	}{
		{"system defined", keyAll, bedrock.ListInferenceProfilesInput{TypeEquals: btypes.InferenceProfileTypeSystemDefined}, want},
		{"application: none", keyAll, bedrock.ListInferenceProfilesInput{TypeEquals: btypes.InferenceProfileTypeApplication}, nil},
		{"a key for one model", keyHaiku, bedrock.ListInferenceProfilesInput{}, relayProfiles(haiku)},
		{"a key for an alias", keyAlias, bedrock.ListInferenceProfilesInput{}, relayProfiles(sonnet)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := listProfiles(t, e.controlPlane(tc.key), &tc.in)
			if diff := cmp.Diff(tc.want, ids(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestRelayControlPlaneNamesNoTarget checks the raw bodies: no target's account id in a client-facing answer.
func TestRelayControlPlaneNamesNoTarget(t *testing.T) {
	e := newControlPlaneEnv(t)
	for _, path := range []string{"/inference-profiles", "/inference-profiles/" + sandbox.SeedProfile, "/foundation-models", "/foundation-models/" + sonnet} {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+keyAll)
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Amzn-Requestid") == "" {
			t.Errorf("%s: status %d, request id %q; want 200 and an id", path, resp.StatusCode, resp.Header.Get("X-Amzn-Requestid"))
		}
		for _, a := range poolAccounts {
			if strings.Contains(string(body), a.id) {
				t.Errorf("%s names target account %s: %s", path, a.id, body)
			}
		}
	}
}

func TestRelayGetInferenceProfile(t *testing.T) {
	e := newControlPlaneEnv(t)
	const arn = "arn:aws:bedrock:ap-northeast-1:000000000000:inference-profile/" + sandbox.SeedProfile
	for _, tc := range []struct {
		name, key, ident, wantID, wantErr string
		wantStatus                        int
	}{
		{"by id", keyAll, sandbox.SeedProfile, sandbox.SeedProfile, "", 0},
		{"by the listed ARN", keyAll, arn, sandbox.SeedProfile, "", 0},
		{"another geography the relay accepts", keyAll, "us." + sonnet, "us." + sonnet, "", 0},
		{"global", keyAlias, "global." + sonnet, "global." + sonnet, "", 0},
		{"unknown", keyAll, "jp.anthropic.claude-nonesuch-v1:0", "", "ResourceNotFoundException", 404},
		{"a model not served", keyAll, "us.anthropic.claude-opus-4-1-20250805-v1:0", "", "ResourceNotFoundException", 404},
		{"another partition", keyAll, "us-gov." + sonnet, "", "ResourceNotFoundException", 404},
		{"an application profile", keyAll, "arn:aws:bedrock:ap-northeast-1:222222222222:application-inference-profile/a1b2c3d4e5f6", "", "ResourceNotFoundException", 404},
		{"a key that may not see it", keyHaiku, sandbox.SeedProfile, "", "AccessDeniedException", 403},
		{"not an id", keyAll, "has space", "", "ValidationException", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := e.controlPlane(tc.key).GetInferenceProfile(context.Background(), &bedrock.GetInferenceProfileInput{InferenceProfileIdentifier: aws.String(tc.ident)})
			if tc.wantErr != "" {
				if apiCode(err) != tc.wantErr || httpStatus(err) != tc.wantStatus {
					t.Fatalf("got %v (status %d), want %s %d", err, httpStatus(err), tc.wantErr, tc.wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(out.InferenceProfileId) != tc.wantID || len(out.Models) == 0 || out.Type != btypes.InferenceProfileTypeSystemDefined {
				t.Errorf("got id %s, %d models, type %s; want %s, some, SYSTEM_DEFINED", aws.ToString(out.InferenceProfileId), len(out.Models), out.Type, tc.wantID)
			}
		})
	}
}

func TestRelayFoundationModels(t *testing.T) {
	e := newControlPlaneEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name, key string
		in        bedrock.ListFoundationModelsInput
		want      []string
	}{
		{"all", keyAll, bedrock.ListFoundationModelsInput{}, []string{haiku, sonnet}},
		{"by provider", keyAll, bedrock.ListFoundationModelsInput{ByProvider: aws.String("Anthropic")}, []string{haiku, sonnet}},
		{"another provider", keyAll, bedrock.ListFoundationModelsInput{ByProvider: aws.String("amazon")}, nil},
		{"text output", keyAll, bedrock.ListFoundationModelsInput{ByOutputModality: btypes.ModelModalityText}, []string{haiku, sonnet}},
		{"embedding output", keyAll, bedrock.ListFoundationModelsInput{ByOutputModality: btypes.ModelModalityEmbedding}, nil},
		{"on demand", keyAll, bedrock.ListFoundationModelsInput{ByInferenceType: btypes.InferenceTypeOnDemand}, []string{haiku, sonnet}},
		{"provisioned", keyAll, bedrock.ListFoundationModelsInput{ByInferenceType: btypes.InferenceTypeProvisioned}, nil},
		{"a key for one model", keyHaiku, bedrock.ListFoundationModelsInput{}, []string{haiku}},
		{"a key for an alias", keyAlias, bedrock.ListFoundationModelsInput{}, []string{sonnet}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := e.controlPlane(tc.key).ListFoundationModels(ctx, &tc.in)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range out.ModelSummaries {
				got = append(got, aws.ToString(m.ModelId))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	_, err := e.controlPlane(keyAll).ListFoundationModels(ctx, &bedrock.ListFoundationModelsInput{ByOutputModality: "VIDEO"})
	if apiCode(err) != "ValidationException" || httpStatus(err) != 400 {
		t.Errorf("byOutputModality VIDEO: got %v, want ValidationException 400", err)
	}

	const arn = "arn:aws:bedrock:ap-northeast-1::foundation-model/" + sonnet
	for _, tc := range []struct {
		name, key, ident, wantErr string
		wantStatus                int
	}{
		{"by id", keyAll, sonnet, "", 0},
		{"by ARN", keyAll, arn, "", 0},
		{"by alias", keyAlias, "sonnet", "", 0},
		{"unknown", keyAll, "anthropic.claude-nonesuch-v1:0", "ResourceNotFoundException", 404},
		{"a key that may not see it", keyHaiku, sonnet, "AccessDeniedException", 403},
		{"a profile id", keyAll, sandbox.SeedProfile, "ValidationException", 400},
	} {
		t.Run("get "+tc.name, func(t *testing.T) {
			out, err := e.controlPlane(tc.key).GetFoundationModel(ctx, &bedrock.GetFoundationModelInput{ModelIdentifier: aws.String(tc.ident)})
			if tc.wantErr != "" {
				if apiCode(err) != tc.wantErr || httpStatus(err) != tc.wantStatus {
					t.Fatalf("got %v (status %d), want %s %d", err, httpStatus(err), tc.wantErr, tc.wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d := out.ModelDetails
			if d == nil || aws.ToString(d.ModelId) != sonnet || aws.ToString(d.ModelArn) != arn || aws.ToString(d.ModelName) != "Claude Sonnet 4.5" ||
				aws.ToString(d.ProviderName) != "Anthropic" || !aws.ToBool(d.ResponseStreamingSupported) || d.ModelLifecycle == nil ||
				d.ModelLifecycle.Status != btypes.FoundationModelLifecycleStatusActive {
				t.Errorf("got %+v, want Claude Sonnet 4.5 in the relay's region", d)
			}
		})
	}
}

func TestRelayControlPlaneErrors(t *testing.T) {
	e := newControlPlaneEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name, key, wantCode string
		wantStatus          int
		call                func(*bedrock.Client) error
	}{
		{"unknown key", "brk-not-a-key", "UnrecognizedClientException", 403, func(c *bedrock.Client) error {
			_, err := c.ListInferenceProfiles(ctx, &bedrock.ListInferenceProfilesInput{})
			return err
		}},
		{"maxResults over 1000", keyAll, "ValidationException", 400, func(c *bedrock.Client) error {
			_, err := c.ListInferenceProfiles(ctx, &bedrock.ListInferenceProfilesInput{MaxResults: aws.Int32(1001)})
			return err
		}},
		{"made-up nextToken", keyAll, "ValidationException", 400, func(c *bedrock.Client) error {
			_, err := c.ListInferenceProfiles(ctx, &bedrock.ListInferenceProfilesInput{NextToken: aws.String("bm9wZQ")})
			return err
		}},
		{"unknown type", keyAll, "ValidationException", 400, func(c *bedrock.Client) error {
			_, err := c.ListInferenceProfiles(ctx, &bedrock.ListInferenceProfilesInput{TypeEquals: "CUSTOM"})
			return err
		}},
		{"a write", keyAll, "UnknownOperationException", 405, func(c *bedrock.Client) error {
			_, err := c.CreateInferenceProfile(ctx, &bedrock.CreateInferenceProfileInput{InferenceProfileName: aws.String("mine"),
				ModelSource: &btypes.InferenceProfileModelSourceMemberCopyFrom{Value: "arn:aws:bedrock:ap-northeast-1::foundation-model/" + sonnet}})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(e.controlPlane(tc.key))
			if apiCode(err) != tc.wantCode || httpStatus(err) != tc.wantStatus {
				t.Errorf("got %v (status %d), want %s %d", err, httpStatus(err), tc.wantCode, tc.wantStatus)
			}
		})
	}
}

// TestRelayControlPlaneBoto3 checks that boto3, with a relay key in AWS_BEARER_TOKEN_BEDROCK as Claude Code's
// users set it, parses the relay's answers.
func TestRelayControlPlaneBoto3(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil || exec.Command("python3", "-c", "import boto3").Run() != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 with boto3 is missing, and CI is set")
		}
		t.Skip("python3 with boto3 is missing; skipping outside CI")
	}
	e := newControlPlaneEnv(t)
	const script = `
import json, os, sys, boto3
c = boto3.client("bedrock", endpoint_url=sys.argv[1], region_name="ap-northeast-1", verify=False)
ids = [p["inferenceProfileId"] for page in c.get_paginator("list_inference_profiles").paginate(PaginationConfig={"PageSize": 4})
       for p in page["inferenceProfileSummaries"]]
p = c.get_inference_profile(inferenceProfileIdentifier=ids[0])
m = c.get_foundation_model(modelIdentifier=sys.argv[2])["modelDetails"]
print(json.dumps({"ids": ids, "arn": p["inferenceProfileArn"], "created": p["createdAt"].year, "model": m["modelId"]}))
`
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	env = append(env, "AWS_BEARER_TOKEN_BEDROCK="+keyAlias, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true", "PYTHONWARNINGS=ignore")
	cmd := exec.Command("python3", "-c", script, e.srv.URL, sonnet)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("boto3: %v\n%s", err, stderr)
	}
	var got struct {
		IDs     []string
		ARN     string
		Created int
		Model   string
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("boto3 printed %s: %v", out, err)
	}
	if diff := cmp.Diff(relayProfiles(sonnet), got.IDs); diff != "" {
		t.Errorf("boto3's paginated list for the alias key (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(got.ARN, "arn:aws:bedrock:ap-northeast-1:000000000000:inference-profile/") || got.Created != 2024 || got.Model != sonnet {
		t.Errorf("boto3 got %+v", got)
	}
}

// TestRelayListedProfilesInvoke checks that what the relay lists can be called: a listed profile's ARN (with the
// placeholder account) and another geography's profile id reach the model through the targets.
func TestRelayListedProfilesInvoke(t *testing.T) {
	e := newControlPlaneEnv(t)
	ctx := context.Background()
	out, err := e.controlPlane(keyAll).GetInferenceProfile(ctx, &bedrock.GetInferenceProfileInput{InferenceProfileIdentifier: aws.String("us." + sonnet)})
	if err != nil {
		t.Fatal(err)
	}
	for _, model := range []string{aws.ToString(out.InferenceProfileArn), "us." + sonnet} {
		if _, err := invoke(ctx, e.client(keyAll), model); err != nil {
			t.Errorf("invoke %s: %v", model, err)
		}
	}
}
