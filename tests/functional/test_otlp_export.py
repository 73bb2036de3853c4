"""OTLP export from a Lambda invocation against real loopback endpoints."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.sdk.trace import TracerProvider

from otel_xray.devtools.components.receiver import OTLPReceiver
from otel_xray.export import Deadline, ExportOutcome
from otel_xray.export.otlp import LambdaOTLPExporter
from otel_xray.export.processor import InvocationSpanProcessor
from tests.ports import unused_port


class _ScriptedCollector(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    status = 200
    delay = 0.0
    received = 0

    def log_message(self, *args: object) -> None:
        return None

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(type(self).delay)
        type(self).received += 1
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def collector() -> Iterator[tuple[str, type[_ScriptedCollector]]]:
    handler = type("Collector", (_ScriptedCollector,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces", handler
    server.shutdown()
    server.server_close()


def _processor_with_spans(endpoint: str, count: int = 3) -> InvocationSpanProcessor:
    processor = InvocationSpanProcessor(LambdaOTLPExporter(endpoint), max_queue_size=100)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    for i in range(count):
        provider.get_tracer("t").start_span(f"span-{i}").end()
    return processor


def test_spans_reach_a_real_receiver_decoded() -> None:
    receiver = OTLPReceiver().start()
    try:
        processor = _processor_with_spans(receiver.endpoint + "/v1/traces")
        assert processor.flush(Deadline.within_ms(2000)) is True
        assert sorted(s["name"] for s in receiver.spans) == ["span-0", "span-1", "span-2"]
    finally:
        receiver.stop()


def test_closed_endpoint_returns_at_once_and_keeps_spans() -> None:
    processor = _processor_with_spans(f"http://127.0.0.1:{unused_port()}/v1/traces")
    started = time.monotonic()
    assert processor.flush(Deadline.within_ms(1000)) is False
    assert time.monotonic() - started < 0.5
    assert processor.queued == 3


def test_slow_collector_cannot_hold_the_invocation_past_the_bound(
    collector: tuple[str, type[_ScriptedCollector]],
) -> None:
    endpoint, handler = collector
    handler.delay = 3.0
    processor = _processor_with_spans(endpoint)
    started = time.monotonic()
    assert processor.flush(Deadline.within_ms(300)) is False
    assert time.monotonic() - started < 0.3 + 0.2
    assert processor.queued == 3


def test_server_errors_are_retried_on_the_next_flush(
    collector: tuple[str, type[_ScriptedCollector]],
) -> None:
    endpoint, handler = collector
    handler.status = 500
    processor = _processor_with_spans(endpoint)
    assert processor.flush(Deadline.within_ms(1000)) is False and processor.queued == 3
    handler.status = 200
    assert processor.flush(Deadline.within_ms(1000)) is True and processor.stats.sent == 3


def test_client_errors_drop_the_batch(collector: tuple[str, type[_ScriptedCollector]]) -> None:
    endpoint, handler = collector
    handler.status = 400
    processor = _processor_with_spans(endpoint)
    processor.flush(Deadline.within_ms(1000))
    assert processor.queued == 0 and processor.stats.dropped == 3


def test_a_kept_alive_connection_dropped_by_the_collector_reconnects(
    collector: tuple[str, type[_ScriptedCollector]],
) -> None:
    """The collector closes idle connections (as it may while the sandbox is frozen)."""
    endpoint, handler = collector
    original = handler.do_POST

    def post_then_hang_up(self: _ScriptedCollector) -> None:
        original(self)
        self.close_connection = True  # closes the socket without "Connection: close"

    handler.do_POST = post_then_hang_up  # type: ignore[method-assign]
    processor = _processor_with_spans(endpoint, 1)
    assert processor.flush(Deadline.within_ms(1000)) is True
    time.sleep(0.05)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    provider.get_tracer("t").start_span("after-freeze").end()
    assert processor.flush(Deadline.within_ms(1000)) is True
    assert handler.received == 2 and processor.stats.sent == 2


def test_bad_endpoints_are_rejected_clearly() -> None:
    with pytest.raises(ValueError, match="not an http"):
        LambdaOTLPExporter("localhost:4318")
    assert (
        LambdaOTLPExporter("http://127.0.0.1:1/v1/traces").export_before([], 0)
        is ExportOutcome.SENT
    )
