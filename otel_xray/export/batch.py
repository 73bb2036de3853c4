"""The SDK's batch worker behind a :class:`~otel_xray.export.BoundedExporter`, outside Lambda.

A long-running process (a container, a script under ``opentelemetry-instrument``)
is not frozen between requests, so upstream's ``BatchSpanProcessor`` and its worker
thread are right there. This module only fits our exporters under it and gives it
the same ``flush(deadline)`` handle the Lambda processor has.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from otel_xray.export import BoundedExporter, Deadline, ExportOutcome


class SpanExporterAdapter(SpanExporter):
    """A :class:`BoundedExporter` as an SDK ``SpanExporter``: each export gets its own bound."""

    def __init__(self, exporter: BoundedExporter, timeout_ms: int) -> None:
        self.exporter = exporter
        self._timeout_ms = timeout_ms

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        outcome = self.exporter.export_before(spans, Deadline.within_ms(self._timeout_ms))
        return (
            SpanExportResult.SUCCESS if outcome is ExportOutcome.SENT else SpanExportResult.FAILURE
        )

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class BatchExportProcessor(BatchSpanProcessor):
    """``BatchSpanProcessor`` with the pipeline's ``flush(deadline)`` handle, and a bounded
    shutdown.

    What a dead or slow endpoint can cost the service, by the SDK's own design
    (opentelemetry-sdk 1.45 ``_shared_internal.BatchProcessor``): ``on_end`` only appends
    to a deque of at most ``max_queue_size`` spans (beyond that the oldest are dropped and
    counted), and exports run on the worker thread, so a request never waits on the
    network and memory stays bounded. What is left is the exit: the SDK waits up to
    30 s for the worker to send what is queued. Here that wait is ``shutdown_timeout_ms``
    (``OTEL_XRAY_FLUSH_TIMEOUT_MS``); a worker still stuck in an export is a daemon
    thread and does not hold the process.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        max_queue_size: int | None = None,
        shutdown_timeout_ms: int = 30_000,
    ) -> None:
        # The SDK refuses (ValueError) an export batch larger than the queue, and its batch
        # is 512 (or OTEL_BSP_MAX_EXPORT_BATCH_SIZE) whatever the queue: a queue under 512
        # switched tracing off. A batch never needs to hold more than the queue.
        batch_size: int | None = None  # the SDK's: 512 or OTEL_BSP_MAX_EXPORT_BATCH_SIZE
        if max_queue_size is not None:
            default = int(BatchSpanProcessor._default_max_export_batch_size())  # type: ignore[no-untyped-call]
            batch_size = min(default, max_queue_size)
        super().__init__(exporter, max_queue_size=max_queue_size, max_export_batch_size=batch_size)
        self._shutdown_timeout_ms = shutdown_timeout_ms

    def shutdown(self) -> None:
        self._batch_processor.shutdown(timeout_millis=self._shutdown_timeout_ms)

    def flush(self, deadline: Deadline) -> bool:
        try:
            # The SDK's own unit, once, at its boundary.
            return self.force_flush(int(deadline.remaining() * 1000))
        except Exception:
            return False

    def forget_inherited(self) -> None:
        """In a forked child (a gunicorn worker): the SDK re-creates its worker thread and
        empties its queue itself (``BatchProcessor._at_fork_reinit``), so no span buffered in
        the parent is sent twice; our exporter's socket is the parent's, so it reopens."""
        exporter = self.span_exporter
        if isinstance(exporter, SpanExporterAdapter):
            exporter.exporter.reopen()
