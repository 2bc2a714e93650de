// Package lambdafn is the bedrock-relay Lambda function: the seed article's cross-account call (AssumeRole into
// a Bedrock account, InvokeModel there) as a Go handler, configured from environment variables.
//
// The function is built once per execution environment: configuration, SDK clients and the assumed-role
// credentials survive across warm invocations, so STS is called once per credential lifetime. Every outcome
// is an answer in the seed's {"statusCode", "body"} shape; failures carry AWS's error code and message and
// a hint, never a crash. cmd/bedrock-relay-lambda only starts it.
//
// Environment (validated at init; every problem is logged and answered with statusCode 500):
//
//	TARGET_ROLE_ARN           required: arn:aws:iam::222222222222:role/BedrockAccessRole
//	MODEL_ID                  jp.anthropic.claude-sonnet-4-5-20250929-v1:0 (an event's model_id overrides it)
//	BEDROCK_REGION            ap-northeast-1
//	EXTERNAL_ID               passed to AssumeRole when set
//	ROLE_SESSION_NAME         lambda-bedrock-cross-account
//	SESSION_DURATION_SECONDS  900 (at most 3600 for a Lambda execution role: role chaining)
//	MAX_TOKENS                1000 (an event's max_tokens overrides it)
//	LOG_PROMPTS               false: prompts and answers are not logged
//
// Events: {"prompt": "..."} or {"messages": [...]} (Anthropic Messages), with optional system, model_id,
// max_tokens and temperature. Status codes: 200, 400 (bad event, ValidationException), 403 (AccessDenied*,
// invalid or expired credentials), 404, 429 (throttling, quotas), 500 (configuration), 502 (AWS faults), 504
// (timeout).
package lambdafn
