// Faults held to each operation's declared errors, as the AWS SDK for JavaScript v3 sees them. For each
// operation of FAULT_PLAN and each code it declares, installs a one-shot fault of that code through
// POST /_sandbox/faults, calls the operation once (no retries) and records the exception's name and HTTP status;
// for a stream, also each exception event of its union, cut in after the first event. Then asks for the faults
// of REFUSED_FAULTS, which no operation matched declares, and records the admin API's answer.
// Environment: the lines of `bedrock-relay sandbox env` plus TARGET_ROLE_ARN, MODEL_ID, FOUNDATION_MODEL_ID,
// GUARDRAIL_ID, FAULT_PLAN ({"Op": {"errors": [...], "stream_errors": [...]}}) and REFUSED_FAULTS (a JSON list
// of fault bodies). Prints {"results": [...], "refused": [...]}.
import { STSClient, AssumeRoleCommand } from "@aws-sdk/client-sts";
import {
  BedrockRuntimeClient,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
  ConverseCommand,
  ConverseStreamCommand,
  CountTokensCommand,
  ApplyGuardrailCommand,
  StartAsyncInvokeCommand,
  GetAsyncInvokeCommand,
  ListAsyncInvokesCommand,
} from "@aws-sdk/client-bedrock-runtime";

const env = process.env;
const { Credentials: c } = await new STSClient({}).send(
  new AssumeRoleCommand({ RoleArn: env.TARGET_ROLE_ARN, RoleSessionName: "js-faults" }),
);
// One attempt: each fault is one answer, and what is recorded is what that answer parsed to.
const br = new BedrockRuntimeClient({
  maxAttempts: 1,
  credentials: { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken },
});

async function admin(method, path, body) {
  const r = await fetch(env.AWS_ENDPOINT_URL + path, {
    method, headers: { "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, text: await r.text() };
}

const model = env.MODEL_ID;
const body = JSON.stringify({ anthropic_version: "bedrock-2023-05-31", max_tokens: 50,
  messages: [{ role: "user", content: "fault" }] });
const messages = [{ role: "user", content: [{ text: "fault" }] }];
const asyncStart = () => new StartAsyncInvokeCommand({ modelId: model, modelInput: JSON.parse(body),
  outputDataConfig: { s3OutputDataConfig: { s3Uri: "s3://js-bucket/faults" } } });
await admin("DELETE", "/_sandbox/faults");
const invocationArn = (await br.send(asyncStart())).invocationArn;

// Each call returns the response's HTTP status once it has started, and reads a stream to its end.
const drain = async (iterable) => { for await (const _ of iterable) { /* every event */ } };
const calls = {
  InvokeModel: () => br.send(new InvokeModelCommand({ modelId: model, body, contentType: "application/json" })),
  InvokeModelWithResponseStream: async (started) => {
    const r = await br.send(new InvokeModelWithResponseStreamCommand({ modelId: model, body, contentType: "application/json" }));
    started(r);
    await drain(r.body);
  },
  Converse: () => br.send(new ConverseCommand({ modelId: model, messages })),
  ConverseStream: async (started) => {
    const r = await br.send(new ConverseStreamCommand({ modelId: model, messages }));
    started(r);
    await drain(r.stream);
  },
  CountTokens: () => br.send(new CountTokensCommand({ modelId: env.FOUNDATION_MODEL_ID, input: { converse: { messages } } })),
  ApplyGuardrail: () => br.send(new ApplyGuardrailCommand({ guardrailIdentifier: env.GUARDRAIL_ID, guardrailVersion: "DRAFT",
    source: "INPUT", content: [{ text: { text: "fault" } }] })),
  StartAsyncInvoke: () => br.send(asyncStart()),
  GetAsyncInvoke: () => br.send(new GetAsyncInvokeCommand({ invocationArn })),
  ListAsyncInvokes: () => br.send(new ListAsyncInvokesCommand({})),
};

async function outcome(call) {
  let began = 0;
  try {
    await call((r) => { began = r.$metadata.httpStatusCode; });
    return { ok: true };
  } catch (e) {
    return { ok: false, name: e.name, status: e.$metadata?.httpStatusCode ?? began, message: e.message };
  }
}

const plan = JSON.parse(env.FAULT_PLAN);
const results = [];
for (const [op, declared] of Object.entries(plan)) {
  if (!calls[op]) {
    results.push({ op, error: "this script has no call for " + op });
    continue;
  }
  for (const [list, midStream] of [[declared.errors ?? [], false], [declared.stream_errors ?? [], true]]) {
    for (const code of list) {
      const fault = { code, operation: op, count: 1, ...(midStream ? { after_events: 1 } : {}) };
      const installed = await admin("POST", "/_sandbox/faults", fault);
      const got = installed.status === 200 ? await outcome(calls[op]) : { ok: false, name: "", status: 0, message: "fault refused: " + installed.text };
      await admin("DELETE", "/_sandbox/faults");
      results.push({ op, code, mid_stream: midStream, ...got });
    }
  }
}

const refused = [];
for (const fault of JSON.parse(env.REFUSED_FAULTS ?? "[]")) {
  const r = await admin("POST", "/_sandbox/faults", fault);
  let error = r.text;
  try { error = JSON.parse(r.text).error; } catch { /* not JSON */ }
  refused.push({ fault, status: r.status, error });
}
await admin("DELETE", "/_sandbox/faults");
console.log(JSON.stringify({ results, refused }));
