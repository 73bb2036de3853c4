"""OTLP datagrams to the daemon: ADOT's format, cut to fit, on generated spans.

Format: aws-otel-python-instrumentation, ``aws-opentelemetry-distro/src/amazon/
opentelemetry/distro/otlp_udp_exporter.py``, ``UdpExporter.send_data`` (header line, then
``T1S``/``T1U``, then base64 protobuf) and ``OTLPUdpSpanExporter.export``. The limit:
65,507 bytes, the largest IPv4 UDP payload (Linux refuses larger with EMSGSIZE).
"""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

from otel_xray.devtools.components.daemon import parse_otlp_datagram
from otel_xray.export.xray_otlp_udp import MAX_PROTOBUF_BYTES, MAX_UDP_PAYLOAD, datagrams

HEADER = b'{"format":"json","version":1}\n'


def _span(number: int, size: int, sampled: bool) -> ReadableSpan:
    return ReadableSpan(
        name=f"s{number}",
        context=SpanContext(
            0x5759E988BD862E3FE1BE46A994272793, number + 1, False, TraceFlags(int(sampled))
        ),
        parent=SpanContext(0x5759E988BD862E3FE1BE46A994272793, 0xABC, False),
        kind=SpanKind.CLIENT,
        resource=Resource({"service.name": "checkout"}),
        attributes={"pad": "x" * size},
        start_time=1,
        end_time=2,
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 70_000), st.booleans()), max_size=40))
def test_every_span_is_in_exactly_one_datagram_or_counted_as_too_large(
    specs: list[tuple[int, bool]],
) -> None:
    spans = [_span(i, size, sampled) for i, (size, sampled) in enumerate(specs)]
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
    for i, (_size, sampled) in enumerate(specs):
        if f"s{i}" in seen:
            assert seen[f"s{i}"] == sampled  # T1S for sampled spans, T1U for the others
    # A span is only left out when it alone would not fit.
    assert all(len(s.attributes["pad"]) > MAX_PROTOBUF_BYTES - 600 for s in spans  # type: ignore[arg-type]
               if s.name not in seen)  # fmt: skip


def test_the_daemon_stand_in_reads_them_and_names_what_it_cannot() -> None:
    [packet], _ = datagrams([_span(1, 10, True)])
    spans, documents, reason = parse_otlp_datagram(packet)
    assert reason == "" and [s["name"] for s in spans] == ["s1"]
    assert documents[0]["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    _, _, broken = parse_otlp_datagram(HEADER + b"T1S!!not base64!!")
    assert "does not decode" in broken
