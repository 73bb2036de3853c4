"""The local trace store assembles traces as BatchGetTraces returns them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from otel_xray.devtools.traces.store import TraceStore, inferred_origin

ROOT = "1-5759e988-bd862e3fe1be46a994272793"


def doc(
    id_: str, name: str, parent: str | None = None, start: float = 1.0, **extra: Any
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": name,
        "id": id_ * 16 if len(id_) == 1 else id_,
        "trace_id": ROOT,
        "start_time": start,
        "end_time": start + 1,
    }
    if parent is not None:
        document.update(type="subsegment", parent_id=parent * 16 if len(parent) == 1 else parent)
    document.update(extra)
    return document


def test_independent_subsegments_nest_under_their_parents_at_any_depth() -> None:
    store = TraceStore(
        [
            doc("b", "handler", parent="a", start=1.1),
            doc("c", "DynamoDB", parent="b", start=1.3, namespace="aws"),
            doc("d", "compute", parent="b", start=1.2),
            doc("a", "order-api"),
        ]
    )
    [segment, inferred] = store.trace(ROOT).segments
    [handler] = segment["subsegments"]
    assert handler["name"] == "handler"
    assert [s["name"] for s in handler["subsegments"]] == ["compute", "DynamoDB"]  # start order
    # Nested subsegments lose the independent-document fields, as X-Ray returns them.
    assert not {"type", "trace_id", "parent_id"} & set(handler)
    assert inferred["inferred"] is True and inferred["parent_id"] == "c" * 16


def test_an_aws_call_gets_an_inferred_segment_unless_its_callee_is_traced() -> None:
    store = TraceStore(
        [
            doc("a", "api"),
            doc("b", "SQS", parent="a", namespace="aws", aws={"operation": "SendMessage"}),
            doc("c", "Lambda", parent="a", namespace="aws", error=True),
            doc("d", "callee", start=1.5, parent_id="c" * 16, origin="AWS::Lambda"),
            doc("e", "example.com", parent="a", namespace="remote"),
        ]
    )
    trace = store.trace(ROOT)
    inferred = [s for s in trace.segments if s.get("inferred")]
    assert [(s["name"], s["origin"], s["aws"]) for s in inferred] == [
        ("SQS", "AWS::SQS::Queue", {"operation": "SendMessage"})
    ]
    assert inferred_origin("DynamoDB") == "AWS::DynamoDB::Table"
    assert inferred_origin("SecretsManager") == "AWS::SecretsManager"


def test_the_latest_document_wins_but_never_an_in_progress_one() -> None:
    store = TraceStore()
    store.add(doc("a", "first"))
    store.add(doc("a", "second"))
    store.add({**doc("a", "third"), "in_progress": True, "end_time": None})
    assert [s["name"] for s in store.trace(ROOT).segments] == ["second"]


def test_orphans_and_cycles_are_kept_apart_not_lost() -> None:
    store = TraceStore(
        [
            doc("a", "api"),
            doc("b", "lost", parent="f"),
            doc("c", "child-of-lost", parent="b"),
            doc("d", "loop-1", parent="e"),
            doc("e", "loop-2", parent="d"),
        ]
    )
    trace = store.trace(ROOT)
    assert [s["name"] for s in trace.segments] == ["api"]
    # "lost" has no parent; of the loop, one member is cut loose with the other inside it.
    assert sorted(o["name"] for o in trace.orphans) in (["loop-1", "lost"], ["loop-2", "lost"])
    lost = next(o for o in trace.orphans if o["name"] == "lost")
    assert [s["name"] for s in lost["subsegments"]] == ["child-of-lost"]


def test_the_store_does_not_change_what_it_was_given() -> None:
    original = [doc("a", "api"), doc("b", "call", parent="a", namespace="aws")]
    snapshot = json.dumps(original, sort_keys=True)
    store = TraceStore(original)
    store.trace(ROOT)
    store.trace(ROOT)
    assert json.dumps(original, sort_keys=True) == snapshot
    assert len(store.documents()) == 2


def test_loading_names_the_line_that_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "segments.jsonl"
    path.write_text(json.dumps(doc("a", "api")) + "\n\n" + "[1, 2]\n")
    with pytest.raises(ValueError, match=r"segments.jsonl:3: not a segment document"):
        TraceStore.load(path)
    path.write_text(json.dumps(doc("a", "api")) + "\n")
    assert TraceStore.load(path).trace_ids() == [ROOT]
