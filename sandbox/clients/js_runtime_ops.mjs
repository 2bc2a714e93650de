// boto3_runtime_ops.py in JavaScript, with the AWS SDK for JavaScript v3: ApplyGuardrail and the async-invoke
// operations as a user would call them, and the exception each bad call raises.
// Environment: the lines of `bedrock-relay sandbox env` plus TARGET_ROLE_ARN, MODEL_ID and GUARDRAIL_ID. Prints
// one JSON object with the same keys as the Python script.
import { STSClient, AssumeRoleCommand } from "@aws-sdk/client-sts";
import {
  BedrockRuntimeClient,
  ApplyGuardrailCommand,
  StartAsyncInvokeCommand,
  GetAsyncInvokeCommand,
  ListAsyncInvokesCommand,
} from "@aws-sdk/client-bedrock-runtime";

const { Credentials: c } = await new STSClient({}).send(
  new AssumeRoleCommand({ RoleArn: process.env.TARGET_ROLE_ARN, RoleSessionName: "js-runtime-ops" }),
);
const br = new BedrockRuntimeClient({
  credentials: { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken },
});
const guardrail = process.env.GUARDRAIL_ID;
const model = process.env.MODEL_ID;
const BODY = {
  anthropic_version: "bedrock-2023-05-31",
  max_tokens: 200,
  messages: [{ role: "user", content: "非同期の呼び出しです" }],
};

async function failure(call) {
  try {
    await call();
  } catch (e) {
    return { class: e.name, code: e.name, status: e.$metadata?.httpStatusCode ?? 0, message: e.message };
  }
  return { class: null };
}

const apply = (text, kw = {}) =>
  br.send(new ApplyGuardrailCommand({ guardrailIdentifier: guardrail, guardrailVersion: "DRAFT", source: "INPUT",
    content: [{ text: { text } }], ...kw }));

const out = {};
let r = await apply("this is forbidden");
out.blocked = { action: r.action, outputs: r.outputs, match: r.assessments[0].wordPolicy.customWords[0].match,
  word_units: r.usage.wordPolicyUnits };
r = await apply("nothing to see here", { outputScope: "FULL" });
out.clean = { action: r.action, outputs: r.outputs };
out.unknown_guardrail = await failure(() => apply("x", { guardrailIdentifier: "nosuchguardrail" }));
out.bad_source = await failure(() => apply("x", { source: "SIDEWAYS" }));
out.bad_version = await failure(() => apply("x", { guardrailVersion: "latest" }));

const start = { modelId: model, modelInput: BODY, outputDataConfig: { s3OutputDataConfig: { s3Uri: "s3://boto3-bucket/out" } } };
const arn = (await br.send(new StartAsyncInvokeCommand({ clientRequestToken: "boto3-token-1", ...start }))).invocationArn;
out.invocation_arn = arn;
const again = (await br.send(new StartAsyncInvokeCommand({ clientRequestToken: "boto3-token-1", ...start }))).invocationArn;
out.same_token_same_arn = again === arn;
const got = await br.send(new GetAsyncInvokeCommand({ invocationArn: arn }));
out.get = { status: got.status, model_arn: got.modelArn, s3_uri: got.outputDataConfig.s3OutputDataConfig.s3Uri,
  has_end_time: got.endTime instanceof Date, token: got.clientRequestToken };
const listed = await br.send(new ListAsyncInvokesCommand({ statusEquals: "Completed", sortOrder: "Descending" }));
out.listed = listed.asyncInvokeSummaries.map((s) => s.invocationArn);

const conflict = { ...start, modelInput: { ...BODY, max_tokens: 100 } };
out.conflict = await failure(() => br.send(new StartAsyncInvokeCommand({ clientRequestToken: "boto3-token-1", ...conflict })));
out.bad_s3_uri = await failure(() => br.send(new StartAsyncInvokeCommand({ ...start,
  outputDataConfig: { s3OutputDataConfig: { s3Uri: "ftp://nowhere" } } })));
out.unknown_model = await failure(() => br.send(new StartAsyncInvokeCommand({ ...start, modelId: "anthropic.claude-nothing-v9:0" })));
out.unknown_invocation = await failure(() => br.send(new GetAsyncInvokeCommand({ invocationArn: arn.slice(0, -12) + "zzzzzzzzzzzz" })));
out.bad_status = await failure(() => br.send(new ListAsyncInvokesCommand({ statusEquals: "Done" })));

console.log(JSON.stringify(out));
