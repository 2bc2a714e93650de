package ratelimit

import (
	"errors"
	"fmt"
	"time"
)

// Sentinels for the budget that refused a request. [Table.Reserve] returns them wrapped in a *[LimitError];
// test with errors.Is, and use errors.As for the Retry-After.
var (
	ErrRequests    = errors.New("requests-per-minute budget exhausted")
	ErrTokens      = errors.New("tokens-per-minute budget exhausted")
	ErrDaily       = errors.New("tokens-per-day budget exhausted")
	ErrCoolingDown = errors.New("cooling down")
	// ErrTooLarge means input + max_tokens exceeds the tokens-per-minute or tokens-per-day budget itself, so
	// waiting will not help on this target: try one with a larger budget, or ask for fewer max_tokens.
	ErrTooLarge = errors.New("request needs more tokens than the budget allows")
)

// LimitError is a refused reservation.
type LimitError struct {
	Key Key
	// Err is ErrRequests, ErrTokens, ErrDaily, ErrCoolingDown or ErrTooLarge. ErrTooLarge comes first, as
	// waiting does not help; then ErrCoolingDown whatever else is short; otherwise the budget that frees last.
	Err error
	// RetryAfter is how long until a request of the same size would be accepted, if nothing else is reserved
	// meanwhile: when the cooldown ends and the window has freed enough. It is 0 for ErrTooLarge.
	RetryAfter time.Duration
	// Cause is why the key is cooling down, when Err is ErrCoolingDown.
	Cause Cause
}

func (e *LimitError) Error() string {
	switch {
	case e.Err == ErrTooLarge:
		return fmt.Sprintf("%s: %v; lower max_tokens or use a target with a larger budget", e.Key, e.Err)
	case e.Err == ErrCoolingDown:
		return fmt.Sprintf("%s: %v for %s%s", e.Key, e.Err, e.RetryAfter, e.Cause.describe())
	default:
		return fmt.Sprintf("%s: %v, retry after %s", e.Key, e.Err, e.RetryAfter)
	}
}

func (e *LimitError) Unwrap() error { return e.Err }

// Cause is why a key is cooling down.
type Cause int

const (
	CauseNone Cause = iota
	// CauseThrottled: Bedrock returned ThrottlingException for a per-minute quota.
	CauseThrottled
	// CauseDaily: Bedrock's tokens-per-day quota is exhausted.
	CauseDaily
	// CauseSetup: AccessDeniedException or a model that is not enabled for the account. Waiting will not fix
	// it; someone has to, so it is reported as a setup problem.
	CauseSetup
	// CauseFault: a transient 5xx from Bedrock.
	CauseFault
)

func (c Cause) String() string {
	switch c {
	case CauseNone:
		return "none"
	case CauseThrottled:
		return "throttled"
	case CauseDaily:
		return "daily"
	case CauseSetup:
		return "setup"
	case CauseFault:
		return "fault"
	}
	return fmt.Sprintf("Cause(%d)", int(c))
}

// describe completes "cooling down for 10m0s".
func (c Cause) describe() string {
	switch c {
	case CauseThrottled:
		return " after a ThrottlingException"
	case CauseDaily:
		return " after the tokens-per-day quota ran out"
	case CauseSetup:
		return " after a setup error (access denied or model not enabled); check the role's " +
			"bedrock:InvokeModel permission and the account's model access"
	case CauseFault:
		return " after a server error"
	}
	return ""
}
