package relay

import (
	"errors"
	"net/http"
	"strings"
)

// Sentinel errors. Errors of this module (bedrock.Error, the router's and the HTTP layer's) match them with
// errors.Is according to the AWS error code, through the one table below, so a caller can branch on what
// happened without knowing every code AWS uses for it.
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

// Class is how a failure is handled: whether another target or a later try can help, and for how long a
// target that failed so is left alone.
type Class int

const (
	// ClassCaller is the caller's own mistake (a malformed request): answer it, try no other target.
	ClassCaller Class = iota
	// ClassThrottle is a per-minute quota of the target's account: cool the target for the model, fail over.
	ClassThrottle
	// ClassDaily is a tokens-per-day quota: cool the target for long, fail over.
	ClassDaily
	// ClassFault is a transient failure of AWS or the network: back off briefly, fail over.
	ClassFault
	// ClassSetup is a setup problem of the target (IAM refuses, the model is not enabled, credentials AWS does
	// not accept): take the target out for long, fail over.
	ClassSetup
	// ClassExpired is credentials that expired: drop them, assume the role again, retry once. If it still
	// surfaces after that it is handled as ClassSetup.
	ClassExpired
)

var classNames = [...]string{"caller", "throttle", "daily", "fault", "setup", "expired"}

func (c Class) String() string {
	if c < 0 || int(c) >= len(classNames) {
		return "unknown"
	}
	return classNames[c]
}

// Code is what one AWS error code means to the relay: its class, the HTTP status the service answers it
// with, and the sentinel error it matches.
type Code struct {
	Code     string
	Class    Class
	Status   int
	Sentinel error
}

// codes is the one table of AWS error codes: every package that branches on a code (the router's
// failover, the HTTP layer's statuses, bedrock.Error, check's diagnoses) reads it through LookupCode.
// Statuses are those of botocore's service models (bedrock-runtime 2023-09-30, sts 2011-06-15); for the
// codes of the common AWS errors they are what the services answer.
var codes = map[string]Code{}

func init() {
	for _, c := range []Code{
		// Bedrock Runtime, as declared in its service model.
		{"ValidationException", ClassCaller, http.StatusBadRequest, ErrInvalidRequest},
		{"ConflictException", ClassCaller, http.StatusBadRequest, ErrInvalidRequest},
		{"AccessDeniedException", ClassSetup, http.StatusForbidden, ErrAccessDenied},
		{"ResourceNotFoundException", ClassSetup, http.StatusNotFound, ErrNotFound},
		{"ThrottlingException", ClassThrottle, http.StatusTooManyRequests, ErrThrottled},
		{"ServiceQuotaExceededException", ClassThrottle, http.StatusBadRequest, ErrThrottled},
		{"ModelNotReadyException", ClassFault, http.StatusTooManyRequests, ErrThrottled},
		{"ModelTimeoutException", ClassFault, http.StatusRequestTimeout, ErrUpstream},
		{"ModelErrorException", ClassFault, http.StatusFailedDependency, ErrUpstream},
		{"ModelStreamErrorException", ClassFault, http.StatusFailedDependency, ErrUpstream},
		{"InternalServerException", ClassFault, http.StatusInternalServerError, ErrUpstream},
		{"ServiceUnavailableException", ClassFault, http.StatusServiceUnavailable, ErrUpstream},
		// The common errors of every AWS JSON service (authentication, signing, serialization).
		{"UnrecognizedClientException", ClassSetup, http.StatusForbidden, ErrAccessDenied},
		{"InvalidSignatureException", ClassSetup, http.StatusForbidden, ErrAccessDenied},
		{"IncompleteSignature", ClassSetup, http.StatusForbidden, ErrAccessDenied},
		{"MissingAuthenticationToken", ClassSetup, http.StatusForbidden, ErrAccessDenied},
		{"MissingAuthenticationTokenException", ClassSetup, http.StatusForbidden, ErrAccessDenied},
		{"ExpiredTokenException", ClassExpired, http.StatusForbidden, ErrExpiredCredentials},
		{"SerializationException", ClassCaller, http.StatusBadRequest, ErrInvalidRequest},
		{"TooManyRequestsException", ClassThrottle, http.StatusTooManyRequests, ErrThrottled},
		// STS (AssumeRole, GetCallerIdentity) and Service Quotas.
		{"AccessDenied", ClassSetup, http.StatusForbidden, ErrAccessDenied},
		{"ExpiredToken", ClassExpired, http.StatusForbidden, ErrExpiredCredentials},
		{"InvalidClientTokenId", ClassSetup, http.StatusForbidden, ErrAccessDenied},
		{"SignatureDoesNotMatch", ClassSetup, http.StatusForbidden, ErrAccessDenied},
		{"RegionDisabledException", ClassSetup, http.StatusForbidden, ErrAccessDenied},
		{"InvalidIdentityToken", ClassSetup, http.StatusBadRequest, ErrAccessDenied},
		{"MalformedPolicyDocument", ClassSetup, http.StatusBadRequest, ErrInvalidRequest},
		{"PackedPolicyTooLarge", ClassSetup, http.StatusBadRequest, ErrInvalidRequest},
		{"ValidationError", ClassCaller, http.StatusBadRequest, ErrInvalidRequest},
		{"InvalidParameterValue", ClassCaller, http.StatusBadRequest, ErrInvalidRequest},
		{"Throttling", ClassThrottle, http.StatusBadRequest, ErrThrottled},
	} {
		codes[c.Code] = c
	}
}

// LookupCode is what code means. A code the table does not know is a fault of AWS when status is 5xx and
// the caller's mistake otherwise, matching ErrUpstream; status 0 counts as 500.
func LookupCode(code string, status int) Code {
	if c, ok := codes[code]; ok {
		return c
	}
	if status == 0 {
		status = http.StatusInternalServerError
	}
	c := Code{Code: code, Class: ClassCaller, Status: status, Sentinel: ErrUpstream}
	if status >= 500 {
		c.Class = ClassFault
	}
	return c
}

// KnownCode reports whether the table has code.
func KnownCode(code string) bool {
	_, ok := codes[code]
	return ok
}

// ClassOf is the class of an AWS error answer. A ThrottlingException whose message speaks of a daily quota
// is ClassDaily: Bedrock uses one code for the per-minute and the per-day quotas.
func ClassOf(code string, status int, message string) Class {
	c := LookupCode(code, status)
	if c.Class == ClassThrottle && code == "ThrottlingException" && strings.Contains(message, "per day") {
		return ClassDaily
	}
	return c.Class
}

// IsExpired reports the codes that mean the credentials used had expired.
func IsExpired(code string) bool { return LookupCode(code, 0).Class == ClassExpired }
