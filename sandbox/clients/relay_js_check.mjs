// The AWS SDK for JavaScript v3 against a relay, with the client's default request handler: for Bedrock
// Runtime that is HTTP/2, and over http:// HTTP/2 with prior knowledge (no TLS, no upgrade).
// Environment: RELAY_ENDPOINT (http://127.0.0.1:PORT of `bedrock-relay serve --sandbox`), MODEL_ID.
// Prints one JSON object; exits non-zero on any error.
import {
  BedrockRuntimeClient,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
  ConverseCommand,
  ConverseStreamCommand,
} from "@aws-sdk/client-bedrock-runtime";

const client = new BedrockRuntimeClient({
  endpoint: process.env.RELAY_ENDPOINT,
  region: "ap-northeast-1",
  credentials: { accessKeyId: "relay", secretAccessKey: "relay" },
  maxAttempts: 1,
});
const modelId = process.env.MODEL_ID;
const out = { handler: client.config.requestHandler?.constructor?.name ?? "unknown" };
const body = JSON.stringify({ anthropic_version: "bedrock-2023-05-31", max_tokens: 50, messages: [{ role: "user", content: "hello over h2c" }] });

const inv = await client.send(new InvokeModelCommand({ modelId, body, contentType: "application/json" }));
out.invoke_model = JSON.parse(new TextDecoder().decode(inv.body)).content[0].text;

const st = await client.send(new InvokeModelWithResponseStreamCommand({ modelId, body, contentType: "application/json" }));
let text = "";
for await (const ev of st.body) {
  const chunk = JSON.parse(new TextDecoder().decode(ev.chunk.bytes));
  if (chunk.type === "content_block_delta") text += chunk.delta.text;
}
out.invoke_model_with_response_stream = text;

const messages = [{ role: "user", content: [{ text: "hello over h2c" }] }];
const conv = await client.send(new ConverseCommand({ modelId, messages, inferenceConfig: { maxTokens: 50 } }));
out.converse = conv.output.message.content[0].text;

const cs = await client.send(new ConverseStreamCommand({ modelId, messages, inferenceConfig: { maxTokens: 50 } }));
let csText = "";
let stop = "";
for await (const ev of cs.stream) {
  if (ev.contentBlockDelta) csText += ev.contentBlockDelta.delta.text;
  if (ev.messageStop) stop = ev.messageStop.stopReason;
}
out.converse_stream = csText;
out.converse_stream_stop = stop;
client.destroy();
console.log(JSON.stringify(out));
