// Package sandbox is an offline emulator of the AWS services bedrock-relay talks to — STS, Bedrock Runtime
// and Service Quotas — on one HTTP endpoint. The tests, the benchmarks and the demo run against it, and it is
// faithful enough that unmodified clients written for real AWS (the Go SDK, boto3, the AWS CLI, the JS SDK)
// do too. It is a documented fake with knobs, in the style of tailscale's tstest/integration/testcontrol: a
// *Sandbox is an http.Handler holding all its state in memory, safe for concurrent use, that tests serve with
// httptest.NewServer and `bedrock-relay sandbox` serves on 127.0.0.1:4566. It never reaches AWS.
//
// Requests are told apart by the service of their SigV4 credential scope (sts, bedrock, servicequotas);
// an unsigned request falls back to its shape. Signatures are recomputed with the SDK's own signer, Bedrock
// API keys are accepted as bearer tokens by Bedrock Runtime only, and identity, trust, session and service
// control policies are evaluated with package iampolicy, with AWS's error codes and wording.
//
// # Default scenario
//
// New(nil) plays DefaultScenario, the seed setup plus one more account to pool with. Account 111111111111
// (CallerAccount) holds lambda-execution-role, whose fixed session CallerCredentials returns and
// `bedrock-relay sandbox env` exports; it may sts:AssumeRole BedrockAccessRole in 222222222222 (SmallAccount:
// 2 requests and 200,000 tokens per minute) and 333333333333 (LargeAccount: 50 requests and 1,000,000 tokens
// per minute). Each BedrockAccessRole trusts the execution role and may invoke SeedProfile
// (jp.anthropic.claude-sonnet-4-5-20250929-v1:0) in ap-northeast-1 and its foundation model in ap-northeast-1
// and ap-northeast-3, read its quotas and count tokens; each Bedrock account has a guardrail, GuardrailID(account),
// blocking DefaultGuardrailWords, that its role may apply, and the role may read its asynchronous invocations.
// The default region is ap-northeast-1, latency is zero and models without a listed quota get DefaultQuota. PoolScenario builds the same shape over any accounts;
// LoadScenario and ParseScenario read any other Scenario from YAML (see testdata/scenario-example.yaml).
//
// # Knobs
//
// Tests change the world while it runs, and Reset returns to the scenario:
//   - SetQuota, SetRegionQuota: an account's requests and tokens per minute and tokens per day for a model.
//   - FailNext, AddFault, ClearFaults: Bedrock or STS error codes on the next N matching requests or at a
//     rate, for a while or until cleared; slow responses; connections closed without an answer; streams cut
//     after N events by an exception frame, a dropped connection or a clean early end (see Fault).
//   - SetCredentialLifetime, ExpireSessions, ForgetSessions, SessionFor: short sessions, sessions expired
//     now, sessions forgotten as after a restart (unknown keys), a session of any scenario role.
//   - SetLatency: a model's time to first token and output pace.
//   - SetStrict: authorize profile calls against every destination region (see Scenario.Strict).
//   - SetAsyncInvokeDuration, Bucket: how long an asynchronous invocation runs (by the sandbox's clock), and
//     the objects invocations wrote to the scenario's in-memory bucket.
//   - SetTrustPolicy, SetRolePolicy, SetSCP, SetModelAccess, SetRegionEnabled: IAM and account setup.
//   - WithClock, WithLogger, WithCatalog: options of New.
//
// The same knobs are a JSON admin API under /_sandbox/ for black-box tests, benchmarks and other languages:
// GET /_sandbox lists its endpoints (stats, calls, env, reset, quota, faults, credential-lifetime,
// expire-sessions, forget-sessions, latency, strict, trust-policy, role-policy, model-access, region, scp,
// bucket, async-invoke).
// It is not authenticated: the sandbox is a local test tool and binds loopback by default.
//
// # Guardrails and asynchronous invocations
//
// ApplyGuardrail answers with a scenario guardrail's verdict (GuardrailSpec: a word list), authorized as
// bedrock:ApplyGuardrail on the guardrail's ARN; an unknown guardrail or version is ResourceNotFoundException.
// StartAsyncInvoke, GetAsyncInvoke and ListAsyncInvokes keep invocations per account and region. AWS serves
// StartAsyncInvoke for media models (Nova Reel, Marengo) the catalogue does not list, so the sandbox takes the
// models it can invoke instead: modelInput is the model's InvokeModel body, resolved, authorized
// (bedrock:InvokeModel) and counted against the quotas as InvokeModel is, and the InvokeModel answer is
// written to {s3Uri}/{invocation id}/output.json in the in-memory bucket (Bucket, GET /_sandbox/bucket) when
// the invocation completes: at once, or after SetAsyncInvokeDuration. A modelInput the model refuses ends the
// invocation Failed. See applyguardrail.go and asyncinvoke.go for what is checked and in which words.
//
// # Recorded calls
//
// The sandbox records the AWS requests it serves. Calls returns the most recent (up to 2,000, oldest first)
// with service, operation, principal, account, requested and served region, model, outcome and tokens; Stats
// counts STS calls by operation, role and outcome, Bedrock calls by account, region, model and outcome, and
// throttles, with STSCalls and BedrockCalls to sum them. Both are also GET /_sandbox/stats and /_sandbox/calls.
//
// # Failing loudly
//
// What the sandbox does not emulate it refuses instead of approximating: an unknown service, Bedrock Runtime
// path or Service Quotas operation gets UnknownOperationException naming what it does serve, an STS action
// other than AssumeRole and GetCallerIdentity gets InvalidAction, a provisioned-throughput model or a body
// format it does not know a ValidationException, an unknown admin endpoint a 404 listing the real ones, and
// a scenario with an unknown field does not load.
//
// Only programs and tests import this package: cmd/, bench/ and _test.go files. Production library code
// never does, and the Lambda functions (cmd/bedrock-relay-lambda, cmd/bedrock-relay-lambda-url) do not
// link it.
package sandbox
