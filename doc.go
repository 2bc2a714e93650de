// Package relay is the vocabulary of bedrock-relay: a Target is an IAM role in a Bedrock account that the
// relay assumes to call Amazon Bedrock there; the ARN helpers read accounts and partitions; and the one table
// of AWS error codes (LookupCode, ClassOf) says what each code means — its Class (the caller's mistake, a
// throttle, a daily quota, a transient fault, a setup problem, expired credentials), the HTTP status the
// service answers it with, and the sentinel error (ErrThrottled, ErrAccessDenied, ...) callers branch on.
// Every package that decides something by an AWS error code reads it here.
//
// The moving parts live in their own packages: credcache keeps each target's assumed-role credentials,
// upstream forwards signed requests, router picks targets and fails over, internal/httpapi serves the APIs,
// internal/mainlib wires them from a config, and cmd/ holds the thin mains. This package imports none of
// them.
package relay
