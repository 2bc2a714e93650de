package main

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// sandboxEnv serves a default-scenario sandbox and returns the environment `bedrock-relay sandbox env` would
// export for it, as the caller's Lambda execution role.
func sandboxEnv(t *testing.T) (*sandbox.Sandbox, map[string]string) {
	t.Helper()
	sb, err := sandbox.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sb)
	t.Cleanup(ts.Close)
	env := map[string]string{}
	for _, line := range strings.Split(sandbox.EnvLines(ts.URL, sandbox.SeedRegion, sb.CallerCredentials()), "\n") {
		kv, ok := strings.CutPrefix(line, "export ")
		if !ok {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		env[k] = strings.Trim(v, "'")
	}
	return sb, env
}

func TestCheckCommand(t *testing.T) {
	lambdaEnv := func(env map[string]string) map[string]string {
		env["TARGET_ROLE_ARN"] = seedTargetARN
		env["MODEL_ID"] = seedProfileID
		env["BEDROCK_REGION"] = "ap-northeast-1"
		return env
	}
	t.Run("lambda environment, seed setup", func(t *testing.T) {
		_, env := sandboxEnv(t)
		out, stderr, err := runSetupCmd(t, lambdaEnv(env), "check")
		if err != nil {
			t.Fatalf("%v\n%s%s", err, out, stderr)
		}
		for _, want := range []string{"Caller: arn:aws:sts::111111111111:assumed-role/lambda-execution-role/",
			"222222222222-ap-northeast-1  jp.anthropic.claude-sonnet-4-5-20250929-v1:0  ✓         ✓            ✓             ✓       ✓ 2 rpm, 200000 tpm",
			"All checks passed."} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("role alone, invoke's model and region", func(t *testing.T) {
		_, env := sandboxEnv(t)
		out, stderr, err := runSetupCmd(t, env, "check", "--role-arn", seedTargetARN)
		if err != nil {
			t.Fatalf("%v\n%s%s", err, out, stderr)
		}
		if want := "222222222222-" + defaultRegion + "  " + defaultModel; !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	})
	t.Run("flags, missing region in the permission policy", func(t *testing.T) {
		sb, env := sandboxEnv(t)
		if err := sb.SetRolePolicy(seedTargetARN, "BedrockInvoke", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":[
			"arn:aws:bedrock:ap-northeast-1:222222222222:inference-profile/jp.anthropic.claude-sonnet-4-5-20250929-v1:0",
			"arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"]}]}`); err != nil {
			t.Fatal(err)
		}
		out, _, err := runSetupCmd(t, env, "check", "--role-arn", seedTargetARN, "--model", seedProfileID, "--region", "ap-northeast-1")
		if err == nil || !strings.Contains(err.Error(), "1 step(s) failed") {
			t.Errorf("got %v, want an error saying one step failed", err)
		}
		for _, want := range []string{"✗", "does not allow the foundation model in ap-northeast-3",
			`"Resource": "arn:aws:bedrock:ap-northeast-3::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"`} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("config, json, skip invoke", func(t *testing.T) {
		sb, env := sandboxEnv(t)
		if err := sb.SetModelAccess("333333333333", "anthropic.claude-sonnet-4-5-20250929-v1:0", false); err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(t.TempDir(), "relay.yaml")
		os.WriteFile(cfg, []byte(`targets:
  - {name: small, role_arn: arn:aws:iam::222222222222:role/BedrockAccessRole, region: ap-northeast-1, models: [jp.anthropic.claude-sonnet-4-5-20250929-v1:0]}
  - {name: large, role_arn: arn:aws:iam::333333333333:role/BedrockAccessRole, region: ap-northeast-1, models: [jp.anthropic.claude-sonnet-4-5-20250929-v1:0]}
`), 0o644)
		out, _, err := runSetupCmd(t, env, "check", "--config", cfg, "--json", "--skip-invoke")
		if err != nil {
			t.Fatalf("--skip-invoke cannot see model access: got %v, want success\n%s", err, out)
		}
		var rep struct {
			Targets []struct {
				Target struct{ Name string }
				Steps  []struct{ Name, Status string }
			}
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		if len(rep.Targets) != 2 || rep.Targets[1].Target.Name != "large" || rep.Targets[1].Steps[1].Status != "ok" {
			t.Errorf("report %+v: want two targets, large with assume-role ok", rep)
		}

		out, _, err = runSetupCmd(t, env, "check", "--config", cfg)
		if err == nil || !strings.Contains(out, "model access for Claude Sonnet 4.5 (anthropic.claude-sonnet-4-5-20250929-v1:0) is not enabled in account 333333333333") {
			t.Errorf("got %v, want the model-access diagnosis for the large account:\n%s", err, out)
		}
	})
	t.Run("nothing to check", func(t *testing.T) {
		_, stderr, err := runSetupCmd(t, map[string]string{}, "check")
		if err != errUsage || !strings.Contains(stderr, "--role-arn (or $TARGET_ROLE_ARN)") {
			t.Errorf("got %v %q, want a usage error naming the missing flags and variables", err, stderr)
		}
	})
}
