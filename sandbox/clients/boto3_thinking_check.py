"""Claude's extended thinking through boto3 against the sandbox: Converse and ConverseStream with
additionalModelRequestFields.thinking, the reasoningContent blocks sent back (accepted) and tampered (refused),
InvokeModelWithResponseStream's thinking deltas, and a refusal of a thinking rule.

Environment: the lines of `bedrock-relay sandbox env` and TARGET_ROLE_ARN, MODEL_ID. Prints one JSON object;
exits non-zero on any unexpected error.
"""
import json
import os
import sys

import boto3
from botocore.exceptions import ClientError

THINKING = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
PROMPT = "Think about Sapporo, with redacted thinking"


def refusal(err):
    return {
        "class": type(err).__name__,
        "code": err.response["Error"]["Code"],
        "status": err.response["ResponseMetadata"]["HTTPStatusCode"],
        "message": err.response["Error"]["Message"],
    }


def main():
    sts = boto3.client("sts")
    creds = sts.assume_role(RoleArn=os.environ["TARGET_ROLE_ARN"], RoleSessionName="thinking", DurationSeconds=900)["Credentials"]
    bedrock = boto3.client(
        "bedrock-runtime",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    model = os.environ["MODEL_ID"]
    out = {}
    ask = {"role": "user", "content": [{"text": PROMPT}]}
    kwargs = dict(modelId=model, inferenceConfig={"maxTokens": 2048}, additionalModelRequestFields=THINKING)

    resp = bedrock.converse(messages=[ask], **kwargs)
    message = resp["output"]["message"]
    blocks = message["content"]
    reasoning = blocks[0]["reasoningContent"]["reasoningText"]
    out["converse"] = {
        "blocks": [next(iter(b)) for b in blocks],
        "reasoning": reasoning["text"],
        "signature": reasoning["signature"],
        "redacted_bytes": len(blocks[1]["reasoningContent"]["redactedContent"]),
        "text": blocks[2]["text"],
        "output_tokens": resp["usage"]["outputTokens"],
    }

    again = {"role": "user", "content": [{"text": "And now?"}]}
    bedrock.converse(messages=[ask, message, again], **kwargs)
    out["round_trip"] = "ok"

    tampered = {"role": message["role"], "content": list(message["content"])}
    tampered["content"][0] = {"reasoningContent": {"reasoningText": {"text": reasoning["text"] + " And Hakodate.", "signature": reasoning["signature"]}}}
    try:
        bedrock.converse(messages=[ask, tampered, again], **kwargs)
        out["tampered"] = "accepted"
    except ClientError as err:
        out["tampered"] = refusal(err)

    stream = bedrock.converse_stream(messages=[ask], **kwargs)
    thinking, signature, redacted, text = [], [], b"", []
    for event in stream["stream"]:
        delta = event.get("contentBlockDelta", {}).get("delta", {})
        rc = delta.get("reasoningContent", {})
        thinking.append(rc.get("text", ""))
        signature.append(rc.get("signature", ""))
        redacted += rc.get("redactedContent", b"")
        text.append(delta.get("text", ""))
    out["converse_stream"] = {"reasoning": "".join(thinking), "signature": "".join(signature), "redacted_bytes": len(redacted), "text": "".join(text)}

    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 2048, "thinking": THINKING["thinking"],
            "messages": [{"role": "user", "content": PROMPT}]}
    resp = bedrock.invoke_model_with_response_stream(modelId=model, body=json.dumps(body))
    starts, thinking, signature = [], [], []
    for event in resp["body"]:
        chunk = json.loads(event["chunk"]["bytes"])
        if chunk["type"] == "content_block_start":
            starts.append(chunk["content_block"]["type"])
        elif chunk["type"] == "content_block_delta" and chunk["delta"]["type"] == "thinking_delta":
            thinking.append(chunk["delta"]["thinking"])
        elif chunk["type"] == "content_block_delta" and chunk["delta"]["type"] == "signature_delta":
            signature.append(chunk["delta"]["signature"])
    out["invoke_stream"] = {"blocks": starts, "reasoning": "".join(thinking), "signature": "".join(signature)}

    try:
        bedrock.converse(messages=[ask], modelId=model, inferenceConfig={"maxTokens": 1024}, additionalModelRequestFields=THINKING)
        out["budget"] = "accepted"
    except ClientError as err:
        out["budget"] = refusal(err)

    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
