package main

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// invokeEnv is a sandbox and the environment `eval "$(bedrock-relay sandbox env)"` would give.
func invokeEnv(t *testing.T) (*sandbox.Sandbox, map[string]string) {
	t.Helper()
	sb, err := sandbox.New(sandbox.DefaultScenario())
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sb)
	t.Cleanup(ts.Close)
	c := sb.CallerCredentials()
	return sb, map[string]string{
		"AWS_ENDPOINT_URL":      ts.URL,
		"AWS_REGION":            sandbox.SeedRegion,
		"AWS_ACCESS_KEY_ID":     c.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": c.SecretAccessKey,
		"AWS_SESSION_TOKEN":     c.SessionToken,
	}
}

// writeCounter records each write, to tell streamed output from output printed at the end.
type writeCounter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.buf.Write(p)
}

func runInvokeCmd(t *testing.T, vars map[string]string, stdin string, args ...string) (*writeCounter, string, error) {
	t.Helper()
	var stdout writeCounter
	var stderr bytes.Buffer
	err := run(t.Context(), append([]string{"invoke"}, args...), func(k string) string { return vars[k] },
		strings.NewReader(stdin), &stdout, &stderr)
	return &stdout, stderr.String(), err
}

func TestInvokeSeed(t *testing.T) {
	sb, vars := invokeEnv(t)
	// A paced model, so that the answer arrives in several pieces.
	sb.SetLatency("*", sandbox.Latency{TokensPerSecond: 2000})
	stdout, stderr, err := runInvokeCmd(t, vars, "", "--role-arn", sandbox.TargetRoleARN(sandbox.SmallAccount),
		"--system", "Answer in Japanese.", "クロスアカウントでのBedrock呼び出しテストです")
	if err != nil {
		t.Fatalf("invoke: %v\nstderr: %s", err, stderr)
	}
	out := stdout.buf.String()
	if !strings.Contains(out, "クロスアカウントでのBedrock呼び出しテストです") || !strings.HasSuffix(out, "\n") {
		t.Errorf("stdout = %q, want the model's reply quoting the prompt, ending in a newline", out)
	}
	if stdout.writes < 3 {
		t.Errorf("the answer came in %d writes, want it streamed as it arrives", stdout.writes)
	}
	for _, want := range []string{"111111111111 -> 222222222222", sandbox.SeedProfile, "ap-northeast-1", "usage: ", "input tokens", "output tokens"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr = %q, want it to show %q", stderr, want)
		}
	}
	if strings.Contains(out, "111111111111") {
		t.Errorf("stdout %q carries the chain; it belongs on stderr", out)
	}
	st := sb.Stats()
	if st.STSCalls("AssumeRole") != 1 || st.BedrockCalls(sandbox.SmallAccount, "ok") != 1 {
		t.Errorf("AssumeRole calls %d, ok Bedrock calls %d; want 1 and 1", st.STSCalls("AssumeRole"), st.BedrockCalls(sandbox.SmallAccount, "ok"))
	}
}

func TestInvokeFromStdinAndEnv(t *testing.T) {
	_, vars := invokeEnv(t)
	vars["TARGET_ROLE_ARN"] = sandbox.TargetRoleARN(sandbox.LargeAccount)
	stdout, stderr, err := runInvokeCmd(t, vars, "hello from stdin\n", "--max-tokens", "200")
	if err != nil {
		t.Fatalf("invoke: %v\nstderr: %s", err, stderr)
	}
	if !strings.Contains(stdout.buf.String(), "hello from stdin") || !strings.Contains(stderr, "111111111111 -> 333333333333") {
		t.Errorf("stdout %q, stderr %q: want the reply to the stdin prompt from 333333333333", stdout.buf.String(), stderr)
	}
}

func TestInvokeUsage(t *testing.T) {
	_, vars := invokeEnv(t)
	for _, args := range [][]string{
		{"hello"}, // no role
		{"--role-arn", sandbox.TargetRoleARN(sandbox.SmallAccount), "--max-tokens", "0", "hello"},
		{"--role-arn", sandbox.TargetRoleARN(sandbox.SmallAccount)}, // no prompt, empty stdin
		{"--no-such-flag"},
	} {
		_, stderr, err := runInvokeCmd(t, vars, "", args...)
		if !errors.Is(err, errUsage) || stderr == "" {
			t.Errorf("invoke %q = %v (stderr %q), want a usage error explained on stderr", args, err, stderr)
		}
	}
	_, _, err := runInvokeCmd(t, vars, "", "--role-arn", "arn:aws:iam::2222:role/x", "--region", "tokyo", "hello")
	if err == nil || !strings.Contains(err.Error(), "role ARN") || !strings.Contains(err.Error(), "region") {
		t.Errorf("invoke with a bad role and region = %v, want both named", err)
	}
}

func TestInvokeFailures(t *testing.T) {
	tests := []struct {
		name  string
		role  string
		setup func(*sandbox.Sandbox)
		want  []string
		out   bool // some answer printed before the failure
	}{
		{
			name: "assume role denied", role: sandbox.TargetRoleARN("444444444444"),
			want: []string{"AccessDenied", "hint: the trust policy of arn:aws:iam::444444444444:role/BedrockAccessRole must name arn:aws:iam::111111111111:role/lambda-execution-role"},
		},
		{
			name: "throttled before the stream", role: sandbox.TargetRoleARN(sandbox.SmallAccount),
			setup: func(sb *sandbox.Sandbox) { sb.FailNext(sandbox.Fault{Code: "ThrottlingException", Count: 3}) },
			want:  []string{"InvokeModelWithResponseStream", "ThrottlingException", "hint: account 222222222222"},
		},
		{
			name: "stream cut midway", role: sandbox.TargetRoleARN(sandbox.SmallAccount),
			setup: func(sb *sandbox.Sandbox) {
				sb.FailNext(sandbox.Fault{Code: "ModelStreamErrorException", AfterEvents: 3})
			},
			want: []string{"ModelStreamErrorException"},
			out:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb, vars := invokeEnv(t)
			if tt.setup != nil {
				tt.setup(sb)
			}
			stdout, stderr, err := runInvokeCmd(t, vars, "", "--role-arn", tt.role, "hello there, how are you today?")
			if err == nil {
				t.Fatalf("invoke succeeded, want an error; stdout %q stderr %q", stdout.buf.String(), stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if got := stdout.buf.Len() > 0; got != tt.out {
				t.Errorf("stdout %q: printed something = %v, want %v", stdout.buf.String(), got, tt.out)
			}
		})
	}
}
