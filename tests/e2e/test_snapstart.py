"""SnapStart, emulated: one init, the real runtime hooks, several restored sandboxes.

``LocalFunction(snapstart=True)`` (``otel-xray invoke --snapstart``) initializes one
process under the built layer with ``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``;
awslambdaric runs the before-snapshot hooks of the real ``snapshot_restore_py`` (the
package Lambda's Python runtime uses) and asks for its restore; each restore is a fork
of that process (the stand-in: docs/lambda-execution-models.md), in which awslambdaric
runs the after-restore hooks. References: the Lambda developer guide's
snapstart-uniqueness ("avoid caching data that's intended to be unique, such as …
setting seeds for random functions"), snapstart-runtime-hooks-python (the hooks and
their order), snapstart-monitoring (the ``Restore`` subsegment; a SnapStart cold start
is Restore Duration + Duration).

Statistics: each of ``RESTORES`` sandboxes makes ``DRAWS`` root-span sampling
decisions at rate 0.5 (no reservoir) in its first invocation. Independent sandboxes
agree on all of them with probability 2**-DRAWS per pair: the test fails by chance
with probability at most C(RESTORES, 2) * 2**-DRAWS = 6 * 2**-64 ≈ 3e-19. Trace ids
(96 random bits each) collide by chance with probability below 1e-20.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from otel_xray.devtools.functions.invoke import InvocationResult, LocalFunction
from otel_xray.devtools.traces.analysis import analyze
from otel_xray.devtools.traces.console import ConsoleData
from otel_xray.devtools.traces.store import TraceStore
from otel_xray.devtools.traces.text import render_trace
from tests.e2e.conftest import LAYER, function_code, runtime_of

RESTORES = 4
DRAWS = 64

SNAPSTART_FUNCTION = """
import os

from opentelemetry import context, trace
from snapshot_restore_py import register_after_restore, register_before_snapshot

HOOKS = []
tracer = trace.get_tracer("app")


@register_before_snapshot
def prime():
    # Priming, as AWS suggests: work done before the snapshot. Its span is sent before
    # the snapshot, so the exporter's socket is open in the snapshot's memory.
    HOOKS.append(("before", os.getpid()))
    with tracer.start_as_current_span("prime", attributes={"url.path": "/prime"}):
        pass
    trace.get_tracer_provider().force_flush()


@register_after_restore
def restored():
    HOOKS.append(("after", os.getpid()))


def handler(event, context_):
    draws = []
    for _ in range(event.get("draws", 0)):
        attributes = {"url.path": "/draw"}  # not the priming rule's path
        with tracer.start_as_current_span(
            "root", context=context.Context(), attributes=attributes
        ) as span:
            draws.append(span.is_recording())
            trace_id = span.get_span_context().trace_id
    return {
        "pid": os.getpid(),
        "hooks": HOOKS,
        "draws": "".join("1" if d else "0" for d in draws),
        "trace_id": f"{trace_id:032x}" if draws else None,
        "init": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"),
    }
"""

RULES = {
    "version": 2,
    "rules": [{"description": "priming", "host": "*", "http_method": "*",
               "url_path": "/prime", "fixed_target": 0, "rate": 1.0}],
    "default": {"fixed_target": 0, "rate": 0.5},
}  # fmt: skip


@pytest.fixture(scope="module")
def restored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    code = function_code(tmp_path_factory, {"snap": SNAPSTART_FUNCTION})["snap"]
    env = {
        "OTEL_TRACES_SAMPLER": "parentbased_xray_local",
        "OTEL_XRAY_SAMPLING_RULES": json.dumps(RULES),
    }
    function = LocalFunction(
        "app.handler",
        code,
        layer_dir=LAYER / "x86_64" if (LAYER / "x86_64").exists() else None,
        runtime_dir=runtime_of("3.12"),  # SnapStart: python3.12 and later
        env=env,
        function_name="snap",
        timeout_seconds=20,
        snapstart=True,
    )
    with function:
        assert function.daemon is not None
        snapshot_datagrams = len(function.daemon.raw)
        snapshot_senders = set(function.daemon.senders)
        sandboxes: list[list[InvocationResult]] = []
        for _ in range(RESTORES):
            function.stop_process()  # the next invoke restores a new sandbox
            sandboxes.append([function.invoke({"draws": DRAWS}), function.invoke({})])
        yield {
            "sandboxes": sandboxes,
            "snapshot_pid": function.snapshot.pid if function.snapshot else None,
            "restored_pids": list(function.restored_pids),
            "snapshot_datagrams": snapshot_datagrams,
            "snapshot_senders": snapshot_senders,
            "senders": list(function.daemon.senders),
        }


def _phases(result: InvocationResult) -> list[str]:
    function = next(d for d in result.segments if d.get("origin") == "AWS::Lambda::Function")
    return [s["name"] for s in function.get("subsegments", [])]


def _handler_annotations(result: InvocationResult) -> dict[str, Any]:
    for document in result.segments:
        for sub in [document, *document.get("subsegments", [])]:
            if "ColdStart" in (sub.get("annotations") or {}):
                return dict(sub["annotations"])
    raise AssertionError(f"no ColdStart annotation in {result.segments}")


def test_the_real_hooks_run_before_the_snapshot_once_and_after_each_restore(
    restored: dict[str, Any],
) -> None:
    snapshot = restored["snapshot_pid"]
    pids = restored["restored_pids"]
    assert len(set(pids)) == RESTORES and snapshot not in pids
    for pid, (first, second) in zip(pids, restored["sandboxes"], strict=True):
        assert first.ok and second.ok, (first.error, second.error)
        assert first.response["init"] == "snap-start"
        assert first.response["pid"] == second.response["pid"] == pid
        assert first.response["hooks"] == [["before", snapshot], ["after", pid]]


def test_ids_and_sampling_decisions_differ_across_restored_sandboxes(
    restored: dict[str, Any],
) -> None:
    firsts = [sandbox[0] for sandbox in restored["sandboxes"]]
    draws = [r.response["draws"] for r in firsts]
    assert all(len(d) == DRAWS for d in draws)
    assert len(set(draws)) == RESTORES, draws
    trace_ids = {r.response["trace_id"] for r in firsts}
    assert len(trace_ids) == RESTORES
    span_ids = [d["id"] for r in firsts for d in r.segments if "origin" not in d]
    assert len(span_ids) == len(set(span_ids))


def test_each_restored_sandbox_sends_from_a_socket_of_its_own(restored: dict[str, Any]) -> None:
    """The priming span went out before the snapshot, from a socket that every restored
    copy has in its memory; each copy must send from a new one (the after-restore hook)."""
    assert restored["snapshot_datagrams"] >= 1, "the priming span was not sent"
    snapshot_senders = restored["snapshot_senders"]
    later = restored["senders"][restored["snapshot_datagrams"] :]
    assert later and not snapshot_senders & set(later)
    # Every sandbox sent (two invocations each), and each from its own socket.
    assert len(set(later)) == RESTORES


def test_the_first_invocation_after_a_restore_is_the_cold_start_with_restore(
    restored: dict[str, Any],
) -> None:
    for first, second in restored["sandboxes"]:
        assert _phases(first)[0] == "Restore" and "Initialization" not in _phases(first)
        assert "Restore" not in _phases(second) and "Initialization" not in _phases(second)
        assert _handler_annotations(first)["ColdStart"] is True
        assert _handler_annotations(second)["ColdStart"] is False


def test_analyze_and_the_console_count_restore_as_cold_start(
    restored: dict[str, Any], tmp_path: Path
) -> None:
    documents = [d for sandbox in restored["sandboxes"] for r in sandbox for d in r.segments]
    report = analyze(TraceStore(documents))
    restore_ms = sum(
        (s["end_time"] - s["start_time"]) * 1000
        for d in documents
        for s in d.get("subsegments", [])
        if s["name"] == "Restore"
    )
    assert report.cold_start_ms == pytest.approx(restore_ms, rel=0.05) and restore_ms > 0
    path = tmp_path / "segments.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in documents))
    console = ConsoleData([path]).analysis("")
    assert console["cold_start_ms"] == pytest.approx(report.cold_start_ms, abs=0.01)
    first = restored["sandboxes"][0][0]
    print(render_trace(TraceStore(first.segments).trace(first.root)))
