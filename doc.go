// Package relay is the domain of bedrock-relay: a Target is an IAM role in a Bedrock account that the relay
// assumes to call Amazon Bedrock there, plus the sentinel errors callers branch on.
//
// The moving parts live in their own packages: credcache keeps each target's assumed-role credentials,
// bedrock calls Bedrock Runtime with them, and cmd/ wires them into the CLI and the Lambda function.
package relay
