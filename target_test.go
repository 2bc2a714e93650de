package relay_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	relay "github.com/bedrock-relay/bedrock-relay"
)

func seedTarget() relay.Target {
	return relay.Target{
		RoleARN:         "arn:aws:iam::222222222222:role/BedrockAccessRole",
		Region:          "ap-northeast-1",
		SessionName:     "lambda-bedrock-cross-account",
		SessionDuration: 900 * time.Second,
	}
}

func TestTargetValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*relay.Target)
		want   []string // substrings, one per expected problem; none means valid
	}{
		{"seed", func(*relay.Target) {}, nil},
		{"path and gov partition", func(t *relay.Target) {
			t.RoleARN = "arn:aws-us-gov:iam::222222222222:role/team/Bedrock"
			t.Region = "us-gov-west-1"
		}, nil},
		{"everything optional", func(t *relay.Target) {
			t.ExternalID = "ext-1234"
			t.SourceIdentity = "alice@example.com"
			t.Tags = map[string]string{"team": "ml"}
			t.SessionDuration = 12 * time.Hour
		}, nil},
		{"missing role and region", func(t *relay.Target) { t.RoleARN, t.Region = "", "" },
			[]string{"role ARN: missing", "region: missing"}},
		{"user ARN", func(t *relay.Target) { t.RoleARN = "arn:aws:iam::222222222222:user/bob" },
			[]string{"is not a role ARN"}},
		{"short account", func(t *relay.Target) { t.RoleARN = "arn:aws:iam::2222:role/R" },
			[]string{"is not a role ARN"}},
		{"region typo", func(t *relay.Target) { t.Region = "tokyo" }, []string{"region: \"tokyo\""}},
		{"session name", func(t *relay.Target) { t.SessionName = "has space" }, []string{"session name"}},
		{"session name too short", func(t *relay.Target) { t.SessionName = "x" }, []string{"session name"}},
		{"duration low", func(t *relay.Target) { t.SessionDuration = time.Minute }, []string{"session duration"}},
		{"duration high", func(t *relay.Target) { t.SessionDuration = 13 * time.Hour }, []string{"session duration"}},
		{"duration fraction", func(t *relay.Target) { t.SessionDuration = 900*time.Second + time.Millisecond },
			[]string{"whole number of seconds"}},
		{"aws tag", func(t *relay.Target) { t.Tags = map[string]string{"aws:x": "y"} }, []string{"tags: key"}},
		{"external id", func(t *relay.Target) { t.ExternalID = "a b" }, []string{"external ID"}},
		{"all at once", func(t *relay.Target) { *t = relay.Target{} },
			[]string{"role ARN", "region", "session name", "session duration"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := seedTarget()
			tt.change(&target)
			err := target.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %d problems", len(tt.want))
			}
			if !errors.Is(err, relay.ErrInvalidTarget) {
				t.Errorf("Validate() = %v, does not match ErrInvalidTarget", err)
			}
			var fe *relay.FieldError
			if !errors.As(err, &fe) || fe.Field == "" || fe.Problem == "" {
				t.Errorf("Validate() = %v, want *relay.FieldError values", err)
			}
			if got := len(strings.Split(err.Error(), "\n")); got != len(tt.want) {
				t.Errorf("Validate() reported %d problems, want %d:\n%v", got, len(tt.want), err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestTargetDefaultsAndAccount(t *testing.T) {
	got := relay.Target{RoleARN: "arn:aws:iam::222222222222:role/BedrockAccessRole", Region: "ap-northeast-1"}.WithDefaults()
	if got.SessionName != relay.DefaultSessionName || got.SessionDuration != relay.DefaultSessionDuration {
		t.Errorf("WithDefaults() = %q, %v; want %q, %v", got.SessionName, got.SessionDuration, relay.DefaultSessionName, relay.DefaultSessionDuration)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate() after WithDefaults = %v", err)
	}
	if a := got.Account(); a != "222222222222" {
		t.Errorf("Account() = %q, want 222222222222", a)
	}
	if a := (relay.Target{RoleARN: "nope"}).Account(); a != "" {
		t.Errorf("Account() of a bad ARN = %q, want empty", a)
	}
}
