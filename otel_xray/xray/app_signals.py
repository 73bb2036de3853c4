"""Application Signals attributes on spans bound for X-Ray's OTLP ingestion.

Why: on the OTLP paths X-Ray converts spans to segments itself, and AWS's own distro
sends each span with the attributes that name its service, operation and remote
resource (``aws.local.service``, ``aws.remote.service`` ...). The collector processor
that computes them (``awsapplicationsignalsprocessor``) cannot be built here, so they
are computed in Python, following ADOT's published rules (aws-otel-python-instrumentation
0.21.0, ``aws-opentelemetry-distro/src/amazon/opentelemetry/distro/``):

- ``_aws_metric_attribute_generator.py``: ``_generate_service_metric_attributes``,
  ``_generate_dependency_metric_attributes``, ``_set_remote_service_and_operation``,
  ``_normalize_remote_service_name``, ``_generate_remote_service``,
  ``_generate_remote_operation``, ``_set_remote_type_and_identifier``,
  ``_get_db_connection``, ``_escape_delimiters``;
- ``_aws_span_processing_util.py``: ``get_ingress_operation``, ``is_local_root``,
  ``should_generate_service_metric_attributes``,
  ``should_generate_dependency_metric_attributes``, ``extract_api_path_value``.

The subset ported: the AWS services an otel-xray function calls (DynamoDB, SQS, S3, SNS,
Step Functions, Lambda, Kinesis, Secrets Manager) and databases, HTTP, RPC, FaaS and
messaging; not Bedrock, AgentCore, presigned URLs, SQL-keyword operations, remote
account and region, nor ``OTEL_AWS_HTTP_OPERATION_PATHS``.
``tests/e2e/test_adot_reference.py`` runs ADOT's own generator on the same spans and
compares.

Example:
    >>> from opentelemetry.sdk.resources import Resource
    >>> from opentelemetry.sdk.trace import ReadableSpan
    >>> from opentelemetry.trace import SpanContext, SpanKind
    >>> span = ReadableSpan("DynamoDB.PutItem", SpanContext(1, 2, False),
    ...     parent=SpanContext(1, 3, False), kind=SpanKind.CLIENT,
    ...     resource=Resource({"service.name": "orders"}),
    ...     attributes={"rpc.system": "aws-api", "rpc.service": "DynamoDB",
    ...                 "rpc.method": "PutItem", "aws.dynamodb.table_names": ["orders"]})
    >>> signals = application_signals(span, "orders")
    >>> signals["aws.remote.service"], signals["aws.remote.resource.identifier"]
    ('AWS::DynamoDB', 'orders')
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

UNKNOWN_SERVICE = "UnknownService"
UNKNOWN_OPERATION = "UnknownOperation"
UNKNOWN_REMOTE_SERVICE = "UnknownRemoteService"
UNKNOWN_REMOTE_OPERATION = "UnknownRemoteOperation"
INTERNAL_OPERATION = "InternalOperation"
LOCAL_ROOT = "LOCAL_ROOT"
#: ``_AWS_SDK_SERVICE_MAPPING`` (the part ported), else ``AWS::<rpc.service>``.
_AWS_SDK_SERVICES = {
    "Secrets Manager": "AWS::SecretsManager",
    "SNS": "AWS::SNS",
    "SFN": "AWS::StepFunctions",
    "Lambda": "AWS::Lambda",
}


def _escape(value: Any) -> str | None:
    """``_escape_delimiters``: ``^`` -> ``^^``, ``|`` -> ``^|``."""
    if value is None:
        return None
    return str(value).replace("^", "^^").replace("|", "^|")


def _arn_name(arn: Any) -> str | None:
    """The resource name of an ARN (``RegionalResourceArnParser``: the last ``:`` or ``/``
    part of a regional ARN)."""
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        return None
    parts = arn.split(":")
    if len(parts) < 6 or not parts[3] or not parts[4].isdigit():
        return None
    return parts[-1].split("/")[-1] or None


def is_local_root(span: ReadableSpan) -> bool:
    parent = span.parent
    return parent is None or not parent.is_valid or parent.is_remote


def application_signals(span: ReadableSpan, lambda_function: str | None) -> dict[str, Any]:
    """The attributes ADOT adds to ``span``; ``lambda_function`` is
    ``AWS_LAMBDA_FUNCTION_NAME`` (None outside Lambda)."""
    attributes: Mapping[str, Any] = span.attributes or {}
    service = span.resource.attributes.get("service.name")
    if not isinstance(service, str) or not service or service.startswith("unknown_service"):
        service = UNKNOWN_SERVICE
    out: dict[str, Any] = {"aws.local.service": service}
    kind = span.kind
    local_root = is_local_root(span)
    dependency = kind in (SpanKind.CLIENT, SpanKind.PRODUCER) or (
        kind is SpanKind.CONSUMER
        and (attributes.get("messaging.operation") != "process" or local_root)
    )
    if dependency:
        out["aws.local.operation"] = (
            INTERNAL_OPERATION
            if local_root and kind is not SpanKind.SERVER
            else attributes.get("aws.local.operation") or _ingress(span, lambda_function)
        )
        out.update(_remote(span, attributes))
        out["aws.span.kind"] = kind.name
    elif local_root or kind is SpanKind.SERVER:
        out["aws.local.operation"] = _ingress(span, lambda_function)
        out["aws.span.kind"] = LOCAL_ROOT if local_root else kind.name
    return out


def _ingress(span: ReadableSpan, lambda_function: str | None) -> str:
    """``get_ingress_operation``."""
    scope = span.instrumentation_scope
    if lambda_function and (scope is None or scope.name != "opentelemetry.instrumentation.flask"):
        return f"{lambda_function}/FunctionHandler"
    if is_local_root(span) and span.kind is not SpanKind.SERVER:
        return INTERNAL_OPERATION
    attributes = span.attributes or {}
    method = attributes.get("http.request.method") or attributes.get("http.method")
    name = span.name
    if name and name != UNKNOWN_OPERATION and (not method or name != method):
        return name
    path = None
    for key in ("http.target", "http.url", "url.path", "url.full"):
        value = attributes.get(key)
        if value is not None:
            path = _split(value).path if key.endswith(("url", "full")) else value
            break
    if path is None:
        return UNKNOWN_OPERATION
    operation = _first_segment(str(path))
    return f"{method} {operation}" if method else operation


def _split(url: Any) -> urllib.parse.SplitResult:
    """``urlsplit``, with a URL it refuses (``http://[fe80::1%eth0/x``: "Invalid IPv6
    URL") read as an empty one: an attribute the application set must not cost the span."""
    try:
        return urllib.parse.urlsplit(str(url))
    except ValueError:
        return urllib.parse.SplitResult("", "", "", "", "")


def _first_segment(path: str) -> str:
    """``extract_api_path_value``: ``/payment/1234`` -> ``/payment``."""
    if not path:
        return "/"
    parts = path.split("/")
    return "/" + parts[1] if len(parts) > 1 else "/"


def _remote(span: ReadableSpan, a: Mapping[str, Any]) -> dict[str, Any]:
    """``_set_remote_service_and_operation`` and ``_set_remote_type_and_identifier``."""
    aws_sdk = a.get("rpc.system") == "aws-api"
    db = any(a.get(k) is not None for k in ("db.system", "db.operation", "db.statement"))
    service, operation = UNKNOWN_REMOTE_SERVICE, UNKNOWN_REMOTE_OPERATION
    if a.get("aws.remote.service") is not None or a.get("aws.remote.operation") is not None:
        service = a.get("aws.remote.service") or service
        operation = a.get("aws.remote.operation") or operation
    elif a.get("rpc.service") is not None or a.get("rpc.method") is not None:
        service = a.get("rpc.service") or service
        if aws_sdk:
            if service == "Lambda" and a.get("rpc.method") == "Invoke":
                service = a.get("aws.lambda.function.name") or UNKNOWN_REMOTE_SERVICE
            else:
                service = _AWS_SDK_SERVICES.get(service, "AWS::" + service)
        operation = a.get("rpc.method") or operation
    elif db:
        service = a.get("db.system") or service
        operation = a.get("db.operation") or UNKNOWN_REMOTE_OPERATION
    elif a.get("faas.invoked_name") is not None or a.get("faas.trigger") is not None:
        service = a.get("faas.invoked_name") or service
        operation = a.get("faas.trigger") or operation
    elif a.get("messaging.system") is not None or a.get("messaging.operation") is not None:
        service = a.get("messaging.system") or service
        operation = a.get("messaging.operation") or operation
    elif a.get("graphql.operation.type") is not None:
        service, operation = "graphql", str(a["graphql.operation.type"])
    if a.get("peer.service") is not None and a.get("aws.remote.service") is None:
        service = str(a["peer.service"])
    if service == UNKNOWN_REMOTE_SERVICE:
        service = _remote_service_from_address(a)
    if operation == UNKNOWN_REMOTE_OPERATION:
        if a.get("http.url") is not None:
            operation = _first_segment(_split(a["http.url"]).path)
        if a.get("http.method") is not None:
            operation = f"{a['http.method']} {operation}"
    out: dict[str, Any] = {"aws.remote.service": service, "aws.remote.operation": operation}
    resource = _resource(a) if aws_sdk else (("DB::Connection", _db_connection(a)) if db else None)
    if resource is not None and resource[1] is not None:
        out["aws.remote.resource.type"], out["aws.remote.resource.identifier"] = resource
    return out


def _remote_service_from_address(a: Mapping[str, Any]) -> str:
    """``_generate_remote_service``."""
    for name, port in (
        ("net.peer.name", "net.peer.port"),
        ("net.sock.peer.addr", "net.sock.peer.port"),
    ):
        if a.get(name) is not None:
            return str(a[name]) + (f":{a[port]}" if a.get(port) is not None else "")
    url = a.get("http.url")
    if url is not None:
        netloc = _split(url).netloc
        if netloc:
            return netloc
    return UNKNOWN_REMOTE_SERVICE


def _resource(a: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """The AWS SDK branch of ``_set_remote_type_and_identifier`` (the services ported)."""
    tables = a.get("aws.dynamodb.table_names")
    if tables is not None and len(tables) == 1:
        return "AWS::DynamoDB::Table", _escape(tables[0])
    if a.get("aws.dynamodb.table.arn") is not None:
        name = str(a["aws.dynamodb.table.arn"]).split(":table/")[-1]
        return "AWS::DynamoDB::Table", _escape(name)
    if a.get("aws.kinesis.stream_name") is not None:
        return "AWS::Kinesis::Stream", _escape(a["aws.kinesis.stream_name"])
    if a.get("aws.s3.bucket") is not None:
        return "AWS::S3::Bucket", _escape(a["aws.s3.bucket"])
    if a.get("aws.sqs.queue.name") is not None:
        return "AWS::SQS::Queue", _escape(a["aws.sqs.queue.name"])
    if a.get("aws.sqs.queue.url") is not None:
        return "AWS::SQS::Queue", _escape(_queue_name(str(a["aws.sqs.queue.url"])))
    if a.get("aws.secretsmanager.secret.arn") is not None:
        return "AWS::SecretsManager::Secret", _escape(_arn_name(a["aws.secretsmanager.secret.arn"]))
    if a.get("aws.sns.topic.arn") is not None:
        return "AWS::SNS::Topic", _escape(_arn_name(a["aws.sns.topic.arn"]))
    if a.get("aws.step_functions.state_machine.arn") is not None:
        return "AWS::StepFunctions::StateMachine", _escape(
            _arn_name(a["aws.step_functions.state_machine.arn"])
        )
    if a.get("aws.lambda.function.name") is not None and not (
        a.get("rpc.service") == "Lambda" and a.get("rpc.method") == "Invoke"
    ):
        return "AWS::Lambda::Function", _escape(a["aws.lambda.function.name"])
    return None


def _queue_name(url: str) -> str | None:
    """``SqsUrlParser.get_queue_name``: the path's last part of a queue URL."""
    parts = [p for p in url.split("/") if p]
    return parts[-1] if len(parts) >= 4 else None


def _db_connection(a: Mapping[str, Any]) -> str | None:
    """``_get_db_connection``: ``[db.name|]address[|port]``."""
    connection = None
    for address, port in (
        ("server.address", "server.port"),
        ("net.peer.name", "net.peer.port"),
        ("server.socket.address", "server.socket.port"),
    ):
        if a.get(address) is not None:
            connection = str(_escape(a[address])) + (f"|{a[port]}" if a.get(port) else "")
            break
    else:
        text = a.get("db.connection_string")
        if text is not None:
            url = _split(text)
            if url.hostname is None:
                return None
            try:
                port_number = url.port
            except ValueError:
                port_number = None
            connection = str(_escape(url.hostname)) + (
                f"|{port_number}" if port_number is not None else ""
            )
    if connection and a.get("db.name"):
        connection = f"{_escape(a['db.name'])}|{connection}"
    return connection
