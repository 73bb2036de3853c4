"""The batch worker outside a frozen Lambda (services, Lambda Managed Instances).

What the SDK does, read in opentelemetry-sdk 1.45
``opentelemetry/sdk/trace/export/__init__.py``: ``BatchSpanProcessor.__init__`` raises
``ValueError("max_export_batch_size must be less than or equal to max_queue_size")``
(``_validate_arguments``) and its export batch is 512 (or
``OTEL_BSP_MAX_EXPORT_BATCH_SIZE``) whatever the queue; ``force_flush(timeout_millis)``
ignores its timeout (``_shared_internal.BatchProcessor.force_flush`` waits for the
export to finish).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from otel_xray import configurator
from otel_xray.devtools.components.receiver import OTLPReceiver
from otel_xray.devtools.loopback import LoopbackHandler, LoopbackServer
from otel_xray.export import Deadline
from otel_xray.export.batch import BatchExportProcessor, SpanExporterAdapter
from otel_xray.export.otlp import LambdaOTLPExporter
from otel_xray.testing import LAMBDA_ENV, InMemoryExporter


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    configurator.reset()
    yield
    configurator.reset()


SERVICE = {"OTEL_SERVICE_NAME": "shop"}
MANAGED_INSTANCES = {**LAMBDA_ENV, "AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances"}


@pytest.mark.parametrize("environ", [SERVICE, MANAGED_INSTANCES], ids=["service", "managed"])
def test_a_queue_under_512_still_traces(environ: dict[str, str]) -> None:
    """OTEL_XRAY_MAX_QUEUE_SIZE=100: before, configure() returned None (tracing off)."""
    exporter = InMemoryExporter()
    tracing = configurator.configure(
        environ={**environ, "OTEL_XRAY_MAX_QUEUE_SIZE": "100"}, exporter=exporter,
        instrument=False,
    )  # fmt: skip
    assert tracing is not None and isinstance(tracing.exporting, BatchExportProcessor)
    for i in range(250):
        tracing.tracer().start_span(f"s{i}").end()
    assert tracing.flush(Deadline.within_ms(5000))
    # At most 100 queued at once; the worker drains as they come, so most arrive.
    assert 100 <= len(exporter.spans) <= 250
    assert {s.name for s in exporter.spans} <= {f"s{i}" for i in range(250)}


def test_a_queue_under_512_with_upstream_s_exporter_to_a_collector() -> None:
    """The other BatchExportProcessor construction: upstream's OTLPSpanExporter."""
    receiver = OTLPReceiver().start()
    try:
        tracing = configurator.configure(
            environ={
                **SERVICE,
                "OTEL_XRAY_MAX_QUEUE_SIZE": "100",
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.endpoint + "/v1/traces",
            },
            instrument=False,
        )
        assert tracing is not None
        for i in range(5):
            tracing.tracer().start_span(f"s{i}").end()
        assert tracing.flush(Deadline.within_ms(5000))
        assert sorted(s["name"] for s in receiver.spans) == [f"s{i}" for i in range(5)]
    finally:
        configurator.reset()
        receiver.stop()


class _SlowCollector(LoopbackHandler):
    """An OTLP/HTTP endpoint that takes ``delay`` seconds to answer each export."""

    delay = 2.0
    received = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(type(self).delay)
        type(self).received += 1
        self.reply(200, b"")


def _flush_threads() -> int:
    return sum(t.name == "otel-xray-flush" and t.is_alive() for t in threading.enumerate())


def test_flush_returns_by_its_deadline_when_an_export_takes_2_s() -> None:
    """A collector answering after 2 s, a 200 ms deadline: flush returns False within
    0.5 s (before, after the whole 2 s export). Flushes that time out wait for the one
    still running instead of starting more threads; a later flush with time enough
    returns True once everything is sent."""
    handler = type("Slow", (_SlowCollector,), {"received": 0})
    with LoopbackServer(handler) as server:
        exporter = LambdaOTLPExporter(f"http://{server.address}/v1/traces")
        processor = BatchExportProcessor(
            SpanExporterAdapter(exporter, 5_000), max_queue_size=100, shutdown_timeout_ms=3_000
        )
        provider = TracerProvider()
        provider.add_span_processor(processor)
        try:
            provider.get_tracer("t").start_span("slow").end()
            started = time.monotonic()
            assert processor.flush(Deadline.within_ms(200)) is False
            assert time.monotonic() - started < 0.5
            for _ in range(3):
                assert processor.flush(Deadline.within_ms(50)) is False
            assert _flush_threads() <= 1
            assert processor.flush(Deadline.within_ms(8_000)) is True
            assert handler.received == 1
        finally:
            processor.shutdown()
