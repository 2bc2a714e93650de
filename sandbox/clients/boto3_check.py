"""The seed's Python flow against the sandbox with boto3, as a user would run it.

Environment: the lines of `bedrock-relay sandbox env` (AWS_ENDPOINT_URL, AWS_REGION, the caller's keys) and
TARGET_ROLE_ARN, MODEL_ID. Prints one JSON object with what each call returned; exits non-zero on any error.
"""
import json
import os
import sys

import boto3

BODY = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 1000,
    "messages": [{"role": "user", "content": "クロスアカウントでのBedrock呼び出しテストです"}],
}


def main():
    role_arn = os.environ["TARGET_ROLE_ARN"]
    model_id = os.environ["MODEL_ID"]
    out = {}

    sts = boto3.client("sts")
    out["caller"] = sts.get_caller_identity()["Arn"]
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="lambda-bedrock-cross-account", DurationSeconds=900)["Credentials"]
    bedrock = boto3.client(
        "bedrock-runtime",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )

    resp = bedrock.invoke_model(modelId=model_id, body=json.dumps(BODY), contentType="application/json")
    answer = json.loads(resp["body"].read())
    out["invoke_model"] = answer["content"][0]["text"]
    out["invoke_model_usage"] = answer["usage"]

    resp = bedrock.invoke_model_with_response_stream(modelId=model_id, body=json.dumps(BODY), contentType="application/json")
    text = []
    for event in resp["body"]:
        chunk = json.loads(event["chunk"]["bytes"])
        if chunk["type"] == "content_block_delta":
            text.append(chunk["delta"]["text"])
    out["invoke_model_with_response_stream"] = "".join(text)

    messages = [{"role": "user", "content": [{"text": BODY["messages"][0]["content"]}]}]
    resp = bedrock.converse(modelId=model_id, messages=messages)
    out["converse"] = resp["output"]["message"]["content"][0]["text"]

    resp = bedrock.converse_stream(modelId=model_id, messages=messages)
    text, stop = [], None
    for event in resp["stream"]:
        if "contentBlockDelta" in event:
            text.append(event["contentBlockDelta"]["delta"]["text"])
        if "messageStop" in event:
            stop = event["messageStop"]["stopReason"]
    out["converse_stream"] = "".join(text)
    out["converse_stream_stop"] = stop

    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
