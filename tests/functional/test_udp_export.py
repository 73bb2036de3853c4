"""The xray-udp exporter against a real UDP socket standing in for the X-Ray daemon."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from opentelemetry import trace

from otel_xray.export import Deadline, ExportOutcome
from otel_xray.export.processor import InvocationSpanProcessor
from otel_xray.export.xray_udp import XRayUdpExporter
from otel_xray.settings import Settings, parse_daemon_address
from otel_xray.xray import DAEMON_HEADER
from tests.functional.test_segment_documents import LAMBDA_SEGMENT, finished

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "data" / "xray-segmentdocument-schema-v1.0.0.json").read_text()
)


@pytest.fixture
def daemon() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    yield sock
    sock.close()


def test_each_span_is_one_datagram_with_the_daemon_header(daemon: socket.socket) -> None:
    exporter = XRayUdpExporter(daemon.getsockname())
    processor = InvocationSpanProcessor(exporter, 100)
    spans = [
        finished("order-api"),
        finished(
            "DynamoDB.PutItem",
            trace.SpanKind.CLIENT,
            {"rpc.system": "aws-api", "rpc.service": "DynamoDB"},
        ),
    ]
    for span in spans:
        processor.on_end(span)
    started = time.monotonic()
    assert processor.flush(Deadline.within_ms(1000)) is True
    assert time.monotonic() - started < 0.1
    documents = []
    for _ in spans:
        datagram = daemon.recv(65536)
        header, _, body = datagram.partition(b"\n")
        assert header + b"\n" == DAEMON_HEADER
        document = json.loads(body)
        jsonschema.validate(document, SCHEMA)
        documents.append(document)
    assert {d["name"] for d in documents} == {"order-api", "DynamoDB"}
    assert all(d["parent_id"] == f"{LAMBDA_SEGMENT.span_id:016x}" for d in documents)
    assert exporter.sent_documents == 2


def test_an_absent_daemon_costs_nothing_and_raises_nothing() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        address = probe.getsockname()
    exporter = XRayUdpExporter(address)  # nobody listens there any more
    processor = InvocationSpanProcessor(exporter, 100)
    for _ in range(50):
        processor.on_end(finished("work"))
    started = time.monotonic()
    processor.flush(Deadline.within_ms(1000))
    processor.on_end(finished("again"))
    processor.flush(Deadline.within_ms(1000))
    assert time.monotonic() - started < 0.2


def test_an_unresolvable_daemon_is_counted_not_raised() -> None:
    exporter = XRayUdpExporter(("no-such-host.invalid", 2000))
    processor = InvocationSpanProcessor(exporter, 100)
    processor.on_end(finished("work"))
    processor.flush(Deadline.within_ms(1000))
    assert exporter.failed_documents == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:2000", ("127.0.0.1", 2000)),
        ("tcp:127.0.0.1:2000 udp:169.254.79.129:3000", ("169.254.79.129", 3000)),
        ("udp:10.0.0.1:2000 tcp:10.0.0.2:2001", ("10.0.0.1", 2000)),
        ("[::1]:2000", ("::1", 2000)),
        ("localhost", None),
        ("127.0.0.1:99999", None),
        ("udp:127.0.0.1:2000", None),
        ("tcp:1.2.3.4:1 tcp:1.2.3.4:2", None),
        ("a:1 b:2 c:3", None),
    ],
)
def test_daemon_address_forms(value: str, expected: tuple[str, int] | None) -> None:
    assert parse_daemon_address(value) == expected


def test_a_malformed_daemon_address_is_a_clear_error_with_the_default() -> None:
    settings = Settings.from_env({"AWS_XRAY_DAEMON_ADDRESS": "localhost"})
    assert settings.daemon_udp_address == ("127.0.0.1", 2000)
    assert settings.errors[0].variable == "AWS_XRAY_DAEMON_ADDRESS"


def test_a_datagram_the_kernel_refuses_is_counted_warned_once_and_not_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The same rule as the OTLP datagram exporter (one UDP sender serves both): a send
    the kernel refuses (port 0: EINVAL) is lost, so the export is not SENT; it is warned
    about once, then only counted. Before, xray-udp logged it at debug level and said
    SENT."""
    exporter = XRayUdpExporter(("127.0.0.1", 0))
    with caplog.at_level(logging.DEBUG, logger="otel_xray"):
        for _ in range(3):
            outcome = exporter.export_before([finished("work")], Deadline.within_ms(500))
            assert outcome is ExportOutcome.DROP
    assert exporter.failed_documents == 3 and exporter.sent_documents == 0
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "127.0.0.1" in warnings[0].getMessage()
