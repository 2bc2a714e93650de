"""ApplyGuardrail and the async-invoke operations against the sandbox with boto3, as a user would call them.

Environment: the lines of `bedrock-relay sandbox env` and TARGET_ROLE_ARN, MODEL_ID, GUARDRAIL_ID. Prints one
JSON object with what each call returned, and for each call meant to fail the exception class boto3 raised,
its code and HTTP status.
"""
import json
import os
import sys

import boto3
from botocore.exceptions import ClientError

BODY = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 200,
    "messages": [{"role": "user", "content": "非同期の呼び出しです"}],
}


def failure(call):
    try:
        call()
    except ClientError as e:
        return {
            "class": type(e).__name__,
            "code": e.response["Error"]["Code"],
            "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
            "message": e.response["Error"].get("Message", ""),
        }
    return {"class": None}


def main():
    sts = boto3.client("sts")
    creds = sts.assume_role(RoleArn=os.environ["TARGET_ROLE_ARN"], RoleSessionName="boto3-runtime-ops")["Credentials"]
    bedrock = boto3.client(
        "bedrock-runtime",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    guardrail, model = os.environ["GUARDRAIL_ID"], os.environ["MODEL_ID"]
    out = {}

    def apply(text, **kw):
        args = dict(guardrailIdentifier=guardrail, guardrailVersion="DRAFT", source="INPUT",
                    content=[{"text": {"text": text}}])
        args.update(kw)
        return bedrock.apply_guardrail(**args)

    r = apply("this is forbidden")
    out["blocked"] = {"action": r["action"], "outputs": r["outputs"],
                      "match": r["assessments"][0]["wordPolicy"]["customWords"][0]["match"],
                      "word_units": r["usage"]["wordPolicyUnits"]}
    r = apply("nothing to see here", outputScope="FULL")
    out["clean"] = {"action": r["action"], "outputs": r["outputs"]}
    out["unknown_guardrail"] = failure(lambda: apply("x", guardrailIdentifier="nosuchguardrail"))
    out["bad_source"] = failure(lambda: apply("x", source="SIDEWAYS"))
    out["bad_version"] = failure(lambda: apply("x", guardrailVersion="latest"))

    start = dict(modelId=model, modelInput=BODY, outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://boto3-bucket/out"}})
    arn = bedrock.start_async_invoke(clientRequestToken="boto3-token-1", **start)["invocationArn"]
    out["invocation_arn"] = arn
    again = bedrock.start_async_invoke(clientRequestToken="boto3-token-1", **start)["invocationArn"]
    out["same_token_same_arn"] = again == arn
    got = bedrock.get_async_invoke(invocationArn=arn)
    out["get"] = {"status": got["status"], "model_arn": got["modelArn"], "s3_uri": got["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"],
                  "has_end_time": "endTime" in got, "token": got.get("clientRequestToken")}
    listed = bedrock.list_async_invokes(statusEquals="Completed", sortOrder="Descending")
    out["listed"] = [s["invocationArn"] for s in listed["asyncInvokeSummaries"]]

    conflict = dict(start, modelInput=dict(BODY, max_tokens=100))
    out["conflict"] = failure(lambda: bedrock.start_async_invoke(clientRequestToken="boto3-token-1", **conflict))
    out["bad_s3_uri"] = failure(lambda: bedrock.start_async_invoke(
        **dict(start, outputDataConfig={"s3OutputDataConfig": {"s3Uri": "ftp://nowhere"}})))
    out["unknown_model"] = failure(lambda: bedrock.start_async_invoke(**dict(start, modelId="anthropic.claude-nothing-v9:0")))
    out["unknown_invocation"] = failure(lambda: bedrock.get_async_invoke(invocationArn=arn[:-12] + "zzzzzzzzzzzz"))
    out["bad_status"] = failure(lambda: bedrock.list_async_invokes(statusEquals="Done"))

    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
