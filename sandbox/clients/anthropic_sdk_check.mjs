// The Anthropic Messages API of the relay, driven by the official TypeScript SDK (@anthropic-ai/sdk) as a user
// would: new Anthropic({ baseURL: relay, apiKey: key }). Run by internal/httpapi's TestAnthropicSDKConformance,
// which installs one fault first: the first streamed request is cut after two events.
// Environment: RELAY_URL, RELAY_KEY, RELAY_MODEL (an Anthropic API name the relay serves).
// Prints one JSON object; exits non-zero on any unexpected error.
import Anthropic from "@anthropic-ai/sdk";

const client = new Anthropic({ baseURL: process.env.RELAY_URL, apiKey: process.env.RELAY_KEY, maxRetries: 0 });
const model = process.env.RELAY_MODEL;
const out = {};

// messages.create
const created = await client.messages.create({
  model,
  max_tokens: 200,
  system: "Answer briefly.",
  messages: [{ role: "user", content: "a conformance check of the relay" }],
});
out.create = {
  text: created.content.filter((b) => b.type === "text").map((b) => b.text).join(""),
  stopReason: created.stop_reason,
  model: created.model,
};

// The first stream meets the fault the test installed: the SDK raises the relay's error event.
try {
  const cut = client.messages.stream({ model, max_tokens: 200, messages: [{ role: "user", content: "a stream to cut words:50" }] });
  await cut.finalMessage();
  out.streamError = { type: "none" };
} catch (e) {
  out.streamError = { type: e.type ?? e.error?.error?.type ?? String(e) };
}

// messages.stream: the text collected from the events is finalMessage's.
const stream = client.messages.stream({ model, max_tokens: 200, messages: [{ role: "user", content: "stream me words:30" }] });
let text = "";
stream.on("text", (t) => {
  text += t;
});
const final = await stream.finalMessage();
out.stream = {
  text,
  finalText: final.content.filter((b) => b.type === "text").map((b) => b.text).join(""),
  stopReason: final.stop_reason,
};

// A tool round trip.
const tools = [
  {
    name: "get_weather",
    description: "The weather in a city now.",
    input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
];
const ask = { role: "user", content: "What is the weather in Tokyo? Use get_weather." };
const first = await client.messages.create({ model, max_tokens: 300, tools, messages: [ask] });
const call = first.content.find((b) => b.type === "tool_use");
if (!call || first.stop_reason !== "tool_use") throw new Error("no tool_use: " + JSON.stringify(first));
const second = await client.messages.create({
  model,
  max_tokens: 300,
  tools,
  messages: [
    ask,
    { role: "assistant", content: first.content },
    { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: "22 degrees and sunny" }] },
  ],
});
out.tool = {
  name: call.name,
  input: JSON.stringify(call.input),
  after: second.content.filter((b) => b.type === "text").map((b) => b.text).join(""),
};

// messages.countTokens
const count = await client.messages.countTokens({ model, tools, messages: [ask] });
out.countTokens = count.input_tokens;

// An error: a model the relay does not serve.
try {
  await client.messages.create({ model: "claude-no-such-model", max_tokens: 10, messages: [{ role: "user", content: "hi" }] });
  out.error = { status: 0 };
} catch (e) {
  if (!(e instanceof Anthropic.APIError)) throw e;
  out.error = { status: e.status, type: e.type ?? e.error?.error?.type, notFound: e instanceof Anthropic.NotFoundError };
}

console.log(JSON.stringify(out));
