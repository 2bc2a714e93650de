package relay

import "errors"

// Sentinel errors. The bedrock package's errors match them with errors.Is according to the AWS error code, so
// a caller can branch on what happened without knowing every code AWS uses for it.
var (
	// ErrInvalidTarget is a Target that fails Validate.
	ErrInvalidTarget = errors.New("invalid target")
	// ErrInvalidRequest is a request Bedrock or STS refused as malformed (ValidationException): retrying it, on
	// this target or another, cannot help.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrAccessDenied is a refusal by IAM (AssumeRole or Bedrock), or credentials AWS does not accept: a setup
	// problem of this target.
	ErrAccessDenied = errors.New("access denied")
	// ErrExpiredCredentials is an ExpiredToken(Exception): the credentials used had expired. It also matches
	// ErrAccessDenied.
	ErrExpiredCredentials = errors.New("expired credentials")
	// ErrNotFound is a model or profile that does not exist, or is not enabled, for the target's account.
	ErrNotFound = errors.New("not found")
	// ErrThrottled is a quota exhausted for now (ThrottlingException, ServiceQuotaExceededException,
	// ModelNotReadyException): another target, or later, may succeed.
	ErrThrottled = errors.New("throttled")
	// ErrUpstream is any other failure of AWS or of the network on the way to it.
	ErrUpstream = errors.New("upstream failure")
)
