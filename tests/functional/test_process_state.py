"""Process state has one owner (``configurator.ProcessState``) and one reset.

What a sandbox keeps between invocations (the pipeline, whether set-up was tried,
the cold-start flag, the annotation ledger, once-only log lines) lives in one
object; ``reset()`` replaces it whole, and ``reset_inherited()`` is what a forked
child or a SnapStart restore runs.
"""

from __future__ import annotations

import gc
import os
import weakref
from collections.abc import Iterator

import pytest

import otel_xray
from otel_xray import configurator
from otel_xray.export import Deadline
from otel_xray.export.processor import InvocationSpanProcessor
from otel_xray.testing import LAMBDA_ENV, InMemoryExporter, LambdaContext
from tests.conftest import PARENT, ROOT


class RecordingExporter(InMemoryExporter):
    def __init__(self) -> None:
        super().__init__()
        self.reopened = 0
        self.shut_down = 0

    def reopen(self) -> None:
        self.reopened += 1

    def shutdown(self) -> None:
        self.shut_down += 1


@pytest.fixture
def invocation_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={ROOT};Parent={PARENT};Sampled=1")
    configurator.reset()
    yield
    configurator.reset()


def test_after_reset_nothing_of_the_previous_configuration_is_reachable(
    invocation_env: None,
) -> None:
    exporter = RecordingExporter()
    env = {**LAMBDA_ENV, "OTEL_XRAY_FLUSH_TIMEOUT_MS": "321", "OTEL_XRAY_STRICT": "false"}
    tracing = configurator.configure(environ=env, exporter=exporter, instrument=False)
    assert tracing is not None

    def handler(event: object, context: object) -> str:
        otel_xray.annotate(order_id="o-1")
        otel_xray.annotate("bad key", 1)  # rejected: counted and logged once
        return "ok"

    otel_xray.lambda_handler(handler)({}, LambdaContext())
    before = configurator.state()
    assert before.tracing is tracing and before.attempted and not before.cold_start
    assert before.annotations.written == 1 and before.annotations.rejected == {"key": 1}
    assert before.annotations.keys_by_trace and before.logged_once
    old_tracing = weakref.ref(tracing)
    old_state = weakref.ref(before)
    del tracing, before

    configurator.reset()
    gc.collect()

    assert old_tracing() is None, "the previous pipeline is still referenced"
    assert old_state() is None, "the previous process state is still referenced"
    assert exporter.shut_down == 1
    fresh = configurator.state()
    assert fresh.tracing is None and not fresh.attempted and fresh.cold_start
    assert fresh.logged_once == set() and fresh.annotations.rejected == {}
    assert fresh.annotations.written == 0 and not fresh.annotations.keys_by_trace
    assert otel_xray.annotation_stats().rejected == {}
    # The next configure reads its settings again.
    again = configurator.configure(environ=dict(LAMBDA_ENV), exporter=exporter, instrument=False)
    assert again is not None and again.settings.flush_timeout_ms == 1000


def test_a_forked_child_keeps_the_configuration_but_not_the_parents_spans_or_socket(
    invocation_env: None,
) -> None:
    exporter = RecordingExporter()
    tracing = configurator.configure(
        environ=dict(LAMBDA_ENV), exporter=exporter, instrument=False
    )
    assert tracing is not None and isinstance(tracing.exporting, InvocationSpanProcessor)
    with tracing.tracer().start_as_current_span("buffered"):
        pass
    assert tracing.exporting.queued == 1

    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # the at-fork hook ran reset_inherited() in this child
        exporting = tracing.exporting
        report = f"{exporting.queued},{exporter.reopened},{configurator.current() is tracing}"
        os.write(writer, report.encode())
        os._exit(0)
    os.close(writer)
    _, status = os.waitpid(child, 0)
    report = os.read(reader, 100).decode()
    os.close(reader)
    assert status == 0
    assert report == "0,1,True"
    # The parent still has its span, and sends it.
    assert tracing.exporting.queued == 1 and exporter.reopened == 0
    assert tracing.flush(Deadline.within_ms(1000)) is True
    assert [s.name for s in exporter.spans] == ["buffered"]
