package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// The STS errors of sts_errors_test.go as other official clients parse them: boto3 (its modeled exception
// classes), the AWS CLI (its "An error occurred (CODE)" line) and the JavaScript SDK (the error's name, class
// and $metadata.httpStatusCode).

// stsClientCase is what a client script reports for one call: the parsed error.
type stsClientCase struct {
	Code    string `json:"code"`
	Status  int    `json:"status"`
	Message string `json:"message"`
	Modeled bool   `json:"modeled"` // the client's own class for the error caught it
}

// stsClientWant is what each case must report; Modeled only for the errors STS's model declares.
var stsClientWant = map[string]stsClientCase{
	"expired":         {"ExpiredToken", 403, "The security token included in the request is expired", false},
	"region_disabled": {"RegionDisabledException", 403, msgRegionDisabled, true},
	"gov_sts":         {"InvalidClientTokenId", 403, "The security token included in the request is invalid.", false},
	"cn_bedrock":      {"UnrecognizedClientException", 403, "The security token included in the request is invalid.", false},
	"malformed":       {"MalformedPolicyDocument", 400, "The policy is not in the valid JSON format.", true},
	"packed":          {"PackedPolicyTooLarge", 400, "Packed size of session tags consumes ", true},
}

// stsClientSandbox serves a sandbox with SmallAccount's seed region disabled, and gives the environment the
// client scripts read: the caller's keys, an expired session and a valid one of LargeAccount's role.
func stsClientSandbox(t *testing.T) (*sandbox.Sandbox, []string) {
	t.Helper()
	sb, url := startSandbox(t)
	must(t, sb.SetRegionEnabled(sandbox.SmallAccount, sandbox.SeedRegion, false))
	large := sandbox.TargetRoleARN(sandbox.LargeAccount)
	expired, err := sb.SessionFor(large, "expired", -time.Minute)
	must(t, err)
	valid, err := sb.SessionFor(large, "valid", time.Hour)
	must(t, err)
	return sb, clientEnv(t, url, sb,
		"SMALL_ROLE_ARN="+sandbox.TargetRoleARN(sandbox.SmallAccount), "LARGE_ROLE_ARN="+large, "MODEL_ID="+sandbox.SeedProfile,
		"EXPIRED_KEY="+expired.AccessKeyID, "EXPIRED_SECRET="+expired.SecretAccessKey, "EXPIRED_TOKEN="+expired.SessionToken,
		"VALID_KEY="+valid.AccessKeyID, "VALID_SECRET="+valid.SecretAccessKey, "VALID_TOKEN="+valid.SessionToken,
		"PYTHONIOENCODING=utf-8")
}

func checkClientCases(t *testing.T, out []byte) {
	t.Helper()
	var got map[string]stsClientCase
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output %s: %v", out, err)
	}
	for name, want := range stsClientWant {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s: not reported", name)
		case g.Code != want.Code || g.Status != want.Status || !strings.HasPrefix(g.Message, want.Message):
			t.Errorf("%s: got %s %d %q, want %s %d %q", name, g.Code, g.Status, g.Message, want.Code, want.Status, want.Message)
		case want.Modeled && !g.Modeled:
			t.Errorf("%s: %s was not caught by the client's class for it", name, g.Code)
		}
	}
}

const boto3STSErrors = `
import json, os, random, string
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

cfg = Config(retries={"max_attempts": 1})
env = os.environ
out = {}

def run(name, client, call, modeled=None):
    try:
        call()
        out[name] = {"code": "", "status": 200}
    except ClientError as e:
        out[name] = {
            "code": e.response["Error"]["Code"],
            "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
            "message": e.response["Error"]["Message"],
            "modeled": modeled is not None and isinstance(e, getattr(client.exceptions, modeled)),
        }

sts = boto3.client("sts", config=cfg)
expired = boto3.client("sts", config=cfg, aws_access_key_id=env["EXPIRED_KEY"],
                       aws_secret_access_key=env["EXPIRED_SECRET"], aws_session_token=env["EXPIRED_TOKEN"])
run("expired", expired, lambda: expired.get_caller_identity())
run("region_disabled", sts, lambda: sts.assume_role(RoleArn=env["SMALL_ROLE_ARN"], RoleSessionName="boto3"), "RegionDisabledException")
gov = boto3.client("sts", region_name="us-gov-west-1", config=cfg)
run("gov_sts", gov, lambda: gov.get_caller_identity())
cn = boto3.client("bedrock-runtime", region_name="cn-north-1", config=cfg, aws_access_key_id=env["VALID_KEY"],
                  aws_secret_access_key=env["VALID_SECRET"], aws_session_token=env["VALID_TOKEN"])
run("cn_bedrock", cn, lambda: cn.invoke_model(modelId=env["MODEL_ID"], body=b"{}", contentType="application/json"))
run("malformed", sts, lambda: sts.assume_role(RoleArn=env["LARGE_ROLE_ARN"], RoleSessionName="boto3", Policy="invalid policy"),
    "MalformedPolicyDocumentException")
rnd = random.Random(13)
tags = [{"Key": "tag-%02d" % i, "Value": "".join(rnd.choice(string.ascii_letters + string.digits) for _ in range(256))} for i in range(50)]
run("packed", sts, lambda: sts.assume_role(RoleArn=env["LARGE_ROLE_ARN"], RoleSessionName="boto3", Tags=tags), "PackedPolicyTooLargeException")
print(json.dumps(out))
`

func TestBoto3STSErrors(t *testing.T) {
	_, err := exec.LookPath("python3")
	needTool(t, err == nil, "python3")
	needTool(t, exec.Command("python3", "-c", "import boto3").Run() == nil, "boto3")
	_, env := stsClientSandbox(t)
	checkClientCases(t, runClient(t, env, "python3", "-c", boto3STSErrors))
}

const jsSTSErrors = `
import { STSClient, GetCallerIdentityCommand, AssumeRoleCommand, RegionDisabledException, MalformedPolicyDocumentException,
  PackedPolicyTooLargeException } from "@aws-sdk/client-sts";
import { BedrockRuntimeClient, InvokeModelCommand } from "@aws-sdk/client-bedrock-runtime";
const env = process.env;
const out = {};
async function run(name, client, command, modeled) {
  try {
    await client.send(command);
    out[name] = { code: "", status: 200 };
  } catch (e) {
    // name is the SDK's class for a modeled error (MalformedPolicyDocumentException); Code is the wire code.
    out[name] = { code: e.Code ?? e.name, status: e.$metadata?.httpStatusCode ?? 0, message: e.message, modeled: !!modeled && e instanceof modeled };
  }
}
const sts = new STSClient({ maxAttempts: 1 });
const expired = new STSClient({ maxAttempts: 1,
  credentials: { accessKeyId: env.EXPIRED_KEY, secretAccessKey: env.EXPIRED_SECRET, sessionToken: env.EXPIRED_TOKEN } });
await run("expired", expired, new GetCallerIdentityCommand({}));
await run("region_disabled", sts, new AssumeRoleCommand({ RoleArn: env.SMALL_ROLE_ARN, RoleSessionName: "js" }), RegionDisabledException);
await run("gov_sts", new STSClient({ maxAttempts: 1, region: "us-gov-west-1" }), new GetCallerIdentityCommand({}));
const cn = new BedrockRuntimeClient({ maxAttempts: 1, region: "cn-north-1",
  credentials: { accessKeyId: env.VALID_KEY, secretAccessKey: env.VALID_SECRET, sessionToken: env.VALID_TOKEN } });
await run("cn_bedrock", cn, new InvokeModelCommand({ modelId: env.MODEL_ID, body: "{}", contentType: "application/json" }));
await run("malformed", sts, new AssumeRoleCommand({ RoleArn: env.LARGE_ROLE_ARN, RoleSessionName: "js", Policy: "invalid policy" }),
  MalformedPolicyDocumentException);
let seed = 13;
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed; };
const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const tags = Array.from({ length: 50 }, (_, i) => ({ Key: "tag-" + String(i).padStart(2, "0"),
  Value: Array.from({ length: 256 }, () => alnum[rnd() % alnum.length]).join("") }));
await run("packed", sts, new AssumeRoleCommand({ RoleArn: env.LARGE_ROLE_ARN, RoleSessionName: "js", Tags: tags }), PackedPolicyTooLargeException);
console.log(JSON.stringify(out));
`

func TestJSSTSErrors(t *testing.T) {
	_, err := exec.LookPath("node")
	needTool(t, err == nil, "node")
	_, err = os.Stat("clients/node_modules/@aws-sdk/client-sts")
	needTool(t, err == nil, "sandbox/clients/node_modules (.ci/install-js-deps)")
	_, env := stsClientSandbox(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// From clients/, so that the script's imports resolve in its node_modules.
	cmd := exec.CommandContext(ctx, "node", "--input-type=module", "-e", jsSTSErrors)
	cmd.Dir, cmd.Env = "clients", env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\nstdout: %s\nstderr: %s", err, out, stderr.String())
	}
	checkClientCases(t, out)
}

// runFailing runs a client that must fail, and returns its standard error.
func runFailing(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err == nil {
		t.Fatalf("%s %s: succeeded with %s, want it to fail", name, strings.Join(args, " "), out)
	}
	return stderr.String()
}

func TestAWSCLISTSErrors(t *testing.T) {
	t.Parallel() // a CLI call is a second of Python starting; its own sandbox
	_, err := exec.LookPath("aws")
	needTool(t, err == nil, "the AWS CLI (aws)")
	_, env := stsClientSandbox(t)
	var small, large, expiredEnv []string
	for _, kv := range env {
		switch k, v, _ := strings.Cut(kv, "="); k {
		case "SMALL_ROLE_ARN":
			small = []string{v}
		case "LARGE_ROLE_ARN":
			large = []string{v}
		case "EXPIRED_KEY":
			expiredEnv = append(expiredEnv, "AWS_ACCESS_KEY_ID="+v)
		case "EXPIRED_SECRET":
			expiredEnv = append(expiredEnv, "AWS_SECRET_ACCESS_KEY="+v)
		case "EXPIRED_TOKEN":
			expiredEnv = append(expiredEnv, "AWS_SESSION_TOKEN="+v)
		}
	}
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"expired", append(append([]string(nil), env...), expiredEnv...), []string{"sts", "get-caller-identity"},
			"An error occurred (ExpiredToken) when calling the GetCallerIdentity operation: The security token included in the request is expired"},
		{"region_disabled", env, []string{"sts", "assume-role", "--role-arn", small[0], "--role-session-name", "cli"},
			"An error occurred (RegionDisabledException) when calling the AssumeRole operation: " + msgRegionDisabled},
		{"gov_sts", env, []string{"sts", "get-caller-identity", "--region", "us-gov-west-1"},
			"An error occurred (InvalidClientTokenId) when calling the GetCallerIdentity operation: The security token included in the request is invalid."},
		{"malformed", env, []string{"sts", "assume-role", "--role-arn", large[0], "--role-session-name", "cli", "--policy", "invalid policy"},
			"An error occurred (MalformedPolicyDocument) when calling the AssumeRole operation: The policy is not in the valid JSON format."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runFailing(t, tt.env, "aws", tt.args...); !strings.Contains(got, tt.want) {
				t.Errorf("stderr %q, want %q", got, tt.want)
			}
		})
	}
}
