"""``OTEL_TRACES_EXPORTER=console``: each span as one JSON line on stdout (debugging)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan

from otel_xray.export import Deadline, ExportOutcome


class ConsoleExporter:
    """Writes each span as one JSON line to stdout."""

    def export_before(self, spans: Sequence[ReadableSpan], deadline: Deadline) -> ExportOutcome:
        for span in spans:
            sys.stdout.write(span.to_json(indent=None) + "\n")
        return ExportOutcome.SENT

    def reopen(self) -> None:
        return None

    def shutdown(self) -> None:
        return None
