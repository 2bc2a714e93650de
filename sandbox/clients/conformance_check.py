"""Bedrock Runtime conformance of the sandbox, as boto3 sees it (run by sandbox/conformance_test.go).

For each operation of botocore's bedrock-runtime model it calls the operation once with minimal valid
parameters (the probe: is it served?), then, for each error the operation declares, installs a fault of that
code through POST /_sandbox/faults and records what boto3 raised: the exception class, Error.Code and the
HTTP status. For an operation that answers with an event stream it does the same for each exception event of
the stream union, cut in after one event. Finally it asks for a fault of each code the operation (or its
stream) does not declare and records how the admin API refused it. The Go test holds the report against the
model; this script judges nothing.

Environment: the lines of `bedrock-relay sandbox env` (AWS_ENDPOINT_URL, AWS_REGION, the caller's keys),
TARGET_ROLE_ARN (the role to assume), MODEL_ID (a profile the role may invoke), FOUNDATION_MODEL_ID (for
CountTokens), GUARDRAIL_ID and GUARDRAIL_VERSION (for ApplyGuardrail), ASYNC_MODEL_ID and ASYNC_S3_URI (for
StartAsyncInvoke). Prints one JSON object; exits non-zero only when it cannot run at all.
"""
import json
import os
import sys
import urllib.error
import urllib.request

import boto3
import botocore
import botocore.auth
import botocore.awsrequest
import botocore.exceptions
from botocore import xform_name
from botocore.config import Config

BODY = json.dumps({
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "conformance"}],
})
MESSAGES = [{"role": "user", "content": [{"text": "conformance"}]}]


def env(name, default=""):
    return os.environ.get(name, default)


def params(op, state):
    """Minimal valid parameters of op, or None when the script knows none."""
    model = env("MODEL_ID")
    return {
        "InvokeModel": lambda: dict(modelId=model, body=BODY, contentType="application/json"),
        "InvokeModelWithResponseStream": lambda: dict(modelId=model, body=BODY, contentType="application/json"),
        "Converse": lambda: dict(modelId=model, messages=MESSAGES),
        "ConverseStream": lambda: dict(modelId=model, messages=MESSAGES),
        "CountTokens": lambda: dict(modelId=env("FOUNDATION_MODEL_ID"), input={"converse": {"messages": MESSAGES}}),
        "ApplyGuardrail": lambda: dict(guardrailIdentifier=env("GUARDRAIL_ID"), guardrailVersion=env("GUARDRAIL_VERSION"),
                                       source="INPUT", content=[{"text": {"text": "conformance"}}]),
        # The sandbox stands in for the media models of asynchronous invocation with the models it invokes:
        # modelInput is the model's InvokeModel body.
        "StartAsyncInvoke": lambda: dict(modelId=env("ASYNC_MODEL_ID", model), modelInput=json.loads(BODY),
                                         outputDataConfig={"s3OutputDataConfig": {"s3Uri": env("ASYNC_S3_URI")}}),
        "GetAsyncInvoke": lambda: dict(invocationArn=state.get(
            "invocation_arn", "arn:aws:bedrock:%s:%s:async-invoke/conformance0" % (env("AWS_REGION"), state["account"]))),
        "ListAsyncInvokes": lambda: dict(),
    }.get(op, lambda: None)()


def stream_member(op_model):
    """The output member holding op's event stream, or None."""
    es = op_model.get_event_stream_output()
    if es is None:
        return None
    for name, shape in op_model.output_shape.members.items():
        if shape is es:
            return name
    return None


def outcome(fn):
    """Runs fn and says what boto3 made of the answer. fn(started) calls started(resp) when a stream has
    begun: an exception frame inside it (EventStreamError) carries no HTTP status of its own, so the
    stream's is recorded."""
    began = {}
    try:
        resp = fn(lambda r: began.update(status=r["ResponseMetadata"]["HTTPStatusCode"]))
        return {"ok": True, "status": resp.get("ResponseMetadata", {}).get("HTTPStatusCode", 0), "response": resp}
    except botocore.exceptions.ClientError as e:
        err = e.response.get("Error", {})
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or began.get("status", 0)
        return {"ok": False, "class": type(e).__name__, "code": err.get("Code", ""), "status": status,
                "message": err.get("Message", "")}
    except Exception as e:  # a transport error, or boto3 refusing to send
        return {"ok": False, "class": type(e).__name__, "code": "", "status": 0, "message": str(e)}


def admin_error(text):
    """The message of an admin API error answer ({"error": ...})."""
    try:
        return json.loads(text).get("error", text)
    except ValueError:
        return text


def admin(method, path, body=None):
    """An admin API request; returns its status and body text."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(env("AWS_ENDPOINT_URL") + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def raw_probe(session, creds, op_model):
    """A SigV4-signed POST to an operation boto3 does not expose (bidirectional streams), with an empty body."""
    uri = op_model.http["requestUri"].replace("{modelId}", env("MODEL_ID"))
    req = botocore.awsrequest.AWSRequest(method=op_model.http["method"], url=env("AWS_ENDPOINT_URL") + uri, data=b"",
                                         headers={"Content-Type": "application/vnd.amazon.eventstream"})
    botocore.auth.SigV4Auth(creds, "bedrock", env("AWS_REGION")).add_auth(req)
    prepared = req.prepare()
    r = urllib.request.Request(prepared.url, data=b"", method=prepared.method, headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(r) as resp:
            return {"ok": True, "status": resp.status, "raw": True}
    except urllib.error.HTTPError as e:
        code = e.headers.get("X-Amzn-ErrorType", "").split(":")[0]
        return {"ok": False, "class": "", "code": code, "status": e.code, "raw": True, "message": e.read().decode()[:300]}


def main():
    sts = boto3.client("sts")
    creds = sts.assume_role(RoleArn=env("TARGET_ROLE_ARN"), RoleSessionName="conformance", DurationSeconds=900)["Credentials"]
    session = boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                            aws_session_token=creds["SessionToken"])
    # No retries: each fault is one answer, and the report is what that answer parsed to.
    client = session.client("bedrock-runtime", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
    model = client.meta.service_model
    state = {"account": env("TARGET_ROLE_ARN").split(":")[4]}
    report = {"api_version": model.api_version, "operations": {}}

    # StartAsyncInvoke first: GetAsyncInvoke reads the job it started.
    names = sorted(model.operation_names, key=lambda n: (n != "StartAsyncInvoke", n))
    for name in names:
        op_model = model.operation_model(name)
        member = stream_member(op_model)
        method = getattr(client, xform_name(name), None)
        entry = {"stream": member is not None, "errors": [], "stream_errors": [], "refused": []}
        report["operations"][name] = entry

        def call(started, name=name, method=method, member=member):
            resp = method(**params(name, state))
            if member is not None:
                started(resp)
                for _ in resp[member]:
                    pass
            return resp

        admin("DELETE", "/_sandbox/faults")
        if method is None or op_model.has_event_stream_input:
            entry["callable"] = False
            entry["probe"] = raw_probe(session, session.get_credentials().get_frozen_credentials(), op_model)
        elif params(name, state) is None:
            entry["callable"] = True
            entry["probe"] = {"ok": False, "class": "", "code": "", "status": 0, "message": "the script knows no parameters for " + name}
        else:
            entry["callable"] = True
            entry["probe"] = outcome(call)
            if name == "StartAsyncInvoke" and entry["probe"]["ok"]:
                state["invocation_arn"] = entry["probe"]["response"].get("invocationArn", "")
        entry["probe"].pop("response", None)

        declared = [s.name for s in op_model.error_shapes]
        stream_declared = []
        if member is not None:
            union = op_model.output_shape.members[member]
            stream_declared = [(n, s.name) for n, s in union.members.items() if s.metadata.get("exception")]

        if entry["callable"] and entry["probe"].get("code") != "UnknownOperationException" and params(name, state) is not None:
            for code in declared:
                st, text = admin("POST", "/_sandbox/faults", {"code": code, "operation": name, "count": 1})
                got = outcome(call) if st == 200 else {"ok": False, "class": "", "code": "", "status": 0, "message": "fault refused: %d %s" % (st, text)}
                got.pop("response", None)
                entry["errors"].append(dict(got, declared=code))
                admin("DELETE", "/_sandbox/faults")
            for event, code in stream_declared:
                st, text = admin("POST", "/_sandbox/faults", {"code": code, "operation": name, "after_events": 1, "count": 1})
                got = outcome(call) if st == 200 else {"ok": False, "class": "", "code": "", "status": 0, "message": "fault refused: %d %s" % (st, text)}
                got.pop("response", None)
                entry["stream_errors"].append(dict(got, declared=code, event=event))
                admin("DELETE", "/_sandbox/faults")

        # Every code the operation does not declare (and, for a stream, every one its union does not): refused.
        all_errors = sorted({s.name for n in model.operation_names for s in model.operation_model(n).error_shapes})
        for code in all_errors:
            if code not in declared:
                st, text = admin("POST", "/_sandbox/faults", {"code": code, "operation": name, "count": 1})
                entry["refused"].append({"code": code, "after_events": 0, "status": st, "message": admin_error(text)})
            if member is not None and code not in {c for _, c in stream_declared}:
                st, text = admin("POST", "/_sandbox/faults", {"code": code, "operation": name, "after_events": 1, "count": 1})
                entry["refused"].append({"code": code, "after_events": 1, "status": st, "message": admin_error(text)})
        admin("DELETE", "/_sandbox/faults")

    json.dump(report, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
