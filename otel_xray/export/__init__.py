"""Getting spans out: the exporter contract, the deadline, and the exporters.

Why a contract of our own: the SDK's ``SpanExporter.export`` has no deadline and a
boolean-ish result, so an exporter can neither be told "you have 120 ms left in
this invocation" nor say "the collector is down, keep these for later" versus
"these were rejected, drop them". The invocation span processor
(:mod:`otel_xray.export.processor`) needs both.

The package, one concern a module, each imported only when the settings use it:

* here: :class:`Deadline`, :class:`ExportOutcome`, :class:`BoundedExporter`;
* :mod:`~otel_xray.export.processor`: buffer an invocation's spans, send them by a deadline;
* :mod:`~otel_xray.export.batch`: the SDK's batch worker, for processes outside Lambda;
* :mod:`~otel_xray.export.xray_udp`: segment documents to the X-Ray daemon over UDP;
* :mod:`~otel_xray.export.otlp`: OTLP/HTTP protobuf to a collector;
* :mod:`~otel_xray.export.console`: one JSON line a span on stdout.

Example:
    >>> deadline = Deadline.within_ms(250)
    >>> 0.0 < deadline.remaining() <= 0.25
    True
    >>> class Ctx:
    ...     def get_remaining_time_in_millis(self): return 120
    >>> Deadline.for_invocation(Ctx(), setting_ms=1000).remaining() <= 0.07
    True
"""

from __future__ import annotations

import enum
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

#: Kept free at the end of an invocation for the runtime to post the response.
FLUSH_SAFETY_MARGIN_MS = 50


class Deadline(NamedTuple):
    """A point on the monotonic clock by which an export or a flush must return.

    Made once per flush, from milliseconds (what Lambda's context and the settings
    speak), and passed down unchanged; :meth:`remaining` gives seconds, what socket
    timeouts and lock waits take.
    """

    at: float

    @classmethod
    def within_ms(cls, milliseconds: float) -> Deadline:
        """``milliseconds`` from now (a negative value is now)."""
        return cls(time.monotonic() + max(milliseconds, 0) / 1000)

    @classmethod
    def for_invocation(cls, context: Any, setting_ms: int) -> Deadline:
        """``min(setting, remaining time - margin)`` from now, never in the past.

        ``context`` is Lambda's context object; anything without a numeric
        ``get_remaining_time_in_millis()`` leaves the setting alone.
        """
        bound: float = setting_ms
        try:
            remaining = context.get_remaining_time_in_millis()
            if isinstance(remaining, int | float) and not isinstance(remaining, bool):
                bound = min(bound, int(remaining) - FLUSH_SAFETY_MARGIN_MS)
        except Exception:
            pass
        return cls.within_ms(bound)

    def remaining(self) -> float:
        """Seconds left, at least 0."""
        return max(self.at - time.monotonic(), 0.0)

    def expired(self) -> bool:
        return time.monotonic() >= self.at


class ExportOutcome(enum.Enum):
    """Result of one bounded export attempt."""

    SENT = "sent"
    #: Not delivered, may succeed later (endpoint down, slow, 429, 5xx): keep the spans.
    RETRY = "retry"
    #: Not deliverable (malformed, rejected with 4xx): count them as lost.
    DROP = "drop"


@runtime_checkable
class BoundedExporter(Protocol):
    """An exporter that returns by its deadline and says what became of the spans."""

    def export_before(self, spans: Sequence[ReadableSpan], deadline: Deadline) -> ExportOutcome:
        """Send ``spans``, giving up at ``deadline``; never raises."""

    def reopen(self) -> None:
        """Forget sockets and connections inherited from a parent process (fork, restore)."""

    def shutdown(self) -> None:
        """Release sockets; idempotent."""
