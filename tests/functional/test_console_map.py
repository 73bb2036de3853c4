"""The console's map for a bigger architecture: 20+ nodes, none on top of another."""

from __future__ import annotations

from otel_xray.devtools.traces.service_graph import ServiceGraph
from otel_xray.devtools.traces.store import TraceStore
from otel_xray.devtools.traces.svg import COLUMN, ROW, layout, render_svg


def test_twenty_four_services_each_get_a_place_and_a_label() -> None:
    documents = []
    for n in range(6):
        trace_id = f"1-5759e988-bd862e3fe1be46a9942727{n:02d}"
        subsegments = [
            {"name": f"api-{n}-dependency-{k}.internal", "id": f"{n:02d}{k:02d}" + "b" * 12,
             "namespace": "remote", "start_time": 1.0, "end_time": 1.1}
            for k in range(3)
        ]  # fmt: skip
        documents.append(
            {"name": f"service-{n}", "id": f"{n:02d}" + "a" * 14, "trace_id": trace_id,
             "start_time": 1.0, "end_time": 2.0, "origin": "AWS::Lambda",
             "subsegments": subsegments}
        )  # fmt: skip
    graph = ServiceGraph.build(TraceStore(documents))
    assert len(graph.nodes) == 25  # the client, 6 services, 18 dependencies
    positions = layout(graph)
    assert len(set(positions.values())) == len(positions)  # no two in one place
    for a in positions.values():
        for b in positions.values():
            if a != b:  # a full cell apart, so neither circles nor labels overlap
                assert abs(a[0] - b[0]) >= COLUMN or abs(a[1] - b[1]) >= ROW
    svg = render_svg(graph)
    for node in graph.nodes.values():
        assert node.name in svg
