package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	relay "github.com/bedrock-relay/bedrock-relay"
	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// lockedBuffer is a bytes.Buffer a running command writes to while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startServe runs `bedrock-relay args...` in-process until the test ends, and returns the relay and admin
// endpoints from its banner, and its stderr.
func startServe(t *testing.T, args []string, getenv func(string) string) (endpoint, admin string, stderr *lockedBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, getenv, strings.NewReader(""), stdout, stderr) }()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("serve did not stop within 30s")
		}
	}
	t.Cleanup(func() { stop() })
	endpointRe := regexp.MustCompile(`(?m)^export AWS_ENDPOINT_URL_BEDROCK_RUNTIME=(\S+)$`)
	adminRe := regexp.MustCompile(`(?m)^# admin: (\S+)/metrics`)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
		default:
		}
		out := stdout.String()
		if m := endpointRe.FindStringSubmatch(out); m != nil {
			if a := adminRe.FindStringSubmatch(out); a != nil {
				admin = a[1]
			}
			return m[1], admin, stderr, stop
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("serve printed no endpoint:\n%s\nstderr: %s", stdout.String(), stderr.String())
	return
}

func noEnv(string) string { return "" }

func TestServeSandboxWithAWSCLI(t *testing.T) {
	awsPath, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the AWS CLI is not installed, and CI is set: install it (pip install awscli) so this test runs")
		}
		t.Skip("the AWS CLI (aws) is not installed; skipping the CLI test (it fails instead when CI is set)")
	}
	endpoint, admin, stderr, stop := startServe(t, []string{"serve", "--sandbox", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, noEnv)
	dir := t.TempDir()
	awsEnv := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "LANG=C.UTF-8",
		"AWS_ENDPOINT_URL_BEDROCK_RUNTIME=" + endpoint, "AWS_DEFAULT_REGION=" + sandbox.SeedRegion,
		"AWS_ACCESS_KEY_ID=relay", "AWS_SECRET_ACCESS_KEY=relay",
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "none"),
		"AWS_MAX_ATTEMPTS=1", "AWS_PAGER=",
	}
	awsCLI := func(args ...string) (string, error) {
		cmd := exec.Command(awsPath, args...)
		cmd.Env = awsEnv
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	outFile := filepath.Join(dir, "answer.json")
	body := `{"anthropic_version":"bedrock-2023-05-31","max_tokens":50,"messages":[{"role":"user","content":"hello from the CLI"}]}`
	if out, err := awsCLI("bedrock-runtime", "invoke-model", "--model-id", sandbox.SeedProfile, "--body", body,
		"--content-type", "application/json", outFile); err != nil {
		t.Fatalf("aws bedrock-runtime invoke-model: %v\n%s\nrelay stderr: %s", err, out, stderr.String())
	}
	answer, _ := os.ReadFile(outFile)
	var msg struct {
		Type    string                  `json:"type"`
		Content []struct{ Text string } `json:"content"`
	}
	if err := json.Unmarshal(answer, &msg); err != nil || msg.Type != "message" || len(msg.Content) == 0 {
		t.Errorf("invoke-model answer %s: want an Anthropic message", answer)
	}

	// converse came to botocore in 2024; an older CLI says "Invalid choice".
	out, err := awsCLI("bedrock-runtime", "converse", "--model-id", "sonnet",
		"--messages", `[{"role":"user","content":[{"text":"hello"}]}]`, "--output", "json")
	switch {
	case err != nil && strings.Contains(out, "Invalid choice"):
		t.Logf("this AWS CLI has no bedrock-runtime converse; tested invoke-model only")
	case err != nil:
		t.Fatalf("aws bedrock-runtime converse: %v\n%s", err, out)
	case !strings.Contains(out, `"stopReason"`):
		t.Errorf("converse output lacks stopReason:\n%s", out)
	}

	// A model the pool does not serve is the relay's ValidationException, in the shape the CLI reads.
	out, err = awsCLI("bedrock-runtime", "invoke-model", "--model-id", "amazon.nova-pro-v1:0", "--body", "{}",
		filepath.Join(dir, "x.json"))
	if err == nil || !strings.Contains(out, "ValidationException") {
		t.Errorf("unserved model: got %v\n%s\nwant a ValidationException", err, out)
	}

	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `bedrock_relay_requests_total{code="ok",model="anthropic.claude-sonnet-4-5-20250929-v1:0",operation="invoke"`) {
		t.Errorf("metrics do not count the CLI's request:\n%s", metrics)
	}
	if err := stop(); err != nil {
		t.Errorf("serve after SIGINT: %v, want a clean stop", err)
	}
}

// writeConfig writes a relay config in front of a sandbox endpoint, with one key.
func writeConfig(t *testing.T, sbURL, key string) string {
	t.Helper()
	var targets strings.Builder
	for _, acct := range []string{sandbox.SmallAccount, sandbox.LargeAccount} {
		targets.WriteString("  - name: t" + acct[:3] + "\n    role_arn: " + sandbox.TargetRoleARN(acct) +
			"\n    region: ap-northeast-1\n    models: [" + sandbox.SeedProfile + "]\n")
	}
	yaml := "server:\n  addr: 127.0.0.1:0\n  admin_addr: 127.0.0.1:0\n  access_log: true\n" +
		"auth:\n  mode: keys\n  keys:\n    - name: tester\n      sha256: " + config.HashKey(key) + "\n      models: [\"*\"]\n" +
		"source:\n  endpoint: " + sbURL + "\n" +
		"routing:\n  request_timeout: 1m\n" +
		"targets:\n" + targets.String()
	path := filepath.Join(t.TempDir(), "relay.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sandboxEnv is the environment of a relay whose source credentials (the default chain) are the sandbox's
// caller session.
func callerEnv(sb *sandbox.Sandbox) func(string) string {
	c := sb.CallerCredentials()
	env := map[string]string{"AWS_ACCESS_KEY_ID": c.AccessKeyID, "AWS_SECRET_ACCESS_KEY": c.SecretAccessKey,
		"AWS_SESSION_TOKEN": c.SessionToken, "AWS_REGION": sandbox.SeedRegion}
	return func(k string) string { return env[k] }
}

func TestServeFinishesStreamsOnShutdown(t *testing.T) {
	sb, err := sandbox.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	sbSrv := httptest.NewServer(sb)
	defer sbSrv.Close()
	// The default chain reads the process environment: point it at the sandbox's caller session.
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": sb.CallerCredentials().AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": sb.CallerCredentials().SecretAccessKey, "AWS_SESSION_TOKEN": sb.CallerCredentials().SessionToken,
		"AWS_CONFIG_FILE": filepath.Join(t.TempDir(), "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "none"),
		"AWS_PROFILE": "", "AWS_BEARER_TOKEN_BEDROCK": ""} {
		t.Setenv(k, v)
	}
	const key = "brk-serve-test-key"
	endpoint, _, stderr, stop := startServe(t, []string{"serve", "--config", writeConfig(t, sbSrv.URL, key)}, callerEnv(sb))

	sb.SetLatency("*", sandbox.Latency{FirstTokenMillis: 10, TokensPerSecond: 40})
	req, _ := http.NewRequest("POST", endpoint+"/model/"+sandbox.SeedProfile+"/converse-stream",
		strings.NewReader(`{"messages":[{"role":"user","content":[{"text":"write about forty words please"}]}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.amazon.eventstream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("stream: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	r := bufio.NewReader(resp.Body)
	if _, err := r.Peek(1); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }() // SIGINT while the stream is in flight
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("stream cut by the shutdown: %v", err)
	}
	if !bytes.Contains(rest, []byte("metadata")) {
		t.Errorf("stream ended without its metadata event: the shutdown cut it")
	}
	if err := <-stopped; err != nil {
		t.Errorf("serve: %v, want a clean stop", err)
	}
	log := stderr.String()
	if !strings.Contains(log, `"op":"converse-stream"`) || strings.Contains(log, key) || strings.Contains(log, "forty words") {
		t.Errorf("access log should have the stream's line, without key or prompt:\n%s", log)
	}
}

func TestServeReportsEveryConfigProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relay.yaml")
	os.WriteFile(path, []byte("server:\n  addr: 0.0.0.0:8080\nauth:\n  mode: none\ntargets:\n  - role_arn: nope\n    region: mars\n    models: []\n"), 0o600)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"serve", "--config", path}, noEnv, strings.NewReader(""), &stdout, &stderr)
	if err == nil {
		t.Fatal("serve accepted a broken config")
	}
	for _, want := range []string{"auth.mode none", `"nope"`, `"mars"`, "models"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if err := run(context.Background(), []string{"serve"}, noEnv, strings.NewReader(""), &stdout, &stderr); !errors.Is(err, errUsage) {
		t.Errorf("serve without --config: %v, want a usage error", err)
	}
}

func TestKeysNew(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"keys", "new", "team-a", "--models", "sonnet,anthropic.claude-haiku-4-5-20251001-v1:0"}, noEnv, strings.NewReader(""), &stdout, &stderr); err != nil {
		t.Fatalf("keys new: %v %s", err, stderr.String())
	}
	lines := strings.Split(stdout.String(), "\n")
	key := lines[1]
	if !strings.HasPrefix(key, "brk-") || len(key) < 40 {
		t.Fatalf("key line %q: want brk- and 43 random characters", key)
	}
	var stanza strings.Builder
	stanza.WriteString("auth:\n  mode: keys\n  keys:\n")
	for _, l := range lines[2:] {
		if !strings.HasPrefix(l, "#") {
			stanza.WriteString(l + "\n")
		}
	}
	var cfg config.Config
	if err := config.Parse([]byte(stanza.String()), &cfg); err != nil {
		t.Fatalf("the printed stanza is not config YAML: %v\n%s", err, stanza.String())
	}
	k := cfg.Auth.Keys[0]
	if k.Name != "team-a" || k.SHA256 != config.HashKey(key) || strings.Join(k.Models, ",") != "sonnet,anthropic.claude-haiku-4-5-20251001-v1:0" {
		t.Errorf("stanza = %+v, want the key's name, hash and models", k)
	}
	stdout.Reset()
	run(context.Background(), []string{"keys", "new", "team-a"}, noEnv, strings.NewReader(""), &stdout, &stderr)
	if again := strings.Split(stdout.String(), "\n")[1]; again == key {
		t.Errorf("two keys are the same")
	}
	if err := run(context.Background(), []string{"keys", "new"}, noEnv, strings.NewReader(""), &stdout, &stderr); !errors.Is(err, errUsage) {
		t.Errorf("keys new without NAME: %v, want a usage error", err)
	}
}

// TestExampleRelayConfigMarksWhatToChange: the example says which lines to make one's own. Every line holding
// one of its placeholders (an example account id, address, file path, key hash or the region) ends in
// "# CHANGE", and no other line does.
func TestExampleRelayConfigMarksWhatToChange(t *testing.T) {
	b, err := os.ReadFile("../../examples/relay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	placeholder := regexp.MustCompile(`^\s+(addr: |tls_(cert|key)_file: |sha256: |region: |role_arn: arn:aws:iam::\d{12}:)`)
	for i, line := range strings.Split(string(b), "\n") {
		marked := strings.HasSuffix(line, "# CHANGE")
		if want := placeholder.MatchString(line); want != marked {
			t.Errorf("examples/relay.yaml:%d %q: marked %v, want %v", i+1, line, marked, want)
		}
	}
}

func TestExampleRelayConfigIsValid(t *testing.T) {
	cfg, err := config.Load("../../examples/relay.yaml", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("examples/relay.yaml: %v", err)
	}
	if len(cfg.Targets) < 2 || cfg.Auth.Mode != "keys" || len(cfg.Aliases) == 0 {
		t.Errorf("the example should show several targets, keys and aliases: %+v", cfg)
	}
	accounts, auto := map[string]bool{}, false
	for _, tg := range cfg.Targets {
		acct, _ := relay.RoleAccount(tg.RoleARN)
		accounts[acct] = true
		auto = auto || tg.Budgets.RequestsPerMinute.Auto
	}
	if len(accounts) != 2 || !auto {
		t.Errorf("the example should pool two accounts and show an auto budget")
	}
}
