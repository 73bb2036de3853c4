"""Issue 15: what the X-Ray console and APIs would show, compared with the references.

References, read line by line for each test (the file and function are in each
docstring): the ADOT collector's awsxray exporter
(open-telemetry/opentelemetry-collector-contrib, exporter/awsxrayexporter/internal/
translator/{segment,aws,cause,http,sql}.go) and the X-Ray SDK for Python
(aws/aws-xray-sdk-python, aws_xray_sdk/ext/resources/aws_para_whitelist.json).
"""

from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from botocore.config import Config
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_xray.xray.segment import aws_origin, span_to_document
from tests.ports import unused_port

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "data" / "xray-segmentdocument-schema-v1.0.0.json").read_text()
)
PARENT = trace.SpanContext(
    0x6B069E856C663EBA378038F66131E4F2, 0x6FF7291EA17A501A, True, trace.TraceFlags(1)
)


def document(
    name: str,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: dict[str, Any] | None = None,
    resource: dict[str, Any] | None = None,
    parent: trace.SpanContext | None = PARENT,
    error: BaseException | None = None,
) -> dict[str, Any]:
    provider = TracerProvider(resource=Resource(resource or {"service.name": "svc"}))
    ctx = trace.set_span_in_context(trace.NonRecordingSpan(parent)) if parent else None
    span = provider.get_tracer("t").start_span(name, context=ctx, kind=kind, attributes=attributes)
    if error is not None:
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR))
    span.end()
    doc = span_to_document(span)  # type: ignore[arg-type]
    jsonschema.validate(doc, SCHEMA)
    return doc


@pytest.mark.parametrize(
    ("resource", "origin"),
    [
        ({"cloud.provider": "aws", "cloud.platform": "aws_ecs", "aws.ecs.launchtype": "fargate"},
         "AWS::ECS::Fargate"),
        ({"cloud.provider": "aws", "cloud.platform": "aws_ecs", "aws.ecs.launchtype": "ec2"},
         "AWS::ECS::EC2"),
        ({"cloud.provider": "aws", "cloud.platform": "aws_ecs"}, "AWS::ECS::Container"),
        ({"cloud.provider": "aws", "cloud.platform": "aws_eks"}, "AWS::EKS::Container"),
        ({"cloud.platform": "aws_elastic_beanstalk"}, "AWS::ElasticBeanstalk::Environment"),
        ({"cloud.platform": "aws_app_runner"}, "AWS::AppRunner::Service"),
        ({"cloud.platform": "aws_ec2"}, "AWS::EC2::Instance"),
        ({"cloud.provider": "gcp", "cloud.platform": "aws_ec2"}, None),
        ({"cloud.provider": "aws", "cloud.platform": "aws_lambda"}, None),
        ({"cloud.provider": "aws", "cloud.platform": "gcp_compute_engine"}, None),
    ],
)  # fmt: skip
def test_origin_outside_lambda(resource: dict[str, Any], origin: str | None) -> None:
    """15.3, segment.go ``determineAwsOrigin``: by platform, ECS by launch type, none for
    a provider other than aws or a platform it does not name."""
    assert aws_origin(resource) == origin
    doc = document("GET /", SpanKind.SERVER, resource={**resource, "service.name": "svc"},
                   parent=None)  # fmt: skip
    assert doc.get("origin") == origin


@pytest.mark.parametrize("kind", [SpanKind.PRODUCER, SpanKind.CONSUMER])
def test_producers_and_consumers_with_a_remote_service_are_remote(kind: SpanKind) -> None:
    """15.4, segment.go ``addNamespaceToSubsegmentWithRemoteService``; and, v0.143.0
    ``MakeSegment`` (found by tests/e2e/test_translator_oracle.py): a PRODUCER
    subsegment is ``remote`` without it too, a CONSUMER one is not."""
    doc = document("publish", kind, {"aws.remote.service": "orders-bus"})
    assert doc["namespace"] == "remote" and doc["name"] == "orders-bus"
    plain = document("publish", kind).get("namespace")
    assert plain == ("remote" if kind is SpanKind.PRODUCER else None)


@pytest.mark.parametrize(("remote", "name"), [("AWS::DynamoDB", "DynamoDB"),
                                              ("AWS.SDK.SQS", "SQS")])  # fmt: skip
def test_aws_prefixes_are_trimmed_on_aws_sdk_spans(remote: str, name: str) -> None:
    """15.4, segment.go ``trimAwsSdkPrefix`` (only where ``rpc.system`` is ``aws-api``)."""
    sdk = {"aws.remote.service": remote, "rpc.system": "aws-api"}
    assert document("call", SpanKind.CLIENT, sdk)["name"] == name
    other = {"aws.remote.service": remote}
    assert document("call", SpanKind.CLIENT, other)["name"] == remote  # not an SDK span


def _raise_chained() -> BaseException:
    try:
        try:
            {}["order"]
        except KeyError:
            raise ValueError("no order")  # noqa: B904  (implicit chaining, on purpose)
    except ValueError as error:
        return error
    raise AssertionError


@pytest.mark.parametrize(
    ("kind", "remote"),
    [
        (SpanKind.CLIENT, True),
        (SpanKind.PRODUCER, True),
        (SpanKind.INTERNAL, False),
        (SpanKind.SERVER, False),
    ],
)
def test_remote_is_set_on_exceptions_of_client_and_producer_spans(
    kind: SpanKind, remote: bool
) -> None:
    """15.5, cause.go ``makeCause``: ``isRemote`` for CLIENT and PRODUCER spans, written
    on every exception."""
    doc = document("call", kind, error=RuntimeError("boom"))
    assert [e["remote"] for e in doc["cause"]["exceptions"]] == [remote]


def test_chained_python_exceptions_are_linked_not_merged() -> None:
    """15.6, cause.go ``fillPythonStacktrace``: the raised exception first, then the one
    it was raised while handling, the first's ``cause`` naming the second's ``id``."""
    error = _raise_chained()
    assert "During handling" in "".join(traceback.format_exception(error))
    doc = document("work", SpanKind.INTERNAL, error=error)
    first, second = doc["cause"]["exceptions"]
    assert (first["type"], first["message"]) == ("ValueError", "no order")
    assert (second["type"], second["message"]) == ("KeyError", "'order'")
    assert first["cause"] == second["id"] and "cause" not in second
    assert first["stack"] and second["stack"]
    assert first["stack"][0]["label"] == "_raise_chained"


def test_the_request_url_is_built_from_its_parts() -> None:
    """15.7, http.go ``constructServerURL`` / ``constructClientURL``: scheme://host[:port]
    plus the target (stable conventions: url.path and url.query), default ports left out."""
    server = {
        "http.request.method": "GET",
        "url.scheme": "https",
        "server.address": "api.example.com",
        "server.port": 443,
        "url.path": "/orders",
        "url.query": "page=2",
    }
    doc = document("GET /orders", SpanKind.SERVER, server, parent=None)
    assert doc["http"]["request"]["url"] == "https://api.example.com/orders?page=2"
    old = {"http.method": "GET", "http.scheme": "http", "net.peer.name": "pay.internal",
           "net.peer.port": 8080, "http.target": "/charges"}  # fmt: skip
    client = document("POST", SpanKind.CLIENT, old)
    assert client["http"]["request"]["url"] == "http://pay.internal:8080/charges"


def test_a_forwarded_client_address_is_marked() -> None:
    """15.11, http.go: ``http.client_ip`` sets ``client_ip`` and ``x_forwarded_for``."""
    doc = document("GET", SpanKind.SERVER, {"http.method": "GET", "http.client_ip": "10.1.2.3"},
                   parent=None)  # fmt: skip
    assert doc["http"]["request"]["client_ip"] == "10.1.2.3"
    assert doc["http"]["request"]["x_forwarded_for"] is True


def test_the_aws_block_comes_from_attributes_on_any_span() -> None:
    """15.8, aws.go ``makeAws``: table name, queue URL (messaging.url wins), request id,
    region and account id from their attributes, whatever the span."""
    doc = document("store", SpanKind.CLIENT, {
        "aws.table_name": "orders", "messaging.url": "https://sqs/q", "aws.queue_url": "x",
        "aws.requestId": "r-1", "aws.region": "eu-west-1", "aws.account_id": "123456789012",
    })  # fmt: skip
    assert doc["aws"] == {"table_name": "orders", "queue_url": "https://sqs/q",
                          "request_id": "r-1", "region": "eu-west-1",
                          "account_id": "123456789012"}  # fmt: skip
    not_aws = document("x", SpanKind.CLIENT, {"aws.table_name": "t"},
                       resource={"cloud.provider": "gcp"})  # fmt: skip
    assert "aws" not in not_aws


def test_segments_carry_the_sdk_and_their_log_groups() -> None:
    """15.10, aws.go: ``xray`` {sdk "<name> for <language>", sdk_version,
    auto_instrumentation} and ``cloudwatch_logs`` (names, or ARNs with their names)."""
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/api:*"
    resource = {
        "service.name": "svc",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.version": "1.45.1",
        "aws.log.group.arns": [arn],
    }
    doc = document("GET", SpanKind.SERVER, resource=resource, parent=None)
    assert doc["aws"]["xray"] == {"sdk": "opentelemetry for python", "sdk_version": "1.45.1",
                                  "auto_instrumentation": False}  # fmt: skip
    assert doc["aws"]["cloudwatch_logs"] == [{"log_group": "/ecs/api", "arn": arn}]
    names = document("GET", SpanKind.SERVER, resource={"aws.log.group.names": "a&b"}, parent=None)
    assert names["aws"]["cloudwatch_logs"] == [{"log_group": "a"}, {"log_group": "b"}]


def test_sql_block_and_database_name() -> None:
    """15.11, sql.go ``makeSQL`` and segment.go's ``db.name@host`` (host of
    ``db.connection_string``, ``jdbc:`` trimmed); no connection string: ``localhost``."""
    doc = document("SELECT", SpanKind.CLIENT, {
        "db.system": "mysql", "db.name": "shop", "db.statement": "SELECT 1",
        "db.connection_string": "jdbc:mysql://db.dev.example.com:3306",
    })  # fmt: skip
    assert doc["name"] == "shop@db.dev.example.com"
    assert doc["sql"]["url"] == "SELECT"
    assert doc["sql"]["connection_string"] == "jdbc:mysql://db.dev.example.com:3306/shop"
    bare = document("q", SpanKind.CLIENT, {"db.system": "sqlite", "db.name": "app"})
    assert bare["sql"]["connection_string"] == "localhost/app"


def test_the_x_ray_sdks_resource_fields_for_aws_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """15.9, aws_para_whitelist.json: S3 bucket_name and key, Lambda function_name and
    invocation_type, SNS topic_arn, from a real botocore call through the registry."""
    from otel_xray import configurator  # noqa: PLC0415  (the test's own pipeline)
    from otel_xray.testing import LAMBDA_ENV, InMemoryExporter  # noqa: PLC0415

    exporter = InMemoryExporter()
    configurator.reset()
    tracing = configurator.configure(environ=dict(LAMBDA_ENV), exporter=exporter)
    assert tracing is not None
    try:
        s3 = boto3.client(
            "s3",
            region_name="us-east-1",
            endpoint_url=f"http://127.0.0.1:{unused_port()}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 0}),
        )
        # Nothing listens on that port: the call fails, and its span is what counts.
        with tracing.tracer().start_as_current_span("handler"), pytest.raises(Exception):  # noqa: B017
            s3.get_object(Bucket="receipts", Key="r/1.pdf")
        from otel_xray.export import Deadline  # noqa: PLC0415

        tracing.flush(Deadline.within_ms(1000))
    finally:
        configurator.reset()
    call = next(s for s in exporter.spans if s.name == "S3.GetObject")
    doc = span_to_document(call)
    assert doc["aws"]["bucket_name"] == "receipts" and doc["aws"]["key"] == "r/1.pdf"
    assert doc["aws"]["operation"] == "GetObject"


ROOT_A = "1-6b069e85-6c663eba378038f66131e4f2"
ROOT_B = "1-6b069e85-6c663eba378038f66131e4f3"


def _trace_with_table(root: str, table: str) -> list[dict[str, Any]]:
    return [
        {"name": "order-api", "id": root[-16:], "trace_id": root, "start_time": 1.0,
         "end_time": 2.0, "origin": "AWS::Lambda::Function",
         "subsegments": [{"name": "DynamoDB", "id": "d" + root[-15:], "start_time": 1.1,
                          "end_time": 1.2, "namespace": "aws",
                          "aws": {"operation": "GetItem", "table_name": table}}]},
    ]  # fmt: skip


def test_each_table_is_a_node_of_its_own() -> None:
    """15.1, GetServiceGraph in the developer guide (xray-api-gettingdata.md): a DynamoDB
    node is named after its table, ``Type`` ``AWS::DynamoDB::Table``, ``State`` unknown;
    BatchGetTraces keeps the inferred document named ``DynamoDB`` with
    ``aws.resource_names``. ``service("orders")`` selects the trace that touched it."""
    from otel_xray.devtools.traces.filters import FilterExpression  # noqa: PLC0415
    from otel_xray.devtools.traces.service_graph import ServiceGraph  # noqa: PLC0415
    from otel_xray.devtools.traces.store import TraceStore  # noqa: PLC0415

    store = TraceStore(_trace_with_table(ROOT_A, "orders") + _trace_with_table(ROOT_B, "users"))
    inferred = [s for s in store.trace(ROOT_A).segments if s.get("inferred")]
    assert [(s["name"], s["aws"]["resource_names"]) for s in inferred] == [("DynamoDB", ["orders"])]
    services = ServiceGraph.build(store).to_dict()["Services"]
    tables = {s["Name"]: s for s in services if s["Type"] == "AWS::DynamoDB::Table"}
    assert set(tables) == {"orders", "users"}
    assert tables["orders"]["State"] == "unknown" and tables["orders"]["Names"] == ["orders"]
    for key in ("StartTime", "EndTime", "SummaryStatistics", "DurationHistogram",
                "ResponseTimeHistogram", "Edges"):  # fmt: skip
        assert key in tables["orders"]
    client = next(s for s in services if s["Type"] == "client")
    assert client["Name"] == "order-api" and client["State"] == "unknown"
    selected = {t.id for t in FilterExpression.parse('service("orders")').select(store)}
    assert selected == {ROOT_A}


def test_lambdas_function_segment_has_its_published_shape() -> None:
    """15.12, the BatchGetTraces example (xray-api-gettingdata.md): ``aws`` {function_arn,
    resource_names, account_id} on the function segment (no resource_arn, which is the
    AWS::Lambda segment's), ``aws.function_arn`` on Initialization; Overhead after the
    response; XRayCapture emits Initialization on its first invoke."""
    from otel_xray.testing import XRayCapture  # noqa: PLC0415

    with XRayCapture() as capture:
        first = capture.invoke(lambda event, context: "ok", {})
        second = capture.invoke(lambda event, context: "ok", {})
    function = next(d for d in first.documents if d.get("origin") == "AWS::Lambda::Function")
    service = next(d for d in first.documents if d.get("origin") == "AWS::Lambda")
    assert "resource_arn" not in function and service["resource_arn"]
    assert function["aws"]["function_arn"] == service["resource_arn"]
    assert function["aws"]["resource_names"] == ["my-function"]
    assert function["aws"]["account_id"] == function["aws"]["function_arn"].split(":")[4]
    phases = [s["name"] for s in function["subsegments"]]
    assert phases == ["Initialization", "Invocation", "Overhead"]
    assert all(s["aws"]["function_arn"] for s in function["subsegments"])
    again = next(d for d in second.documents if d.get("origin") == "AWS::Lambda::Function")
    # Warm: Invocation then Overhead, as `otel-xray invoke` writes them (test_cli_invoke).
    assert [s["name"] for s in again["subsegments"]] == ["Invocation", "Overhead"]
    for document in (function, again):
        invocation, overhead = document["subsegments"][-2:]
        assert invocation["end_time"] <= overhead["start_time"] <= overhead["end_time"]
        assert overhead["end_time"] <= document["end_time"]
    for document in first.documents + second.documents:
        jsonschema.validate(document, SCHEMA)
