package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// needTool skips when a client is not installed, except in CI (CI set), where it must be.
func needTool(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is missing, and CI is set: run .ci/install-deps", what)
	}
	t.Skipf("%s is missing (run .ci/install-deps); skipping outside CI", what)
}

// clientEnv is the process environment for a real client: this one without AWS settings, plus the lines of
// sandbox.EnvLines for a sandbox served on 127.0.0.1, plus extra.
func clientEnv(t *testing.T, url string, sb *sandbox.Sandbox, extra ...string) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	dir := t.TempDir()
	env = append(env, "AWS_CONFIG_FILE="+filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"), "AWS_EC2_METADATA_DISABLED=true")
	for _, line := range strings.Split(sandbox.EnvLines(url, sandbox.SeedRegion, sb.CallerCredentials()), "\n") {
		if kv, ok := strings.CutPrefix(line, "export "); ok {
			k, v, _ := strings.Cut(kv, "=")
			env = append(env, k+"="+strings.Trim(v, "'"))
		}
	}
	return append(env, extra...)
}

func runClient(t *testing.T, env []string, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return out
}

func startSandbox(t *testing.T) (*sandbox.Sandbox, string) {
	t.Helper()
	sb, err := sandbox.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(sb) // 127.0.0.1
	// The JavaScript Bedrock Runtime client speaks HTTP/2 with prior knowledge (NodeHttp2Handler), also to an
	// http:// endpoint; the sandbox's server must accept unencrypted HTTP/2 for it.
	ts.Config.Protocols = new(http.Protocols)
	ts.Config.Protocols.SetHTTP1(true)
	ts.Config.Protocols.SetUnencryptedHTTP2(true)
	ts.Start()
	t.Cleanup(ts.Close)
	return sb, ts.URL
}

// checkFlow checks the JSON a flow script printed.
func checkFlow(t *testing.T, out []byte) {
	t.Helper()
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output %s: %v", out, err)
	}
	if got["caller"] != "arn:aws:sts::111111111111:assumed-role/lambda-execution-role/bedrock-relay-sandbox" {
		t.Errorf("caller %v, want the sandbox's caller session", got["caller"])
	}
	for _, k := range []string{"invoke_model", "invoke_model_with_response_stream", "converse", "converse_stream"} {
		s, _ := got[k].(string)
		if !strings.Contains(s, "account "+sandbox.LargeAccount) || !strings.Contains(s, "クロスアカウントでのBedrock呼び出しテストです") {
			t.Errorf("%s = %q, want the serving account and the prompt", k, s)
		}
	}
	if got["converse_stream_stop"] != "end_turn" {
		t.Errorf("converse_stream_stop = %v, want end_turn", got["converse_stream_stop"])
	}
}

func TestBoto3Client(t *testing.T) {
	_, err := exec.LookPath("python3")
	needTool(t, err == nil, "python3")
	needTool(t, exec.Command("python3", "-c", "import boto3").Run() == nil, "boto3")
	sb, url := startSandbox(t)
	out := runClient(t, clientEnv(t, url, sb, "TARGET_ROLE_ARN="+sandbox.TargetRoleARN(sandbox.LargeAccount), "MODEL_ID="+sandbox.SeedProfile, "PYTHONIOENCODING=utf-8"),
		"python3", "clients/boto3_check.py")
	checkFlow(t, out)
	if got := sb.Stats().BedrockCalls(sandbox.LargeAccount, "ok"); got != 4 {
		t.Errorf("Bedrock calls served: got %d, want 4", got)
	}
}

func TestJSClient(t *testing.T) {
	_, err := exec.LookPath("node")
	needTool(t, err == nil, "node")
	_, err = os.Stat("clients/node_modules/@aws-sdk/client-bedrock-runtime")
	needTool(t, err == nil, "sandbox/clients/node_modules (.ci/install-js-deps)")
	sb, url := startSandbox(t)
	out := runClient(t, clientEnv(t, url, sb, "TARGET_ROLE_ARN="+sandbox.TargetRoleARN(sandbox.LargeAccount), "MODEL_ID="+sandbox.SeedProfile),
		"node", "clients/js_check.mjs")
	checkFlow(t, out)
}

func TestAWSCLI(t *testing.T) {
	t.Parallel() // a CLI call is a second of Python starting; its own sandbox
	_, err := exec.LookPath("aws")
	needTool(t, err == nil, "the AWS CLI (aws)")
	sb, url := startSandbox(t)
	env := clientEnv(t, url, sb)

	var id struct{ Arn, Account string }
	must(t, json.Unmarshal(runClient(t, env, "aws", "sts", "get-caller-identity", "--output", "json"), &id))
	if id.Account != sandbox.CallerAccount {
		t.Errorf("get-caller-identity Account = %s, want %s", id.Account, sandbox.CallerAccount)
	}
	var ar struct {
		Credentials struct{ AccessKeyId, SecretAccessKey, SessionToken string }
	}
	must(t, json.Unmarshal(runClient(t, env, "aws", "sts", "assume-role", "--role-arn", sandbox.TargetRoleARN(sandbox.LargeAccount),
		"--role-session-name", "cli", "--duration-seconds", "900", "--output", "json"), &ar))
	if ar.Credentials.AccessKeyId == "" {
		t.Fatal("assume-role returned no credentials")
	}

	if exec.Command("aws", "bedrock-runtime", "help").Run() != nil {
		t.Skip("this AWS CLI has no bedrock-runtime commands")
	}
	assumed := append(clientEnv(t, url, sb), "AWS_ACCESS_KEY_ID="+ar.Credentials.AccessKeyId,
		"AWS_SECRET_ACCESS_KEY="+ar.Credentials.SecretAccessKey, "AWS_SESSION_TOKEN="+ar.Credentials.SessionToken)
	outFile := filepath.Join(t.TempDir(), "answer.json")
	runClient(t, assumed, "aws", "bedrock-runtime", "invoke-model", "--model-id", sandbox.SeedProfile,
		"--content-type", "application/json", "--body", seedBody, outFile)
	b, err := os.ReadFile(outFile)
	must(t, err)
	var a anthropicAnswer
	if err := json.Unmarshal(b, &a); err != nil || len(a.Content) == 0 || !strings.Contains(a.Content[0].Text, "account "+sandbox.LargeAccount) {
		t.Errorf("invoke-model wrote %s, want an answer served by %s", b, sandbox.LargeAccount)
	}
}
