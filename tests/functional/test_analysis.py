"""Where the time goes: critical path and self time (``otel-xray analyze``), issue 19's analytics.

Synthetic traces with known answers (sequential and parallel children, an async child
that outlives its parent, a callee segment, a cold start), and one real request through
the layer with a deliberately slow step, which the ranking must name first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from otel_xray.devtools.cli import main
from otel_xray.devtools.traces.analysis import analyze
from otel_xray.devtools.traces.store import TraceStore

TRACE = "1-5759e988-bd862e3fe1be46a994272793"


def node(
    name: str, start: float, end: float, *children: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    document: dict[str, Any] = {"name": name, "id": f"{abs(hash((name, start))) % 16**16:016x}",
                                "start_time": start, "end_time": end, **extra}  # fmt: skip
    if children:
        document["subsegments"] = list(children)
    return document


def segment(
    name: str, start: float, end: float, *children: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return node(name, start, end, *children, trace_id=TRACE, **extra)


def ranking(store: TraceStore) -> dict[str, float]:
    return {row.name: round(row.critical_ms, 3) for row in analyze(store).ranking}


def test_sequential_children_are_all_on_the_path() -> None:
    store = TraceStore([segment("api", 0, 1.0, node("a", 0.1, 0.3), node("b", 0.3, 0.9))])
    assert ranking(store) == {"b": 600.0, "a": 200.0, "api": 200.0}
    report = analyze(store)
    assert report.total_ms == pytest.approx(1000.0)
    assert [name for name, _, _ in report.slowest_path] == ["api", "a", "b"]  # start order


def test_of_parallel_children_only_the_one_that_ended_last_blocks() -> None:
    store = TraceStore([segment("api", 0, 1.0, node("quick", 0.1, 0.4), node("long", 0.1, 0.8))])
    critical = ranking(store)
    assert critical["long"] == 700.0 and critical["quick"] == 0.0 and critical["api"] == 300.0
    rows = {row.name: row for row in analyze(store).ranking}
    assert rows["quick"].self_ms == pytest.approx(300.0)  # its own time, off the path
    assert rows["api"].self_ms == pytest.approx(300.0)


def test_an_async_child_is_clipped_to_its_parents_end() -> None:
    store = TraceStore([segment("api", 0, 1.0, node("fire-and-forget", 0.5, 3.0))])
    assert ranking(store) == {"fire-and-forget": 500.0, "api": 500.0}


@pytest.mark.parametrize("phase", ["Initialization", "Restore"])
def test_a_called_service_and_the_cold_start_are_on_the_path(phase: str) -> None:
    """``Restore`` is SnapStart's cold start (snapstart-monitoring: "Restore Duration +
    Duration"), counted as ``Initialization`` is."""
    call = node("Lambda", 0.2, 0.9, namespace="aws")
    caller = segment("order-api", 0, 1.0, call, origin="AWS::Lambda::Function")
    callee = segment(
        "pricing",
        0.25,
        0.85,
        node(phase, 0.25, 0.6),
        node("work", 0.6, 0.85),
        origin="AWS::Lambda::Function",
        parent_id=call["id"],
    )
    report = analyze(TraceStore([caller, callee]))
    critical = {row.name: round(row.critical_ms, 3) for row in report.ranking}
    assert critical[phase] == 350.0 and critical["work"] == 250.0
    assert report.cold_start_ms == pytest.approx(350.0)
    assert critical["Lambda"] == pytest.approx(100.0)  # the call's own: 0.2-0.25, 0.85-0.9


def test_the_command_prints_text_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "segments.jsonl"
    documents = [segment("api", 0, 1.0, node("a", 0.1, 0.3), node("b", 0.3, 0.9))]
    path.write_text("".join(json.dumps(d) + "\n" for d in documents))
    assert main(["analyze", str(path)]) == 0
    text = capsys.readouterr().out
    assert "where the time goes" in text and text.index(" b (") < text.index(" a (")
    assert main(["analyze", str(path), "--json", "--filter", "responsetime > 0.5"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ranking"][0]["name"] == "b" and report["traces"] == 1
    assert main(["analyze", str(path), "--filter", "service("]) == 2
    assert main(["analyze", str(path), "--trace", "1-00000000-000000000000000000000000"]) == 2


SLOW_HANDLER = """
import time
import otel_xray

def handler(event, context):
    with otel_xray.subsegment("load cart", "compute"):
        time.sleep(0.02)
    with otel_xray.subsegment("price with legacy engine", "compute"):
        time.sleep(0.3)
    with otel_xray.subsegment("render", "compute"):
        time.sleep(0.01)
    return "ok"
"""


def test_the_slow_step_of_a_real_request_comes_first(tmp_path: Path) -> None:
    from otel_xray.devtools.functions.invoke import LocalFunction  # noqa: PLC0415  (needs the built layer)

    if not (Path(__file__).resolve().parents[2] / "build" / "layer").exists():
        pytest.skip("make layer")
    (tmp_path / "app.py").write_text(SLOW_HANDLER)
    with LocalFunction("app.handler", tmp_path, function_name="checkout") as function:
        function.invoke({})  # the cold start, out of the way
        result = function.invoke({})
    report = analyze(TraceStore(result.segments))
    top = report.ranking[0]
    assert top.name == "price with legacy engine", report.text()
    assert 250 <= top.critical_ms <= 1000
    assert report.cold_start_ms == 0.0  # a warm invocation
