package sandbox_test

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// TestAWSCLIRuntime runs the AWS CLI (aws bedrock-runtime converse) against the sandbox as a user would, with
// the pool role's session: Bedrock's refusals of bad additionalModelRequestFields and thinking settings, an
// unknown guardrail and a made-up tier, and what the CLI prints of thinking, cache usage, the stop reasons of
// the sandbox's directives, the tier echoed and a guardrail's intervention.
func TestAWSCLIRuntime(t *testing.T) {
	t.Parallel() // a CLI call is a second of Python starting; its own sandbox
	_, role := cliRoleEnv(t)
	converse := func(text string, extra ...string) []string {
		return append([]string{"bedrock-runtime", "converse", "--model-id", sandbox.SeedProfile,
			"--messages", `[{"role":"user","content":[{"text":` + strconvQuote(text) + `}]}]`}, extra...)
	}

	refusals := []struct {
		name string
		args []string
		want string
	}{
		{"unknown field", converse("hi", "--additional-model-request-fields", `{"no_such_field":1}`),
			"An error occurred (ValidationException) when calling the Converse operation"},
		{"made-up beta", converse("hi", "--additional-model-request-fields", `{"anthropic_beta":["no-such-beta-2099-01-01"]}`),
			"invalid beta flag"},
		{"thinking budget", converse("hi", "--inference-config", `{"maxTokens":2000}`, "--additional-model-request-fields", `{"thinking":{"type":"enabled","budget_tokens":100}}`),
			"budget_tokens"},
		{"unknown guardrail", converse("hi", "--guardrail-config", `{"guardrailIdentifier":"nosuchguardrail","guardrailVersion":"1"}`),
			"An error occurred (ValidationException) when calling the Converse operation: The provided guardrail identifier is invalid."},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			if got := runFailing(t, role, "aws", tt.args...); !strings.Contains(got, tt.want) {
				t.Errorf("stderr %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("thinking", func(t *testing.T) {
		out := runClient(t, role, "aws", converse("think about it", "--inference-config", `{"maxTokens":4000}`,
			"--additional-model-request-fields", `{"thinking":{"type":"enabled","budget_tokens":1024}}`)...)
		if !strings.Contains(string(out), `"reasoningContent"`) || !strings.Contains(string(out), `"signature"`) {
			t.Errorf("output %s, want a reasoningContent block with a signature", out)
		}
	})
	t.Run("cache", func(t *testing.T) {
		system := `[{"text":` + strconvQuote(strings.Repeat("cache ", 1500)) + `},{"cachePoint":{"type":"default"}}]`
		first := runClient(t, role, "aws", converse("hi", "--system", system)...)
		second := runClient(t, role, "aws", converse("hi", "--system", system)...)
		if !strings.Contains(string(first), `"cacheWriteInputTokens"`) || !strings.Contains(string(second), `"cacheReadInputTokens"`) {
			t.Errorf("first %s\nsecond %s\nwant a cache write, then a read", first, second)
		}
	})
	t.Run("stop reasons", func(t *testing.T) {
		for directive, want := range map[string]string{"content_filtered": "content_filtered", "malformed_tool_use": "malformed_tool_use",
			"model_context_window_exceeded": "model_context_window_exceeded"} {
			var got struct{ StopReason string }
			mustJSON(t, runClient(t, role, "aws", converse("please stop:"+directive)...), &got)
			if got.StopReason != want {
				t.Errorf("stop:%s: stopReason %q, want %q", directive, got.StopReason, want)
			}
		}
	})
	t.Run("tier echo", func(t *testing.T) {
		var got struct {
			PerformanceConfig struct{ Latency string }
			ServiceTier       struct{ Type string }
		}
		mustJSON(t, runClient(t, role, "aws", converse("hi", "--performance-config", `{"latency":"optimized"}`, "--service-tier", `{"type":"flex"}`)...), &got)
		if got.PerformanceConfig.Latency != "optimized" || got.ServiceTier.Type != "flex" {
			t.Errorf("echo %+v, want latency optimized and tier flex", got)
		}
		if stderr := runFailing(t, role, "aws", converse("hi", "--service-tier", `{"type":"gold"}`)...); !strings.Contains(stderr,
			"An error occurred (ValidationException) when calling the Converse operation: 1 validation error detected: Value 'gold' at 'serviceTier.type'") {
			t.Errorf("a made-up tier: stderr %q", stderr)
		}
	})
	t.Run("guardrail", func(t *testing.T) {
		out := runClient(t, role, "aws", converse("the top secret plan", "--guardrail-config",
			`{"guardrailIdentifier":"`+sandbox.GuardrailID(sandbox.LargeAccount)+`","guardrailVersion":"1","trace":"enabled"}`)...)
		if !strings.Contains(string(out), `"stopReason": "guardrail_intervened"`) || !strings.Contains(string(out), `"top secret"`) {
			t.Errorf("output %s, want guardrail_intervened and the trace's match", out)
		}
	})
}

// cliRoleEnv starts a sandbox and gives the environment of an AWS CLI that has assumed the large account's
// target role with `aws sts assume-role` (the pool's session, as a user would get it by hand).
func cliRoleEnv(t *testing.T) (*sandbox.Sandbox, []string) {
	t.Helper()
	_, err := exec.LookPath("aws")
	needTool(t, err == nil, "the AWS CLI (aws)")
	sb, url := startSandbox(t)
	env := clientEnv(t, url, sb)
	var sess struct {
		Credentials struct{ AccessKeyId, SecretAccessKey, SessionToken string }
	}
	out := runClient(t, env, "aws", "sts", "assume-role", "--role-arn", sandbox.TargetRoleARN(sandbox.LargeAccount), "--role-session-name", "cli")
	if err := json.Unmarshal(out, &sess); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var role []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "AWS_ACCESS_KEY_ID=") && !strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY=") && !strings.HasPrefix(kv, "AWS_SESSION_TOKEN=") {
			role = append(role, kv)
		}
	}
	return sb, append(role, "AWS_ACCESS_KEY_ID="+sess.Credentials.AccessKeyId, "AWS_SECRET_ACCESS_KEY="+sess.Credentials.SecretAccessKey,
		"AWS_SESSION_TOKEN="+sess.Credentials.SessionToken)
}

// TestAWSCLIRuntimeOps: aws bedrock-runtime apply-guardrail and the async-invoke commands against the sandbox,
// and the errors the CLI reports for bad calls.
func TestAWSCLIRuntimeOps(t *testing.T) {
	t.Parallel() // a CLI call is a second of Python starting; its own sandbox
	_, role := cliRoleEnv(t)
	cli := func(args ...string) []string { return append([]string{"bedrock-runtime"}, args...) }
	apply := func(text string, extra ...string) []string {
		return cli(append([]string{"apply-guardrail", "--guardrail-identifier", sandbox.GuardrailID(sandbox.LargeAccount),
			"--guardrail-version", "DRAFT", "--source", "INPUT", "--content", `[{"text":{"text":` + strconvQuote(text) + `}}]`}, extra...)...)
	}
	var applied struct {
		Action      string
		Outputs     []struct{ Text string }
		Assessments []struct {
			WordPolicy struct{ CustomWords []struct{ Match string } }
		}
	}
	mustJSON(t, runClient(t, role, "aws", apply("this is forbidden")...), &applied)
	if applied.Action != "GUARDRAIL_INTERVENED" || len(applied.Outputs) != 1 || len(applied.Assessments) != 1 ||
		len(applied.Assessments[0].WordPolicy.CustomWords) != 1 || applied.Assessments[0].WordPolicy.CustomWords[0].Match != "forbidden" {
		t.Errorf("apply-guardrail: %+v, want an intervention on the word \"forbidden\"", applied)
	}
	mustJSON(t, runClient(t, role, "aws", apply("nothing to see here")...), &applied)
	if applied.Action != "NONE" {
		t.Errorf("apply-guardrail of a clean text: action %s, want NONE", applied.Action)
	}

	start := cli("start-async-invoke", "--model-id", sandbox.SeedProfile, "--client-request-token", "cli-token-1",
		"--model-input", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":200,"messages":[{"role":"user","content":"hi"}]}`,
		"--output-data-config", `{"s3OutputDataConfig":{"s3Uri":"s3://cli-bucket/out"}}`)
	var started, again struct{ InvocationArn string }
	mustJSON(t, runClient(t, role, "aws", start...), &started)
	mustJSON(t, runClient(t, role, "aws", start...), &again)
	if started.InvocationArn == "" || again.InvocationArn != started.InvocationArn {
		t.Errorf("start-async-invoke twice with one token: %q then %q, want one ARN", started.InvocationArn, again.InvocationArn)
	}
	var got struct {
		Status, ModelArn, ClientRequestToken, EndTime string
		OutputDataConfig                              struct{ S3OutputDataConfig struct{ S3Uri string } }
	}
	mustJSON(t, runClient(t, role, "aws", cli("get-async-invoke", "--invocation-arn", started.InvocationArn)...), &got)
	if got.Status != "Completed" || got.EndTime == "" || got.ClientRequestToken != "cli-token-1" || got.OutputDataConfig.S3OutputDataConfig.S3Uri != "s3://cli-bucket/out" ||
		!strings.HasSuffix(got.ModelArn, ":foundation-model/"+seedFM) {
		t.Errorf("get-async-invoke: %+v", got)
	}
	var listed struct {
		AsyncInvokeSummaries []struct{ InvocationArn string }
	}
	mustJSON(t, runClient(t, role, "aws", cli("list-async-invokes", "--status-equals", "Completed")...), &listed)
	if len(listed.AsyncInvokeSummaries) != 1 || listed.AsyncInvokeSummaries[0].InvocationArn != started.InvocationArn {
		t.Errorf("list-async-invokes: %+v, want [%s]", listed, started.InvocationArn)
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown guardrail", cli("apply-guardrail", "--guardrail-identifier", "nosuchguardrail", "--guardrail-version", "DRAFT", "--source", "INPUT", "--content", `[{"text":{"text":"x"}}]`),
			"An error occurred (ResourceNotFoundException) when calling the ApplyGuardrail operation: The guardrail identifier or version provided in the request does not exist."},
		{"token reused", append(slices.Clone(start[:len(start)-4]), "--model-input", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`,
			"--output-data-config", `{"s3OutputDataConfig":{"s3Uri":"s3://cli-bucket/out"}}`),
			"An error occurred (ConflictException) when calling the StartAsyncInvoke operation: The clientRequestToken cli-token-1 was used before"},
		{"unknown invocation", cli("get-async-invoke", "--invocation-arn", started.InvocationArn[:len(started.InvocationArn)-12]+"zzzzzzzzzzzz"),
			"An error occurred (ValidationException) when calling the GetAsyncInvoke operation: Could not find an async invocation"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := runFailing(t, role, "aws", tt.args...); !strings.Contains(got, tt.want) {
				t.Errorf("stderr %q, want %q", got, tt.want)
			}
		})
	}
}

// TestAWSCLIDeclaredFaults: a fault of each error the CLI's Bedrock Runtime commands declare (every code, each
// on some command that declares it, and every command at least once), installed as a one-shot fault, is what
// the CLI reports: "An error occurred (Code) when calling the Op operation".
func TestAWSCLIDeclaredFaults(t *testing.T) {
	t.Parallel() // a CLI call is a second of Python starting; its own sandbox
	sb, role := cliRoleEnv(t)
	role = append(role, "AWS_MAX_ATTEMPTS=1", "AWS_RETRY_MODE=standard") // one attempt: a fault is one answer
	body := filepath.Join(t.TempDir(), "body.json")
	must(t, os.WriteFile(body, []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":50,"messages":[{"role":"user","content":"fault"}]}`), 0o600))
	var started struct{ InvocationArn string }
	asyncStart := []string{"bedrock-runtime", "start-async-invoke", "--model-id", sandbox.SeedProfile,
		"--model-input", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":50,"messages":[{"role":"user","content":"fault"}]}`,
		"--output-data-config", `{"s3OutputDataConfig":{"s3Uri":"s3://cli-bucket/faults"}}`}
	mustJSON(t, runClient(t, role, "aws", asyncStart...), &started)
	messages := `[{"role":"user","content":[{"text":"fault"}]}]`
	commands := map[string][]string{ // the CLI serves no event-stream operation
		"InvokeModel":      {"bedrock-runtime", "invoke-model", "--model-id", sandbox.SeedProfile, "--body", "fileb://" + body, filepath.Join(t.TempDir(), "out.json")},
		"Converse":         {"bedrock-runtime", "converse", "--model-id", sandbox.SeedProfile, "--messages", messages},
		"CountTokens":      {"bedrock-runtime", "count-tokens", "--model-id", seedFM, "--input", `{"converse":{"messages":` + messages + `}}`},
		"ApplyGuardrail":   {"bedrock-runtime", "apply-guardrail", "--guardrail-identifier", sandbox.GuardrailID(sandbox.LargeAccount), "--guardrail-version", "DRAFT", "--source", "INPUT", "--content", `[{"text":{"text":"fault"}}]`},
		"StartAsyncInvoke": asyncStart,
		"GetAsyncInvoke":   {"bedrock-runtime", "get-async-invoke", "--invocation-arn", started.InvocationArn},
		"ListAsyncInvokes": {"bedrock-runtime", "list-async-invokes"},
	}
	// Each code once, on the command that has been given the fewest so far; then any command left out.
	used := map[string]int{}
	type trial struct{ op, code string }
	var trials []trial
	codes := map[string]bool{}
	for op := range commands {
		errs, _ := sandbox.DeclaredErrors(op)
		for _, c := range errs {
			codes[c] = true
		}
	}
	for _, code := range slices.Sorted(maps.Keys(codes)) {
		best := ""
		for _, op := range slices.Sorted(maps.Keys(commands)) {
			if errs, _ := sandbox.DeclaredErrors(op); slices.Contains(errs, code) && (best == "" || used[op] < used[best]) {
				best = op
			}
		}
		used[best]++
		trials = append(trials, trial{best, code})
	}
	for _, op := range slices.Sorted(maps.Keys(commands)) {
		if used[op] == 0 {
			errs, _ := sandbox.DeclaredErrors(op)
			trials = append(trials, trial{op, errs[0]})
		}
	}
	for _, tr := range trials {
		t.Run(tr.op+" "+tr.code, func(t *testing.T) {
			sb.FailNext(sandbox.Fault{Code: tr.code, Operation: tr.op})
			want := "An error occurred (" + tr.code + ") when calling the " + tr.op + " operation"
			if got := runFailing(t, role, "aws", commands[tr.op]...); !strings.Contains(got, want) {
				t.Errorf("stderr %q, want %q", got, want)
			}
		})
	}
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
