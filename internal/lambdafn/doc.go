// Package lambdafn is the bedrock-relay Lambda function: the seed article's cross-account call (AssumeRole into
// a Bedrock account, InvokeModel there) as a Go handler, configured from environment variables.
//
// The function is built once per execution environment: configuration, SDK clients and the assumed-role
// credentials survive across warm invocations, so STS is called once per credential lifetime. Every outcome
// is an answer in the seed's {"statusCode", "body"} shape; failures carry AWS's error code and message and
// a hint, never a crash. cmd/bedrock-relay-lambda only starts it.
package lambdafn
