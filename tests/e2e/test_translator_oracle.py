"""The collector's own awsxray exporter as the oracle for ``otel_xray.xray.segment``.

The same spans go two ways: through our translator (the xray-udp path), and as OTLP
(what the layer's otlp exporter sends, ``named_for_xray`` included) into the real
collector built by ``make collector`` with the shipped ``collector/config.yaml``,
whose awsxray exporter uploads to the local X-Ray API. The two documents of each
span are compared field by field.

Every difference is either fixed or listed in :data:`DELIBERATE` with its reason;
the same list is the table "Where the translator differs from the ADOT collector"
in docs/how-it-works.md (a test checks they agree). A new difference fails here:
this is the guard for every later change to the translator.

Spans come from the example app (both functions, end to end), from the developer
API (``subsegment``, ``annotate``, ``metadata``) and from hypothesis: every span
kind, HTTP (old and stable conventions), AWS SDK, SQL and other databases, errors
with and without exceptions, links, and arbitrary extra attributes.
"""

from __future__ import annotations

import copy
import json
import math
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

import otel_xray
from examples import demo
from otel_xray.devtools.components.receiver import readable_span
from otel_xray.devtools.components.runners import COLLECTOR_BINARY, Collector
from otel_xray.devtools.components.xray_api import XRayAPI
from otel_xray.devtools.traces.store import Document, TraceStore
from otel_xray.export import Deadline
from otel_xray.export.otlp import LambdaOTLPExporter
from otel_xray.ids import XRayIdGenerator
from otel_xray.resource import build_resource
from otel_xray.settings import Settings
from otel_xray.testing import capture_lambda_spans
from otel_xray.xray.segment import _AWS_CONSUMED, _AWS_SDK_CONSUMED, span_to_document

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    not COLLECTOR_BINARY.exists(), reason="the collector is built by 'make collector'"
)

LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "order-api",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_REGION": "us-east-1",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/order-api",
}
RESOURCE = build_resource(Settings.from_env(LAMBDA_ENV))


# The deliberate differences ----------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """One deliberate difference: ``normalize(ours, theirs, span)`` takes it out of both."""

    what: str
    collector: str
    ours: str
    why: str
    normalize: Callable[[Document, Document, ReadableSpan], None]


def _drop_false_flags(ours: Document, theirs: Document, span: ReadableSpan) -> None:
    for document in (ours, theirs):
        for flag in ("error", "fault", "throttle"):
            if document.get(flag) is False:
                del document[flag]


def _drop_unknown_content_length(ours: Document, theirs: Document, span: ReadableSpan) -> None:
    response = theirs.get("http", {}).get("response", {})
    if response.get("content_length") == 0 and "content_length" not in ours.get("http", {}).get(
        "response", {}
    ):
        del response["content_length"]
    for document in (ours, theirs):
        http = document.get("http")
        if isinstance(http, dict):
            for part in ("request", "response"):
                if http.get(part) == {}:
                    del http[part]
            if not http:
                del document["http"]


_SEGMENT_AWS_FIELDS = ("xray", "cloudwatch_logs", "ecs", "ec2", "eks", "elastic_beanstalk")


def _drop_segment_fields_on_subsegments(
    ours: Document, theirs: Document, span: ReadableSpan
) -> None:
    if theirs.get("type") == "subsegment" and isinstance(theirs.get("aws"), dict):
        for key in _SEGMENT_AWS_FIELDS:
            theirs["aws"].pop(key, None)
        if not theirs["aws"]:
            del theirs["aws"]


def _drop_resource_metadata(ours: Document, theirs: Document, span: Any = None) -> None:
    default = theirs.get("metadata", {}).get("default", {})
    for key in [k for k in default if k.startswith("otel.resource.")]:
        del default[key]
    _prune_metadata(theirs)


def _drop_exception_ids(ours: Document, theirs: Document, span: ReadableSpan) -> None:
    for document in (ours, theirs):
        for exception in document.get("cause", {}).get("exceptions", []):
            exception.pop("id", None)
            if exception.get("type") == "":
                del exception["type"]


def _drop_working_directory(ours: Document, theirs: Document, span: ReadableSpan) -> None:
    ours.get("cause", {}).pop("working_directory", None)


#: What our AWS SDK spans show in the aws block instead of metadata.
_AWS_SDK_ATTRIBUTES = _AWS_SDK_CONSUMED - _AWS_CONSUMED


def _drop_aws_sdk_metadata(ours: Document, theirs: Document, span: ReadableSpan) -> None:
    if (span.attributes or {}).get("rpc.system") != "aws-api":
        return
    default = theirs.get("metadata", {}).get("default", {})
    for key in _AWS_SDK_ATTRIBUTES:
        default.pop(key, None)
    _prune_metadata(theirs)
    aws = ours.get("aws", {})
    for field in ("region", "account_id", "bucket_name", "key", "function_name"):
        if field in aws and field not in theirs.get("aws", {}):
            del aws[field]
    for field in ("invocation_type", "topic_arn"):
        if field in aws and field not in theirs.get("aws", {}):
            del aws[field]


def _drop_added_peer_service(ours: Document, theirs: Document, span: ReadableSpan) -> None:
    if "peer.service" not in (span.attributes or {}):
        theirs.get("metadata", {}).get("default", {}).pop("peer.service", None)
        _prune_metadata(theirs)


def _collector_name_sources(span: ReadableSpan) -> set[str]:
    """What segment.go MakeSegment may name a span after, whatever its kind."""
    attributes = span.attributes or {}
    found = {span.name}
    for key in ("db.name", "rpc.service", "http.host", "net.peer.name", "peer.service"):
        value = attributes.get(key)
        if isinstance(value, str):
            found.add(value)
    connection = attributes.get("db.connection_string")
    if isinstance(attributes.get("db.name"), str) and isinstance(connection, str):
        host = urllib.parse.urlsplit(connection.removeprefix("jdbc:")).hostname
        found.add(f"{attributes['db.name']}@{host}")
    return found


def _keep_span_names(ours: Document, theirs: Document, span: ReadableSpan) -> None:
    """INTERNAL spans keep the name they were given; other spans are named after the
    host (server.address, the URL's) where the collector falls back to the span name,
    and ``db.name@host`` takes the host from server.address too."""
    if ours["name"] == theirs["name"] or theirs["name"] not in _collector_name_sources(span):
        return
    attributes = span.attributes or {}
    hosts = {attributes.get("server.address"), attributes.get("net.peer.name")}
    url = attributes.get("url.full") or attributes.get("http.url")
    if isinstance(url, str):
        hosts.add(urllib.parse.urlsplit(url).hostname)
    database = attributes.get("db.name")
    by_host = ours["name"] in hosts or (
        isinstance(database, str) and ours["name"].startswith(f"{database}@")
    )
    if span.kind is SpanKind.INTERNAL or by_host:
        theirs["name"] = ours["name"]


def _keep_built_urls(ours: Document, theirs: Document, span: ReadableSpan) -> None:
    """The collector builds a client URL's host from http.host / net.peer.name / net.peer.ip
    only, so a stable-conventions span (server.address) gets ``https:///orders``."""
    request = theirs.get("http", {}).get("request", {})
    url = request.get("url")
    if isinstance(url, str) and re.match(r"^[a-z]+://(:[0-9]*)?/", url):
        ours_url = ours.get("http", {}).get("request", {}).get("url")
        if ours_url is None:
            del request["url"]  # a URL with no host at all: ours writes none
        elif (
            isinstance(ours_url, str)
            and ours_url.split("://", 1)[-1].split("/", 1)[-1]
            == (url.split("://", 1)[1].split("/", 1)[1])
        ):
            request["url"] = ours_url


def _lambda_handler_is_a_subsegment(ours: Document, theirs: Document, span: ReadableSpan) -> None:
    in_lambda = span.resource.attributes.get("cloud.platform") == "aws_lambda"
    remote_parent = span.parent is not None and span.parent.is_remote
    if span.kind is SpanKind.SERVER and in_lambda and remote_parent and "type" not in theirs:
        theirs["name"] = ours["name"]
        _as_subsegment(ours, theirs)


def _consumers_are_subsegments(ours: Document, theirs: Document, span: ReadableSpan) -> None:
    if span.kind is SpanKind.CONSUMER and span.parent is not None and "type" not in theirs:
        _as_subsegment(ours, theirs)


def _as_subsegment(ours: Document, theirs: Document) -> None:
    """Compare a span the collector made a segment of with our subsegment of it."""
    ours.pop("type", None)
    ours.pop("namespace", None)
    for key in ("origin", "namespace"):
        theirs.pop(key, None)
    if isinstance(theirs.get("aws"), dict):
        for key in _SEGMENT_AWS_FIELDS:
            theirs["aws"].pop(key, None)
        if not theirs["aws"]:
            del theirs["aws"]
    _drop_resource_metadata(ours, theirs)


def _no_sql_on_segments(ours: Document, theirs: Document, span: ReadableSpan) -> None:
    if theirs.get("type") != "subsegment" and "sql" in theirs and "sql" not in ours:
        del theirs["sql"]
        default = ours.get("metadata", {}).get("default", {})
        for key in ("db.system", "db.name", "db.statement", "db.user", "db.connection_string"):
            default.pop(key, None)
        _prune_metadata(ours)


def _no_namespace_on_segments(ours: Document, theirs: Document, span: ReadableSpan) -> None:
    if theirs.get("type") != "subsegment" and "namespace" not in ours:
        theirs.pop("namespace", None)


def _prune_metadata(document: Document) -> None:
    metadata = document.get("metadata")
    if isinstance(metadata, dict):
        if metadata.get("default") == {}:
            del metadata["default"]
        if not metadata:
            del document["metadata"]


DELIBERATE: list[Difference] = [
    Difference(
        "names",
        "any span: `peer.service`, `db.name`, `rpc.service`, `http.host`, `net.peer.name`, "
        "else the span name",
        "an INTERNAL span keeps its name; a call is named after its host where the "
        "collector would use the span name (`GET`); `db.name@host` from `server.address` too",
        "a subsegment the developer named stays named so; the X-Ray SDK names calls after "
        "the host; the stable conventions have no `net.peer.name`",
        _keep_span_names,
    ),
    Difference(
        "a SERVER span under Lambda's function segment (a remote parent, in Lambda)",
        "a segment of its own, named after `service.name`",
        "a subsegment",
        "no extra node between the function and its calls",
        _lambda_handler_is_a_subsegment,
    ),
    Difference(
        "a CONSUMER span with a parent",
        "a segment",
        "a subsegment",
        "processing a message is part of the work of the service that received it; as a "
        "segment it would be a node of its own, named after the span",
        _consumers_are_subsegments,
    ),
    Difference(
        "`sql` on a segment (a database span without a parent)",
        "written; the `db.*` attributes taken out of metadata",
        "left out; the `db.*` attributes stay in metadata",
        "the segment schema defines `sql` for subsegments only",
        _no_sql_on_segments,
    ),
    Difference(
        "`namespace` on a segment (a CLIENT or PRODUCER span without a parent)",
        "`remote`",
        "left out",
        "the segment schema defines `namespace` for subsegments only",
        _no_namespace_on_segments,
    ),
    Difference(
        "`http.request.url` built from `url.scheme`, `server.address`, `url.path` on a "
        "non-server span",
        "host left empty: `https:///orders`, `http:///`",
        "`https://api.example.com/orders`; no URL when there is no host",
        "the collector reads `server.address` for server spans only; the stable "
        "conventions put a client's host there",
        _keep_built_urls,
    ),
    Difference(
        "`error`, `fault`, `throttle` when false",
        "always written",
        "written when true",
        "false is X-Ray's default; three fields less in every 64 KB datagram",
        _drop_false_flags,
    ),
    Difference(
        "`http.response.content_length` with no size known",
        "`0`",
        "left out",
        "0 would claim an empty body",
        _drop_unknown_content_length,
    ),
    Difference(
        "`aws.xray`, `aws.cloudwatch_logs` (resource fields)",
        "on every document",
        "on segments",
        "what the console reads; subsegments stay small",
        _drop_segment_fields_on_subsegments,
    ),
    Difference(
        "resource attributes",
        "copied into each segment's metadata as `otel.resource.*`",
        "not copied",
        "the same for every segment of the function and already in `origin` and `aws`; "
        "about 1 KB a segment",
        _drop_resource_metadata,
    ),
    Difference(
        "`cause.exceptions[].id`; `type` of an error status without an exception",
        'random; `""`',
        "random; left out",
        "ids are random in both; an empty type says nothing",
        _drop_exception_ids,
    ),
    Difference(
        "`cause.working_directory`",
        "not written",
        "the process's working directory",
        "the X-Ray SDK writes it; the console shows stack paths relative to it",
        _drop_working_directory,
    ),
    Difference(
        "AWS SDK spans: `rpc.*`, `cloud.region`, resource attributes; `aws.region`, "
        "`aws.account_id`, `bucket_name`, `key`, `function_name`, `invocation_type`, "
        "`topic_arn`",
        "repeated in metadata; the aws fields not written",
        "in the `aws` block only, from the botocore instrumentation's names too",
        "the X-Ray SDK writes these fields; metadata would repeat them",
        _drop_aws_sdk_metadata,
    ),
    Difference(
        "`peer.service` on HTTP client spans",
        "in metadata (the otlp exporter adds it)",
        "not added",
        "added on the OTLP path only, so the collector names the node after the host "
        "(otherwise `GET`)",
        _drop_added_peer_service,
    ),
]


def differences(ours: Any, theirs: Any, path: str = "") -> list[str]:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        found = []
        for key in sorted(set(ours) | set(theirs)):
            where = f"{path}.{key}"
            if key not in ours:
                found.append(f"{where}: only the collector: {json.dumps(theirs[key])[:200]}")
            elif key not in theirs:
                found.append(f"{where}: only ours: {json.dumps(ours[key])[:200]}")
            else:
                found += differences(ours[key], theirs[key], where)
        return found
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        return [
            d
            for i, (a, b) in enumerate(zip(ours, theirs, strict=True))
            for d in differences(a, b, f"{path}[{i}]")
        ]
    numbers = isinstance(ours, int | float) and isinstance(theirs, int | float)
    if numbers and (isinstance(ours, float) or isinstance(theirs, float)):
        # Times: within a microsecond (both print seconds from the same nanoseconds);
        # other numbers: the same double.
        if math.isclose(ours, theirs, rel_tol=1e-15, abs_tol=1e-6):
            return []
        return [f"{path}: ours {ours!r} != the collector's {theirs!r}"]
    if ours != theirs:
        return [
            f"{path}: ours {json.dumps(ours)[:200]} != the collector's {json.dumps(theirs)[:200]}"
        ]
    return []


def compare(span: ReadableSpan, theirs: Document) -> tuple[list[str], set[str]]:
    """The differences left after the deliberate ones, and which deliberate ones applied."""
    ours = span_to_document(span)
    ours, theirs = copy.deepcopy(ours), copy.deepcopy(theirs)
    applied = set()
    for difference in DELIBERATE:
        before = json.dumps([ours, theirs], sort_keys=True)
        difference.normalize(ours, theirs, span)
        if json.dumps([ours, theirs], sort_keys=True) != before:
            applied.add(difference.what)
    return differences(ours, theirs), applied


# The collector ---------------------------------------------------------------------


class Oracle:
    def __init__(self, api: XRayAPI, collector: Collector) -> None:
        self.api = api
        self.exporter = LambdaOTLPExporter(collector.otlp_endpoint + "/v1/traces")
        self.applied: set[str] = set()

    def documents(self, spans: Sequence[ReadableSpan]) -> dict[str, Document]:
        outcome = self.exporter.export_before(list(spans), Deadline.within_ms(10_000))
        assert outcome.value == "sent", outcome
        wanted = {format(s.context.span_id, "016x") for s in spans if s.context}
        deadline = time.monotonic() + 20
        found: dict[str, Document] = {}
        while time.monotonic() < deadline:
            found = {
                d["id"]: d for d in (json.loads(r) for r in self.api.received) if d["id"] in wanted
            }
            if len(found) == len(wanted):
                break
            time.sleep(0.02)
        assert len(found) == len(wanted), f"the collector exported {len(found)} of {len(wanted)}"
        return found

    def check(self, spans: Sequence[ReadableSpan]) -> None:
        theirs = self.documents(spans)
        report = []
        for span in spans:
            assert span.context is not None
            left, applied = compare(span, theirs[format(span.context.span_id, "016x")])
            self.applied |= applied
            if left:
                report.append(f"span {span.name!r} ({span.kind.name}):\n  " + "\n  ".join(left))
        assert not report, "differences from the collector:\n" + "\n".join(report)


@pytest.fixture(scope="module")
def oracle() -> Iterator[Oracle]:
    with (
        XRayAPI() as api,
        Collector(ROOT / "collector" / "config.yaml", api.endpoint) as collector,
    ):
        yield Oracle(api, collector)


# Spans from the example app and the developer API ------------------------------------


def test_the_example_apps_spans(oracle: Oracle) -> None:
    results = demo.run(TraceStore(), exporter="otlp")
    spans = [readable_span(s) for r in results for s in r.spans]
    assert len(spans) >= 12
    oracle.check(spans)


def test_the_developer_apis_spans(oracle: Oracle) -> None:
    with capture_lambda_spans() as spans:
        tracer = trace.get_tracer("app")
        with tracer.start_as_current_span("handler"):
            otel_xray.annotate("tier", "gold")
            otel_xray.annotate(order_total=12.5, express=True)
            otel_xray.metadata("orders", items=["book", "lamp"], count=2)
            with otel_xray.subsegment(
                "load order",
                "db",
                system="postgresql",
                statement="SELECT 1",
                database="shop",
                host="db.internal",
            ):
                pass
            with otel_xray.subsegment(
                "call pricing",
                "http",
                method="GET",
                url="https://pricing.internal/quote?id=7",
                status=503,
            ):
                pass
            with otel_xray.subsegment("render receipt", "compute"):
                pass
            with otel_xray.subsegment("legacy client", remote=True):
                pass
            try:
                with otel_xray.subsegment("write receipt", "file", path="/tmp/r.txt"):
                    raise OSError("disk full")
            except OSError:
                pass
        tracing = otel_xray.configurator.current()
        assert tracing is not None
        tracing.flush(Deadline.within_ms(1000))
        captured = list(spans)
    assert len(captured) >= 6
    oracle.check(captured)


# Hypothesis ----------------------------------------------------------------------------

_HOSTS = st.sampled_from(["api.example.com", "127.0.0.1", "db.internal", "10.1.2.3"])
_HTTP = st.fixed_dictionaries(
    {},
    optional={
        "http.request.method": st.sampled_from(["GET", "POST", "PUT"]),
        "url.full": st.builds(
            lambda s, h, p: f"{s}://{h}{p}",
            st.sampled_from(["http", "https"]),
            _HOSTS,
            st.sampled_from(["/", "/orders", "/orders?id=7"]),
        ),
        "http.response.status_code": st.sampled_from([200, 201, 400, 404, 429, 500, 503]),
        "url.scheme": st.sampled_from(["http", "https"]),
        "url.path": st.sampled_from(["/", "/orders/7"]),
        "url.query": st.sampled_from(["a=1", ""]),
        "server.address": _HOSTS,
        "server.port": st.sampled_from([80, 443, 8080]),
        "client.address": st.sampled_from(["203.0.113.9", "not-an-ip"]),
        "user_agent.original": st.sampled_from(["curl/8.5", "Mozilla/5.0"]),
        "network.peer.address": st.sampled_from(["198.51.100.4", "peer.local"]),
    },
)
#: The old HTTP conventions (instrumentations emit one set, or both with equal values).
_HTTP_OLD = st.fixed_dictionaries(
    {},
    optional={
        "http.method": st.sampled_from(["GET", "DELETE"]),
        "http.url": st.sampled_from(["https://api.example.com/v1/orders?id=7"]),
        "http.status_code": st.sampled_from([200, 429, 502]),
        "http.scheme": st.sampled_from(["http", "https"]),
        "http.host": _HOSTS,
        "http.target": st.sampled_from(["/legacy?x=1"]),
        "http.server_name": st.sampled_from(["legacy.example.com"]),
        "http.user_agent": st.sampled_from(["python-requests/2.32"]),
        "http.client_ip": st.sampled_from(["192.0.2.1"]),
        "net.host.name": st.sampled_from(["host.local"]),
        "net.host.port": st.sampled_from([8080]),
        "net.peer.name": _HOSTS,
        "net.peer.port": st.sampled_from([5432, 8443]),
        "net.peer.ip": st.sampled_from(["198.51.100.7"]),
    },
)
_AWS = st.fixed_dictionaries(
    {
        "rpc.system": st.just("aws-api"),
        "rpc.service": st.sampled_from(["DynamoDB", "SQS", "S3", "SNS", "Lambda", "Kinesis"]),
        "rpc.method": st.sampled_from(["PutItem", "SendMessage", "GetObject", "Invoke"]),
    },
    optional={
        "aws.request_id": st.sampled_from(["R-1", "8bf2"]),
        "aws.dynamodb.table_names": st.lists(
            st.sampled_from(["orders", "users"]), min_size=1, max_size=2
        ),
        "cloud.region": st.just("eu-west-1"),
        "http.response.status_code": st.sampled_from([200, 400, 500]),
    },
)
_DB = st.fixed_dictionaries(
    {"db.system": st.sampled_from(["postgresql", "mysql", "sqlite", "redis", "mongodb"])},
    optional={
        "db.name": st.sampled_from(["shop", "orders"]),
        "db.statement": st.sampled_from(["SELECT * FROM t WHERE id = ?", "GET key"]),
        "db.user": st.sampled_from(["app"]),
        "db.connection_string": st.sampled_from(
            ["postgresql://db.internal:5432", "jdbc:mysql://m:3306"]
        ),
        "server.address": _HOSTS,
        "peer.service": st.sampled_from(["inventory"]),
    },
)
_PLAIN_KEYS = st.from_regex(r"[a-z][a-z0-9_.]{0,20}", fullmatch=True).filter(
    lambda k: (
        not k.startswith(
            (
                "aws.",
                "http.",
                "url.",
                "db.",
                "rpc.",
                "net.",
                "server.",
                "client.",
                "otel.",
                "faas.",
                "cloud.",
                "messaging.",
                "peer.",
                "user_agent.",
                "network.",
                "host.",
                "enduser.",
            )
        )
    )
)
_VALUES = st.one_of(
    st.text(alphabet=st.characters(codec="ascii", exclude_categories=("Cc",)), max_size=30),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.lists(st.sampled_from(["a", "b", "c"]), max_size=3),
)
_ATTRIBUTES = st.tuples(
    st.one_of(_HTTP, _HTTP_OLD, _AWS, _DB, st.just({})),
    st.dictionaries(_PLAIN_KEYS, _VALUES, max_size=4),
).map(lambda parts: {**parts[1], **parts[0]})


@dataclass
class SpanShape:
    name: str
    kind: SpanKind
    attributes: dict[str, Any]
    parent: str  # "none" | "local" | "remote"
    status: str  # "unset" | "ok" | "error"
    exception: bool
    links: int


_SHAPES = st.builds(
    SpanShape,
    name=st.sampled_from(["GET /orders", "handler", "DynamoDB.PutItem", "SELECT shop", "work"]),
    kind=st.sampled_from(list(SpanKind)),
    attributes=_ATTRIBUTES,
    parent=st.sampled_from(["none", "local", "remote"]),
    status=st.sampled_from(["unset", "ok", "error"]),
    exception=st.booleans(),
    links=st.integers(0, 2),
)


def make_span(shape: SpanShape) -> ReadableSpan:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=RESOURCE, id_generator=XRayIdGenerator())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("opentelemetry.instrumentation.test", "0.1")
    generator = XRayIdGenerator()
    trace_id = generator.generate_trace_id()
    context = None
    if shape.parent != "none":
        parent = trace.SpanContext(
            trace_id,
            generator.generate_span_id(),
            is_remote=shape.parent == "remote",
            trace_flags=trace.TraceFlags(1),
        )
        context = trace.set_span_in_context(trace.NonRecordingSpan(parent))
    links = [
        Link(trace.SpanContext(generator.generate_trace_id(), generator.generate_span_id(), True))
        for _ in range(shape.links)
    ]
    span = tracer.start_span(
        shape.name, context=context, kind=shape.kind, attributes=shape.attributes, links=links
    )
    if shape.exception:
        try:
            raise KeyError("order 7")
        except KeyError as error:
            span.record_exception(error)
    if shape.status == "error":
        span.set_status(Status(StatusCode.ERROR, "it failed"))
    elif shape.status == "ok":
        span.set_status(Status(StatusCode.OK))
    span.end()
    [finished] = exporter.get_finished_spans()
    return finished


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(shapes=st.lists(_SHAPES, min_size=1, max_size=5))
def test_generated_spans(oracle: Oracle, shapes: list[SpanShape]) -> None:
    oracle.check([make_span(shape) for shape in shapes])


# The table in the docs -----------------------------------------------------------------


def test_every_deliberate_difference_is_in_the_docs_table() -> None:
    text = (ROOT / "docs" / "how-it-works.md").read_text()
    section = text.split("## Where the translator differs from the ADOT collector", 1)[1]
    section = section.split("\n## ", 1)[0]
    rows = {
        re.sub(r"\s+", " ", line.split("|")[1].strip())
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| what")
    }
    for difference in DELIBERATE:
        assert difference.what in rows, f"docs/how-it-works.md lacks the row {difference.what!r}"
