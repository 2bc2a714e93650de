package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func init() {
	// Other test files of this package may define -update too; register it once.
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files under testdata/")
	}
}

func updateGoldens() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// runSetupCmd runs the CLI in-process with env as the environment.
func runSetupCmd(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), err
}

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if updateGoldens() {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

const (
	seedCallerARN = "arn:aws:iam::111111111111:role/lambda-execution-role"
	seedTargetARN = "arn:aws:iam::222222222222:role/BedrockAccessRole"
	seedProfileID = "jp.anthropic.claude-sonnet-4-5-20250929-v1:0"
)

// TestPolicySeed prints the seed article's three documents from its inputs. The goldens must also equal the
// iampolicy package's seed documents, which its tests hold to the article's text.
func TestPolicySeed(t *testing.T) {
	tests := []struct {
		golden, seed string
		args         []string
	}{
		{"policy-trust.golden", "seed-trust.json", []string{"policy", "trust", "--caller-role-arn", seedCallerARN}},
		{"policy-permissions.golden", "seed-permissions.json", []string{"policy", "permissions", "--target-account", "222222222222", "--model", seedProfileID, "--region", "ap-northeast-1"}},
		{"policy-caller.golden", "seed-caller.json", []string{"policy", "caller", "--target-role-arn", seedTargetARN}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			out, stderr, err := runSetupCmd(t, nil, tt.args...)
			if err != nil {
				t.Fatalf("%v: %v\n%s", tt.args, err, stderr)
			}
			golden(t, tt.golden, out)
			seed, err := os.ReadFile(filepath.Join("..", "..", "iampolicy", "testdata", tt.seed))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(seed), out); diff != "" {
				t.Errorf("not the seed's document (-seed +got):\n%s", diff)
			}
		})
	}
}

func TestPolicyVariants(t *testing.T) {
	tests := []struct {
		golden string
		args   []string
	}{
		{"policy-config.golden", []string{"policy", "--config", "testdata/policy-relay.yaml", "--caller-role-arn", seedCallerARN}},
		{"policy-caller-two.golden", []string{"policy", "caller", "--target-role-arn", seedTargetARN, "--target-role-arn", "arn:aws:iam::333333333333:role/BedrockAccessRole,arn:aws:iam::444444444444:role/BedrockAccessRole"}},
		{"policy-trust-external-id.golden", []string{"policy", "trust", "--caller-role-arn", seedCallerARN, "--external-id", "relay-333"}},
		{"policy-permissions-stream-condition.golden", []string{"policy", "permissions", "--target-account", "222222222222", "--model", seedProfileID, "--region", "ap-northeast-1", "--stream", "--profile-condition"}},
		{"policy-permissions-regions.golden", []string{"policy", "permissions", "--target-account", "222222222222", "--model", "xx.anthropic.claude-sonnet-4-5-20250929-v1:0", "--region", "xx-east-1", "--regions", "xx-east-1,xx-west-2"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			out, stderr, err := runSetupCmd(t, nil, tt.args...)
			if err != nil {
				t.Fatalf("%v: %v\n%s", tt.args, err, stderr)
			}
			golden(t, tt.golden, out)
		})
	}
}

func TestPolicyErrors(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"unknown prefix", []string{"policy", "permissions", "--target-account", "222222222222", "--model", "xx.anthropic.claude-sonnet-4-5-20250929-v1:0", "--region", "ap-northeast-1"},
			false, "pass its destination regions explicitly with --regions (for example --regions ap-northeast-1)"},
		{"profile outside its geography", []string{"policy", "permissions", "--target-account", "222222222222", "--model", seedProfileID, "--region", "us-east-1"},
			false, "jp. profiles cannot be called from us-east-1"},
		{"bad caller arn", []string{"policy", "trust", "--caller-role-arn", "lambda-execution-role"}, false, "is not a role ARN"},
		{"config without caller", []string{"policy", "--config", "testdata/policy-relay.yaml"}, true, "pass --config and --caller-role-arn"},
		{"unknown document", []string{"policy", "boundary"}, true, `unknown document "boundary"`},
		{"caller without targets", []string{"policy", "caller"}, true, "--target-role-arn is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, err := runSetupCmd(t, nil, tt.args...)
			if err == nil {
				t.Fatal("got no error")
			}
			msg := err.Error()
			if tt.usage {
				if err != errUsage {
					t.Errorf("got %v, want a usage error", err)
				}
				msg = stderr
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q: want it to contain %q", msg, tt.want)
			}
		})
	}
}
