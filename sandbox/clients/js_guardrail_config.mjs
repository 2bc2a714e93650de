// boto3_guardrail_config.py in JavaScript, with the AWS SDK for JavaScript v3: Converse's guardrailConfig (the
// parsed trace, the refusal of an unknown guardrail) and InvokeModel's guardrail parameters.
// Environment: the lines of `bedrock-relay sandbox env` plus TARGET_ROLE_ARN, MODEL_ID and GUARDRAIL_ID.
import { STSClient, AssumeRoleCommand } from "@aws-sdk/client-sts";
import { BedrockRuntimeClient, ConverseCommand, InvokeModelCommand } from "@aws-sdk/client-bedrock-runtime";

const { Credentials: c } = await new STSClient({}).send(
  new AssumeRoleCommand({ RoleArn: process.env.TARGET_ROLE_ARN, RoleSessionName: "js-guardrail" }),
);
const br = new BedrockRuntimeClient({
  credentials: { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken },
});
const modelId = process.env.MODEL_ID;
const gid = process.env.GUARDRAIL_ID;
const user = (text) => [{ role: "user", content: [{ text }] }];
const out = {};

let r = await br.send(new ConverseCommand({ modelId, messages: user("the top secret plan"),
  guardrailConfig: { guardrailIdentifier: gid, guardrailVersion: "1", trace: "enabled" } }));
out.blocked = { stop: r.stopReason, text: r.output.message.content[0].text,
  match: r.trace.guardrail.inputAssessment[gid].wordPolicy.customWords[0].match };

try {
  await br.send(new ConverseCommand({ modelId, messages: user("hello"),
    guardrailConfig: { guardrailIdentifier: "nosuchguardrail", guardrailVersion: "1" } }));
  out.unknown = { class: null };
} catch (e) {
  out.unknown = { class: e.name, code: e.name, status: e.$metadata?.httpStatusCode, message: e.message };
}

r = await br.send(new InvokeModelCommand({ modelId, guardrailIdentifier: gid, guardrailVersion: "1", trace: "ENABLED",
  body: JSON.stringify({ anthropic_version: "bedrock-2023-05-31", max_tokens: 100,
    messages: [{ role: "user", content: "something forbidden" }] }) }));
const doc = JSON.parse(new TextDecoder().decode(r.body));
out.invoke = { action: doc["amazon-bedrock-guardrailAction"], text: doc.content[0].text, traced: "amazon-bedrock-trace" in doc };
console.log(JSON.stringify(out));
