package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// fakeClock is a settable clock for WithClock, starting now (SigV4 dates must stay within 15 minutes of it).
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func anthropicInput(prompt string) document.Interface {
	return document.NewLazyDocument(map[string]any{"anthropic_version": "bedrock-2023-05-31", "max_tokens": 200,
		"messages": []any{map[string]any{"role": "user", "content": prompt}}})
}

func s3Output(uri string) brtypes.AsyncInvokeOutputDataConfig {
	return &brtypes.AsyncInvokeOutputDataConfigMemberS3OutputDataConfig{Value: brtypes.AsyncInvokeS3OutputDataConfig{S3Uri: aws.String(uri)}}
}

func startAsync(ctx context.Context, c *bedrockruntime.Client, model string, input document.Interface, uri string, token *string) (*bedrockruntime.StartAsyncInvokeOutput, error) {
	return c.StartAsyncInvoke(ctx, &bedrockruntime.StartAsyncInvokeInput{ModelId: aws.String(model), ModelInput: input,
		OutputDataConfig: s3Output(uri), ClientRequestToken: token})
}

func TestAsyncInvoke(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: time.Now()}
	e := newEnvWith(t, nil, sandbox.WithClock(clock.Now))
	c := bedrockruntime.NewFromConfig(e.session(t, sandbox.TargetRoleARN(sandbox.LargeAccount)))

	out, err := startAsync(ctx, c, sandbox.SeedProfile, anthropicInput("an async hello"), "s3://relay-outputs/runs/", nil)
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(out.InvocationArn)
	prefix := "arn:aws:bedrock:ap-northeast-1:" + sandbox.LargeAccount + ":async-invoke/"
	id := strings.TrimPrefix(arn, prefix)
	if !strings.HasPrefix(arn, prefix) || len(id) != 12 || strings.ToLower(id) != id {
		t.Fatalf("invocation ARN %s, want %s + 12 lower-case characters", arn, prefix)
	}
	got, err := c.GetAsyncInvoke(ctx, &bedrockruntime.GetAsyncInvokeInput{InvocationArn: out.InvocationArn})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != brtypes.AsyncInvokeStatusCompleted || got.EndTime == nil || got.SubmitTime == nil ||
		!strings.HasSuffix(aws.ToString(got.ModelArn), "::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0") ||
		aws.ToString(got.ClientRequestToken) == "" {
		t.Errorf("GetAsyncInvoke = %s end %v model %s token %q, want Completed with an end time, the foundation-model ARN and the SDK's token",
			got.Status, got.EndTime, aws.ToString(got.ModelArn), aws.ToString(got.ClientRequestToken))
	}
	if s3, ok := got.OutputDataConfig.(*brtypes.AsyncInvokeOutputDataConfigMemberS3OutputDataConfig); !ok || aws.ToString(s3.Value.S3Uri) != "s3://relay-outputs/runs/" {
		t.Errorf("outputDataConfig %#v, want the s3Uri as sent", got.OutputDataConfig)
	}
	objs := e.sb.Bucket(sandbox.LargeAccount, "s3://relay-outputs/runs/")
	if len(objs) != 1 || objs[0].URI != "s3://relay-outputs/runs/"+id+"/output.json" {
		t.Fatalf("bucket %+v, want s3://relay-outputs/runs/%s/output.json", objs, id)
	}
	var answer anthropicAnswer
	if err := json.Unmarshal(objs[0].Body, &answer); err != nil || len(answer.Content) == 0 || !strings.Contains(answer.Content[0].Text, "account "+sandbox.LargeAccount) {
		t.Errorf("output.json %s, want the InvokeModel answer served by %s", objs[0].Body, sandbox.LargeAccount)
	}

	t.Run("completes after the set duration", func(t *testing.T) {
		e.sb.SetAsyncInvokeDuration(time.Minute)
		defer e.sb.SetAsyncInvokeDuration(0)
		out, err := startAsync(ctx, c, sandbox.SeedProfile, anthropicInput("slow"), "s3://relay-outputs/slow", nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.GetAsyncInvoke(ctx, &bedrockruntime.GetAsyncInvokeInput{InvocationArn: out.InvocationArn})
		if err != nil || got.Status != brtypes.AsyncInvokeStatusInProgress || got.EndTime != nil {
			t.Fatalf("right after the start: %v, %+v; want InProgress without an end time", err, got)
		}
		if objs := e.sb.Bucket("", "s3://relay-outputs/slow"); len(objs) != 0 {
			t.Errorf("bucket %+v before completion, want nothing", objs)
		}
		list, err := c.ListAsyncInvokes(ctx, &bedrockruntime.ListAsyncInvokesInput{StatusEquals: brtypes.AsyncInvokeStatusInProgress})
		if err != nil || len(list.AsyncInvokeSummaries) != 1 || aws.ToString(list.AsyncInvokeSummaries[0].InvocationArn) != aws.ToString(out.InvocationArn) {
			t.Errorf("ListAsyncInvokes(InProgress) = %v, %+v; want the one in progress", err, list)
		}
		clock.Advance(2 * time.Minute)
		got, err = c.GetAsyncInvoke(ctx, &bedrockruntime.GetAsyncInvokeInput{InvocationArn: out.InvocationArn})
		if err != nil || got.Status != brtypes.AsyncInvokeStatusCompleted || got.EndTime == nil || !got.EndTime.Equal(got.SubmitTime.Add(time.Minute)) {
			t.Fatalf("a minute later: %v, %+v; want Completed, ended a minute after its start", err, got)
		}
		if objs := e.sb.Bucket("", "s3://relay-outputs/slow/"); len(objs) != 1 {
			t.Errorf("bucket %+v after completion, want its output", objs)
		}
	})
	t.Run("idempotent with a client request token", func(t *testing.T) {
		token := aws.String("run-0001")
		a, err := startAsync(ctx, c, sandbox.SeedProfile, anthropicInput("once"), "s3://relay-outputs/once", token)
		if err != nil {
			t.Fatal(err)
		}
		b, err := startAsync(ctx, c, sandbox.SeedProfile, anthropicInput("once"), "s3://relay-outputs/once", token)
		if err != nil || aws.ToString(b.InvocationArn) != aws.ToString(a.InvocationArn) {
			t.Errorf("the same request again: %v, %s; want %s", err, aws.ToString(b.InvocationArn), aws.ToString(a.InvocationArn))
		}
		_, err = startAsync(ctx, c, sandbox.SeedProfile, anthropicInput("twice"), "s3://relay-outputs/once", token)
		var ce *brtypes.ConflictException
		if !errors.As(err, &ce) || httpStatus(err) != 400 {
			t.Errorf("another request with the token: %v (%d), want ConflictException 400", err, httpStatus(err))
		}
	})
	t.Run("a body the model refuses fails the invocation", func(t *testing.T) {
		out, err := startAsync(ctx, c, sandbox.SeedProfile, document.NewLazyDocument(map[string]any{"prompt": "no messages"}), "s3://relay-outputs/bad", nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.GetAsyncInvoke(ctx, &bedrockruntime.GetAsyncInvokeInput{InvocationArn: out.InvocationArn})
		if err != nil || got.Status != brtypes.AsyncInvokeStatusFailed || !strings.Contains(aws.ToString(got.FailureMessage), "Malformed input request") {
			t.Errorf("got %v, %s %q; want Failed with the model's refusal", err, got.Status, aws.ToString(got.FailureMessage))
		}
		if objs := e.sb.Bucket("", "s3://relay-outputs/bad"); len(objs) != 0 {
			t.Errorf("a failed invocation wrote %+v", objs)
		}
	})
	t.Run("list pages newest first, or oldest first", func(t *testing.T) {
		var all []string
		var token *string
		for {
			page, err := c.ListAsyncInvokes(ctx, &bedrockruntime.ListAsyncInvokesInput{MaxResults: aws.Int32(2), NextToken: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range page.AsyncInvokeSummaries {
				all = append(all, aws.ToString(s.InvocationArn))
			}
			if token = page.NextToken; token == nil {
				break
			}
		}
		if len(all) != 4 || all[3] != arn {
			t.Errorf("listed %v, want 4 invocations, the first started last", all)
		}
		asc, err := c.ListAsyncInvokes(ctx, &bedrockruntime.ListAsyncInvokesInput{SortBy: brtypes.SortAsyncInvocationBySubmissionTime, SortOrder: brtypes.SortOrderAscending})
		if err != nil || len(asc.AsyncInvokeSummaries) != 4 || aws.ToString(asc.AsyncInvokeSummaries[0].InvocationArn) != arn {
			t.Errorf("Ascending: %v, %+v; want the first started first", err, asc)
		}
		after := clock.Now().Add(time.Second) // the SDK sends whole seconds
		none, err := c.ListAsyncInvokes(ctx, &bedrockruntime.ListAsyncInvokesInput{SubmitTimeAfter: &after})
		if err != nil || len(none.AsyncInvokeSummaries) != 0 {
			t.Errorf("submitTimeAfter now: %v, %+v; want none", err, none)
		}
		other := bedrockruntime.NewFromConfig(e.session(t, sandbox.TargetRoleARN(sandbox.SmallAccount)))
		theirs, err := other.ListAsyncInvokes(ctx, &bedrockruntime.ListAsyncInvokesInput{})
		if err != nil || len(theirs.AsyncInvokeSummaries) != 0 {
			t.Errorf("another account's list: %v, %+v; want none of these", err, theirs)
		}
	})

	for _, tt := range []struct {
		name   string
		call   func() error
		status int
		typed  any
		msg    string
	}{
		{"unknown model", func() error {
			_, err := startAsync(ctx, c, "anthropic.claude-nothing-v9:0", anthropicInput("x"), "s3://b-1/x", nil)
			return err
		}, 400, &brtypes.ValidationException{}, "The provided model identifier is invalid."},
		{"model not allowed", func() error {
			_, err := startAsync(ctx, c, "anthropic.claude-3-haiku-20240307-v1:0", anthropicInput("x"), "s3://b-1/x", nil)
			return err
		}, 403, &brtypes.AccessDeniedException{}, "is not authorized to perform: bedrock:InvokeModel on resource: arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"},
		{"s3Uri pattern", func() error {
			_, err := startAsync(ctx, c, sandbox.SeedProfile, anthropicInput("x"), "https://bucket/x", nil)
			return err
		}, 400, &brtypes.ValidationException{}, "1 validation error detected: Value 'https://bucket/x' at 'outputDataConfig.s3OutputDataConfig.s3Uri' failed to satisfy constraint: Member must satisfy regular expression pattern: s3://[a-z0-9][\\.\\-a-z0-9]{1,61}[a-z0-9](/.*)?"},
		{"modelInput not an object", func() error {
			_, err := startAsync(ctx, c, sandbox.SeedProfile, document.NewLazyDocument("just a string"), "s3://b-1/x", nil)
			return err
		}, 400, &brtypes.ValidationException{}, "Invalid type for modelInput: expected a JSON object, found String."},
		{"modelId pattern", func() error {
			_, err := startAsync(ctx, c, "model id with spaces", anthropicInput("x"), "s3://b-1/x", nil)
			return err
		}, 400, &brtypes.ValidationException{}, "Value 'model id with spaces' at 'modelId' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z_\\.\\-/0-9:]+"},
		{"invocation ARN pattern", func() error {
			_, err := c.GetAsyncInvoke(ctx, &bedrockruntime.GetAsyncInvokeInput{InvocationArn: aws.String("arn:aws:bedrock:ap-northeast-1:" + sandbox.LargeAccount + ":async-invoke/short")})
			return err
		}, 400, &brtypes.ValidationException{}, "at 'invocationArn' failed to satisfy constraint: Member must satisfy regular expression pattern"},
		{"unknown invocation", func() error {
			_, err := c.GetAsyncInvoke(ctx, &bedrockruntime.GetAsyncInvokeInput{InvocationArn: aws.String(prefix + "abcdefghijkl")})
			return err
		}, 400, &brtypes.ValidationException{}, "Could not find an async invocation " + prefix + "abcdefghijkl"},
		{"status enum", func() error {
			_, err := c.ListAsyncInvokes(ctx, &bedrockruntime.ListAsyncInvokesInput{StatusEquals: "Done"})
			return err
		}, 400, &brtypes.ValidationException{}, "1 validation error detected: Value 'Done' at 'statusEquals' failed to satisfy constraint: Member must satisfy enum value set: [InProgress, Completed, Failed]"},
		{"sort order enum", func() error {
			_, err := c.ListAsyncInvokes(ctx, &bedrockruntime.ListAsyncInvokesInput{SortOrder: "Sideways"})
			return err
		}, 400, &brtypes.ValidationException{}, "Value 'Sideways' at 'sortOrder' failed to satisfy constraint: Member must satisfy enum value set: [Ascending, Descending]"},
		{"max results", func() error {
			_, err := c.ListAsyncInvokes(ctx, &bedrockruntime.ListAsyncInvokesInput{MaxResults: aws.Int32(1001)})
			return err
		}, 400, &brtypes.ValidationException{}, "Value '1001' at 'maxResults'"},
		{"page token", func() error {
			_, err := c.ListAsyncInvokes(ctx, &bedrockruntime.ListAsyncInvokesInput{NextToken: aws.String("not-a-token")})
			return err
		}, 400, &brtypes.ValidationException{}, "The provided pagination token is invalid."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatal("no error")
			}
			if got := httpStatus(err); got != tt.status || !errorsAs(err, tt.typed) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("got %d %v, want %d %T saying %q", got, err, tt.status, tt.typed, tt.msg)
			}
		})
	}

	t.Run("IAM of reads", func(t *testing.T) {
		role := sandbox.TargetRoleARN(sandbox.LargeAccount)
		policy := sandbox.DefaultScenario().Accounts[sandbox.LargeAccount].Roles[sandbox.TargetRoleName].Policies["GuardrailsAndAsync"]
		if err := e.sb.SetRolePolicy(role, "GuardrailsAndAsync", ""); err != nil {
			t.Fatal(err)
		}
		defer e.sb.SetRolePolicy(role, "GuardrailsAndAsync", string(policy))
		_, err := c.GetAsyncInvoke(ctx, &bedrockruntime.GetAsyncInvokeInput{InvocationArn: aws.String(arn)})
		if !errorsAs(err, &brtypes.AccessDeniedException{}) || !strings.Contains(err.Error(), "bedrock:GetAsyncInvoke on resource: "+arn) {
			t.Errorf("GetAsyncInvoke: %v, want AccessDeniedException naming bedrock:GetAsyncInvoke on the invocation", err)
		}
		_, err = c.ListAsyncInvokes(ctx, &bedrockruntime.ListAsyncInvokesInput{})
		if !errorsAs(err, &brtypes.AccessDeniedException{}) || !strings.Contains(err.Error(), "bedrock:ListAsyncInvokes on resource: *") {
			t.Errorf("ListAsyncInvokes: %v, want AccessDeniedException naming bedrock:ListAsyncInvokes", err)
		}
	})
	t.Run("faults", func(t *testing.T) {
		e.sb.FailNext(sandbox.Fault{Code: "ServiceUnavailableException", Operation: "StartAsyncInvoke"})
		_, err := startAsync(ctx, c, sandbox.SeedProfile, anthropicInput("x"), "s3://b-1/x", nil)
		if httpStatus(err) != 503 || apiCode(err) != "ServiceUnavailableException" {
			t.Errorf("got %v, want the injected ServiceUnavailableException 503", err)
		}
	})
	t.Run("calls are recorded", func(t *testing.T) {
		ops := map[string]int{}
		for _, call := range e.sb.Calls() {
			if call.Account == sandbox.LargeAccount && call.Outcome == "ok" {
				ops[call.Operation]++
			}
		}
		for _, op := range []string{"StartAsyncInvoke", "GetAsyncInvoke", "ListAsyncInvokes"} {
			if ops[op] == 0 {
				t.Errorf("no successful %s recorded (%v)", op, ops)
			}
		}
	})
	t.Run("Reset forgets invocations and the bucket", func(t *testing.T) {
		if err := e.sb.Reset(); err != nil {
			t.Fatal(err)
		}
		if objs := e.sb.Bucket("", ""); len(objs) != 0 {
			t.Errorf("bucket after Reset: %+v", objs)
		}
	})
}

// TestAsyncInvokeThrottles: a start counts against the model's quota as InvokeModel does; the small account
// takes 2 a minute.
func TestAsyncInvokeThrottles(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	c := bedrockruntime.NewFromConfig(e.session(t, sandbox.TargetRoleARN(sandbox.SmallAccount)))
	for i := range 3 {
		_, err := startAsync(ctx, c, sandbox.SeedProfile, anthropicInput("x"), "s3://b-1/x", nil)
		if i < 2 && err != nil {
			t.Fatalf("start %d: %v", i+1, err)
		}
		if i == 2 && (!errorsAs(err, &brtypes.ThrottlingException{}) || httpStatus(err) != 429) {
			t.Errorf("start 3: %v, want ThrottlingException 429", err)
		}
	}
}

// TestAsyncInvokeAdmin: the bucket and the duration through the admin API.
func TestAsyncInvokeAdmin(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	c := bedrockruntime.NewFromConfig(e.session(t, sandbox.TargetRoleARN(sandbox.LargeAccount)))
	if code, body := adminDo(t, e.url, "POST", "/_sandbox/async-invoke", `{"duration_ms":-1}`); code != 400 {
		t.Errorf("a negative duration: %d %s, want 400", code, body)
	}
	if code, body := adminDo(t, e.url, "POST", "/_sandbox/async-invoke", `{"duration_ms":0}`); code != 200 {
		t.Fatalf("POST /_sandbox/async-invoke: %d %s", code, body)
	}
	if _, err := startAsync(ctx, c, sandbox.SeedProfile, anthropicInput("admin"), "s3://admin-bucket/p", nil); err != nil {
		t.Fatal(err)
	}
	code, body := adminDo(t, e.url, "GET", "/_sandbox/bucket?account="+sandbox.LargeAccount+"&uri=s3://admin-bucket/", "")
	var got struct {
		Objects []struct {
			Account, URI, Text string
			Size               int
		}
	}
	if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil || len(got.Objects) != 1 ||
		!strings.HasSuffix(got.Objects[0].URI, "/output.json") || got.Objects[0].Size != len(got.Objects[0].Text) ||
		!strings.Contains(got.Objects[0].Text, `"type":"message"`) {
		t.Errorf("GET /_sandbox/bucket: %d %s, want the output object", code, body)
	}
	if _, body := adminDo(t, e.url, "GET", "/_sandbox", ""); !strings.Contains(body, "/_sandbox/bucket") || !strings.Contains(body, "/_sandbox/async-invoke") {
		t.Errorf("GET /_sandbox does not list the new endpoints: %s", body)
	}
}

// TestBoto3RuntimeOps: ApplyGuardrail and the async-invoke operations through boto3, including the
// exceptions it raises for bad input.
func TestBoto3RuntimeOps(t *testing.T) {
	needTool(t, exec.Command("python3", "-c", "import boto3").Run() == nil, "python3 with boto3")
	checkRuntimeOps(t, "python3", "clients/boto3_runtime_ops.py")
}

// TestJSRuntimeOps: the same with the AWS SDK for JavaScript v3 (the exception's name and $metadata status).
func TestJSRuntimeOps(t *testing.T) {
	_, err := exec.LookPath("node")
	needTool(t, err == nil, "node")
	_, err = os.Stat("clients/node_modules/@aws-sdk/client-bedrock-runtime")
	needTool(t, err == nil, "sandbox/clients/node_modules (.ci/install-js-deps)")
	checkRuntimeOps(t, "node", "clients/js_runtime_ops.mjs")
}

// checkRuntimeOps runs a client script that prints what boto3_runtime_ops.py prints, and checks it.
func checkRuntimeOps(t *testing.T, name string, args ...string) {
	t.Helper()
	sb, url := startSandbox(t)
	out := runClient(t, clientEnv(t, url, sb, "TARGET_ROLE_ARN="+sandbox.TargetRoleARN(sandbox.LargeAccount), "MODEL_ID="+sandbox.SeedProfile,
		"GUARDRAIL_ID="+sandbox.GuardrailID(sandbox.LargeAccount), "PYTHONIOENCODING=utf-8"), name, args...)
	type failure struct {
		Class, Code, Message string
		Status               int
	}
	var got struct {
		Blocked struct {
			Action    string
			Outputs   []struct{ Text string }
			Match     string
			WordUnits int `json:"word_units"`
		}
		Clean struct {
			Action  string
			Outputs []any
		}
		UnknownGuardrail failure `json:"unknown_guardrail"`
		BadSource        failure `json:"bad_source"`
		BadVersion       failure `json:"bad_version"`
		InvocationARN    string  `json:"invocation_arn"`
		SameTokenSameARN bool    `json:"same_token_same_arn"`
		Get              struct {
			Status     string
			ModelARN   string `json:"model_arn"`
			S3URI      string `json:"s3_uri"`
			HasEndTime bool   `json:"has_end_time"`
			Token      string
		}
		Listed            []string
		Conflict          failure
		BadS3URI          failure `json:"bad_s3_uri"`
		UnknownModel      failure `json:"unknown_model"`
		UnknownInvocation failure `json:"unknown_invocation"`
		BadStatus         failure `json:"bad_status"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output %s: %v", out, err)
	}
	if got.Blocked.Action != "GUARDRAIL_INTERVENED" || len(got.Blocked.Outputs) != 1 || got.Blocked.Match != "forbidden" || got.Blocked.WordUnits != 1 {
		t.Errorf("blocked: %+v", got.Blocked)
	}
	if got.Clean.Action != "NONE" || len(got.Clean.Outputs) != 0 {
		t.Errorf("clean: %+v", got.Clean)
	}
	if got.Get.Status != "Completed" || !got.Get.HasEndTime || got.Get.S3URI != "s3://boto3-bucket/out" || got.Get.Token != "boto3-token-1" ||
		!strings.HasSuffix(got.Get.ModelARN, ":foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0") || !got.SameTokenSameARN {
		t.Errorf("get_async_invoke: %+v (same token, same ARN: %v)", got.Get, got.SameTokenSameARN)
	}
	if len(got.Listed) != 1 || got.Listed[0] != got.InvocationARN {
		t.Errorf("list_async_invokes: %v, want [%s]", got.Listed, got.InvocationARN)
	}
	for name, tt := range map[string]struct {
		got              failure
		class, msgPrefix string
		status           int
	}{
		"unknown guardrail":  {got.UnknownGuardrail, "ResourceNotFoundException", "The guardrail identifier or version provided in the request does not exist.", 404},
		"bad source":         {got.BadSource, "ValidationException", "1 validation error detected: Value 'SIDEWAYS' at 'source'", 400},
		"bad version":        {got.BadVersion, "ValidationException", "1 validation error detected: Value 'latest' at 'guardrailVersion'", 400},
		"conflict":           {got.Conflict, "ConflictException", "The clientRequestToken boto3-token-1 was used before", 400},
		"bad s3Uri":          {got.BadS3URI, "ValidationException", "1 validation error detected: Value 'ftp://nowhere' at 'outputDataConfig.s3OutputDataConfig.s3Uri'", 400},
		"unknown model":      {got.UnknownModel, "ValidationException", "The provided model identifier is invalid.", 400},
		"unknown invocation": {got.UnknownInvocation, "ValidationException", "Could not find an async invocation", 400},
		"bad status":         {got.BadStatus, "ValidationException", "1 validation error detected: Value 'Done' at 'statusEquals'", 400},
	} {
		if tt.got.Class != tt.class || tt.got.Code != tt.class || tt.got.Status != tt.status || !strings.HasPrefix(tt.got.Message, tt.msgPrefix) {
			t.Errorf("%s: boto3 raised %+v, want %s (%d) saying %q", name, tt.got, tt.class, tt.status, tt.msgPrefix)
		}
	}
}
