package lambdafn

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	relay "github.com/bedrock-relay/bedrock-relay"
	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// Environment variables and their defaults (the seed article's values).
const (
	EnvTargetRoleARN   = "TARGET_ROLE_ARN"
	EnvModelID         = "MODEL_ID"
	EnvRegion          = "BEDROCK_REGION"
	EnvExternalID      = "EXTERNAL_ID"
	EnvSessionName     = "ROLE_SESSION_NAME"
	EnvSessionDuration = "SESSION_DURATION_SECONDS"
	EnvMaxTokens       = "MAX_TOKENS"
	EnvLogPrompts      = "LOG_PROMPTS"

	DefaultModelID         = "jp.anthropic.claude-sonnet-4-5-20250929-v1:0"
	DefaultRegion          = "ap-northeast-1"
	DefaultSessionName     = "lambda-bedrock-cross-account"
	DefaultSessionDuration = 900 * time.Second
	DefaultMaxTokens       = 1000
)

// Config is the function's configuration.
type Config struct {
	Target relay.Target
	// ModelID is used when the event names none.
	ModelID string
	// MaxTokens is used when the event gives none.
	MaxTokens int
	// LogPrompts logs prompts and answers; off by default, as they may hold personal data.
	LogPrompts bool
}

// targetEnv names the environment variable behind each Target field, for error messages.
var targetEnv = map[string]string{
	"RoleARN":         EnvTargetRoleARN,
	"Region":          EnvRegion,
	"ExternalID":      EnvExternalID,
	"SessionName":     EnvSessionName,
	"SessionDuration": EnvSessionDuration,
}

// ConfigFromEnv reads the configuration through getenv. It reports every problem at once, each naming the
// variable and the expected form.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	var problems []string
	bad := func(name, format string, args ...any) {
		problems = append(problems, name+": "+fmt.Sprintf(format, args...))
	}
	cfg := Config{
		Target: relay.Target{
			RoleARN:         get(EnvTargetRoleARN, ""),
			Region:          get(EnvRegion, DefaultRegion),
			ExternalID:      get(EnvExternalID, ""),
			SessionName:     get(EnvSessionName, DefaultSessionName),
			SessionDuration: DefaultSessionDuration,
		},
		ModelID:   get(EnvModelID, DefaultModelID),
		MaxTokens: DefaultMaxTokens,
	}
	if v := get(EnvSessionDuration, ""); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 900 || n > 43200 {
			bad(EnvSessionDuration, "%q: want a whole number of seconds from 900 to 43200 (at most 3600 when the function's own role session assumes the role, as in Lambda)", v)
		} else {
			cfg.Target.SessionDuration = time.Duration(n) * time.Second
		}
	}
	if err := cfg.Target.Validate(); err != nil {
		for _, e := range unjoin(err) {
			var fe *relay.FieldError
			if errors.As(e, &fe) {
				name := targetEnv[fe.Field]
				if name == EnvSessionDuration {
					continue // reported above in the variable's own terms
				}
				if name == "" {
					name = fe.Field
				}
				bad(name, "%s", fe.Problem)
				continue
			}
			problems = append(problems, e.Error())
		}
	}
	if _, err := catalog.ParseRef(cfg.ModelID); err != nil {
		bad(EnvModelID, "%v; want a model id, inference profile id (such as %s) or ARN", err, DefaultModelID)
	}
	if v := get(EnvMaxTokens, ""); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			bad(EnvMaxTokens, "%q: want a positive whole number", v)
		} else {
			cfg.MaxTokens = n
		}
	}
	if v := get(EnvLogPrompts, ""); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad(EnvLogPrompts, "%q: want true or false", v)
		}
		cfg.LogPrompts = b
	}
	if len(problems) > 0 {
		return cfg, &ConfigError{Problems: problems}
	}
	return cfg, nil
}

// ConfigError lists every problem of the configuration, each naming its environment variable.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string {
	return "invalid configuration: " + strings.Join(e.Problems, "; ")
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
