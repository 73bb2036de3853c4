"""Bad input, fuzzed: headers, events of every trigger, settings, rules files, attribute
values. Nothing raises into the app, the handler's result is unchanged, and every
document still validates against the official schema. Every case that once broke
something is kept as an @example."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

import otel_xray
from otel_xray import configurator
from otel_xray.export import Deadline
from otel_xray.export.processor import InvocationSpanProcessor
from otel_xray.pii import RedactingSpanProcessor, Redactor
from otel_xray.propagation import XRayPropagator, parse_trace_header
from otel_xray.sampling import load_local_rules
from otel_xray.settings import PiiSettings, Settings
from otel_xray.testing import LAMBDA_ENV, InMemoryExporter, LambdaContext
from otel_xray.xray.segment import encode, span_to_document

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "data" / "xray-segmentdocument-schema-v1.0.0.json").read_text()
)
EXAMPLES = 300
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
CASES: dict[str, int] = {}


def counted(name: str) -> None:
    CASES[name] = CASES.get(name, 0) + 1


# strategies ------------------------------------------------------------------------------

# Bigger than a UDP datagram, with and without personal data in it.
huge = st.builds(
    lambda unit, count: unit * count,
    st.sampled_from(["a", "x@y.io ", "4111 1111 1111 1111 ", "é"]),
    st.integers(min_value=3_000, max_value=70_000),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=50),
    st.binary(max_size=20),
)
junk = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
header_text = st.one_of(
    st.text(max_size=300),
    st.builds(
        lambda root, parent, sampled, tail: f"Root={root};Parent={parent};Sampled={sampled}{tail}",
        st.text(max_size=40),
        st.text(max_size=20),
        st.sampled_from(["0", "1", "?", "", "x"]),
        st.text(max_size=30),
    ),
)


def trigger_events() -> st.SearchStrategy[Any]:
    """Lambda events of every trigger, with fields missing, null, mistyped or huge."""
    field = st.one_of(st.none(), st.integers(), st.text(max_size=30), junk, huge)
    api_v1 = st.fixed_dictionaries(
        {},
        optional={
            "httpMethod": field,
            "path": field,
            "resource": field,
            "headers": st.one_of(field, st.dictionaries(st.text(max_size=20), field, max_size=5)),
            "queryStringParameters": st.one_of(
                field, st.dictionaries(st.text(max_size=10), field, max_size=3)
            ),
            "multiValueQueryStringParameters": st.one_of(
                field,
                st.dictionaries(st.text(max_size=10), st.lists(field, max_size=3), max_size=3),
            ),
            "requestContext": st.one_of(
                field,
                st.fixed_dictionaries(
                    {}, optional={"identity": field, "http": field, "authorizer": field}
                ),
            ),
            "body": field,
        },
    )
    api_v2 = st.fixed_dictionaries(
        {"version": st.just("2.0")},
        optional={
            "routeKey": field,
            "rawPath": field,
            "rawQueryString": field,
            "headers": field,
            "requestContext": st.fixed_dictionaries(
                {},
                optional={
                    "http": st.one_of(
                        field,
                        st.dictionaries(st.sampled_from(["method", "path", "sourceIp"]), field),
                    )
                },
            ),
        },
    )
    alb = st.fixed_dictionaries(
        {"requestContext": st.just({"elb": {"targetGroupArn": "arn"}})},
        optional={"httpMethod": field, "path": field, "headers": field},
    )
    record = st.fixed_dictionaries(
        {},
        optional={
            "eventSource": st.sampled_from(["aws:sqs", "aws:sns", "aws:s3", None, 7]),
            "EventSource": st.sampled_from(["aws:sns", None]),
            "attributes": st.one_of(
                field, st.dictionaries(st.sampled_from(["AWSTraceHeader", "x"]), field)
            ),
            "body": field,
            "Sns": field,
            "s3": field,
        },
    )
    records = st.fixed_dictionaries(
        {"Records": st.one_of(field, st.lists(st.one_of(record, field), max_size=25))}
    )
    eventbridge = st.fixed_dictionaries({"source": field, "detail-type": field, "detail": field})
    direct = st.one_of(junk, huge, st.lists(junk, max_size=3))
    return st.one_of(api_v1, api_v2, alb, records, eventbridge, direct)


# tests -----------------------------------------------------------------------------------


@FUZZ
@given(header_text)
@example("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000000;Sampled=1")
@example("Root=1-00000000-000000000000000000000000;Parent=53995c3f42cd8ad8")
@example(";;;;=;=;Root=;")
@example("Root=1-5759e988-bd862e3fe1be46a994272793;" + "Lineage=x;" * 500)
def test_tracing_headers_never_raise(value: str) -> None:
    counted("tracing header")
    parse_trace_header(value)
    XRayPropagator().extract({"X-Amzn-Trace-Id": value})
    XRayPropagator().extract({"x-amzn-trace-id": [value]})  # type: ignore[dict-item]


@pytest.fixture(scope="module")
def traced() -> Iterator[tuple[Callable[..., Any], InMemoryExporter]]:
    exporter = InMemoryExporter()
    configurator.reset()
    configurator.configure(environ=dict(LAMBDA_ENV), exporter=exporter, instrument=False)
    yield otel_xray.lambda_handler(lambda event, context: {"echo": "same"}), exporter
    configurator.reset()


@FUZZ
@given(event=trigger_events(), header=header_text)
@example(
    event={"Records": [{"eventSource": "aws:sqs", "attributes": {"AWSTraceHeader": 7}}]}, header=""
)
@example(event={"headers": {"traceparent": "00-" + "0" * 32 + "-" + "0" * 16 + "-01"}}, header="x")
@example(
    event={"requestContext": {"http": {"sourceIp": ["a"]}}, "version": "2.0"}, header="Sampled=1"
)
@example(event=[None, {"Records": 1}], header="Root=1-5759e988-bd862e3fe1be46a994272793")
def test_events_and_lambda_headers_never_reach_the_handler(
    traced: tuple[Callable[..., Any], InMemoryExporter],
    monkeypatch: pytest.MonkeyPatch,
    event: Any,
    header: str,
) -> None:
    counted("Lambda event + _X_AMZN_TRACE_ID")
    handler, exporter = traced
    # What an environment can hold at all: no NUL, no lone surrogates.
    header = header.replace("\x00", "").encode("utf-8", "ignore").decode()
    monkeypatch.setenv("_X_AMZN_TRACE_ID", header)
    monkeypatch.setattr(configurator.state(), "cold_start", False)
    before = len(exporter.spans)
    assert handler(event, LambdaContext()) == {"echo": "same"}
    for span in exporter.spans[before:]:
        jsonschema.validate(json.loads(encode(span_to_document(span))), SCHEMA)


SETTING_NAMES = [
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "AWS_XRAY_DAEMON_ADDRESS",
    "OTEL_PROPAGATORS",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_XRAY_FLUSH_TIMEOUT_MS",
    "OTEL_XRAY_MAX_QUEUE_SIZE",
    "OTEL_XRAY_INSTRUMENTATIONS",
    "OTEL_SDK_DISABLED",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_XRAY_PII_MODE",
    "OTEL_XRAY_PII_HASH_KEY",
    "OTEL_XRAY_PII_PATTERNS",
    "OTEL_XRAY_PII_SECRET_KEYS",
    "OTEL_XRAY_SAMPLING_RULES",
    "OTEL_XRAY_LAMBDA_UNSAMPLED",
    "OTEL_XRAY_STRICT",
    "OTEL_XRAY_SAMPLING_ENDPOINT",
]


@FUZZ
@given(st.dictionaries(st.sampled_from(SETTING_NAMES), st.text(max_size=80), max_size=8))
@example({"OTEL_XRAY_PII_PATTERNS": '{"a": "(?P<x>y)"}', "OTEL_XRAY_FLUSH_TIMEOUT_MS": "-1"})
@example(
    {
        "OTEL_XRAY_SAMPLING_RULES": "/nonexistent/rules.json",
        "OTEL_TRACES_SAMPLER": "parentbased_xray",
    }
)
@example({"OTEL_XRAY_SAMPLING_ENDPOINT": "ftp://x", "OTEL_TRACES_SAMPLER": "xray"})
def test_settings_values_never_raise(values: dict[str, str]) -> None:
    counted("settings")
    environ = {**LAMBDA_ENV, **values}
    Settings.from_env(environ)
    tracing = configurator.configure(
        environ=environ, exporter=InMemoryExporter(), set_global=False, instrument=False
    )
    if tracing is not None:
        tracing.shutdown()


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30)),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=15,
)
rules_like = st.fixed_dictionaries(
    {},
    optional={
        "version": st.one_of(st.sampled_from([1, 2]), json_values),
        "default": st.one_of(
            json_values,
            st.fixed_dictionaries({}, optional={"fixed_target": json_values, "rate": json_values}),
        ),
        "rules": st.one_of(
            json_values,
            st.lists(
                st.dictionaries(
                    st.sampled_from(
                        [
                            "host",
                            "service_name",
                            "http_method",
                            "url_path",
                            "fixed_target",
                            "rate",
                            "description",
                        ]
                    ),
                    json_values,
                ),
                max_size=4,
            ),
        ),
    },
)


@FUZZ
@given(st.one_of(json_values.map(json.dumps), rules_like.map(json.dumps), st.text(max_size=200)))
@example('{"version": 2, "default": {"fixed_target": 1, "rate": 0.05}, "rules": [null]}')
@example('{"version": 2, "default": {"fixed_target": true, "rate": 0.05}}')
@example('{"version": 1, "default": {"fixed_target": 1, "rate": NaN}}')
def test_sampling_rules_files_never_raise(text: str) -> None:
    counted("sampling rules file")
    rules = load_local_rules(text if text.lstrip().startswith("{") else "{" + text)
    assert rules.default.rate <= 1


attribute_values = st.one_of(
    st.text(max_size=200),
    huge,
    st.binary(max_size=50),
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.lists(st.one_of(st.text(max_size=20), st.integers(), st.floats()), max_size=5),
    st.lists(st.lists(st.integers(), max_size=2), max_size=2),
    junk,
)


@FUZZ
@given(
    st.dictionaries(st.text(min_size=1, max_size=30), attribute_values, max_size=12),
    st.text(max_size=300),
)
@example({"x": float("nan"), "y": [math.inf, -math.inf]}, "name")
@example({"aws.xray.annotations": ["k", 3, None], "k": b"bytes"}, "")
@example({"db.statement": "SELECT '" + "x" * 70_000}, "\x00\ud7ff")
@example({"http.method": "a" * 3000, "url.full": "https://x/" + "a" * 400}, "")  # schema caps
def test_attribute_values_of_every_type_make_valid_documents(
    attributes: dict[str, Any], name: str
) -> None:
    counted("span attributes and names")
    provider_exporter = InMemoryExporter()

    provider = TracerProvider()
    flush = InvocationSpanProcessor(provider_exporter)
    provider.add_span_processor(RedactingSpanProcessor(flush, Redactor(PiiSettings())))
    span = provider.get_tracer("fuzz").start_span(name or "span")
    for key, value in attributes.items():
        span.set_attribute(key, value)  # the SDK drops what it cannot hold; never raises
    span.add_event("exception", {"exception.message": name, "exception.stacktrace": name})
    span.end()
    flush.flush(Deadline.within_ms(1000))
    for exported in provider_exporter.spans:
        document = span_to_document(exported)
        assert len(encode(document)) <= 64 * 1024
        jsonschema.validate(json.loads(encode(document)), SCHEMA)
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_zz_report_the_number_of_cases(record: Callable[..., None]) -> None:
    """Runs last in this module: how many fuzz cases each input got."""
    record(fuzz_cases=dict(CASES), examples_per_test=EXAMPLES)
