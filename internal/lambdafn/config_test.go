package lambdafn

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	relay "github.com/bedrock-relay/bedrock-relay"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigDefaults(t *testing.T) {
	got, err := ConfigFromEnv(envOf(map[string]string{EnvTargetRoleARN: "arn:aws:iam::222222222222:role/BedrockAccessRole"}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Target: relay.Target{
			RoleARN:         "arn:aws:iam::222222222222:role/BedrockAccessRole",
			Region:          "ap-northeast-1",
			SessionName:     "lambda-bedrock-cross-account",
			SessionDuration: 900 * time.Second,
		},
		ModelID:   "jp.anthropic.claude-sonnet-4-5-20250929-v1:0",
		MaxTokens: 1000,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ConfigFromEnv (-want +got):\n%s", diff)
	}
}

func TestConfigEverySetting(t *testing.T) {
	got, err := ConfigFromEnv(envOf(map[string]string{
		EnvTargetRoleARN:   "arn:aws:iam::333333333333:role/Other",
		EnvRegion:          "us-east-1",
		EnvModelID:         "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
		EnvExternalID:      "ext-42",
		EnvSessionName:     "relay",
		EnvSessionDuration: "3600",
		EnvMaxTokens:       "256",
		EnvLogPrompts:      "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got.Target.ExternalID != "ext-42" || got.Target.SessionDuration != time.Hour || got.MaxTokens != 256 || !got.LogPrompts ||
		got.Target.Region != "us-east-1" || got.Target.SessionName != "relay" {
		t.Errorf("ConfigFromEnv = %+v", got)
	}
}

func TestConfigReportsEveryProblem(t *testing.T) {
	_, err := ConfigFromEnv(envOf(map[string]string{
		EnvRegion:          "Tokyo",
		EnvModelID:         "has space",
		EnvSessionName:     "x",
		EnvSessionDuration: "60",
		EnvMaxTokens:       "-1",
		EnvLogPrompts:      "sometimes",
		EnvExternalID:      "a",
	}))
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("ConfigFromEnv = %v, want a *ConfigError", err)
	}
	for _, name := range []string{EnvTargetRoleARN, EnvRegion, EnvModelID, EnvSessionName, EnvSessionDuration, EnvMaxTokens, EnvLogPrompts, EnvExternalID} {
		n := 0
		for _, p := range ce.Problems {
			if strings.HasPrefix(p, name+": ") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d problems name %s, want 1; problems:\n%s", n, name, strings.Join(ce.Problems, "\n"))
		}
	}
	if len(ce.Problems) != 8 {
		t.Errorf("got %d problems, want 8:\n%s", len(ce.Problems), strings.Join(ce.Problems, "\n"))
	}
	for _, want := range []string{"TARGET_ROLE_ARN: missing; want arn:aws:iam::", "SESSION_DURATION_SECONDS: \"60\": want a whole number of seconds from 900 to 43200"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}
