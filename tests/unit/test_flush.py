"""The invocation flush: bounded, keeps what can be retried, counts what is lost."""

from __future__ import annotations

import time
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

from otel_xray.export import Deadline, ExportOutcome
from otel_xray.export.processor import InvocationSpanProcessor
from otel_xray.testing import InMemoryExporter


def _spans(processor: InvocationSpanProcessor, count: int) -> None:
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    for i in range(count):
        tracer.start_span(f"s{i}").end()


def test_spans_are_buffered_until_flush() -> None:
    exporter = InMemoryExporter()
    processor = InvocationSpanProcessor(exporter, max_queue_size=100)
    _spans(processor, 3)
    assert exporter.spans == [] and processor.queued == 3
    assert processor.flush(Deadline.within_ms(1000)) is True
    assert [s.name for s in exporter.spans] == ["s0", "s1", "s2"]
    assert processor.stats.sent == 3


def test_retryable_failure_keeps_spans_for_the_next_flush() -> None:
    exporter = InMemoryExporter(ExportOutcome.RETRY)
    processor = InvocationSpanProcessor(exporter, max_queue_size=100)
    _spans(processor, 5)
    assert processor.flush(Deadline.within_ms(1000)) is False
    assert processor.queued == 5 and processor.stats.dropped == 0
    exporter.outcome = ExportOutcome.SENT
    assert processor.flush(Deadline.within_ms(1000)) is True
    assert len(exporter.spans) == 5


def test_queue_overflow_drops_and_counts_and_warns_once(caplog) -> None:  # type: ignore[no-untyped-def]
    exporter = InMemoryExporter(ExportOutcome.RETRY)
    processor = InvocationSpanProcessor(exporter, max_queue_size=4)
    with caplog.at_level("WARNING", logger="otel_xray"):
        _spans(processor, 10)
        processor.flush(Deadline.within_ms(100))
        _spans(processor, 10)
        processor.flush(Deadline.within_ms(100))
    assert processor.queued == 4
    assert processor.stats.dropped == 16
    assert len([r for r in caplog.records if "queue full" in r.getMessage()]) == 1


def test_rejected_spans_are_dropped_not_retried() -> None:
    exporter = InMemoryExporter(ExportOutcome.DROP)
    processor = InvocationSpanProcessor(exporter, max_queue_size=100)
    _spans(processor, 3)
    processor.flush(Deadline.within_ms(1000))
    assert processor.queued == 0 and processor.stats.dropped == 3


class _SlowExporter:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def export_before(self, spans: Sequence[ReadableSpan], deadline: Deadline) -> ExportOutcome:
        time.sleep(min(self.seconds, deadline.remaining()))
        return ExportOutcome.RETRY if deadline.expired() else ExportOutcome.SENT

    def reopen(self) -> None:
        return None

    def shutdown(self) -> None:
        return None


def test_an_expired_deadline_sends_nothing_and_keeps_everything() -> None:
    processor = InvocationSpanProcessor(_SlowExporter(0), max_queue_size=10_000)
    _spans(processor, 1200)
    assert processor.flush(Deadline.within_ms(0)) is False
    assert processor.queued == 1200


def test_an_exporter_that_raises_is_contained() -> None:
    class Raising:
        def export_before(self, spans: Sequence[ReadableSpan], deadline: Deadline) -> ExportOutcome:
            raise RuntimeError("boom")

        def reopen(self) -> None:
            return None

        def shutdown(self) -> None:
            return None

    processor = InvocationSpanProcessor(Raising(), max_queue_size=10)
    _spans(processor, 2)
    assert processor.flush(Deadline.within_ms(1000)) is True
    assert processor.stats.dropped == 2


@settings(max_examples=60, deadline=None)
@given(
    rounds=st.lists(
        st.tuples(
            st.integers(0, 12),  # spans ended before this flush
            st.sampled_from(list(ExportOutcome)),  # what the exporter answers
            st.sets(st.integers(0, 40)),  # which span numbers the preparation rejects
        ),
        min_size=1,
        max_size=6,
    ),
    queue=st.integers(1, 30),
)
def test_each_span_is_prepared_once_and_only_prepared_spans_leave(
    rounds: list[tuple[int, ExportOutcome, set[int]]], queue: int
) -> None:
    """prepare_at_flush (the redaction's hook): whatever the exporter answers, a span is
    prepared at most once (a retried span is not redacted again), what leaves is only
    what preparation returned, a rejected span never leaves, and every ended span is
    accounted for: sent, dropped, or still queued."""
    exporter = InMemoryExporter()
    processor = InvocationSpanProcessor(exporter, max_queue_size=queue)
    prepared: list[str] = []
    rejected: set[str] = set()

    def prepare(span: ReadableSpan) -> ReadableSpan | None:
        prepared.append(span.name)
        if span.name in rejected:
            return None
        return ReadableSpan(name="prepared " + span.name, context=span.context)

    processor.prepare_at_flush(prepare)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    number = 0
    for ended, outcome, rejects in rounds:
        for _ in range(ended):
            if number in rejects:
                rejected.add(f"s{number}")
            tracer.start_span(f"s{number}").end()
            number += 1
        exporter.outcome = outcome
        processor.flush(Deadline.within_ms(1000))
    assert len(prepared) == len(set(prepared))
    sent = [s.name for s in exporter.spans]
    assert all(name.startswith("prepared ") for name in sent)
    assert not {name.removeprefix("prepared ") for name in sent} & rejected
    stats = processor.stats
    assert stats.sent + stats.dropped + processor.queued == number
