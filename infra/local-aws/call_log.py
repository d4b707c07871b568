"""Records every AWS call the emulator receives as (caller access key id, IAM action, resource ARN).

The emulator does not enforce IAM. The tests give each Lambda function its own access key id
(e.g. `PollerFunction-<test>`), so this record tells which function called which IAM action on
which resource, and tests/tests/iam_per_function.rs checks each against that function's role in
template.yaml.

    GET  /ctguard-api/calls[?key_prefix=P]   {"calls": [{"key_id", "action", "resource", "count"}]}
    POST /ctguard-api/calls/reset[?key_prefix=P]   forget the record (of keys starting with P)

Calls are aggregated per distinct (key id, action, resource) with a count, so the record stays
small however long the emulator runs. The action is the IAM action AWS would authorize, which is
not always the API operation: a TransactWriteItems is authorized per item (dynamodb:PutItem,
UpdateItem, DeleteItem, ConditionCheckItem on each item's table), a TransactGetItems as
dynamodb:GetItem, an SNS PublishBatch as sns:Publish. A Query or Scan of an index is on
`table/T/index/I`.
"""

import io
import json
import re
import threading
import urllib.parse

ACCOUNT_ID = "123456789012"  # moto's default account: every test key maps to it
PREFIX = "/ctguard-api/calls"
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/")

_lock = threading.Lock()
_calls = {}  # (key_id, action, resource) -> count


def _record(key_id, action, resource):
    with _lock:
        entry = (key_id, action, resource)
        _calls[entry] = _calls.get(entry, 0) + 1


def _snapshot(key_prefix):
    with _lock:
        items = list(_calls.items())
    return [
        {"key_id": k, "action": a, "resource": r, "count": n}
        for (k, a, r), n in sorted(items)
        if k.startswith(key_prefix)
    ]


def _reset(key_prefix):
    with _lock:
        for entry in [e for e in _calls if e[0].startswith(key_prefix)]:
            del _calls[entry]


def _arn(service, region, resource):
    return f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{resource}"


def _dynamodb(operation, body, region):
    """(IAM action, resource ARN) pairs for one DynamoDB request."""

    def table(name, index=None):
        resource = f"table/{name}" + (f"/index/{index}" if index else "")
        return _arn("dynamodb", region, resource)

    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [(f"dynamodb:{operation}", table(t)) for t in body.get("RequestItems", {})]
    if operation in ("TransactWriteItems", "TransactGetItems"):
        per_item = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
            "Get": "GetItem",
        }
        found = []
        for item in body.get("TransactItems", []):
            for kind, spec in item.items():
                found.append((f"dynamodb:{per_item.get(kind, kind)}", table(spec.get("TableName", "?"))))
        return found
    name = body.get("TableName") or body.get("ResourceArn", "*")
    if name.startswith("arn:"):
        return [(f"dynamodb:{operation}", name)]
    return [(f"dynamodb:{operation}", table(name, body.get("IndexName")))]


def _form_resource(service, params, region):
    if service == "sns":
        return params.get("TopicArn") or params.get("TargetArn") or "*"
    if service == "sqs":
        url = params.get("QueueUrl", "")
        return _arn("sqs", region, url.rstrip("/").rsplit("/", 1)[-1]) if url else "*"
    return "*"


def _calls_in(environ, body):
    """(key_id, IAM action, resource) for one request, or [] when it is not a signed AWS call."""
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not match:
        return []
    key_id, region, service = match.groups()
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    path = environ.get("PATH_INFO", "")
    found = []
    if target:  # JSON protocols: DynamoDB_20120810.GetItem, AmazonSSM.GetParameter, AmazonSQS.*
        operation = target.rsplit(".", 1)[-1]
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = {}
        if service == "dynamodb":
            found = _dynamodb(operation, payload, region)
        elif service == "ssm":
            name = payload.get("Name", "")
            resource = _arn("ssm", region, "parameter/" + name.lstrip("/")) if name else "*"
            found = [(f"ssm:{operation}", resource)]
        elif service == "sqs":
            found = [(f"sqs:{operation}", _form_resource("sqs", payload, region))]
        else:
            found = [(f"{service}:{operation}", "*")]
    elif service == "ses" and path.startswith("/v2/"):  # SES v2 is REST
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = {}
        method = environ.get("REQUEST_METHOD", "")
        if method == "POST" and path == "/v2/email/outbound-emails":
            sender = payload.get("FromEmailAddress", "")
            # Authorized against the sending identity (here: the address itself).
            found = [("ses:SendEmail", _arn("ses", region, f"identity/{sender}"))]
        elif method == "POST" and path == "/v2/email/identities":
            identity = payload.get("EmailIdentity", "")
            found = [("ses:CreateEmailIdentity", _arn("ses", region, f"identity/{identity}"))]
        else:
            found = [(f"ses:{method} {path}", "*")]
    else:  # query protocols (SNS, SQS): Action=Publish&TopicArn=…
        params = dict(urllib.parse.parse_qsl((body or b"").decode("utf-8", "replace")))
        params.update(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
        action = params.get("Action")
        # Batch operations have no IAM action of their own: SNS PublishBatch is authorized as
        # sns:Publish (as SQS SendMessageBatch is as sqs:SendMessage), so a policy must grant that.
        action = {"PublishBatch": "Publish", "SendMessageBatch": "SendMessage"}.get(action, action)
        if action:
            found = [(f"{service}:{action}", _form_resource(service, params, region))]
    return [(key_id, action, resource) for action, resource in found]


def _serve(environ, start_response):
    path = environ.get("PATH_INFO", "")
    method = environ.get("REQUEST_METHOD", "")
    query = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
    key_prefix = query.get("key_prefix", "")
    if path == PREFIX and method == "GET":
        status, payload = "200 OK", {"calls": _snapshot(key_prefix)}
    elif path == PREFIX + "/reset" and method == "POST":
        _reset(key_prefix)
        status, payload = "200 OK", {"reset": True}
    else:
        status, payload = "404 Not Found", {"error": f"no {method} {path}"}
    data = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def install(dispatcher_class):
    """Wraps moto's WSGI dispatcher: serves the record's endpoints, records every other call."""
    dispatch = dispatcher_class.__call__

    def recording_call(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith(PREFIX):
            return _serve(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = b""
        if length > 0:
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)  # moto reads it again
        try:
            for call in _calls_in(environ, body):
                _record(*call)
        except Exception as error:  # never let the record break the emulator
            _record("?", f"unparsed: {error!r}", environ.get("PATH_INFO", ""))
        return dispatch(self, environ, start_response)

    dispatcher_class.__call__ = recording_call
