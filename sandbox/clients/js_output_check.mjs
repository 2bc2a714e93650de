// boto3_output_check.py in JavaScript, with the AWS SDK for JavaScript v3: prompt-cache usage, the service tier
// and latency echoed, every stop reason, and the refusals of bad cache points and tiers.
// Environment: the lines of `bedrock-relay sandbox env` plus TARGET_ROLE_ARN and MODEL_ID. Arguments: the checks
// to run in order, of cache, echo, stops and bad. Prints a JSON list, each check's result in turn; exits non-zero
// on an unexpected error.
import { STSClient, AssumeRoleCommand } from "@aws-sdk/client-sts";
import {
  BedrockRuntimeClient,
  InvokeModelCommand,
  ConverseCommand,
  ConverseStreamCommand,
} from "@aws-sdk/client-bedrock-runtime";

const SYSTEM = Array(1500).fill("cache").join(" "); // 1,500 tokens by the sandbox's count
const DIRECTIVES = ["content_filtered", "refusal", "malformed_model_output", "malformed_tool_use",
  "model_context_window_exceeded", "pause_turn"];

const sts = new STSClient({});
const { Credentials: c } = await sts.send(
  new AssumeRoleCommand({ RoleArn: process.env.TARGET_ROLE_ARN, RoleSessionName: "output-check", DurationSeconds: 900 }),
);
const br = new BedrockRuntimeClient({
  credentials: { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken },
});
const modelId = process.env.MODEL_ID;
const user = (text) => [{ role: "user", content: [{ text }] }];
const anthropicBody = (text, system) => JSON.stringify({
  anthropic_version: "bedrock-2023-05-31", max_tokens: 100, messages: [{ role: "user", content: text }],
  ...(system ? { system } : {}),
});
const decode = (body) => JSON.parse(new TextDecoder().decode(body));

// The SDK gives no headers on the output; a middleware keeps those of the last response.
let lastHeaders = {};
br.middlewareStack.add((next) => async (args) => {
  const res = await next(args);
  lastHeaders = res.response.headers;
  return res;
}, { step: "deserialize", name: "keepHeaders" });

const checks = {
  async cache() {
    const out = {};
    let r = await br.send(new ConverseCommand({ modelId, messages: user("what is cached?"),
      system: [{ text: SYSTEM }, { cachePoint: { type: "default" } }] }));
    out.converse = { input: r.usage.inputTokens, read: r.usage.cacheReadInputTokens, write: r.usage.cacheWriteInputTokens };
    r = await br.send(new InvokeModelCommand({ modelId, contentType: "application/json",
      body: anthropicBody("what is cached?", [{ type: "text", text: SYSTEM, cache_control: { type: "ephemeral" } }]) }));
    const u = decode(r.body).usage;
    out.invoke = { input: u.input_tokens, read: u.cache_read_input_tokens, write: u.cache_creation_input_tokens,
      header_read: lastHeaders["x-amzn-bedrock-cache-read-input-token-count"],
      header_write: lastHeaders["x-amzn-bedrock-cache-write-input-token-count"] };
    return out;
  },
  async echo() {
    const out = {};
    let r = await br.send(new ConverseCommand({ modelId, messages: user("hello"),
      performanceConfig: { latency: "optimized" }, serviceTier: { type: "flex" } }));
    out.converse = [r.performanceConfig.latency, r.serviceTier.type];
    const s = await br.send(new ConverseStreamCommand({ modelId, messages: user("hello"),
      performanceConfig: { latency: "standard" }, serviceTier: { type: "priority" } }));
    for await (const ev of s.stream) {
      if (ev.metadata) out.converse_stream = [ev.metadata.performanceConfig.latency, ev.metadata.serviceTier.type];
    }
    r = await br.send(new InvokeModelCommand({ modelId, contentType: "application/json", body: anthropicBody("hello"),
      performanceConfigLatency: "optimized", serviceTier: "default" }));
    out.invoke_model = [r.performanceConfigLatency, r.serviceTier];
    return out;
  },
  async stops() {
    const out = { converse: {}, invoke_model: {} };
    for (const d of DIRECTIVES) {
      out.converse[d] = (await br.send(new ConverseCommand({ modelId, messages: user("stop:" + d) }))).stopReason;
      const r = await br.send(new InvokeModelCommand({ modelId, contentType: "application/json", body: anthropicBody("stop:" + d) }));
      out.invoke_model[d] = decode(r.body).stop_reason;
    }
    return out;
  },
  async bad() {
    const calls = {
      "bad cachePoint type": () => br.send(new ConverseCommand({ modelId, messages: user("hi"),
        system: [{ text: "x" }, { cachePoint: { type: "ephemeral" } }] })),
      "bad cachePoint ttl": () => br.send(new ConverseCommand({ modelId, messages: user("hi"),
        system: [{ text: "x" }, { cachePoint: { type: "default", ttl: "2h" } }] })),
      "bad cache_control ttl": () => br.send(new InvokeModelCommand({ modelId, contentType: "application/json",
        body: anthropicBody("hi", [{ type: "text", text: "x", cache_control: { type: "ephemeral", ttl: "10m" } }]) })),
      "bad latency": () => br.send(new ConverseCommand({ modelId, messages: user("hi"), performanceConfig: { latency: "fast" } })),
      "bad service tier": () => br.send(new ConverseCommand({ modelId, messages: user("hi"), serviceTier: { type: "gold" } })),
      "bad tier header": () => br.send(new InvokeModelCommand({ modelId, contentType: "application/json", body: anthropicBody("hi"),
        serviceTier: "gold" })),
    };
    const out = {};
    for (const [name, call] of Object.entries(calls)) {
      try {
        await call();
        out[name] = { class: null };
      } catch (e) {
        out[name] = { class: e.constructor.name, code: e.name, status: e.$metadata?.httpStatusCode, message: e.message };
      }
    }
    return out;
  },
};

const out = [];
for (const name of process.argv.slice(2)) out.push(await checks[name]());
console.log(JSON.stringify(out));
