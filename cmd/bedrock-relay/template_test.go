package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestTemplate(t *testing.T) {
	tests := []struct {
		golden string
		args   []string
	}{
		{"template-cloudformation.golden", []string{"template", "cloudformation", "--config", "testdata/policy-relay.yaml", "--caller-role-arn", seedCallerARN, "--function-url"}},
		{"template-terraform.golden", []string{"template", "terraform", "--config", "testdata/policy-relay.yaml", "--caller-account", "111111111111", "--caller-role-name", "lambda-execution-role", "--function-url"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			out, stderr, err := runSetupCmd(t, nil, tt.args...)
			if err != nil {
				t.Fatalf("%v: %v\n%s", tt.args, err, stderr)
			}
			if !strings.Contains(stderr, "the Lambda function's environment names one target and model") {
				t.Errorf("stderr %q: want the note that the Lambda takes the first target", stderr)
			}
			golden(t, tt.golden, out)
			if strings.Contains(tt.golden, "cloudformation") {
				dec := yaml.NewDecoder(strings.NewReader(out))
				n := 0
				for {
					var doc map[string]any
					if err := dec.Decode(&doc); err != nil {
						break
					}
					n++
				}
				if n != 3 {
					t.Errorf("stdout holds %d YAML documents, want 3 (caller + two Bedrock accounts)", n)
				}
			}
		})
	}
}

// TestTemplateCloudFormationOut writes one template per account and says in which order to deploy them.
func TestTemplateCloudFormationOut(t *testing.T) {
	dir := t.TempDir()
	out, stderr, err := runSetupCmd(t, nil, "template", "cloudformation", "--config", "testdata/policy-relay.yaml",
		"--caller-role-arn", seedCallerARN, "--arch", "x86_64", "--out", dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, name := range []string{"caller-account-111111111111.yaml", "bedrock-account-222222222222.yaml", "bedrock-account-333333333333.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var tpl map[string]any
		if err := yaml.Unmarshal(b, &tpl); err != nil {
			t.Errorf("%s is not YAML: %v", name, err)
		}
		if _, ok := tpl["Resources"]; !ok {
			t.Errorf("%s has no Resources", name)
		}
	}
	caller := strings.Index(out, "caller-account-111111111111.yaml --stack-name")
	target := strings.Index(out, "bedrock-account-222222222222.yaml --stack-name")
	if caller < 0 || target < 0 || caller > target {
		t.Errorf("deploy commands: want the caller stack first:\n%s", out)
	}
	if !strings.Contains(out, "CodeS3Bucket=YOUR_BUCKET") {
		t.Errorf("deploy commands: want the code bucket parameter:\n%s", out)
	}
}

func TestTemplateErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no kind", []string{"template"}, "usage: bedrock-relay template cloudformation|terraform"},
		{"no config", []string{"template", "terraform", "--caller-role-arn", seedCallerARN}, "--config is required"},
		{"no caller", []string{"template", "terraform", "--config", "testdata/policy-relay.yaml"}, "name the caller role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, err := runSetupCmd(t, nil, tt.args...)
			if err != errUsage {
				t.Errorf("got %v, want a usage error", err)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q: want %q", stderr, tt.want)
			}
		})
	}
	_, _, err := runSetupCmd(t, nil, "template", "cloudformation", "--config", "testdata/policy-relay.yaml", "--caller-role-arn", seedCallerARN, "--arch", "sparc")
	if err == nil || !strings.Contains(err.Error(), "want arm64 or x86_64") {
		t.Errorf("--arch sparc: got %v, want an error naming arm64 and x86_64", err)
	}
}
