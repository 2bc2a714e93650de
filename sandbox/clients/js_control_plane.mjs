// The control-plane reads that clients make at start (Claude Code lists and reads inference profiles), with the
// AWS SDK for JavaScript v3's Bedrock client: the same as the boto3 script of TestBoto3ControlPlane.
// Environment: the lines of `bedrock-relay sandbox env` with the role session's credentials, plus PROFILE.
// Prints {"ids", "created", "type", "model", "models", "missing"}.
import {
  BedrockClient,
  paginateListInferenceProfiles,
  GetInferenceProfileCommand,
  GetFoundationModelCommand,
  ListFoundationModelsCommand,
} from "@aws-sdk/client-bedrock";

const c = new BedrockClient({});
const ids = [];
for await (const page of paginateListInferenceProfiles({ client: c, pageSize: 3 }, { typeEquals: "SYSTEM_DEFINED" })) {
  ids.push(...page.inferenceProfileSummaries.map((p) => p.inferenceProfileId));
}
const p = await c.send(new GetInferenceProfileCommand({ inferenceProfileIdentifier: process.env.PROFILE }));
const m = (await c.send(new GetFoundationModelCommand({ modelIdentifier: p.models[0].modelArn }))).modelDetails;
let missing = "";
try {
  await c.send(new GetInferenceProfileCommand({ inferenceProfileIdentifier: "jp.anthropic.claude-nonesuch-v1:0" }));
} catch (e) {
  missing = e.name;
}
const models = (await c.send(new ListFoundationModelsCommand({ byProvider: "anthropic" }))).modelSummaries.length;
console.log(JSON.stringify({ ids, created: p.createdAt.toISOString(), type: p.type, model: m.modelId, models, missing }));
