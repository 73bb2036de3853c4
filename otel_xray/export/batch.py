"""The SDK's batch worker behind a :class:`~otel_xray.export.BoundedExporter`, outside Lambda.

A long-running process (a container, a script under ``opentelemetry-instrument``)
is not frozen between requests, so upstream's ``BatchSpanProcessor`` and its worker
thread are right there. This module only fits our exporters under it and gives it
the same ``flush(deadline)`` handle the Lambda processor has, one that returns by its
deadline (the SDK's ``force_flush`` ignores its timeout).
"""

from __future__ import annotations

import threading
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
        self._flush_lock = threading.Lock()
        #: The flush thread of the last flush() and where it puts its result.
        self._flushing: tuple[threading.Thread, list[bool]] | None = None

    def shutdown(self) -> None:
        self._batch_processor.shutdown(timeout_millis=self._shutdown_timeout_ms)

    def flush(self, deadline: Deadline) -> bool:
        """Send what is queued, returning by ``deadline``: False when it did not finish.

        The SDK's ``force_flush`` ignores its timeout (``BatchProcessor.force_flush``
        exports everything, however long the exporter takes), so it runs on a daemon
        thread joined until the deadline. A flush still running from an earlier call is
        waited for rather than doubled, then a new one sends what was queued since.
        """
        for _ in range(2):
            with self._flush_lock:
                flushing = self._flushing
                if flushing is None or not flushing[0].is_alive():
                    flushing = self._start_flush()
                    fresh = True
                else:
                    fresh = False
            flushing[0].join(max(deadline.remaining(), 0.0))
            if flushing[0].is_alive():
                return False
            if fresh:
                return flushing[1][0]
        return False

    def _start_flush(self) -> tuple[threading.Thread, list[bool]]:
        result = [False]

        def run() -> None:
            try:
                # The SDK's own unit, once, at its boundary.
                result[0] = self.force_flush(self._shutdown_timeout_ms)
            except Exception:
                result[0] = False

        thread = threading.Thread(target=run, name="otel-xray-flush", daemon=True)
        self._flushing = (thread, result)
        thread.start()
        return self._flushing

    def forget_inherited(self) -> None:
        """In a forked child (a gunicorn worker): the SDK re-creates its worker thread and
        empties its queue itself (``BatchProcessor._at_fork_reinit``), so no span buffered in
        the parent is sent twice; our exporter's socket is the parent's, so it reopens."""
        exporter = self.span_exporter
        if isinstance(exporter, SpanExporterAdapter):
            exporter.exporter.reopen()
