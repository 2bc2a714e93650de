// The seed's flow against the sandbox with the AWS SDK for JavaScript v3, as a user would run it.
// Environment: the lines of `bedrock-relay sandbox env` plus TARGET_ROLE_ARN and MODEL_ID.
// Prints one JSON object; exits non-zero on any error.
import { STSClient, GetCallerIdentityCommand, AssumeRoleCommand } from "@aws-sdk/client-sts";
import {
  BedrockRuntimeClient,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
  ConverseCommand,
  ConverseStreamCommand,
} from "@aws-sdk/client-bedrock-runtime";

const body = JSON.stringify({
  anthropic_version: "bedrock-2023-05-31",
  max_tokens: 1000,
  messages: [{ role: "user", content: "クロスアカウントでのBedrock呼び出しテストです" }],
});
const out = {};
const sts = new STSClient({});
out.caller = (await sts.send(new GetCallerIdentityCommand({}))).Arn;
const { Credentials: c } = await sts.send(
  new AssumeRoleCommand({ RoleArn: process.env.TARGET_ROLE_ARN, RoleSessionName: "lambda-bedrock-cross-account", DurationSeconds: 900 }),
);
const bedrock = new BedrockRuntimeClient({
  credentials: { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken },
});
const modelId = process.env.MODEL_ID;

const inv = await bedrock.send(new InvokeModelCommand({ modelId, body, contentType: "application/json" }));
out.invoke_model = JSON.parse(new TextDecoder().decode(inv.body)).content[0].text;

const st = await bedrock.send(new InvokeModelWithResponseStreamCommand({ modelId, body, contentType: "application/json" }));
let text = "";
for await (const ev of st.body) {
  const chunk = JSON.parse(new TextDecoder().decode(ev.chunk.bytes));
  if (chunk.type === "content_block_delta") text += chunk.delta.text;
}
out.invoke_model_with_response_stream = text;

const messages = [{ role: "user", content: [{ text: "クロスアカウントでのBedrock呼び出しテストです" }] }];
out.converse = (await bedrock.send(new ConverseCommand({ modelId, messages }))).output.message.content[0].text;

const cs = await bedrock.send(new ConverseStreamCommand({ modelId, messages }));
text = "";
for await (const ev of cs.stream) {
  if (ev.contentBlockDelta) text += ev.contentBlockDelta.delta.text;
  if (ev.messageStop) out.converse_stream_stop = ev.messageStop.stopReason;
}
out.converse_stream = text;
console.log(JSON.stringify(out));
