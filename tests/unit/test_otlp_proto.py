"""The hand OTLP encoder against opentelemetry-proto's, byte for byte, on generated spans.

Reference: ``opentelemetry.exporter.otlp.proto.common.trace_encoder.encode_spans``
(opentelemetry-exporter-otlp-proto-common, what upstream's OTLP exporters and ADOT's
``OTLPUdpSpanExporter.export`` send), serialized by the protobuf runtime.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from otel_xray.export.otlp_proto import encode_request, read_partial_success

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
scalar = st.one_of(
    text,
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.binary(max_size=8),
)
value: st.SearchStrategy[Any] = st.one_of(
    scalar,
    st.lists(scalar, max_size=3),
    st.tuples(text, text),
    st.none(),
)
attributes = st.dictionaries(text, value, max_size=4)
ids = st.integers(1, 2**64 - 1)
trace_ids = st.integers(1, 2**128 - 1)
times = st.integers(0, 2**64 - 1)


@st.composite
def contexts(draw: st.DrawFn) -> SpanContext:
    state = draw(
        st.none() | st.just(TraceState()) | st.just(TraceState([("xray", "a1"), ("vendor", "b")]))
    )
    return SpanContext(
        draw(trace_ids),
        draw(ids),
        is_remote=draw(st.booleans()),
        trace_flags=TraceFlags(draw(st.sampled_from([0, 1]))),
        trace_state=state,
    )


resources = st.sampled_from(
    [
        Resource({"service.name": "orders", "cloud.provider": "aws", "n": [1, 2]}),
        Resource({"service.name": "pay"}, schema_url="https://opentelemetry.io/schemas/1.21.0"),
        Resource({}),
    ]
)
scopes = st.sampled_from(
    [
        None,
        InstrumentationScope("otel_xray"),
        InstrumentationScope("opentelemetry.instrumentation.botocore", "0.66b1", "https://s"),
        InstrumentationScope("s", "1", None, {"a": 1}),
    ]
)


@st.composite
def spans(draw: st.DrawFn) -> ReadableSpan:
    context = draw(contexts())
    return ReadableSpan(
        name=draw(text),
        context=context,
        parent=draw(st.none() | contexts()),
        resource=draw(resources),
        attributes=draw(attributes),
        events=[
            Event(draw(text), draw(attributes), timestamp=draw(times))
            for _ in range(draw(st.integers(0, 2)))
        ],
        links=[Link(draw(contexts()), draw(attributes)) for _ in range(draw(st.integers(0, 2)))],
        kind=draw(st.sampled_from(list(SpanKind))),
        status=draw(
            st.builds(Status, st.sampled_from(list(StatusCode)), st.none() | text)
            | st.just(Status(StatusCode.UNSET))
        ),
        start_time=draw(st.none() | times),
        end_time=draw(st.none() | times),
        instrumentation_scope=draw(scopes),
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(spans(), max_size=5))
def test_the_bytes_are_upstreams(batch: list[ReadableSpan]) -> None:
    """Equal bytes, so equal in every field, group and order (encode_spans' grouping by
    resource then scope, first seen first)."""
    assert encode_request(batch) == encode_spans(batch).SerializeToString()


def test_an_attribute_upstream_cannot_encode_is_left_out_by_both() -> None:
    """Upstream logs and skips a value it cannot encode (``_encode_attributes``)."""
    span = ReadableSpan(
        name="s",
        context=SpanContext(1, 2, False),
        attributes={"ok": 1, "bad": object(), "huge": 2**70},  # type: ignore[dict-item]
        resource=Resource({}),
    )
    assert encode_request([span]) == encode_spans([span]).SerializeToString()


@given(st.integers(0, 2**62), text)
def test_partial_success_is_read_as_protobuf_writes_it(rejected: int, message: str) -> None:
    """``ExportTraceServiceResponse.partial_success`` (trace_service.proto)."""
    response = ExportTraceServiceResponse()
    response.partial_success.rejected_spans = rejected
    response.partial_success.error_message = message
    assert read_partial_success(response.SerializeToString()) == (rejected, message)
    assert read_partial_success(ExportTraceServiceResponse().SerializeToString()) == (0, "")
    assert read_partial_success(b"\xff\xff") == (0, "")
