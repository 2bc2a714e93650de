package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bedrock-relay/bedrock-relay/iampolicy"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// TestPolicySessionPerKey: with attribution.session_per_key in the config, `policy --config` and `template`
// also allow sts:TagSession (for relay-key and relay-group only) in the trust policies and the caller's
// policy; `policy trust` and `policy caller` do with --session-per-key. Without, the documents are the
// goldens of policy_test.go and template_test.go, unchanged.
func TestPolicySessionPerKey(t *testing.T) {
	for _, tt := range []struct {
		golden string
		args   []string
	}{
		{"policy-config-attribution.golden", []string{"policy", "--config", "testdata/policy-relay-attribution.yaml", "--caller-role-arn", seedCallerARN}},
		{"policy-trust-session-per-key.golden", []string{"policy", "trust", "--caller-role-arn", seedCallerARN, "--external-id", "relay-333", "--session-per-key"}},
		{"policy-caller-session-per-key.golden", []string{"policy", "caller", "--target-role-arn", seedTargetARN, "--session-per-key"}},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			out, stderr, err := runSetupCmd(t, nil, tt.args...)
			if err != nil {
				t.Fatalf("%v: %v\n%s", tt.args, err, stderr)
			}
			golden(t, tt.golden, out)
			if !strings.Contains(out, `"sts:TagSession"`) || !strings.Contains(out, `"ForAllValues:StringEquals"`) {
				t.Errorf("no sts:TagSession statement with its aws:TagKeys condition:\n%s", out)
			}
		})
	}
	// The --config documents are the plain config's plus the TagSession statements, nothing else.
	plain, _, err := runSetupCmd(t, nil, "policy", "--config", "testdata/policy-relay.yaml", "--caller-role-arn", seedCallerARN)
	if err != nil {
		t.Fatal(err)
	}
	tagged, _, _ := runSetupCmd(t, nil, "policy", "--config", "testdata/policy-relay-attribution.yaml", "--caller-role-arn", seedCallerARN)
	if n := strings.Count(tagged, `"sts:TagSession"`); n != 3 {
		t.Errorf("sts:TagSession %d times, want 3 (two trust policies, the caller's)", n)
	}
	if strings.Contains(plain, "sts:TagSession") {
		t.Errorf("the plain config's documents allow sts:TagSession")
	}
	trust, _ := iampolicy.TrustTagged(seedCallerARN, "", []string{"relay-key", "relay-group"}).MarshalIndent()
	if !strings.Contains(tagged, string(trust)) {
		t.Errorf("the seed account's trust policy is not iampolicy.TrustTagged's:\n%s", tagged)
	}
}

func TestTemplateSessionPerKey(t *testing.T) {
	for _, kind := range []string{"cloudformation", "terraform"} {
		args := []string{"template", kind, "--config", "testdata/policy-relay-attribution.yaml", "--caller-role-arn", seedCallerARN}
		out, stderr, err := runSetupCmd(t, nil, args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stderr)
		}
		if n := strings.Count(out, "sts:TagSession"); n != 3 {
			t.Errorf("%s: sts:TagSession %d times, want 3 (two trust policies, the caller's):\n%s", kind, n, out)
		}
		if n := strings.Count(out, "aws:TagKeys"); n != 3 {
			t.Errorf("%s: aws:TagKeys %d times, want 3", kind, n)
		}
		plain, _, err := runSetupCmd(t, nil, "template", kind, "--config", "testdata/policy-relay.yaml", "--caller-role-arn", seedCallerARN)
		if err != nil || strings.Contains(plain, "sts:TagSession") {
			t.Errorf("%s without the option: %v, or it allows sts:TagSession", kind, err)
		}
	}
}

// TestCheckSessionPerKey: `check --config` with attribution.session_per_key assumes each target's role as a
// per-key session (key "check"): refused for want of sts:TagSession, it fails naming the fix; with the
// documents `policy --config` prints, it passes.
func TestCheckSessionPerKey(t *testing.T) {
	writeConfig := func(t *testing.T, env map[string]string) string {
		path := filepath.Join(t.TempDir(), "relay.yaml")
		os.WriteFile(path, []byte(`auth: {mode: none}
attribution: {session_per_key: true}
targets:
  - {name: small, role_arn: arn:aws:iam::222222222222:role/BedrockAccessRole, region: ap-northeast-1, models: [jp.anthropic.claude-sonnet-4-5-20250929-v1:0]}
`), 0o644)
		return path
	}
	t.Run("seed trust policy", func(t *testing.T) {
		sb, env := sandboxEnv(t)
		out, _, err := runSetupCmd(t, env, "check", "--config", writeConfig(t, env))
		if err == nil || !strings.Contains(err.Error(), "1 step(s) failed") {
			t.Errorf("got %v, want one failed step", err)
		}
		for _, want := range []string{
			"IDENTITY  ASSUME ROLE  KEY SESSION  MODEL ACCESS",
			"is not authorized to perform: sts:TagSession on resource: " + seedTargetARN,
			"Add sts:TagSession for the caller role, limited to the relay's tag keys, to the trust policy of " + seedTargetARN,
			"`bedrock-relay policy --config relay.yaml --caller-role-arn " + seedCallerARN + "`",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		var session string
		for _, c := range sb.Calls() {
			if c.Operation == "AssumeRole" && c.Tags["relay-key"] == "check" {
				session = c.Session + " " + c.Outcome + " " + c.Tags["relay-group"]
			}
		}
		if session != "brk-check AccessDenied check" {
			t.Errorf("tagged AssumeRole recorded as %q, want brk-check refused with its tags", session)
		}
	})
	t.Run("documents of policy --config applied", func(t *testing.T) {
		sb, env := sandboxEnv(t)
		cfg := writeConfig(t, env)
		keys := []string{"relay-key", "relay-group"}
		trust, _ := iampolicy.TrustTagged(seedCallerARN, "", keys).MarshalIndent()
		caller, _ := iampolicy.CallerTagged(keys, seedTargetARN).MarshalIndent()
		if err := sb.SetTrustPolicy(seedTargetARN, string(trust)); err != nil {
			t.Fatal(err)
		}
		if err := sb.SetRolePolicy(sandbox.CallerRoleARN, "AssumeBedrockRoles", string(caller)); err != nil {
			t.Fatal(err)
		}
		out, _, err := runSetupCmd(t, env, "check", "--config", cfg)
		if err != nil || !strings.Contains(out, "All checks passed.") {
			t.Errorf("got %v, want every check to pass:\n%s", err, out)
		}
	})
}
