"""What every otel-xray exporter promises: a deadline, and an outcome that says retry or not.

The SDK's ``SpanExporter.export`` has no deadline and a boolean-ish result, so an
exporter can neither be told "you have 120 ms left in this invocation" nor say
"the collector is down, keep these for later" versus "these were rejected, drop
them". The invocation flush (:mod:`otel_xray.awslambda.flush`) needs both.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class ExportOutcome(enum.Enum):
    """Result of one bounded export attempt."""

    SENT = "sent"
    #: Not delivered, may succeed later (endpoint down, slow, 429, 5xx): keep the spans.
    RETRY = "retry"
    #: Not deliverable (malformed, rejected with 4xx): count them as lost.
    DROP = "drop"


@runtime_checkable
class BoundedExporter(Protocol):
    """An exporter that returns by ``deadline`` (a ``time.monotonic()`` value)."""

    def export_before(self, spans: Sequence[ReadableSpan], deadline: float) -> ExportOutcome:
        """Send ``spans``, giving up at ``deadline``; never raises."""

    def shutdown(self) -> None:
        """Release sockets; idempotent."""


class SpanExporterAdapter(SpanExporter):
    """A :class:`BoundedExporter` as an SDK ``SpanExporter``, for ``BatchSpanProcessor``."""

    def __init__(self, exporter: BoundedExporter, timeout_millis: int) -> None:
        self._exporter = exporter
        self._timeout = timeout_millis / 1000

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        import time

        outcome = self._exporter.export_before(spans, time.monotonic() + self._timeout)
        return (
            SpanExportResult.SUCCESS if outcome is ExportOutcome.SENT else SpanExportResult.FAILURE
        )

    def shutdown(self) -> None:
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class ConsoleExporter:
    """Writes each span as one JSON line to stdout (``OTEL_TRACES_EXPORTER=console``)."""

    def export_before(self, spans: Sequence[ReadableSpan], deadline: float) -> ExportOutcome:
        import sys

        for span in spans:
            sys.stdout.write(span.to_json(indent=None) + "\n")
        return ExportOutcome.SENT

    def shutdown(self) -> None:
        return None
