package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

func applyGuardrail(ctx context.Context, c *bedrockruntime.Client, ident, version, text string) (*bedrockruntime.ApplyGuardrailOutput, error) {
	return c.ApplyGuardrail(ctx, &bedrockruntime.ApplyGuardrailInput{GuardrailIdentifier: aws.String(ident), GuardrailVersion: aws.String(version),
		Source: types.GuardrailContentSourceInput, Content: []types.GuardrailContentBlock{&types.GuardrailContentBlockMemberText{Value: types.GuardrailTextBlock{Text: aws.String(text)}}}})
}

// TestRelayApplyGuardrail: a bare guardrail id is found in whichever account holds it, an ARN goes to its
// account, and Bedrock's answers come back as they were.
func TestRelayApplyGuardrail(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	c := e.client(keyAll)

	out, err := applyGuardrail(ctx, c, sandbox.GuardrailID("444444444444"), "DRAFT", "it is forbidden")
	if err != nil {
		t.Fatal(err)
	}
	if out.Action != types.GuardrailActionGuardrailIntervened || len(out.Outputs) != 1 {
		t.Errorf("got %s %+v, want the guardrail's intervention", out.Action, out.Outputs)
	}
	if got := outHeader(t, out.ResultMetadata, "X-Bedrock-Relay-Target"); got != "acct-444" {
		t.Errorf("a bare id: served by %q, want acct-444, the account that has it", got)
	}
	if got := outHeader(t, out.ResultMetadata, "X-Bedrock-Relay-Attempts"); got != "3" {
		t.Errorf("a bare id: %q attempts, want 3 (222 and 333 do not have it)", got)
	}

	guardrailARN := "arn:aws:bedrock:ap-northeast-1:333333333333:guardrail/" + sandbox.GuardrailID("333333333333")
	out, err = applyGuardrail(ctx, c, guardrailARN, "1", "all fine")
	if err != nil {
		t.Fatal(err)
	}
	if got := outHeader(t, out.ResultMetadata, "X-Bedrock-Relay-Target"); out.Action != types.GuardrailActionNone || got != "acct-333" ||
		outHeader(t, out.ResultMetadata, "X-Bedrock-Relay-Attempts") != "" {
		t.Errorf("by ARN: %s from %q, want NONE from acct-333 at once", out.Action, got)
	}

	for _, tt := range []struct {
		name, ident, version string
		status               int
		code, msg            string
	}{
		{"unknown everywhere", "nosuchguardrail", "DRAFT", 404, "ResourceNotFoundException", "The guardrail identifier or version provided in the request does not exist."},
		{"an account the relay has no target in", "arn:aws:bedrock:ap-northeast-1:555555555555:guardrail/abc", "DRAFT", 404, "ResourceNotFoundException",
			"The relay has no target in account 555555555555 and region ap-northeast-1"},
		{"a bad version is not tried elsewhere", sandbox.GuardrailID("444444444444"), "v2", 400, "ValidationException", "at 'guardrailVersion'"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := applyGuardrail(ctx, c, tt.ident, tt.version, "x")
			if httpStatus(err) != tt.status || apiCode(err) != tt.code || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("got %d %v, want %d %s saying %q", httpStatus(err), err, tt.status, tt.code, tt.msg)
			}
		})
	}
	if got := e.sb.Stats().BedrockCalls("444444444444", "ValidationException"); got != 0 {
		t.Errorf("the bad version reached account 444 %d times; it should stop at the first target", got)
	}
}

func asyncInput() document.Interface {
	return document.NewLazyDocument(map[string]any{"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
		"messages": []any{map[string]any{"role": "user", "content": prompt}}})
}

func startAsync(ctx context.Context, c *bedrockruntime.Client, model, uri string) (*bedrockruntime.StartAsyncInvokeOutput, error) {
	return c.StartAsyncInvoke(ctx, &bedrockruntime.StartAsyncInvokeInput{ModelId: aws.String(model), ModelInput: asyncInput(),
		OutputDataConfig: &types.AsyncInvokeOutputDataConfigMemberS3OutputDataConfig{Value: types.AsyncInvokeS3OutputDataConfig{S3Uri: aws.String(uri)}}})
}

// TestRelayAsyncInvoke: StartAsyncInvoke is routed like InvokeModel, GetAsyncInvoke follows the invocation's
// ARN to the target that started it, ListAsyncInvokes merges every account's.
func TestRelayAsyncInvoke(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	c := e.client(keyAll)

	targetOf := map[string]string{"222222222222": "acct-222", "333333333333": "acct-333", "444444444444": "acct-444"}
	var arns []string
	for range 3 {
		out, err := startAsync(ctx, c, "sonnet", "s3://pool-outputs/run")
		if err != nil {
			t.Fatal(err)
		}
		a, err := arn.Parse(aws.ToString(out.InvocationArn))
		if err != nil || a.Region != sandbox.SeedRegion || !strings.HasPrefix(a.Resource, "async-invoke/") {
			t.Fatalf("invocation ARN %s, want an async-invoke ARN in %s", aws.ToString(out.InvocationArn), sandbox.SeedRegion)
		}
		if got := outHeader(t, out.ResultMetadata, "X-Bedrock-Relay-Target"); got != targetOf[a.AccountID] {
			t.Errorf("started by %q, but the ARN names account %s", got, a.AccountID)
		}
		arns = append(arns, aws.ToString(out.InvocationArn))

		got, err := c.GetAsyncInvoke(ctx, &bedrockruntime.GetAsyncInvokeInput{InvocationArn: out.InvocationArn})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != types.AsyncInvokeStatusCompleted || outHeader(t, got.ResultMetadata, "X-Bedrock-Relay-Target") != targetOf[a.AccountID] {
			t.Errorf("GetAsyncInvoke %s: %s from %q, want Completed from %s", a, got.Status, outHeader(t, got.ResultMetadata, "X-Bedrock-Relay-Target"), targetOf[a.AccountID])
		}
		if objs := e.sb.Bucket(a.AccountID, "s3://pool-outputs/run/"+strings.TrimPrefix(a.Resource, "async-invoke/")); len(objs) != 1 {
			t.Errorf("account %s's bucket: %+v, want the invocation's output", a.AccountID, objs)
		}
	}

	var listed []string
	var token *string
	for {
		page, err := c.ListAsyncInvokes(ctx, &bedrockruntime.ListAsyncInvokesInput{MaxResults: aws.Int32(2), NextToken: token, SortOrder: types.SortOrderAscending})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.AsyncInvokeSummaries {
			listed = append(listed, aws.ToString(s.InvocationArn))
		}
		if token = page.NextToken; token == nil {
			break
		}
	}
	if strings.Join(listed, " ") != strings.Join(arns, " ") {
		t.Errorf("ListAsyncInvokes, oldest first: %v, want %v", listed, arns)
	}

	t.Run("a key sees only its models' invocations", func(t *testing.T) {
		haiku := e.client(keyHaiku)
		page, err := haiku.ListAsyncInvokes(ctx, &bedrockruntime.ListAsyncInvokesInput{})
		if err != nil || len(page.AsyncInvokeSummaries) != 0 {
			t.Errorf("haiku key's list: %v, %d invocations; want none", err, len(page.AsyncInvokeSummaries))
		}
		_, err = haiku.GetAsyncInvoke(ctx, &bedrockruntime.GetAsyncInvokeInput{InvocationArn: aws.String(arns[0])})
		var ad *types.AccessDeniedException
		if !errors.As(err, &ad) {
			t.Errorf("haiku key reading a Sonnet invocation: %v, want AccessDeniedException", err)
		}
		_, err = startAsync(ctx, haiku, sandbox.SeedProfile, "s3://pool-outputs/run")
		if !errors.As(err, &ad) || !strings.Contains(err.Error(), `"team-haiku" is not allowed`) {
			t.Errorf("haiku key starting Sonnet: %v, want the relay's AccessDeniedException", err)
		}
	})
	t.Run("fails over when a target refuses before starting", func(t *testing.T) {
		for _, acct := range []string{"222222222222", "333333333333"} {
			if err := e.sb.AddFault(sandbox.Fault{Code: "ThrottlingException", Operation: "StartAsyncInvoke", Account: acct}); err != nil {
				t.Fatal(err)
			}
		}
		defer e.sb.ClearFaults()
		failedOver := false
		for range 3 {
			out, err := startAsync(ctx, c, sandbox.SeedProfile, "s3://pool-outputs/failover")
			if err != nil {
				t.Fatal(err)
			}
			if got := outHeader(t, out.ResultMetadata, "X-Bedrock-Relay-Target"); got != "acct-444" || !strings.Contains(aws.ToString(out.InvocationArn), ":444444444444:") {
				t.Errorf("started by %q as %s, want acct-444, the one target not throttling", got, aws.ToString(out.InvocationArn))
			}
			failedOver = failedOver || outHeader(t, out.ResultMetadata, "X-Bedrock-Relay-Attempts") != ""
		}
		if !failedOver {
			t.Error("no start was tried on a throttling target first")
		}
	})
	t.Run("errors", func(t *testing.T) {
		_, err := startAsync(ctx, c, sandbox.SeedProfile, "ftp://not-s3")
		if httpStatus(err) != 400 || apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "outputDataConfig.s3OutputDataConfig.s3Uri") {
			t.Errorf("a bad s3Uri: %v, want Bedrock's ValidationException passed on", err)
		}
		_, err = startAsync(ctx, c, "anthropic.claude-nothing-v9:0", "s3://pool-outputs/x")
		if httpStatus(err) != 400 || apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "The relay serves no model") {
			t.Errorf("a model the relay does not serve: %v, want the relay's ValidationException", err)
		}
		_, err = c.GetAsyncInvoke(ctx, &bedrockruntime.GetAsyncInvokeInput{InvocationArn: aws.String("arn:aws:bedrock:us-east-1:222222222222:async-invoke/abcdefghijkl")})
		if httpStatus(err) != 400 || apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "no target in account 222222222222 and region us-east-1") {
			t.Errorf("an ARN where the relay has no target: %v, want ValidationException", err)
		}
		_, err = c.GetAsyncInvoke(ctx, &bedrockruntime.GetAsyncInvokeInput{InvocationArn: aws.String("arn:aws:bedrock:ap-northeast-1:222222222222:async-invoke/abcdefghijkl")})
		if httpStatus(err) != 400 || apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "Could not find an async invocation") {
			t.Errorf("an unknown invocation: %v, want Bedrock's ValidationException passed on", err)
		}
		_, err = c.ListAsyncInvokes(ctx, &bedrockruntime.ListAsyncInvokesInput{StatusEquals: "Done"})
		if httpStatus(err) != 400 || apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "statusEquals") {
			t.Errorf("a bad status filter: %v, want Bedrock's ValidationException passed on", err)
		}
	})
}

// TestRelayRuntimeOpsNeedAKey: without a relay key the new operations are refused in Bedrock's shape.
func TestRelayRuntimeOpsNeedAKey(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	c := e.client("brk-not-a-key-of-this-relay")
	_, err := applyGuardrail(ctx, c, sandbox.GuardrailID("222222222222"), "DRAFT", "x")
	if httpStatus(err) != 403 || apiCode(err) != "UnrecognizedClientException" {
		t.Errorf("ApplyGuardrail with an unknown key: %v, want 403 UnrecognizedClientException", err)
	}
	_, err = startAsync(ctx, c, sandbox.SeedProfile, "s3://b-1/x")
	if httpStatus(err) != 403 || apiCode(err) != "UnrecognizedClientException" {
		t.Errorf("StartAsyncInvoke with an unknown key: %v, want 403 UnrecognizedClientException", err)
	}
	for _, p := range []string{"/async-invoke", "/async-invoke/arn%3Aaws%3Abedrock%3Aap-northeast-1%3A222222222222%3Aasync-invoke%2Fabcdefghijkl"} {
		resp, err := e.srv.Client().Get(e.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Amzn-ErrorType") != "UnrecognizedClientException" {
			t.Errorf("GET %s without a key: %d %s, want 403 UnrecognizedClientException", p, resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
		}
	}
	if got := e.sb.Stats().BedrockCalls("", ""); got != 0 {
		t.Errorf("%d calls reached the sandbox; refused callers must not reach a target", got)
	}
}
