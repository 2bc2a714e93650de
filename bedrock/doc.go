// Package bedrock is the aws-sdk-go-v2 Bedrock Runtime adapter: one Client per relay.Target, signing every
// request with SigV4 and the target's assumed-role credentials from credcache.
//
// A Client is built once and shared: it is safe for concurrent use and holds the SDK clients and the
// credential cache, so a request costs no STS call until the credentials run out. Errors are *Error: they keep
// AWS's code and message, say what was being done (operation, model, role, region), match the relay sentinel
// errors with errors.Is, still unwrap to the SDK's typed errors, and carry a hint for known setup mistakes.
package bedrock
