// Anthropic's Bedrock client (@anthropic-ai/bedrock-sdk 1.x, API version 2026-10-21) against a relay:
// messages.create, messages.stream, a tool-use round trip, extended thinking, and beta flags the model does
// not take, as Claude Code sends them. Environment: RELAY_ENDPOINT (http://127.0.0.1:PORT of a relay with
// auth: none, which takes any SigV4 signature) and MODEL_ID. Prints one JSON object; exits non-zero on any
// error.
import { AnthropicBedrock } from "@anthropic-ai/bedrock-sdk";

const client = new AnthropicBedrock({
  baseURL: process.env.RELAY_ENDPOINT,
  awsRegion: "ap-northeast-1",
  awsAccessKey: "AKIARELAYEXAMPLE0000",
  awsSecretKey: "relay-does-not-check-this-signature",
  maxRetries: 0,
  timeout: 60_000,
});
const model = process.env.MODEL_ID;
const text = (msg) => msg.content.filter((b) => b.type === "text").map((b) => b.text).join("");
const out = {};

const created = await client.messages.create({
  model,
  max_tokens: 200,
  messages: [{ role: "user", content: "Hello from the Anthropic Bedrock SDK" }],
});
out.create = { text: text(created), stop_reason: created.stop_reason, input_tokens: created.usage.input_tokens, output_tokens: created.usage.output_tokens };

const stream = client.messages.stream({
  model,
  max_tokens: 200,
  messages: [{ role: "user", content: "Stream words:20 please" }],
});
let streamed = "";
let events = 0;
stream.on("text", (t) => {
  streamed += t;
});
for await (const _ of stream) events++;
const final = await stream.finalMessage();
out.stream = { text: streamed, events, stop_reason: final.stop_reason, final_text: text(final) };

const tools = [
  {
    name: "get_weather",
    description: "The weather in a city",
    input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
];
const question = { role: "user", content: "What is the weather in Tokyo? Use get_weather." };
const first = await client.messages.create({ model, max_tokens: 300, tools, messages: [question] });
const use = first.content.find((b) => b.type === "tool_use");
if (!use) throw new Error(`no tool_use block in ${JSON.stringify(first)}`);
const second = await client.messages.create({
  model,
  max_tokens: 300,
  tools,
  messages: [
    question,
    { role: "assistant", content: first.content },
    { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "Sunny, 21 degrees" }] },
  ],
});
out.tool = { stop_reason: first.stop_reason, name: use.name, input: use.input, answer: text(second), answer_stop: second.stop_reason };

const thought = await client.messages.create({
  model,
  max_tokens: 2048,
  thinking: { type: "enabled", budget_tokens: 1024 },
  messages: [{ role: "user", content: "Think, then say hello" }],
});
out.thinking = { stop_reason: thought.stop_reason, text: text(thought), blocks: thought.content.map((b) => b.type) };

// Claude Code's way: the beta namespace with flags in the anthropic-beta header, which the client moves into
// the body's anthropic_beta; mcp-servers-2025-12-04 is one Bedrock refuses ("invalid beta flag").
const beta = await client.beta.messages.create({
  model,
  max_tokens: 200,
  betas: ["interleaved-thinking-2025-05-14", "mcp-servers-2025-12-04"],
  messages: [{ role: "user", content: "Hello with betas" }],
});
out.beta = { text: text(beta), stop_reason: beta.stop_reason };

console.log(JSON.stringify(out));
