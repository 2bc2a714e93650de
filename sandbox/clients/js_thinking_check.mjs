// Claude's extended thinking against the sandbox with the AWS SDK for JavaScript v3 (Converse, ConverseStream)
// and Anthropic's Bedrock client (@anthropic-ai/bedrock-sdk, adaptive thinking on Opus 4.7): the thinking
// blocks sent back (accepted) and tampered (refused), and a refusal of a thinking rule.
// Environment: the lines of `bedrock-relay sandbox env` plus TARGET_ROLE_ARN, MODEL_ID (a Sonnet 4.5 profile)
// and OPUS_ID (an Opus 4.7 profile). Prints one JSON object; exits non-zero on any unexpected error.
import { STSClient, AssumeRoleCommand } from "@aws-sdk/client-sts";
import { BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand } from "@aws-sdk/client-bedrock-runtime";
import { AnthropicBedrock } from "@anthropic-ai/bedrock-sdk";

const sts = new STSClient({});
const { Credentials: c } = await sts.send(
  new AssumeRoleCommand({ RoleArn: process.env.TARGET_ROLE_ARN, RoleSessionName: "thinking", DurationSeconds: 900 }),
);
const credentials = { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken };
const bedrock = new BedrockRuntimeClient({ credentials });
const modelId = process.env.MODEL_ID;
const out = {};
const refusal = (err) => ({ class: err.name, status: err.$metadata?.httpStatusCode ?? err.status, message: err.message });

const ask = { role: "user", content: [{ text: "Think about Fukuoka, with redacted thinking" }] };
const again = { role: "user", content: [{ text: "And now?" }] };
const params = {
  modelId,
  inferenceConfig: { maxTokens: 2048 },
  additionalModelRequestFields: { thinking: { type: "enabled", budget_tokens: 1024 } },
};

const res = await bedrock.send(new ConverseCommand({ ...params, messages: [ask] }));
const message = res.output.message;
const reasoning = message.content[0].reasoningContent.reasoningText;
out.converse = {
  blocks: message.content.map((b) => Object.keys(b).find((k) => b[k] !== undefined)),
  reasoning: reasoning.text,
  signature: reasoning.signature,
  redacted_bytes: message.content[1].reasoningContent.redactedContent.length,
  text: message.content[2].text,
};
await bedrock.send(new ConverseCommand({ ...params, messages: [ask, message, again] }));
out.round_trip = "ok";
const tampered = {
  role: message.role,
  content: [{ reasoningContent: { reasoningText: { text: reasoning.text + " And Kumamoto.", signature: reasoning.signature } } }, ...message.content.slice(1)],
};
try {
  await bedrock.send(new ConverseCommand({ ...params, messages: [ask, tampered, again] }));
  out.tampered = "accepted";
} catch (err) {
  out.tampered = refusal(err);
}

const st = await bedrock.send(new ConverseStreamCommand({ ...params, messages: [ask] }));
const streamed = { reasoning: "", signature: "", redacted_bytes: 0, text: "" };
for await (const ev of st.stream) {
  const d = ev.contentBlockDelta?.delta;
  if (!d) continue;
  if (d.reasoningContent?.text) streamed.reasoning += d.reasoningContent.text;
  if (d.reasoningContent?.signature) streamed.signature += d.reasoningContent.signature;
  if (d.reasoningContent?.redactedContent) streamed.redacted_bytes += d.reasoningContent.redactedContent.length;
  if (d.text) streamed.text += d.text;
}
out.converse_stream = streamed;

try {
  await bedrock.send(new ConverseCommand({ ...params, inferenceConfig: { maxTokens: 2048, temperature: 0.5 }, messages: [ask] }));
  out.temperature = "accepted";
} catch (err) {
  out.temperature = refusal(err);
}

// Anthropic's own client: its 2026-10-21 body goes to Opus 4.7, which serves that version and thinks adaptively.
const anthropic = new AnthropicBedrock({
  baseURL: process.env.AWS_ENDPOINT_URL,
  awsRegion: process.env.AWS_REGION,
  awsAccessKey: c.AccessKeyId,
  awsSecretKey: c.SecretAccessKey,
  awsSessionToken: c.SessionToken,
  maxRetries: 0,
});
const model = process.env.OPUS_ID;
const question = { role: "user", content: "Think about Sendai" };
const thought = await anthropic.messages.create({ model, max_tokens: 2048, thinking: { type: "adaptive" }, messages: [question] });
const block = thought.content[0];
out.anthropic = { blocks: thought.content.map((b) => b.type), thinking: block.thinking, signature: block.signature };
await anthropic.messages.create({
  model,
  max_tokens: 2048,
  thinking: { type: "adaptive" },
  messages: [question, { role: "assistant", content: thought.content }, { role: "user", content: "And now?" }],
});
out.anthropic_round_trip = "ok";
try {
  await anthropic.messages.create({
    model,
    max_tokens: 2048,
    thinking: { type: "adaptive" },
    messages: [question, { role: "assistant", content: [{ ...block, thinking: block.thinking + " And Aomori." }, ...thought.content.slice(1)] }, { role: "user", content: "And now?" }],
  });
  out.anthropic_tampered = "accepted";
} catch (err) {
  out.anthropic_tampered = { class: err.constructor.name, status: err.status, message: err.error?.message ?? err.message };
}
const stream = anthropic.messages.stream({ model, max_tokens: 2048, thinking: { type: "adaptive" }, messages: [question] });
let thinkingText = "";
stream.on("thinking", (delta) => {
  thinkingText += delta;
});
const final = await stream.finalMessage();
out.anthropic_stream = { thinking: thinkingText, blocks: final.content.map((b) => b.type), signature: final.content[0].signature };
try {
  await anthropic.messages.create({ model, max_tokens: 2048, thinking: { type: "enabled", budget_tokens: 1024 }, messages: [question] });
  out.anthropic_enabled = "accepted";
} catch (err) {
  out.anthropic_enabled = { class: err.constructor.name, status: err.status, message: err.error?.message ?? err.message };
}
console.log(JSON.stringify(out));
