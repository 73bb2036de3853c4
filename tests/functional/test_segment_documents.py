"""Real SDK spans as X-Ray documents, each validated against the official schema."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_xray.ids import XRayIdGenerator
from otel_xray.xray.segment import (
    MAX_DOCUMENT_BYTES,
    encode,
    encoded_document,
    sanitize_name,
    span_to_document,
)

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "data" / "xray-segmentdocument-schema-v1.0.0.json").read_text()
)
LAMBDA_SEGMENT = trace.SpanContext(
    0x6B069E856C663EBA378038F66131E4F2,
    0x6FF7291EA17A501A,
    is_remote=True,
    trace_flags=trace.TraceFlags(1),
)
provider = TracerProvider(
    id_generator=XRayIdGenerator(),
    resource=Resource({"service.name": "order-api", "cloud.platform": "aws_lambda"}),
)
tracer = provider.get_tracer("test")


def valid(document: dict[str, Any]) -> dict[str, Any]:
    jsonschema.validate(json.loads(encode(document)), SCHEMA)
    return document


def finished(
    name: str,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: dict[str, Any] | None = None,
    parent: trace.SpanContext | None = LAMBDA_SEGMENT,
    error: Exception | None = None,
) -> ReadableSpan:
    ctx = trace.set_span_in_context(trace.NonRecordingSpan(parent)) if parent else None
    span = tracer.start_span(name, context=ctx, kind=kind, attributes=attributes)
    if error is not None:
        try:
            raise error
        except Exception as raised:
            span.record_exception(raised)
            span.set_status(Status(StatusCode.ERROR))
    span.end()
    return span  # type: ignore[return-value]


def test_the_invocation_span_is_a_subsegment_of_lambdas_function_segment() -> None:
    doc = valid(span_to_document(finished("order-api", attributes={"faas.coldstart": True})))
    assert doc["type"] == "subsegment"
    assert doc["parent_id"] == "6ff7291ea17a501a"
    assert doc["trace_id"] == "1-6b069e85-6c663eba378038f66131e4f2"
    assert doc["name"] == "order-api"
    assert doc["metadata"]["default"]["faas.coldstart"] is True


def test_even_a_server_span_under_lambda_stays_a_subsegment() -> None:
    doc = valid(span_to_document(finished("handler", SpanKind.SERVER)))
    assert doc["type"] == "subsegment"


def test_a_server_span_without_parent_is_a_segment_named_after_the_service() -> None:
    doc = valid(span_to_document(finished("GET /orders", SpanKind.SERVER, parent=None)))
    assert "type" not in doc and "parent_id" not in doc
    assert doc["name"] == "order-api"


def test_botocore_span_becomes_an_aws_subsegment() -> None:
    attributes = {
        "rpc.system": "aws-api",
        "rpc.service": "DynamoDB",
        "rpc.method": "PutItem",
        "aws.request_id": "REQ1",
        "aws.dynamodb.table_names": ("orders",),
        "cloud.region": "us-east-1",
        "http.status_code": 200,
        "server.address": "127.0.0.1",
    }
    doc = valid(span_to_document(finished("DynamoDB.PutItem", SpanKind.CLIENT, attributes)))
    assert (doc["name"], doc["namespace"]) == ("DynamoDB", "aws")
    assert doc["aws"] == {
        "operation": "PutItem",
        "request_id": "REQ1",
        "region": "us-east-1",
        "table_name": "orders",
    }
    assert doc["http"]["response"]["status"] == 200


def test_http_client_span_becomes_a_remote_subsegment_named_after_the_host() -> None:
    attributes = {
        "http.method": "POST",
        "http.url": "http://payments.internal:8080/charges",
        "http.status_code": 402,
    }
    doc = valid(span_to_document(finished("POST", SpanKind.CLIENT, attributes)))
    assert (doc["name"], doc["namespace"]) == ("payments.internal", "remote")
    assert doc["http"]["request"] == {
        "method": "POST",
        "url": "http://payments.internal:8080/charges",
    }
    assert doc["error"] is True and "fault" not in doc


@pytest.mark.parametrize(
    ("status", "flags"),
    [(429, {"throttle", "error"}), (404, {"error"}), (503, {"fault"}), (200, set())],
)
def test_fault_error_throttle_from_http_status(status: int, flags: set[str]) -> None:
    doc = valid(span_to_document(finished("GET", SpanKind.CLIENT, {"http.status_code": status})))
    assert {k for k in ("fault", "error", "throttle") if doc.get(k)} == flags


def test_exceptions_become_a_cause_with_python_frames() -> None:
    doc = valid(
        span_to_document(finished("order-api", error=ValueError("amount must be positive")))
    )
    assert doc["fault"] is True
    [exception] = doc["cause"]["exceptions"]
    assert exception["type"] == "ValueError" and exception["message"] == "amount must be positive"
    assert exception["stack"][0]["label"] == "finished"
    assert exception["stack"][0]["path"].endswith("test_segment_documents.py")


def test_listed_annotations_are_indexed_and_the_rest_is_metadata() -> None:
    attributes = {
        "aws.xray.annotations": ("user_id", "transaction.type", "order_total", "missing"),
        "user_id": "u-123",
        "transaction.type": "checkout",
        "order_total": 42.5,
        "note": "kept as metadata",
    }
    doc = valid(span_to_document(finished("work", attributes=attributes)))
    assert doc["annotations"] == {
        "user_id": "u-123",
        "transaction_type": "checkout",
        "order_total": 42.5,
    }
    assert doc["metadata"]["default"] == {"note": "kept as metadata"}


def test_names_are_sanitized_for_xray() -> None:
    doc = valid(span_to_document(finished("weird<name>!" + "x" * 300)))
    assert doc["name"].startswith("weirdname") and len(doc["name"]) == 200


def test_an_oversized_span_yields_a_valid_truncated_document() -> None:
    attributes = {f"attribute_{i}": "x" * 5000 for i in range(40)}
    error = RuntimeError("m" * 100_000)
    doc = valid(span_to_document(finished("big", attributes=attributes, error=error)))
    assert len(encode(doc)) <= MAX_DOCUMENT_BYTES
    assert doc["metadata"] == {"otel_xray": {"truncated": True}}
    assert doc["cause"]["exceptions"][0]["message"].startswith("mmmm")


@pytest.mark.parametrize("size", [10, MAX_DOCUMENT_BYTES // 2, MAX_DOCUMENT_BYTES, 200_000])
def test_the_datagram_body_is_the_document_encoded_once_or_shrunk(size: int) -> None:
    """What the UDP exporter sends (``encoded_document``) is ``encode(span_to_document)``
    on both sides of the datagram limit."""
    span = finished("sized", attributes={"note": "n" * size})
    body = encoded_document(span)
    assert json.loads(body) == json.loads(encode(span_to_document(span)))
    assert len(body) <= MAX_DOCUMENT_BYTES


attribute_values = st.one_of(
    st.text(max_size=200),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.booleans(),
    st.lists(st.text(max_size=20), max_size=5).map(tuple),
    st.lists(st.floats(), max_size=5).map(tuple),
)


@settings(max_examples=400, deadline=None)
@given(
    name=st.text(max_size=300),
    kind=st.sampled_from(list(SpanKind)),
    attributes=st.dictionaries(
        st.one_of(
            st.text(min_size=1, max_size=30),
            st.sampled_from(["http.status_code", "rpc.system", "aws.xray.annotations", "http.url"]),
        ),
        attribute_values,
        max_size=12,
    ),
    has_parent=st.booleans(),
)
def test_any_span_yields_a_schema_valid_document(
    name: str, kind: SpanKind, attributes: dict[str, Any], has_parent: bool
) -> None:
    span = finished(name, kind, attributes, parent=LAMBDA_SEGMENT if has_parent else None)
    valid(span_to_document(span))


def test_letters_of_every_script_stay_in_the_name() -> None:
    """Issue 15.2. The collector's ``fixSegmentName`` keeps ``\\p{L}``
    (exporter/awsxrayexporter/internal/translator/segment.go, reInvalidSpanCharacters);
    the schema's ``name`` pattern allows these letters too. Only what the schema forbids
    goes (𐂀, outside its ranges; control characters)."""
    assert valid(span_to_document(finished("Bestellübersicht 𐂀")))["name"] == "Bestellübersicht"
    assert valid(span_to_document(finished("注文サービス")))["name"] == "注文サービス"
    assert valid(span_to_document(finished("Café-svc")))["name"] == "Café-svc"
    assert valid(span_to_document(finished("\r\n\t")))["name"] == "span"
    # Two non-Latin services no longer merge into one node named "span".
    assert sanitize_name("注文サービス") != sanitize_name("결제서비스")


NAME_PATTERN = re.compile(SCHEMA["properties"]["name"]["pattern"])


@settings(max_examples=300, deadline=None)
@given(name=st.text(min_size=1, max_size=250))
def test_a_name_keeps_exactly_the_characters_the_schema_allows(name: str) -> None:
    cleaned = sanitize_name(name)
    assert NAME_PATTERN.fullmatch(cleaned)
    allowed = "".join(c for c in name if NAME_PATTERN.fullmatch(c)).strip()[:200]
    assert cleaned == (allowed or "span")


def test_non_finite_and_huge_numbers_never_break_the_document() -> None:
    attributes = {
        "aws.xray.annotations": ("nan", "huge"),
        "nan": float("nan"),
        "huge": 10**400,
        "inf": float("inf"),
    }
    doc = valid(span_to_document(finished("numbers", attributes=attributes)))
    assert doc["annotations"] == {"huge": 10**400}
    assert doc["metadata"]["default"]["inf"] == "inf"


def test_outside_lambda_a_server_span_continuing_a_callers_trace_is_its_own_segment() -> None:
    service = TracerProvider(
        id_generator=XRayIdGenerator(), resource=Resource({"service.name": "checkout"})
    )
    ctx = trace.set_span_in_context(trace.NonRecordingSpan(LAMBDA_SEGMENT))
    span = service.get_tracer("t").start_span("GET /cart", context=ctx, kind=SpanKind.SERVER)
    span.end()
    doc = valid(span_to_document(span))  # type: ignore[arg-type]
    assert "type" not in doc and doc["name"] == "checkout"
    assert doc["parent_id"] == f"{LAMBDA_SEGMENT.span_id:016x}"


def test_any_span_gets_the_aws_block_its_attributes_give() -> None:
    """aws.go ``makeAws`` runs on every span: ``rpc.method`` is the operation of a gRPC
    call too; attributes it does not read stay in metadata."""
    attributes = {"cloud.region": "eu-west-1", "rpc.system": "grpc", "rpc.method": "Get"}
    doc = valid(span_to_document(finished("Get", SpanKind.CLIENT, attributes)))
    assert doc["aws"] == {"operation": "Get"}
    assert doc["metadata"]["default"] == {"cloud.region": "eu-west-1", "rpc.system": "grpc"}


def test_links_are_written_as_the_collector_writes_them() -> None:
    producer = trace.SpanContext(
        0x6B069E856C663EBA378038F66131E4F3, 0x1111222233334444, is_remote=True
    )
    links = [trace.Link(producer, {"messaging.message.id": "m-1"})] + [
        trace.Link(producer) for _ in range(30)
    ]
    span = tracer.start_span("worker", context=None, links=links)
    span.end()
    doc = valid(span_to_document(span))  # type: ignore[arg-type]
    assert doc["links"][0] == {
        "trace_id": "1-6b069e85-6c663eba378038f66131e4f3",
        "id": "1111222233334444",
        "attributes": {"messaging.message.id": "m-1"},
    }
    assert len(doc["links"]) == 20


def test_a_sql_call_gets_an_sql_block_and_a_database_name() -> None:
    attributes = {
        "db.system": "postgresql",
        "db.name": "orders",
        "server.address": "db.internal",
        "db.statement": "SELECT * FROM orders WHERE id = ?",
        "db.user": "app",
        "db.connection_string": "postgresql://db.internal:5432",
    }
    doc = valid(span_to_document(finished("SELECT orders", SpanKind.CLIENT, attributes)))
    assert doc["name"] == "orders@db.internal" and doc["namespace"] == "remote"
    # sql.go makeSQL: url is the span name, connection_string + "/" + db.name.
    assert doc["sql"] == {
        "database_type": "postgresql",
        "sanitized_query": "SELECT * FROM orders WHERE id = ?",
        "user": "app",
        "url": "SELECT orders",
        "connection_string": "postgresql://db.internal:5432/orders",
    }
    assert "db.statement" not in doc.get("metadata", {}).get("default", {})
    nosql = {"db.system": "dynamodb", "db.name": "orders"}
    assert "sql" not in span_to_document(finished("GetItem", SpanKind.CLIENT, nosql))


def test_metadata_namespaces_come_from_json_attributes() -> None:
    attributes = {
        "aws.xray.metadata.orders": '{"items": 3, "express": true}',
        "aws.xray.metadata.AWS.reserved": '{"x": 1}',
        "aws.xray.metadata.broken": "{not json",
        "plain": 1,
    }
    doc = valid(span_to_document(finished("work", attributes=attributes)))
    assert doc["metadata"]["orders"] == {"items": 3, "express": True}
    assert doc["metadata"]["default"]["plain"] == 1
    # A reserved or unreadable namespace stays visible as a plain attribute.
    assert "aws.xray.metadata.AWS.reserved" in doc["metadata"]["default"]
    assert "aws.xray.metadata.broken" in doc["metadata"]["default"]


def test_http_fields_respect_the_schemas_250_characters_and_keep_the_full_url() -> None:
    url = "https://api.example.com/search?q=" + "x" * 400
    doc = valid(
        span_to_document(
            finished("GET", SpanKind.CLIENT, {"url.full": url, "http.request.method": "GET" * 100})
        )
    )
    assert doc["http"]["request"]["url"] == url[:250]
    assert len(doc["http"]["request"]["method"]) == 250
    assert doc["metadata"]["default"]["url.full"] == url  # nothing lost


def test_bytes_attributes_become_text() -> None:
    doc = valid(span_to_document(finished("work", attributes={"payload": b"caf\xc3\xa9 \xff"})))
    assert doc["metadata"]["default"]["payload"] == "café \ufffd"


@pytest.mark.parametrize(
    "connection", ["postgresql://[fe80::1%eth0/shop", "jdbc:mysql://[::1", "http://[bad]x:1/"]
)
def test_a_malformed_connection_string_names_no_host_and_keeps_the_span(
    connection: str,
) -> None:
    """``urlsplit`` raises "Invalid IPv6 URL" on an unclosed bracket; the database call's
    subsegment is then named after the database alone (found in review on the OTLP
    paths' URL parsing; the xray-udp translator had the same unguarded call)."""
    span = finished(
        "SELECT",
        SpanKind.CLIENT,
        {"db.system": "postgresql", "db.name": "shop", "db.connection_string": connection},
    )
    assert valid(span_to_document(span))["name"] == "shop"
