"""Buffer the spans of an invocation and send them before it returns, within a bound.

Why not the SDK's ``BatchSpanProcessor`` in Lambda: its worker thread is frozen
between invocations (spans sit in the queue, sometimes for good), and its
``force_flush`` ignores the timeout it is given (opentelemetry-python #4568), so a
slow collector stalls the function. Here nothing runs in the background: spans are
buffered as they end and sent by the wrapper at the end of the invocation, in its
own thread, until a deadline. A retryable failure keeps the spans for the next
flush (up to ``max_queue_size``); what cannot be kept is counted and logged once per
sandbox, not once per span. An endpoint that used the whole bound without answering
(a slow or hung collector) is not tried again for :data:`PAUSE_AFTER_TIMEOUT`
seconds: the spans wait in the buffer, and the invocations in between pay nothing.

A processor in front of this one may hand over its per-span work with
:meth:`InvocationSpanProcessor.prepare_at_flush`: the PII redactor does, so ``on_end``
only appends the span, and redaction runs in :meth:`~InvocationSpanProcessor.flush`,
which on Lambda comes after the response (:mod:`otel_xray.awslambda`) instead of on the
caller's path at every span's end. A span is exported only as ``prepare`` returned it,
and never when ``prepare`` returned None or raised (counted as dropped): privacy still
fails closed.

Example:
    >>> from otel_xray.export import Deadline, ExportOutcome
    >>> class Sink:
    ...     def export_before(self, spans, deadline): return ExportOutcome.SENT
    ...     def reopen(self): pass
    ...     def shutdown(self): pass
    >>> processor = InvocationSpanProcessor(Sink(), max_queue_size=10)
    >>> processor.flush(Deadline.within_ms(100))
    True
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from otel_xray.export import BoundedExporter, Deadline, ExportOutcome

logger = logging.getLogger("otel_xray")

#: Spans per export call; keeps one OTLP request well under collector limits.
EXPORT_CHUNK = 512
#: After an export that ran out of time, flushes skip the endpoint this long (seconds).
PAUSE_AFTER_TIMEOUT = 2.0
#: What :meth:`InvocationSpanProcessor.shutdown` still tries to send.
SHUTDOWN_FLUSH_MS = 500

#: Work done on each span at flush time, before export: the span to export, or None to
#: drop it (see :meth:`InvocationSpanProcessor.prepare_at_flush`).
Prepare = Callable[[ReadableSpan], ReadableSpan | None]


class ExportStats:
    """What happened to the spans of this sandbox, for tests, logs and benchmarks.

    A plain class, not a dataclass (see :mod:`otel_xray.settings`: import-time cost).
    """

    def __init__(self) -> None:
        self.ended = 0
        self.sent = 0
        #: Deliverable but not delivered yet; still buffered.
        self.retried_exports = 0
        #: Lost: queue full, or rejected by the endpoint.
        self.dropped = 0
        #: Flushes that did not try the endpoint because it had just timed out.
        self.paused_flushes = 0

    def __repr__(self) -> str:
        return f"ExportStats({', '.join(f'{k}={v}' for k, v in vars(self).items())})"


class InvocationSpanProcessor(SpanProcessor):
    """Buffers sampled spans; :meth:`flush` sends them within a deadline."""

    def __init__(
        self,
        exporter: BoundedExporter | None = None,
        max_queue_size: int = 2048,
        *,
        make_exporter: Callable[[], BoundedExporter] | None = None,
    ) -> None:
        """``exporter``, or ``make_exporter`` to make it at the first flush: on Lambda that
        comes after the response, so the exporter's modules (the translator, sockets,
        protobuf) are not imported during init."""
        if (exporter is None) == (make_exporter is None):
            raise TypeError("give exactly one of exporter and make_exporter")
        self._made: BoundedExporter | None = exporter
        self._make_exporter = make_exporter
        self._max_queue_size = max_queue_size
        #: Ended spans, as they ended (``prepare`` not yet run).
        self._queue: list[ReadableSpan] = []
        #: Prepared spans an export could not send yet (retried first at the next flush).
        self._ready: list[ReadableSpan] = []
        self._prepare: Prepare | None = None
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._warned: set[str] = set()
        self._paused_until = 0.0
        self.stats = ExportStats()

    @property
    def _exporter(self) -> BoundedExporter:
        exporter = self._made
        if exporter is None:  # only flush() gets here, under the flush lock
            assert self._make_exporter is not None
            exporter = self._made = self._make_exporter()
        return exporter

    def prepare_at_flush(self, prepare: Prepare) -> None:
        """Run ``prepare`` on each span at flush time, once, before it is exported."""
        self._prepare = prepare

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if not span.context or not span.context.trace_flags.sampled:
            return
        with self._lock:
            self.stats.ended += 1
            if len(self._queue) + len(self._ready) < self._max_queue_size:
                self._queue.append(span)
                return
            self.stats.dropped += 1
        self._warn_once("queue", "span queue full (%d); dropping spans", self._max_queue_size)

    def flush(self, deadline: Deadline) -> bool:
        """Send what is buffered by ``deadline``; True when nothing is left. Never raises."""
        if not self._flush_lock.acquire(timeout=deadline.remaining()):
            return False
        try:
            if time.monotonic() < self._paused_until:
                self.stats.paused_flushes += 1
                return not self._queue and not self._ready
            with self._lock:
                ended, self._queue = self._queue, []
                ready, self._ready = self._ready, []
            pending = ready + self._prepared(ended)
            kept = self._send(pending, deadline)
            if kept:
                self._requeue(kept)
            return not kept
        except Exception:
            logger.exception("otel-xray: flush failed")
            return False
        finally:
            self._flush_lock.release()

    def _prepared(self, spans: list[ReadableSpan]) -> list[ReadableSpan]:
        prepare = self._prepare
        if prepare is None:
            return spans
        out: list[ReadableSpan] = []
        for span in spans:
            try:
                prepared = prepare(span)
            except Exception:
                prepared = None
                logger.debug("otel-xray: preparing a span failed", exc_info=True)
            if prepared is None:
                self.stats.dropped += 1
            else:
                out.append(prepared)
        return out

    def forget_inherited(self) -> None:
        """In a forked child: the parent sends its own buffered spans; reopen the exporter.

        Runs in the child right after ``fork()``, where a lock another parent thread
        held is held for good: the locks are made anew, never acquired.
        """
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._queue = []
        self._ready = []
        self._paused_until = 0.0
        if self._made is not None:  # never made: nothing inherited to forget
            self._made.reopen()

    def _send(self, spans: Sequence[ReadableSpan], deadline: Deadline) -> list[ReadableSpan]:
        for start in range(0, len(spans), EXPORT_CHUNK):
            chunk = spans[start : start + EXPORT_CHUNK]
            if deadline.expired():
                return list(spans[start:])
            started = time.monotonic()
            try:
                outcome = self._exporter.export_before(chunk, deadline)
            except Exception:
                logger.exception("otel-xray: exporter raised")
                outcome = ExportOutcome.DROP
            if outcome is ExportOutcome.SENT:
                self.stats.sent += len(chunk)
            elif outcome is ExportOutcome.DROP:
                self.stats.dropped += len(chunk)
                self._warn_once("drop", "the exporter rejected %d spans; they are lost", len(chunk))
            else:
                self.stats.retried_exports += 1
                finished = time.monotonic()
                if finished - started > 0.05 and deadline.at - finished <= 0.01:
                    self._paused_until = finished + PAUSE_AFTER_TIMEOUT
                self._warn_once(
                    "retry",
                    "could not export spans; keeping up to %d for the next flush",
                    self._max_queue_size,
                )
                return list(spans[start:])
        return []

    def _requeue(self, spans: list[ReadableSpan]) -> None:
        """Keep prepared spans for the next flush, within the queue's size with the spans
        that ended meanwhile; the oldest go first: they are the likeliest to be stale."""
        with self._lock:
            overflow = len(spans) + len(self._queue) - self._max_queue_size
            if overflow > 0:
                self.stats.dropped += overflow
                spans = spans[overflow:]
            self._ready = spans

    def _warn_once(self, kind: str, message: str, arg: int) -> None:
        # An exporter that logs each kind of failure once itself, with its cause and fix
        # (the OTLP exporter), is not repeated here in general terms.
        if getattr(self._made, "explains_failures", False):
            logger.debug("otel-xray: " + message, arg)
            return
        if kind not in self._warned:
            self._warned.add(kind)
            logger.warning("otel-xray: " + message, arg)

    @property
    def queued(self) -> int:
        return len(self._queue) + len(self._ready)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """The SDK's flush (``TracerProvider.force_flush``): the same, bounded in its unit."""
        return self.flush(Deadline.within_ms(timeout_millis))

    def shutdown(self) -> None:
        self.flush(Deadline.within_ms(SHUTDOWN_FLUSH_MS))
        if self._made is not None:
            self._made.shutdown()
