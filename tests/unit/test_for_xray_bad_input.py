"""URL attributes ``urlsplit`` refuses, and spans the encoder cannot write, cost only
themselves on the OTLP paths to X-Ray.

``urllib.parse.urlsplit`` raises ``ValueError("Invalid IPv6 URL")`` on an unbalanced
bracket in the network location (CPython ``Lib/urllib/parse.py``, ``urlsplit``), and
``ValueError`` for a port that is not a number when ``.port`` is read. An application can
put either in ``url.full`` / ``http.url`` (an IPv6 zone id written unbracketed by hand:
``http://[fe80::1%eth0/x``). Before, the error escaped ``for_xray`` and the exporters
dropped every span of the export with it.
"""

from __future__ import annotations

import base64
import logging
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

from otel_xray.export import Deadline, ExportOutcome
from otel_xray.export.for_xray import for_xray
from otel_xray.export.otlp import LambdaOTLPExporter
from otel_xray.export.xray_otlp_udp import XRayOtlpUdpExporter

TRACE_ID = 0x5759E988BD862E3FE1BE46A994272793
BAD_URL = "http://[fe80::1%eth0/x"

#: URLs of every shape near the ones urlsplit refuses: brackets, zone ids, ports.
URLS = st.builds(
    lambda scheme, middle, tail: scheme + middle + tail,
    st.sampled_from(["http://", "https://", "//", "", "jdbc:mysql://", "postgresql://u@"]),
    st.one_of(
        st.sampled_from(["[", "]", "[fe80::1%eth0", "[::1]", "host:", "host:port", "[::1]:x"]),
        st.text(max_size=12),
    ),
    st.text(max_size=12),
)


def _span(
    name: str, kind: SpanKind, attributes: dict[str, object], **extra: object
) -> ReadableSpan:
    options: dict[str, object] = {
        "name": name,
        "context": SpanContext(TRACE_ID, abs(hash(name)) % 2**63 + 1, False, TraceFlags(1)),
        "parent": SpanContext(TRACE_ID, 0xABC, False),
        "kind": kind,
        "resource": Resource({"service.name": "checkout"}),
        "attributes": attributes,
        "start_time": 1,
        "end_time": 2,
        "instrumentation_scope": InstrumentationScope("opentelemetry.instrumentation.urllib"),
    }
    options.update(extra)
    return ReadableSpan(**options)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(
    URLS,
    st.sampled_from(["url.full", "http.url", "db.connection_string", "http.target"]),
    st.sampled_from([SpanKind.CLIENT, SpanKind.SERVER, SpanKind.PRODUCER, SpanKind.INTERNAL]),
    st.booleans(),
)
def test_for_xray_never_raises_on_a_url_attribute(
    url: str, key: str, kind: SpanKind, database: bool
) -> None:
    attributes: dict[str, object] = {key: url, "http.method": "GET"}
    if database:
        attributes["db.system"] = "mysql"
    span = for_xray(_span("GET", kind, attributes), True, None)
    assert span.attributes is not None and span.attributes[key] == url


def test_a_url_urlsplit_refuses_is_read_as_no_url() -> None:
    span = for_xray(_span("GET", SpanKind.CLIENT, {"http.url": BAD_URL, "http.method": "GET"}),
                    True, None)  # fmt: skip
    assert span.attributes is not None
    assert "peer.service" not in span.attributes
    assert span.attributes["aws.remote.service"] == "UnknownRemoteService"
    assert span.attributes["aws.remote.operation"] == "GET /"


def _received(receiver: socket.socket) -> list[str]:
    names = []
    receiver.settimeout(2)
    packet = receiver.recv(65_535)
    request = ExportTraceServiceRequest.FromString(base64.b64decode(packet[33:]))
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            names += [s.name for s in scope_spans.spans]
    return names


def test_the_reviewers_span_no_longer_costs_the_others() -> None:
    """Five spans and one with ``http.url`` = ``http://[fe80::1%eth0/x``: all six arrive."""
    spans = [_span(f"ok{i}", SpanKind.INTERNAL, {}) for i in range(5)]
    spans.append(_span("GET", SpanKind.CLIENT, {"http.url": BAD_URL}))
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    exporter = XRayOtlpUdpExporter(receiver.getsockname())
    try:
        assert exporter.export_before(spans, Deadline.within_ms(500)) is ExportOutcome.SENT
        assert sorted(_received(receiver)) == ["GET", "ok0", "ok1", "ok2", "ok3", "ok4"]
        assert exporter.dropped_spans == 0
    finally:
        exporter.shutdown()
        receiver.close()


def _unencodable(name: str) -> ReadableSpan:
    """A span the real encoder cannot write: a parent span id over 64 bits (as a custom
    propagator could produce), ``int.to_bytes(8)`` raises OverflowError."""
    return _span(name, SpanKind.CLIENT, {"http.url": BAD_URL},
                 parent=SpanContext(TRACE_ID, 2**64 + 5, True))  # fmt: skip


def test_a_span_that_cannot_be_encoded_is_dropped_alone_counted_and_warned_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    exporter = XRayOtlpUdpExporter(receiver.getsockname())
    try:
        with caplog.at_level(logging.WARNING, logger="otel_xray"):
            for _ in range(2):
                spans = [_span(f"ok{i}", SpanKind.INTERNAL, {}) for i in range(3)]
                spans.insert(1, _unencodable("broken"))
                assert exporter.export_before(spans, Deadline.within_ms(500)) is ExportOutcome.SENT
                assert sorted(_received(receiver)) == ["ok0", "ok1", "ok2"]
        assert exporter.dropped_spans == 2
        [warning] = [r.getMessage() for r in caplog.records]
        assert "'broken'" in warning and "OverflowError" in warning
    finally:
        exporter.shutdown()
        receiver.close()


def test_the_otlp_http_exporter_drops_only_the_span_it_cannot_encode(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exporter = LambdaOTLPExporter("http://127.0.0.1:9/v1/traces", app_signals=True)
    spans = [_span(f"ok{i}", SpanKind.INTERNAL, {}) for i in range(3)]
    spans.append(_span("GET", SpanKind.CLIENT, {"url.full": BAD_URL}))
    spans.insert(1, _unencodable("broken"))
    with caplog.at_level(logging.WARNING, logger="otel_xray"):
        batches = exporter._batches(spans)
    assert [count for count, _ in batches] == [4]
    names = [
        s.name
        for r in ExportTraceServiceRequest.FromString(batches[0][1]).resource_spans
        for ss in r.scope_spans
        for s in ss.spans
    ]
    assert sorted(names) == ["GET", "ok0", "ok1", "ok2"]
    assert exporter.dropped_spans == 1 and "'broken'" in caplog.text
