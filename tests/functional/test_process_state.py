"""Process state has one owner (``configurator.ProcessState``) and one reset.

What a sandbox keeps between invocations (the pipeline, whether set-up was tried,
the cold-start flag, the annotation ledger, once-only log lines) lives in one
object; ``reset()`` replaces it whole, and ``reset_inherited()`` is what a forked
child or a SnapStart restore runs.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref
from collections.abc import Iterator

import pytest
import snapshot_restore_py

import otel_xray
from otel_xray import configurator
from otel_xray.devtools.loopback import end_process_group
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
    tracing = configurator.configure(environ=dict(LAMBDA_ENV), exporter=exporter, instrument=False)
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


FORK_AFTER_LATE_THREAD_IMPORT = """
import os, sys
import otel_xray
otel_xray.configure(environ={"OTEL_TRACES_EXPORTER": "none"})
assert "concurrent.futures.thread" not in sys.modules, "imported too early for this test"
import concurrent.futures.thread  # what boto3's s3transfer does on a handler's import
child = os.fork()
if child == 0:
    os._exit(0)
os.waitpid(child, 0)
print("child done")
"""


def test_a_fork_after_a_late_thread_pool_import_does_not_hang() -> None:
    """opentelemetry-sdk 1.45's ``TracerProvider._handle_fork`` (sdk/trace/__init__.py)
    submits to a ``ThreadPoolExecutor`` in the child; when ``concurrent.futures.thread``
    was imported after the provider, its lock is still held there and the child hung
    (found under ``otel-xray invoke --snapstart``). A fresh interpreter, so the import
    order is the one a Lambda function has."""
    process = subprocess.Popen(
        [sys.executable, "-c", FORK_AFTER_LATE_THREAD_IMPORT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a hung child is ended with its parent's group
    )
    try:
        out, err = process.communicate(timeout=30)
    finally:
        end_process_group(process, grace=0)
    assert process.returncode == 0, err
    assert out.strip() == "child done"


def test_under_snapstart_the_runtime_hook_renews_what_a_restored_copy_must_not_share(
    invocation_env: None,
) -> None:
    """SnapStart (snapstart-runtime-hooks-python): Lambda's runtime runs the functions
    registered with ``snapshot_restore_py.register_after_restore`` after each restore;
    no fork happens there, so the at-fork hook does not run. The hook registered by
    set-up is taken from the real package's registry and run as awslambdaric's
    ``lambda_runtime_hooks_runner.run_after_restore`` runs it."""
    registry = snapshot_restore_py.get_after_restore()
    before = len(registry)
    exporter = RecordingExporter()
    env = {**LAMBDA_ENV, "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}
    tracing = configurator.configure(environ=env, exporter=exporter, instrument=False)
    assert tracing is not None and isinstance(tracing.exporting, InvocationSpanProcessor)
    try:
        assert len(registry) == before + 1
        hook, args, kwargs = registry[-1]
        otel_xray.lambda_handler(lambda event, context: "primed")({}, LambdaContext())
        assert not configurator.state().cold_start  # invoked before the snapshot
        with tracing.tracer().start_as_current_span("buffered"):
            pass

        hook(*args, **kwargs)

        assert exporter.reopened == 1 and tracing.exporting.queued == 0
        assert configurator.state().cold_start  # the first invocation after a restore
    finally:
        del registry[before:]


SIGTERM_SCRIPT = """
import os, signal, sys
chain = sys.argv[1] == "chain"
if chain:
    signal.signal(signal.SIGTERM, lambda signum, frame: print("previous handler ran", flush=True))
import otel_xray
from opentelemetry import trace
env = {
    "AWS_LAMBDA_FUNCTION_NAME": "f", "AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances",
    "OTEL_TRACES_EXPORTER": "console", "OTEL_BSP_SCHEDULE_DELAY": "60000",
}
otel_xray.configure(environ=env, instrument=False)
with trace.get_tracer("t").start_as_current_span("kept-for-later"):
    pass
print("span ended", flush=True)
os.kill(os.getpid(), signal.SIGTERM)
print("still running", flush=True)
"""


@pytest.mark.parametrize("chain", ["chain", "default"])
def test_on_managed_instances_sigterm_flushes_then_does_what_it_did(chain: str) -> None:
    """Lambda Managed Instances never freeze (the Lambda guide, lambda-managed-instances):
    spans wait in the batch worker (60 s here), and the SIGTERM of shutdown flushes them
    first. Then the function's own handler runs, or, without one, SIGTERM ends the
    process as it would have."""
    process = subprocess.Popen(
        [sys.executable, "-c", SIGTERM_SCRIPT, chain],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=30)
    finally:
        end_process_group(process, grace=0)
    span_at = out.find('"kept-for-later"')
    assert out.index("span ended") < span_at, out + err  # exported at SIGTERM, not before
    if chain == "chain":
        assert process.returncode == 0
        assert span_at < out.index("previous handler ran") < out.index("still running")
    else:
        assert process.returncode == -15 and "still running" not in out
