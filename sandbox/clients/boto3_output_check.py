"""What Bedrock's answers say beyond the text, read with boto3: prompt-cache usage, the service tier and
latency echoed, every stop reason, and the refusals of bad cache points and tiers.

Environment: the lines of `bedrock-relay sandbox env` and TARGET_ROLE_ARN, MODEL_ID. Arguments: the checks to
run in order, of cache (one cached Converse and one cached InvokeModel call), echo, stops and bad. Prints a JSON
list, each check's result in turn; exits non-zero on an unexpected error. sandbox/output_clients_test.go runs it (js_output_check.mjs is the same
in JavaScript).
"""
import json
import os
import sys

import boto3

SYSTEM = " ".join(["cache"] * 1500)  # 1,500 tokens by the sandbox's count: above Sonnet 4.5's 1,024
DIRECTIVES = ["content_filtered", "refusal", "malformed_model_output", "malformed_tool_use",
              "model_context_window_exceeded", "pause_turn"]


def client():
    sts = boto3.client("sts")
    creds = sts.assume_role(RoleArn=os.environ["TARGET_ROLE_ARN"], RoleSessionName="output-check", DurationSeconds=900)["Credentials"]
    return boto3.client("bedrock-runtime", aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])


def user(text):
    return [{"role": "user", "content": [{"text": text}]}]


def anthropic_body(text, system=None):
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": [{"role": "user", "content": text}]}
    if system is not None:
        body["system"] = system
    return json.dumps(body)


def cache(br, model):
    out = {}
    resp = br.converse(modelId=model, messages=user("what is cached?"),
                       system=[{"text": SYSTEM}, {"cachePoint": {"type": "default"}}])
    u = resp["usage"]
    out["converse"] = {"input": u["inputTokens"], "read": u["cacheReadInputTokens"], "write": u["cacheWriteInputTokens"]}
    body = anthropic_body("what is cached?", [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}])
    resp = br.invoke_model(modelId=model, body=body, contentType="application/json")
    u = json.loads(resp["body"].read())["usage"]
    h = resp["ResponseMetadata"]["HTTPHeaders"]
    out["invoke"] = {"input": u["input_tokens"], "read": u["cache_read_input_tokens"], "write": u["cache_creation_input_tokens"],
                     "header_read": h.get("x-amzn-bedrock-cache-read-input-token-count"),
                     "header_write": h.get("x-amzn-bedrock-cache-write-input-token-count")}
    return out


def echo(br, model):
    out = {}
    resp = br.converse(modelId=model, messages=user("hello"), performanceConfig={"latency": "optimized"}, serviceTier={"type": "flex"})
    out["converse"] = [resp["performanceConfig"]["latency"], resp["serviceTier"]["type"]]
    resp = br.converse_stream(modelId=model, messages=user("hello"), performanceConfig={"latency": "standard"}, serviceTier={"type": "priority"})
    for event in resp["stream"]:
        if "metadata" in event:
            md = event["metadata"]
            out["converse_stream"] = [md["performanceConfig"]["latency"], md["serviceTier"]["type"]]
    resp = br.invoke_model(modelId=model, body=anthropic_body("hello"), contentType="application/json",
                           performanceConfigLatency="optimized", serviceTier="default")
    out["invoke_model"] = [resp["performanceConfigLatency"], resp["serviceTier"]]
    return out


def stops(br, model):
    out = {"converse": {}, "invoke_model": {}}
    for d in DIRECTIVES:
        resp = br.converse(modelId=model, messages=user("stop:" + d))
        out["converse"][d] = resp["stopReason"]
        resp = br.invoke_model(modelId=model, body=anthropic_body("stop:" + d), contentType="application/json")
        out["invoke_model"][d] = json.loads(resp["body"].read())["stop_reason"]
    return out


def bad(br, model):
    calls = {
        "bad cachePoint type": lambda: br.converse(modelId=model, messages=user("hi"), system=[{"text": "x"}, {"cachePoint": {"type": "ephemeral"}}]),
        "bad cachePoint ttl": lambda: br.converse(modelId=model, messages=user("hi"), system=[{"text": "x"}, {"cachePoint": {"type": "default", "ttl": "2h"}}]),
        "bad cache_control ttl": lambda: br.invoke_model(modelId=model, contentType="application/json",
                                                         body=anthropic_body("hi", [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "10m"}}])),
        "bad latency": lambda: br.converse(modelId=model, messages=user("hi"), performanceConfig={"latency": "fast"}),
        "bad service tier": lambda: br.converse(modelId=model, messages=user("hi"), serviceTier={"type": "gold"}),
        "bad tier header": lambda: br.invoke_model(modelId=model, body=anthropic_body("hi"), contentType="application/json", serviceTier="gold"),
    }
    out = {}
    for name, call in calls.items():
        try:
            call()
            out[name] = {"class": None}
        except br.exceptions.ClientError as e:
            out[name] = {"class": type(e).__name__, "code": e.response["Error"]["Code"],
                         "status": e.response["ResponseMetadata"]["HTTPStatusCode"], "message": e.response["Error"]["Message"]}
    return out


def main():
    checks = {"cache": cache, "echo": echo, "stops": stops, "bad": bad}
    br, model = client(), os.environ["MODEL_ID"]
    json.dump([checks[name](br, model) for name in sys.argv[1:]], sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
