"""What a person reads: the trace timeline, the text map and the SVG map."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from otel_xray.devtools.functions.lambda_segments import lambda_segments
from otel_xray.devtools.traces.service_graph import ServiceGraph
from otel_xray.devtools.traces.store import TraceStore
from otel_xray.devtools.traces.svg import COLOURS, render_svg
from otel_xray.devtools.traces.text import render_map, render_trace

ROOT = "1-5759e988-bd862e3fe1be46a994272793"
WORKER_ROOT = "1-5759e988-00000000000000000000000b"
SVG = "{http://www.w3.org/2000/svg}"


def sub(id_: str, name: str, parent: str, trace: str = ROOT, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "id": id_ * 16,
        "trace_id": trace,
        "type": "subsegment",
        "parent_id": parent * 16,
        "start_time": 10.1,
        "end_time": 10.3,
        **extra,
    }


def app() -> TraceStore:
    api = lambda_segments(
        function_name="order-api",
        function_arn="arn:aws:lambda:us-east-1:1:function:order-api",
        request_id="r-1",
        root=ROOT,
        parent="f" * 16,
        received=10.0,
        started=10.05,
        finished=10.5,
        init_started=9.5,
        init_finished=10.0,
        error={"errorType": "PaymentDeclinedError", "errorMessage": "declined"},
    )
    handler = sub(
        "1",
        "order-api",
        "f",
        annotations={"transaction_type": "checkout", "ColdStart": True},
        fault=True,
        cause={
            "exceptions": [
                {
                    "id": "0" * 16,
                    "type": "PaymentDeclinedError",
                    "message": "declined",
                    "stack": [{"path": "app.py", "line": 43, "label": "handler"}],
                }
            ]
        },
    )
    queue = sub("2", "SQS", "1", namespace="aws", aws={"operation": "SendMessage"})
    payment = sub(
        "3",
        "pay.example.com",
        "1",
        namespace="remote",
        error=True,
        http={"request": {"method": "POST"}, "response": {"status": 402}},
    )
    worker = lambda_segments(
        function_name="order-worker",
        function_arn="arn:aws:lambda:us-east-1:1:function:order-worker",
        request_id="r-2",
        root=WORKER_ROOT,
        parent="e" * 16,
        received=11.0,
        started=11.0,
        finished=11.2,
        links=[(ROOT, "2" * 16)],
    )
    return TraceStore([*api, handler, queue, payment, *worker])


def test_the_timeline_shows_lambdas_segments_annotations_and_errors() -> None:
    text = render_trace(app().trace(ROOT))
    lines = text.splitlines()
    assert lines[0].startswith(f"trace {ROOT}") and "has errors" in lines[0]
    assert lines[1].startswith("order-api [AWS::Lambda]")
    assert "└─ order-api [AWS::Lambda::Function]" in text
    assert "├─ Initialization" in text and "Invocation" in text
    assert "SQS SendMessage (aws)" in text
    assert "SQS [AWS::SQS::Queue, inferred]" in text
    assert "pay.example.com POST 402 (remote)" in text
    assert "annotations: ColdStart=True, transaction_type='checkout'" in text
    assert "! PaymentDeclinedError: declined  at app.py:43 in handler" in text
    assert any(line.endswith("FAULT") for line in lines)
    assert any(line.endswith("ERROR") for line in lines)


def test_the_text_map_lists_every_node_and_its_calls() -> None:
    text = render_map(ServiceGraph.build(app()))
    assert text.splitlines()[0] == "service map: 7 nodes, 6 edges, 2 traces"
    assert "  ──▶ order-api (AWS::Lambda)" in text
    assert "  ··▶ order-worker (AWS::Lambda)" in text  # the linked, asynchronous hop
    assert "fault 1" in text and "error 1" in text


def test_the_svg_is_well_formed_and_colours_what_failed() -> None:
    picture = render_svg(ServiceGraph.build(app()), title="orders <local>")
    root = ET.fromstring(picture)  # well-formed XML, the title escaped
    assert root.tag == f"{SVG}svg"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "orders <local>" in texts
    for name in ("client", "order-api", "order-worker", "SQS", "pay.example.com"):
        assert name in texts
    assert {"λ", "λ fn", "SQS", "HTTP", "USER"} <= set(texts)
    strokes = {e.get("stroke") for e in root.iter() if e.get("stroke")}
    assert {COLOURS["ok"], COLOURS["fault"], COLOURS["error"]} <= strokes
    dashed = [e for e in root.iter(f"{SVG}path") if e.get("stroke-dasharray")]
    assert len(dashed) == 1  # SQS -> order-worker
    assert render_svg(ServiceGraph()).startswith("<svg")  # empty graph: still a picture
