"""Helpers for testing code traced by otel-xray, in-process (not shipped in the layer).

Example (a pytest test of a user's handler):

    from otel_xray.testing import capture_lambda_spans

    def test_my_handler():
        with capture_lambda_spans() as spans:
            my_handler({"id": 1}, None)
        assert [s.name for s in spans][-1] == "my-function"
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from opentelemetry.sdk.trace import ReadableSpan

from otel_xray.export import ExportOutcome

LAMBDA_ENV: dict[str, str] = {
    "AWS_LAMBDA_FUNCTION_NAME": "my-function",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/my-function",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/25/[$LATEST]0123456789abcdef",
    "AWS_REGION": "us-east-1",
}


class InMemoryExporter:
    """Keeps exported spans in ``spans``; ``outcome`` sets what each export returns."""

    def __init__(self, outcome: ExportOutcome = ExportOutcome.SENT) -> None:
        self.spans: list[ReadableSpan] = []
        self.outcome = outcome
        self.calls = 0
        self._lock = threading.Lock()

    def export_before(self, spans: Sequence[ReadableSpan], deadline: float) -> ExportOutcome:
        with self._lock:
            self.calls += 1
            if self.outcome is ExportOutcome.SENT:
                self.spans.extend(spans)
        return self.outcome

    def shutdown(self) -> None:
        return None


@contextmanager
def capture_lambda_spans(
    environ: Mapping[str, str] | None = None, instrument: bool = False
) -> Iterator[list[ReadableSpan]]:
    """Configure tracing as in Lambda with an in-memory exporter; yields the exported spans.

    Spans appear in the list when an invocation (or :func:`flush`) sends them.
    """
    from otel_xray.configurator import configure

    exporter = InMemoryExporter()
    env = {**LAMBDA_ENV, **(environ or {})}
    tracing = configure(environ=env, exporter=exporter, instrument=instrument)
    try:
        yield exporter.spans
    finally:
        if tracing is not None:
            tracing.flush(1.0)
