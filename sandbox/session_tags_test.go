package sandbox_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/google/go-cmp/cmp"

	"github.com/bedrock-relay/bedrock-relay/iampolicy"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// The relay's per-key sessions (attribution.session_per_key) as the sandbox plays them: AssumeRole with session
// tags needs sts:TagSession in the trust policy (and, across accounts, the caller's policy), a trust condition on
// aws:TagKeys holds, and the tags become part of the session, named in the calls log on the AssumeRole and on
// every Bedrock call the session makes.

var relayTagKeys = []string{"relay-key", "relay-group"}

// allowRelayTags puts the documents `bedrock-relay policy` generates for per-key sessions on role and on the
// seed's caller role.
func allowRelayTags(t *testing.T, sb *sandbox.Sandbox, role string) {
	t.Helper()
	trust, err := iampolicy.TrustTagged(sandbox.CallerRoleARN, "", relayTagKeys).MarshalIndent()
	must(t, err)
	must(t, sb.SetTrustPolicy(role, string(trust)))
	caller, err := iampolicy.CallerTagged(relayTagKeys, sandbox.TargetRoleARN(sandbox.SmallAccount), sandbox.TargetRoleARN(sandbox.LargeAccount)).MarshalIndent()
	must(t, err)
	must(t, sb.SetRolePolicy(sandbox.CallerRoleARN, "AssumeBedrockRoles", string(caller)))
}

func relayTags(key, group string) []ststypes.Tag {
	tags := []ststypes.Tag{{Key: aws.String("relay-key"), Value: aws.String(key)}}
	if group != "" {
		tags = append(tags, ststypes.Tag{Key: aws.String("relay-group"), Value: aws.String(group)})
	}
	return tags
}

func TestSessionTagsGoSDK(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	role := sandbox.TargetRoleARN(sandbox.LargeAccount)
	client := sts.NewFromConfig(e.cfg)
	assume := func(session string, tags []ststypes.Tag) (*sts.AssumeRoleOutput, error) {
		return client.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String(session), Tags: tags})
	}

	t.Run("no sts:TagSession in the trust policy", func(t *testing.T) {
		_, err := assume("brk-alice", relayTags("alice", "chat"))
		want := "User: arn:aws:sts::111111111111:assumed-role/lambda-execution-role/bedrock-relay-sandbox is not authorized to perform: sts:TagSession on resource: " + role
		if apiCode(err) != "AccessDenied" || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %v, want AccessDenied %q", err, want)
		}
		// The same AssumeRole without tags (the shared session) is allowed.
		if _, err := assume("bedrock-relay", nil); err != nil {
			t.Errorf("untagged AssumeRole: %v", err)
		}
	})

	allowRelayTags(t, e.sb, role)
	t.Run("trust policy allows the relay's tag keys", func(t *testing.T) {
		out, err := assume("brk-alice", relayTags("alice", "chat"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := aws.ToString(out.AssumedRoleUser.Arn), "arn:aws:sts::333333333333:assumed-role/BedrockAccessRole/brk-alice"; got != want {
			t.Errorf("AssumedRoleUser.Arn %s, want %s", got, want)
		}
		c := out.Credentials
		cfg := e.static(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
		id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := aws.ToString(id.Arn), "arn:aws:sts::333333333333:assumed-role/BedrockAccessRole/brk-alice"; got != want {
			t.Errorf("GetCallerIdentity %s, want %s", got, want)
		}
		if got := aws.ToString(id.UserId); !strings.HasSuffix(got, ":brk-alice") {
			t.Errorf("UserId %s, want ROLEID:brk-alice", got)
		}
		if _, err := invoke(ctx, cfg, sandbox.SeedProfile); err != nil {
			t.Fatalf("invoke with the tagged session: %v", err)
		}
		var assumed, invoked *sandbox.Call
		for _, call := range e.sb.Calls() {
			switch {
			case call.Operation == "AssumeRole" && call.Session == "brk-alice" && call.Outcome == "ok":
				assumed = &call
			case call.Service == "bedrock" && call.Session == "brk-alice":
				invoked = &call
			}
		}
		wantTags := map[string]string{"relay-key": "alice", "relay-group": "chat"}
		if assumed == nil || invoked == nil {
			t.Fatalf("calls %+v: want an AssumeRole of brk-alice and a Bedrock call by it", e.sb.Calls())
		}
		if diff := cmp.Diff(wantTags, assumed.Tags); diff != "" {
			t.Errorf("AssumeRole's tags (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(wantTags, invoked.Tags); diff != "" {
			t.Errorf("InvokeModel's tags (-want +got):\n%s", diff)
		}
		if invoked.Principal != "arn:aws:sts::333333333333:assumed-role/BedrockAccessRole/brk-alice" || invoked.Outcome != "ok" {
			t.Errorf("InvokeModel recorded as %+v", invoked)
		}
	})
	t.Run("a tag key the condition does not list", func(t *testing.T) {
		tags := append(relayTags("bob", ""), ststypes.Tag{Key: aws.String("team"), Value: aws.String("x")})
		_, err := assume("brk-bob", tags)
		want := "is not authorized to perform: sts:TagSession on resource: " + role
		if apiCode(err) != "AccessDenied" || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %v, want AccessDenied %q", err, want)
		}
		calls := e.sb.Calls()
		last := calls[len(calls)-1]
		if last.Operation != "AssumeRole" || last.Outcome != "AccessDenied" || last.Session != "brk-bob" || last.Tags["team"] != "x" {
			t.Errorf("recorded %+v, want the refused AssumeRole of brk-bob with its tags", last)
		}
	})
	t.Run("the key alone, no group", func(t *testing.T) {
		if _, err := assume("brk-carol", relayTags("carol", "")); err != nil {
			t.Errorf("got %v, want success", err)
		}
	})
	t.Run("untagged sessions carry no tags", func(t *testing.T) {
		out, err := assume("brk-alice", nil) // the same ARN as before, now without tags
		if err != nil {
			t.Fatal(err)
		}
		c := out.Credentials
		cfg := e.static(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
		if _, err := invoke(ctx, cfg, sandbox.SeedProfile); err != nil {
			t.Fatal(err)
		}
		calls := e.sb.Calls()
		if last := calls[len(calls)-1]; last.Session != "brk-alice" || last.Tags != nil {
			t.Errorf("recorded %+v, want session brk-alice without tags", last)
		}
	})
	t.Run("caller policy without sts:TagSession, across accounts", func(t *testing.T) {
		caller, err := iampolicy.Caller(role).MarshalIndent()
		must(t, err)
		must(t, e.sb.SetRolePolicy(sandbox.CallerRoleARN, "AssumeBedrockRoles", string(caller)))
		_, err = assume("brk-dave", relayTags("dave", "chat"))
		if apiCode(err) != "AccessDenied" || !strings.Contains(err.Error(), "sts:TagSession") {
			t.Errorf("got %v, want AccessDenied naming sts:TagSession", err)
		}
	})
}

// TestSessionTagsPrincipalTag: a session's tags are aws:PrincipalTag/ keys of its requests.
func TestSessionTagsPrincipalTag(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	role := sandbox.TargetRoleARN(sandbox.LargeAccount)
	allowRelayTags(t, e.sb, role)
	must(t, e.sb.SetRolePolicy(role, "DenyOtherGroups", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"bedrock:*","Resource":"*",
		"Condition":{"StringNotEqualsIfExists":{"aws:PrincipalTag/relay-group":"chat"}}}]}`))
	client := sts.NewFromConfig(e.cfg)
	for _, tt := range []struct {
		group string
		code  string
	}{{"chat", ""}, {"batch", "AccessDeniedException"}} {
		out, err := client.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("brk-k-" + tt.group), Tags: relayTags("k", tt.group)})
		if err != nil {
			t.Fatal(err)
		}
		c := out.Credentials
		cfg := sdkConfig(e.url, credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)))
		if _, err := invoke(ctx, cfg, sandbox.SeedProfile); apiCode(err) != tt.code {
			t.Errorf("group %s: got %v, want %q", tt.group, err, tt.code)
		}
	}
}

const boto3SessionTags = `
import json, os
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

cfg = Config(retries={"max_attempts": 1})
env = os.environ
out = {}
sts = boto3.client("sts", config=cfg)
tags = [{"Key": "relay-key", "Value": "boto"}, {"Key": "relay-group", "Value": "py"}]
try:
    sts.assume_role(RoleArn=env["ROLE_ARN"], RoleSessionName="brk-boto", Tags=tags)
    out["denied"] = {"code": ""}
except ClientError as e:
    out["denied"] = {"code": e.response["Error"]["Code"], "message": e.response["Error"]["Message"]}
if env.get("ALLOWED") == "1":
    r = sts.assume_role(RoleArn=env["ROLE_ARN"], RoleSessionName="brk-boto", Tags=tags)
    c = r["Credentials"]
    sess = dict(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
    out["assumed"] = r["AssumedRoleUser"]["Arn"]
    out["packed"] = r.get("PackedPolicySize", -1)
    out["identity"] = boto3.client("sts", config=cfg, **sess).get_caller_identity()["Arn"]
    rt = boto3.client("bedrock-runtime", config=cfg, **sess)
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
    rt.invoke_model(modelId=env["MODEL_ID"], body=body, contentType="application/json")
    out["invoked"] = True
print(json.dumps(out))
`

// TestBoto3SessionTags: boto3 gets AWS's AccessDenied for tags the trust policy does not allow, and with
// sts:TagSession allowed a tagged session whose identity and Bedrock calls the calls log names.
func TestBoto3SessionTags(t *testing.T) {
	_, err := exec.LookPath("python3")
	needTool(t, err == nil, "python3")
	needTool(t, exec.Command("python3", "-c", "import boto3").Run() == nil, "boto3")
	sb, url := startSandbox(t)
	role := sandbox.TargetRoleARN(sandbox.LargeAccount)
	run := func(allowed string) map[string]any {
		env := clientEnv(t, url, sb, "ROLE_ARN="+role, "MODEL_ID="+sandbox.SeedProfile, "ALLOWED="+allowed, "PYTHONIOENCODING=utf-8")
		var out map[string]any
		must(t, json.Unmarshal(runClient(t, env, "python3", "-c", boto3SessionTags), &out))
		return out
	}
	out := run("0")
	denied, _ := out["denied"].(map[string]any)
	want := "User: arn:aws:sts::111111111111:assumed-role/lambda-execution-role/bedrock-relay-sandbox is not authorized to perform: sts:TagSession on resource: " + role
	if denied["code"] != "AccessDenied" || denied["message"] != want {
		t.Errorf("boto3 without sts:TagSession: %v, want AccessDenied %q", denied, want)
	}

	allowRelayTags(t, sb, role)
	out = run("1")
	session := "arn:aws:sts::333333333333:assumed-role/BedrockAccessRole/brk-boto"
	if out["assumed"] != session || out["identity"] != session || out["invoked"] != true {
		t.Errorf("boto3 with sts:TagSession: %v, want the session %s, its identity and an invocation", out, session)
	}
	if p, _ := out["packed"].(float64); p <= 0 {
		t.Errorf("PackedPolicySize %v: want a percentage, as AWS reports it when tags are passed", out["packed"])
	}
	wantTags := map[string]string{"relay-key": "boto", "relay-group": "py"}
	var sawAssume, sawInvoke bool
	for _, c := range sb.Calls() {
		if c.Session != "brk-boto" || c.Outcome != "ok" {
			continue
		}
		switch {
		case c.Operation == "AssumeRole":
			sawAssume = cmp.Equal(c.Tags, wantTags)
		case c.Service == "bedrock":
			sawInvoke = cmp.Equal(c.Tags, wantTags)
		}
	}
	if !sawAssume || !sawInvoke {
		t.Errorf("calls %+v: want the AssumeRole of brk-boto and its InvokeModel with tags %v", sb.Calls(), wantTags)
	}
}
