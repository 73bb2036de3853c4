"""OTLP datagrams to the daemon: ADOT's format, cut to fit, on generated spans.

Format: aws-otel-python-instrumentation, ``aws-opentelemetry-distro/src/amazon/
opentelemetry/distro/otlp_udp_exporter.py``, ``UdpExporter.send_data`` (header line, then
``T1S``/``T1U``, then base64 protobuf) and ``OTLPUdpSpanExporter.export``. The limit:
65,507 bytes, the largest IPv4 UDP payload (Linux refuses larger with EMSGSIZE).
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

from otel_xray.devtools.components.daemon import parse_otlp_datagram
from otel_xray.export import Deadline, ExportOutcome, xray_otlp_udp
from otel_xray.export.otlp_proto import RequestSize, encode_span, group, request_from_groups
from otel_xray.export.xray_otlp_udp import (
    MAX_PROTOBUF_BYTES,
    MAX_UDP_PAYLOAD,
    XRayOtlpUdpExporter,
    datagrams,
)

HEADER = b'{"format":"json","version":1}\n'


#: Scopes as instrumentations name them, long enough that their headers matter: a request
#: carries one ``ScopeSpans`` header per (resource, scope) it holds (``request_from_groups``).
SCOPES = [
    InstrumentationScope(
        f"opentelemetry.instrumentation.library_number_{i}_with_a_rather_long_module_name" * 3,
        f"0.{i}5b0+build.{'x' * 40 * i}",
        f"https://opentelemetry.io/schemas/1.{i}.0/" + "y" * 30 * i,
        {"scope.attribute": "z" * 25 * i} if i % 2 else None,
    )
    for i in range(12)
]
RESOURCES = [
    Resource({"service.name": "checkout"}),
    Resource({"service.name": "payments", "deployment.environment": "prod" * 20}, "s" * 90),
]


def _span(
    number: int, size: int, sampled: bool, scope: int | None = None, resource: int = 0
) -> ReadableSpan:
    return ReadableSpan(
        name=f"s{number}",
        context=SpanContext(
            0x5759E988BD862E3FE1BE46A994272793, number + 1, False, TraceFlags(int(sampled))
        ),
        parent=SpanContext(0x5759E988BD862E3FE1BE46A994272793, 0xABC, False),
        kind=SpanKind.CLIENT,
        resource=RESOURCES[resource],
        attributes={"pad": "x" * size},
        start_time=1,
        end_time=2,
        instrumentation_scope=None if scope is None else SCOPES[scope],
    )


#: (pad size, sampled, scope index or None, resource index). Hypothesis favours short
#: lists; the second kind fills datagrams with spans of several scopes, so the headers of
#: the scopes after the first decide whether a datagram overflows.
_SPEC = st.tuples(
    st.one_of(st.integers(0, 70_000), st.integers(1_000, 8_000), st.integers(0, 600)),
    st.booleans(),
    st.one_of(st.none(), st.integers(0, 11)),
    st.integers(0, 1),
)
_FILLING = st.tuples(
    st.integers(1_000, 9_000), st.just(True), st.integers(0, 11), st.integers(0, 1)
)
SPECS = st.one_of(
    st.lists(_SPEC, max_size=60),
    st.lists(st.one_of(_FILLING, _SPEC), min_size=10, max_size=40),
)


@settings(max_examples=80, deadline=None)
@given(SPECS)
def test_every_span_is_in_exactly_one_datagram_or_counted_as_too_large(
    specs: list[tuple[int, bool, int | None, int]],
) -> None:
    spans = [_span(i, *spec) for i, spec in enumerate(specs)]
    packets, too_large = datagrams(spans)
    seen: dict[str, bool] = {}
    for packet in packets:
        assert len(packet) <= MAX_UDP_PAYLOAD
        assert packet.startswith(HEADER)
        prefix, payload = packet[len(HEADER) : len(HEADER) + 3], packet[len(HEADER) + 3 :]
        assert prefix in (b"T1S", b"T1U")
        request = ExportTraceServiceRequest.FromString(base64.b64decode(payload, validate=True))
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    assert span.name not in seen
                    seen[span.name] = prefix == b"T1S"
    assert len(seen) + too_large == len(spans)
    for i, (_size, sampled, _scope, _resource) in enumerate(specs):
        if f"s{i}" in seen:
            assert seen[f"s{i}"] == sampled  # T1S for sampled spans, T1U for the others
    # A span is only left out when it alone would not fit.
    assert all(len(s.attributes["pad"]) > MAX_PROTOBUF_BYTES - 1_500 for s in spans  # type: ignore[arg-type]
               if s.name not in seen)  # fmt: skip


def test_datagrams_of_many_scopes_each_fit_the_limit() -> None:
    """The reviewer's case, made deterministic: 12 scopes with long names and versions,
    spans sized so a datagram packs nearly 49,104 bytes of span data. Counting the
    resource and scope header once per datagram (not once per scope in it) let datagrams
    reach 65,777 bytes, which Linux refuses with EMSGSIZE."""
    for total in range(100, 400, 7):
        spans = [_span(i, 50 + (i * 37) % 4000, True, i % len(SCOPES)) for i in range(total)]
        packets, too_large = datagrams(spans)
        assert too_large == 0
        assert max(len(p) for p in packets) <= MAX_UDP_PAYLOAD


@settings(max_examples=80, deadline=None)
@given(SPECS)
def test_request_size_is_an_upper_bound_of_the_encoded_request(
    specs: list[tuple[int, bool, int | None, int]],
) -> None:
    """``RequestSize`` never under-counts what ``request_from_groups`` writes."""
    spans = [_span(i, *spec) for i, spec in enumerate(specs)]
    size = RequestSize()
    encoded = []
    for span in spans:
        data = encode_span(span)
        size.add(span, size.cost(span, data))
        encoded.append((span, data))
        assert len(request_from_groups(group(encoded))) <= size.bytes


def test_the_daemon_stand_in_reads_them_and_names_what_it_cannot() -> None:
    [packet], _ = datagrams([_span(1, 10, True)])
    spans, documents, reason = parse_otlp_datagram(packet)
    assert reason == "" and [s["name"] for s in spans] == ["s1"]
    assert documents[0]["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    _, _, broken = parse_otlp_datagram(HEADER + b"T1S!!not base64!!")
    assert "does not decode" in broken


def test_a_datagram_the_kernel_refuses_is_counted_warned_once_and_not_sent(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A real refusal by Linux: a 70,000-byte datagram (EMSGSIZE, over the 65,507 an IPv4
    UDP payload may have), then a send to port 0 (EINVAL). Before, the error was logged at
    debug level only and the export reported SENT."""
    spans = [_span(1, 10, True)]
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    try:
        exporter = XRayOtlpUdpExporter(receiver.getsockname())
        monkeypatch.setattr(
            xray_otlp_udp, "datagrams", lambda *_a, **_k: ([b"x" * 70_000, b"y" * 100], 0)
        )
        with caplog.at_level(logging.DEBUG, logger="otel_xray"):
            assert exporter.export_before(spans, Deadline.within_ms(500)) is ExportOutcome.DROP
            assert exporter.failed_datagrams == 1 and exporter.sent_datagrams == 1
            monkeypatch.undo()
            exporter.address = ("127.0.0.1", 0)
            assert exporter.export_before(spans, Deadline.within_ms(500)) is ExportOutcome.DROP
        assert exporter.failed_datagrams == 2
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1 and "70000-byte datagram" in warnings[0].getMessage()
        assert receiver.recv(200) == b"y" * 100
    finally:
        exporter.shutdown()
        receiver.close()
