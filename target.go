package relay

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Defaults applied by Target.WithDefaults.
const (
	DefaultSessionName = "bedrock-relay"
	// DefaultSessionDuration is STS's own default, and the most a chained role session (a Lambda execution role
	// assuming another role) may last.
	DefaultSessionDuration = time.Hour
	MinSessionDuration     = 15 * time.Minute
	MaxSessionDuration     = 12 * time.Hour
)

// Target is a role in a Bedrock account and how to assume it. It is a plain value: comparable fields only
// except Tags, safe to copy, and meant to be built once per configured account.
type Target struct {
	// RoleARN is the role to assume: arn:aws:iam::222222222222:role/BedrockAccessRole.
	RoleARN string
	// Region is where Bedrock Runtime is called (the source region of an inference profile).
	Region string
	// ExternalID is passed to AssumeRole when the role's trust policy asks for one.
	ExternalID string
	// SessionName names the session in the target account's CloudTrail.
	SessionName string
	// SessionDuration is the AssumeRole DurationSeconds; the credentials are reused for that long.
	SessionDuration time.Duration
	// SessionPolicy is an optional JSON policy further restricting the session.
	SessionPolicy string
	// Tags are session tags.
	Tags map[string]string
	// SourceIdentity is recorded in CloudTrail and persists across role chaining.
	SourceIdentity string
}

var (
	roleARNPattern     = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b|aws-iso-e|aws-iso-f|aws-eusc):iam::(\d{12}):role/([\w+=,.@/-]{1,512})$`)
	regionPattern      = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$`)
	sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	sourceIDPattern    = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

// WithDefaults returns t with an empty SessionName and a zero SessionDuration filled in.
func (t Target) WithDefaults() Target {
	if t.SessionName == "" {
		t.SessionName = DefaultSessionName
	}
	if t.SessionDuration == 0 {
		t.SessionDuration = DefaultSessionDuration
	}
	return t
}

// Account is the 12-digit account of RoleARN, or "" if RoleARN is not a role ARN.
func (t Target) Account() string {
	acct, _ := RoleAccount(t.RoleARN)
	return acct
}

// String names the target in logs and errors: the role and the region. It holds no secret.
func (t Target) String() string { return t.RoleARN + " in " + t.Region }

// Validate reports every problem of t at once, joined: each is a *FieldError (matching ErrInvalidTarget) naming
// the field and the expected form. Call it on t.WithDefaults() unless every field is set.
func (t Target) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	switch {
	case t.RoleARN == "":
		bad("RoleARN", "missing; want arn:aws:iam::<12-digit account>:role/<name>")
	case !roleARNPattern.MatchString(t.RoleARN):
		bad("RoleARN", "%q is not a role ARN; want arn:aws:iam::<12-digit account>:role/<name>", t.RoleARN)
	}
	switch {
	case t.Region == "":
		bad("Region", "missing; want a region name such as ap-northeast-1")
	case !regionPattern.MatchString(t.Region):
		bad("Region", "%q is not a region name; want one such as ap-northeast-1", t.Region)
	}
	if !sessionNamePattern.MatchString(t.SessionName) {
		bad("SessionName", "%q must be 2 to 64 characters of letters, digits and +=,.@_-", t.SessionName)
	}
	if t.SessionDuration < MinSessionDuration || t.SessionDuration > MaxSessionDuration {
		bad("SessionDuration", "%v must be between %v and %v (900 to 43200 seconds)", t.SessionDuration, MinSessionDuration, MaxSessionDuration)
	} else if t.SessionDuration%time.Second != 0 {
		bad("SessionDuration", "%v must be a whole number of seconds", t.SessionDuration)
	}
	if t.ExternalID != "" && (len(t.ExternalID) < 2 || len(t.ExternalID) > 1224 || strings.ContainsFunc(t.ExternalID, badExternalIDRune)) {
		bad("ExternalID", "must be 2 to 1224 characters of letters, digits and +=,.@:/_-")
	}
	if t.SourceIdentity != "" && !sourceIDPattern.MatchString(t.SourceIdentity) {
		bad("SourceIdentity", "%q must be 2 to 64 characters of letters, digits and +=,.@_-", t.SourceIdentity)
	}
	if len(t.Tags) > 50 {
		bad("Tags", "%d tags; at most 50", len(t.Tags))
	}
	for _, k := range slices.Sorted(maps.Keys(t.Tags)) {
		if k == "" || len(k) > 128 || strings.HasPrefix(strings.ToLower(k), "aws:") {
			bad("Tags", "key %q must be 1 to 128 characters and not start with aws:", k)
		}
		if len(t.Tags[k]) > 256 {
			bad("Tags", "value of %q is longer than 256 characters", k)
		}
	}
	return errors.Join(errs...)
}

func badExternalIDRune(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return false
	}
	return !strings.ContainsRune("+=,.@:/_-", r)
}

// FieldError is one problem of a Target. Field is the Go field name, so that a configuration layer can name
// its own setting instead (an environment variable, a flag, a YAML key).
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string {
	label, ok := fieldLabels[e.Field]
	if !ok {
		label = e.Field
	}
	return "invalid target: " + label + ": " + e.Problem
}

// fieldLabels are the words messages use for the fields.
var fieldLabels = map[string]string{
	"RoleARN":         "role ARN",
	"Region":          "region",
	"ExternalID":      "external ID",
	"SessionName":     "session name",
	"SessionDuration": "session duration",
	"SessionPolicy":   "session policy",
	"Tags":            "tags",
	"SourceIdentity":  "source identity",
}

// Unwrap makes every FieldError match ErrInvalidTarget.
func (e *FieldError) Unwrap() error { return ErrInvalidTarget }
