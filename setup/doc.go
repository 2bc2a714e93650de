// Package setup derives everything a two-account bedrock-relay deployment needs from a relay config: the
// Bedrock-account roles' trust and permission policies, the caller role's AssumeRole policy, and deployment
// templates (CloudFormation, Terraform) that create them together with the caller's Lambda function.
//
// The documents come from iampolicy, so a template can only ever contain what `bedrock-relay policy` prints,
// and the foundation-model ARN of every destination region of an inference profile is listed because the
// catalogue says where the profile routes, not because someone remembered.
package setup
