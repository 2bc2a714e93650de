"""Converse's guardrailConfig and InvokeModel's guardrail parameters against the sandbox with boto3.

Environment: the lines of `bedrock-relay sandbox env` and TARGET_ROLE_ARN, MODEL_ID, GUARDRAIL_ID. Prints one
JSON object with what each call returned, and for the call meant to fail the exception class, code and status.
"""
import json
import os

import boto3
from botocore.exceptions import ClientError


def main():
    sts = boto3.client("sts")
    creds = sts.assume_role(RoleArn=os.environ["TARGET_ROLE_ARN"], RoleSessionName="boto3-guardrail")["Credentials"]
    br = boto3.client("bedrock-runtime", aws_access_key_id=creds["AccessKeyId"],
                      aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
    model, gid = os.environ["MODEL_ID"], os.environ["GUARDRAIL_ID"]
    msgs = lambda text: [{"role": "user", "content": [{"text": text}]}]
    out = {}

    r = br.converse(modelId=model, messages=msgs("the top secret plan"),
                    guardrailConfig={"guardrailIdentifier": gid, "guardrailVersion": "1", "trace": "enabled"})
    words = r["trace"]["guardrail"]["inputAssessment"][gid]["wordPolicy"]["customWords"]
    out["blocked"] = {"stop": r["stopReason"], "text": r["output"]["message"]["content"][0]["text"],
                      "match": words[0]["match"]}

    try:
        br.converse(modelId=model, messages=msgs("hello"),
                    guardrailConfig={"guardrailIdentifier": "nosuchguardrail", "guardrailVersion": "1"})
        out["unknown"] = {"class": None}
    except ClientError as e:
        out["unknown"] = {"class": type(e).__name__, "code": e.response["Error"]["Code"],
                          "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
                          "message": e.response["Error"].get("Message", "")}

    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
                       "messages": [{"role": "user", "content": "something forbidden"}]})
    r = br.invoke_model(modelId=model, body=body, guardrailIdentifier=gid, guardrailVersion="1", trace="ENABLED")
    doc = json.loads(r["body"].read())
    out["invoke"] = {"action": doc.get("amazon-bedrock-guardrailAction"), "text": doc["content"][0]["text"],
                     "traced": "amazon-bedrock-trace" in doc}
    print(json.dumps(out))


main()
