// Package upstream sends Bedrock Runtime requests to one target (an assumed role in one region) as raw bytes:
// the caller's body is forwarded untouched, signed with the SDK's SigV4 signer and the target's cached
// assumed-role credentials, and the response, event streams included, comes back unparsed. Do sends the
// /model/{modelId}/{op} operations; DoCall (direct.go) any other Bedrock Runtime path (ApplyGuardrail, the
// async-invoke operations) the same way.
//
// The relay uses this instead of the typed bedrockruntime client on its hot path because a relay should not
// decode and re-encode what it only passes on; the typed client is used where the relay is itself the
// application (the Lambda function, `invoke`, `check`).
package upstream
