package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// guardrailEnv is the default sandbox and a Bedrock Runtime client of LargeAccount's role.
func guardrailEnv(t *testing.T) (*env, *bedrockruntime.Client) {
	t.Helper()
	e := newEnv(t, nil)
	return e, bedrockruntime.NewFromConfig(e.session(t, sandbox.TargetRoleARN(sandbox.LargeAccount)))
}

func textBlocks(texts ...string) []brtypes.GuardrailContentBlock {
	out := make([]brtypes.GuardrailContentBlock, len(texts))
	for i, s := range texts {
		out[i] = &brtypes.GuardrailContentBlockMemberText{Value: brtypes.GuardrailTextBlock{Text: aws.String(s)}}
	}
	return out
}

func TestApplyGuardrail(t *testing.T) {
	ctx := context.Background()
	e, c := guardrailEnv(t)
	id := sandbox.GuardrailID(sandbox.LargeAccount)
	arn := "arn:aws:bedrock:ap-northeast-1:" + sandbox.LargeAccount + ":guardrail/" + id
	apply := func(ident, version string, src brtypes.GuardrailContentSource, blocks ...brtypes.GuardrailContentBlock) (*bedrockruntime.ApplyGuardrailOutput, error) {
		return c.ApplyGuardrail(ctx, &bedrockruntime.ApplyGuardrailInput{GuardrailIdentifier: aws.String(ident),
			GuardrailVersion: aws.String(version), Source: src, Content: blocks})
	}

	t.Run("intervenes on a blocked word", func(t *testing.T) {
		out, err := apply(id, "DRAFT", brtypes.GuardrailContentSourceInput, textBlocks("Tell me the TOP SECRET plan", "and something forbidden")...)
		if err != nil {
			t.Fatal(err)
		}
		if out.Action != brtypes.GuardrailActionGuardrailIntervened || aws.ToString(out.ActionReason) != "Guardrail blocked." {
			t.Errorf("action %s (%q), want GUARDRAIL_INTERVENED (Guardrail blocked.)", out.Action, aws.ToString(out.ActionReason))
		}
		if len(out.Outputs) != 1 || aws.ToString(out.Outputs[0].Text) != "Sorry, the model cannot answer this question." {
			t.Errorf("outputs %+v, want the blocked input message", out.Outputs)
		}
		if len(out.Assessments) != 1 || out.Assessments[0].WordPolicy == nil || len(out.Assessments[0].WordPolicy.CustomWords) != 2 {
			t.Fatalf("assessments %+v, want the word policy's two matches", out.Assessments)
		}
		for i, want := range []string{"top secret", "forbidden"} { // in the order the texts hold them
			w := out.Assessments[0].WordPolicy.CustomWords[i]
			if aws.ToString(w.Match) != want || w.Action != brtypes.GuardrailWordPolicyActionBlocked || !aws.ToBool(w.Detected) {
				t.Errorf("custom word %d = %q %s %v, want %q BLOCKED detected", i, aws.ToString(w.Match), w.Action, aws.ToBool(w.Detected), want)
			}
		}
		if u := out.Usage; u == nil || aws.ToInt32(u.WordPolicyUnits) != 2 || aws.ToInt32(u.TopicPolicyUnits) != 0 {
			t.Errorf("usage %+v, want 2 word-policy units (one per text of up to 1,000 characters)", out.Usage)
		}
		if cov := out.GuardrailCoverage; cov == nil || aws.ToInt32(cov.TextCharacters.Guarded) != 50 || aws.ToInt32(cov.TextCharacters.Total) != 50 {
			t.Errorf("coverage %+v, want 50 of 50 characters guarded", out.GuardrailCoverage)
		}
		d := out.Assessments[0].AppliedGuardrailDetails
		if d == nil || aws.ToString(d.GuardrailArn) != arn || aws.ToString(d.GuardrailVersion) != "DRAFT" || d.GuardrailOwnership != brtypes.GuardrailOwnershipSelf {
			t.Errorf("applied guardrail details %+v, want %s DRAFT SELF", d, arn)
		}
	})
	t.Run("no action on clean text, by ARN and version", func(t *testing.T) {
		out, err := apply(arn, "1", brtypes.GuardrailContentSourceOutput, textBlocks("a perfectly ordinary answer")...)
		if err != nil {
			t.Fatal(err)
		}
		if out.Action != brtypes.GuardrailActionNone || len(out.Outputs) != 0 || out.Assessments[0].WordPolicy != nil {
			t.Errorf("got action %s, outputs %+v, word policy %+v; want NONE, none, none", out.Action, out.Outputs, out.Assessments[0].WordPolicy)
		}
	})
	t.Run("grounding sources are not guarded", func(t *testing.T) {
		out, err := apply(id, "DRAFT", brtypes.GuardrailContentSourceOutput,
			&brtypes.GuardrailContentBlockMemberText{Value: brtypes.GuardrailTextBlock{Text: aws.String("a forbidden source"),
				Qualifiers: []brtypes.GuardrailContentQualifier{brtypes.GuardrailContentQualifierGroundingSource}}},
			&brtypes.GuardrailContentBlockMemberText{Value: brtypes.GuardrailTextBlock{Text: aws.String("fine"),
				Qualifiers: []brtypes.GuardrailContentQualifier{brtypes.GuardrailContentQualifierGuardContent}}})
		if err != nil {
			t.Fatal(err)
		}
		if out.Action != brtypes.GuardrailActionNone || aws.ToInt32(out.GuardrailCoverage.TextCharacters.Guarded) != 4 ||
			aws.ToInt32(out.GuardrailCoverage.TextCharacters.Total) != 22 {
			t.Errorf("got %s, coverage %+v; want NONE with 4 of 22 characters guarded", out.Action, out.GuardrailCoverage.TextCharacters)
		}
	})

	for _, tt := range []struct {
		name, ident, version string
		src                  brtypes.GuardrailContentSource
		blocks               []brtypes.GuardrailContentBlock
		status               int
		typed                any
		msg                  string
	}{
		{"unknown guardrail", "nosuchguardrail", "DRAFT", "INPUT", textBlocks("x"), 404, &brtypes.ResourceNotFoundException{},
			"The guardrail identifier or version provided in the request does not exist."},
		{"unknown version", id, "7", "INPUT", textBlocks("x"), 404, &brtypes.ResourceNotFoundException{},
			"The guardrail identifier or version provided in the request does not exist."},
		{"another account's id, bare", sandbox.GuardrailID(sandbox.SmallAccount), "DRAFT", "INPUT", textBlocks("x"), 404, &brtypes.ResourceNotFoundException{},
			"does not exist"},
		{"ARN in another region", "arn:aws:bedrock:us-east-1:" + sandbox.LargeAccount + ":guardrail/" + id, "DRAFT", "INPUT", textBlocks("x"), 404,
			&brtypes.ResourceNotFoundException{}, "does not exist"},
		{"ARN of another account", "arn:aws:bedrock:ap-northeast-1:" + sandbox.SmallAccount + ":guardrail/" + sandbox.GuardrailID(sandbox.SmallAccount), "DRAFT", "INPUT",
			textBlocks("x"), 403, &brtypes.AccessDeniedException{}, "because no resource-based policy allows the bedrock:ApplyGuardrail action"},
		{"identifier pattern", "Not_An_Id", "DRAFT", "INPUT", textBlocks("x"), 400, &brtypes.ValidationException{},
			"1 validation error detected: Value 'Not_An_Id' at 'guardrailIdentifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (|([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/[a-z0-9]+))"},
		{"version pattern", id, "v1", "INPUT", textBlocks("x"), 400, &brtypes.ValidationException{},
			"1 validation error detected: Value 'v1' at 'guardrailVersion' failed to satisfy constraint: Member must satisfy regular expression pattern: (|([1-9][0-9]{0,7})|(DRAFT))"},
		{"source enum", id, "DRAFT", "SIDEWAYS", textBlocks("x"), 400, &brtypes.ValidationException{},
			"1 validation error detected: Value 'SIDEWAYS' at 'source' failed to satisfy constraint: Member must satisfy enum value set: [INPUT, OUTPUT]"},
		{"text and qualifier", id, "DRAFT", "INPUT", []brtypes.GuardrailContentBlock{&brtypes.GuardrailContentBlockMemberText{Value: brtypes.GuardrailTextBlock{
			Text: aws.String("x"), Qualifiers: []brtypes.GuardrailContentQualifier{"shouting"}}}}, 400, &brtypes.ValidationException{},
			"1 validation error detected: Value 'shouting' at 'content.1.member.text.qualifiers.1.member' failed to satisfy constraint: Member must satisfy enum value set: [grounding_source, query, guard_content]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := apply(tt.ident, tt.version, tt.src, tt.blocks...)
			if err == nil {
				t.Fatal("no error")
			}
			if got := httpStatus(err); got != tt.status {
				t.Errorf("status %d, want %d", got, tt.status)
			}
			if !errorsAs(err, tt.typed) {
				t.Errorf("error %T (%v), want %T", err, err, tt.typed)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %v, want it to say %q", err, tt.msg)
			}
		})
	}

	t.Run("IAM", func(t *testing.T) {
		role := sandbox.TargetRoleARN(sandbox.LargeAccount)
		policy := sandbox.DefaultScenario().Accounts[sandbox.LargeAccount].Roles[sandbox.TargetRoleName].Policies["GuardrailsAndAsync"]
		if err := e.sb.SetRolePolicy(role, "GuardrailsAndAsync", ""); err != nil {
			t.Fatal(err)
		}
		defer e.sb.SetRolePolicy(role, "GuardrailsAndAsync", string(policy))
		_, err := apply(id, "DRAFT", "INPUT", textBlocks("x")...)
		var ad *brtypes.AccessDeniedException
		if !errors.As(err, &ad) || !strings.Contains(err.Error(), "bedrock:ApplyGuardrail on resource: "+arn) {
			t.Errorf("got %v, want AccessDeniedException naming bedrock:ApplyGuardrail on %s", err, arn)
		}
	})
	t.Run("faults", func(t *testing.T) {
		e.sb.FailNext(sandbox.Fault{Code: "ThrottlingException", Operation: "ApplyGuardrail"})
		_, err := apply(id, "DRAFT", "INPUT", textBlocks("x")...)
		var te *brtypes.ThrottlingException
		if !errors.As(err, &te) || httpStatus(err) != 429 {
			t.Errorf("got %v (%d), want the injected ThrottlingException 429", err, httpStatus(err))
		}
		if _, err := apply(id, "DRAFT", "INPUT", textBlocks("x")...); err != nil {
			t.Errorf("after the fault: %v", err)
		}
	})
	t.Run("calls are recorded", func(t *testing.T) {
		var n int
		for _, call := range e.sb.Calls() {
			if call.Operation == "ApplyGuardrail" && call.Account == sandbox.LargeAccount {
				n++
			}
		}
		if n == 0 {
			t.Error("no ApplyGuardrail call recorded")
		}
	})
}

// errorsAs reports whether err is of the type target points to.
func errorsAs(err error, target any) bool {
	switch target.(type) {
	case *brtypes.ResourceNotFoundException:
		var x *brtypes.ResourceNotFoundException
		return errors.As(err, &x)
	case *brtypes.AccessDeniedException:
		var x *brtypes.AccessDeniedException
		return errors.As(err, &x)
	case *brtypes.ValidationException:
		var x *brtypes.ValidationException
		return errors.As(err, &x)
	case *brtypes.ThrottlingException:
		var x *brtypes.ThrottlingException
		return errors.As(err, &x)
	case *brtypes.ConflictException:
		var x *brtypes.ConflictException
		return errors.As(err, &x)
	}
	return false
}

// TestApplyGuardrailBodies: bodies the SDKs never send, signed by hand, get Bedrock's ValidationException.
func TestApplyGuardrailBodies(t *testing.T) {
	e := newEnv(t, nil)
	creds, err := e.sb.SessionFor(sandbox.TargetRoleARN(sandbox.LargeAccount), "raw", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	path := "/guardrail/" + sandbox.GuardrailID(sandbox.LargeAccount) + "/version/DRAFT/apply"
	for _, tt := range []struct {
		name, body string
		status     int
		msg        string
	}{
		{"not JSON", `{"source":`, 400, "Malformed request body: the body is not valid JSON."},
		{"not an object", `["INPUT"]`, 400, "Invalid type for the request body: expected a JSON object, found JSONArray."},
		{"nothing", `{}`, 400, "2 validation errors detected: Value null at 'source' failed to satisfy constraint: Member must not be null; Value null at 'content' failed to satisfy constraint: Member must not be null"},
		{"source type", `{"source":1,"content":[]}`, 400, "Invalid type for source: expected a string, found Integer."},
		{"content type", `{"source":"INPUT","content":{"text":{"text":"x"}}}`, 400, "Invalid type for content: expected a list, found JSONObject."},
		{"text null", `{"source":"INPUT","content":[{"text":{}}]}`, 400, "Value null at 'content.1.member.text.text' failed to satisfy constraint: Member must not be null"},
		{"two union members", `{"source":"INPUT","content":[{"text":{"text":"x"},"image":{"format":"png","source":{"bytes":"AA=="}}}]}`, 400, "must set exactly one of text and image"},
		{"image format", `{"source":"INPUT","content":[{"image":{"format":"gif","source":{"bytes":"AA=="}}}]}`, 400,
			"Value 'gif' at 'content.1.member.image.format' failed to satisfy constraint: Member must satisfy enum value set: [png, jpeg]"},
		{"output scope", `{"source":"INPUT","content":[],"outputScope":"ALL"}`, 400,
			"Value 'ALL' at 'outputScope' failed to satisfy constraint: Member must satisfy enum value set: [INTERVENTIONS, FULL]"},
		{"an image is counted, not guarded", `{"source":"INPUT","content":[{"image":{"format":"png","source":{"bytes":"AA=="}}}]}`, 200, `"images":{"guarded":0,"total":1}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := signedPost(t, e.url, path, "bedrock", creds, []byte(tt.body))
			body := readAll(resp)
			code := strings.TrimSuffix(resp.Header.Get("X-Amzn-ErrorType"), ":http://internal.amazon.com/coral/com.amazon.bedrock/")
			if resp.StatusCode != tt.status || (tt.status == 400 && code != "ValidationException") || !strings.Contains(body, tt.msg) {
				t.Errorf("got %d %s %s, want %d ValidationException saying %q", resp.StatusCode, code, body, tt.status, tt.msg)
			}
		})
	}
	t.Run("oversized", func(t *testing.T) {
		big := `{"source":"INPUT","content":[{"text":{"text":"` + strings.Repeat("a", 25_000_000) + `"}}]}`
		resp := signedPost(t, e.url, path, "bedrock", creds, []byte(big))
		if body := readAll(resp); resp.StatusCode != 413 || !strings.HasPrefix(resp.Header.Get("X-Amzn-ErrorType"), "ValidationException") {
			t.Errorf("got %d %s %.200s, want 413 ValidationException", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), body)
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		resp, err := http.Post(e.url+path, "application/json", strings.NewReader(`{"source":"INPUT","content":[]}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 403 || !strings.HasPrefix(resp.Header.Get("X-Amzn-ErrorType"), "MissingAuthenticationTokenException") {
			t.Errorf("got %d %s, want 403 MissingAuthenticationTokenException", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
		}
	})
	t.Run("Bedrock API key", func(t *testing.T) {
		const key = "ABSKZ3VhcmRyYWlsLXRlc3Qta2V5LXNhbmRib3g="
		sc := sandbox.DefaultScenario()
		sc.Accounts[sandbox.LargeAccount].APIKeys = []string{key}
		e := newEnv(t, sc)
		req, _ := http.NewRequest(http.MethodPost, e.url+path, bytes.NewReader([]byte(`{"source":"INPUT","content":[{"text":{"text":"forbidden"}}]}`)))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if body := readAll(resp); resp.StatusCode != 200 || !strings.Contains(body, `"action":"GUARDRAIL_INTERVENED"`) {
			t.Errorf("got %d %s, want the guardrail's intervention", resp.StatusCode, body)
		}
	})
}

// TestScenarioExampleGuardrail: the documented example's guardrail, with its own messages and versions.
func TestScenarioExampleGuardrail(t *testing.T) {
	ctx := context.Background()
	sc, err := sandbox.LoadScenario("testdata/scenario-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, sc)
	c := bedrockruntime.NewFromConfig(e.session(t, "arn:aws:iam::444444444444:role/BedrockAccessRole"))
	out, err := c.ApplyGuardrail(ctx, &bedrockruntime.ApplyGuardrailInput{GuardrailIdentifier: aws.String("examplegr1"),
		GuardrailVersion: aws.String("2"), Source: brtypes.GuardrailContentSourceOutput, Content: textBlocks("Project Nightjar ships soon")})
	if err != nil {
		t.Fatal(err)
	}
	if out.Action != brtypes.GuardrailActionGuardrailIntervened || len(out.Outputs) != 1 || aws.ToString(out.Outputs[0].Text) != "The answer named an internal codename." {
		t.Errorf("got %s %+v, want the example's blocked output message", out.Action, out.Outputs)
	}
	for _, v := range []struct{ version, region string }{{"3", sandbox.SeedRegion}, {"1", "ap-northeast-3"}} {
		cfg := e.session(t, "arn:aws:iam::444444444444:role/BedrockAccessRole")
		cfg.Region = v.region
		_, err := bedrockruntime.NewFromConfig(cfg).ApplyGuardrail(ctx, &bedrockruntime.ApplyGuardrailInput{GuardrailIdentifier: aws.String("examplegr1"),
			GuardrailVersion: aws.String(v.version), Source: brtypes.GuardrailContentSourceInput, Content: textBlocks("x")})
		if !errorsAs(err, &brtypes.ResourceNotFoundException{}) {
			t.Errorf("version %s in %s: %v, want ResourceNotFoundException", v.version, v.region, err)
		}
	}
}
