package sandbox_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// TestAWSCLIRuntime runs the AWS CLI (aws bedrock-runtime converse) against the sandbox as a user would, with
// the pool role's session: Bedrock's refusals of bad additionalModelRequestFields and thinking settings, an
// unknown guardrail, and what the CLI prints of thinking, cache usage and a guardrail's intervention.
func TestAWSCLIRuntime(t *testing.T) {
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
	role = append(role, "AWS_ACCESS_KEY_ID="+sess.Credentials.AccessKeyId, "AWS_SECRET_ACCESS_KEY="+sess.Credentials.SecretAccessKey, "AWS_SESSION_TOKEN="+sess.Credentials.SessionToken)
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
	t.Run("guardrail", func(t *testing.T) {
		out := runClient(t, role, "aws", converse("the top secret plan", "--guardrail-config",
			`{"guardrailIdentifier":"`+sandbox.GuardrailID(sandbox.LargeAccount)+`","guardrailVersion":"1","trace":"enabled"}`)...)
		if !strings.Contains(string(out), `"stopReason": "guardrail_intervened"`) || !strings.Contains(string(out), `"top secret"`) {
			t.Errorf("output %s, want guardrail_intervened and the trace's match", out)
		}
	})
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
