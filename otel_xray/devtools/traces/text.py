"""Terminal views of X-Ray data: a trace as a timeline tree, the service graph as text.

The trace view reads assembled traces (:mod:`otel_xray.devtools.traces.store`), so it shows
what the X-Ray console's trace timeline shows: Lambda's own segments, the
function's subsegments nested under them, inferred segments for AWS services,
annotations, and errors with their type and message.
"""

from __future__ import annotations

from collections import defaultdict

from otel_xray.devtools.traces.service_graph import ServiceGraph, Statistics
from otel_xray.devtools.traces.store import Document, Trace, duration_of, start_of, status_of

BAR_WIDTH = 28
LABEL_WIDTH = 58
_FLAG = {"ok": "", "error": "  ERROR", "throttle": "  THROTTLE", "fault": "  FAULT"}


def render_trace(trace: Trace) -> str:
    """One trace: a header line, then every segment and subsegment with a time bar."""
    start, total = trace.start, max(trace.duration, 1e-6)
    lines = [
        f"trace {trace.id}  {trace.duration * 1000:.1f} ms  {'ok' if trace.ok else 'has errors'}"
    ]
    # Segments nest under the subsegment (or segment) that called them.
    below: dict[str | None, list[Document]] = defaultdict(list)
    for segment in trace.segments:
        parent = segment.get("parent_id")
        below[parent if parent and trace.get(str(parent)) else None].append(segment)

    def children(node: Document) -> list[Document]:
        nested = [c for c in node.get("subsegments", []) if isinstance(c, dict)]
        return sorted(nested + below.get(str(node.get("id")), []), key=start_of)

    segments = {id(s) for s in trace.segments}

    def walk(node: Document, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└─ " if last else "├─ ")
        is_segment = id(node) in segments
        label = f"{prefix}{branch}{_describe(node, is_segment)}"
        offset = int((start_of(node) - start) / total * BAR_WIDTH)
        width = max(1, round(duration_of(node) / total * BAR_WIDTH))
        bar = (" " * offset + "█" * width).ljust(BAR_WIDTH)[:BAR_WIDTH]
        lines.append(
            f"{label[:LABEL_WIDTH]:<{LABEL_WIDTH}} {duration_of(node) * 1000:>8.1f} ms "
            f"|{bar}|{_FLAG[status_of(node)]}"
        )
        inner = prefix + ("" if top else ("   " if last else "│  "))
        kids = children(node)
        for detail in _details(node):
            lines.append(f"{inner}{'│  ' if kids else '   '}{detail}")
        for index, child in enumerate(kids):
            walk(child, inner, index == len(kids) - 1, False)

    for root in below[None]:
        walk(root, "", True, True)
    for orphan in trace.orphans:
        lines.append(f"(parent {orphan.get('parent_id')} not in the trace)")
        walk(orphan, "", True, True)
    return "\n".join(lines)


def _describe(node: Document, is_segment: bool) -> str:
    name = str(node.get("name", ""))
    if is_segment:
        inferred = ", inferred" if node.get("inferred") else ""
        return f"{name} [{node.get('origin') or 'service'}{inferred}]"
    parts = [name]
    aws = node.get("aws") or {}
    http = node.get("http") or {}
    request, response = http.get("request") or {}, http.get("response") or {}
    if aws.get("operation"):
        parts.append(str(aws["operation"]))
    elif request.get("method"):
        parts.append(str(request["method"]))
    if response.get("status"):
        parts.append(str(response["status"]))
    if node.get("namespace"):
        parts.append(f"({node['namespace']})")
    return " ".join(parts)


def _details(node: Document) -> list[str]:
    found = []
    annotations = node.get("annotations") or {}
    if annotations:
        found.append(
            "annotations: " + ", ".join(f"{k}={v!r}" for k, v in sorted(annotations.items()))
        )
    if node.get("user"):
        found.append(f"user: {node['user']}")
    cause = node.get("cause")
    if isinstance(cause, dict):
        for exception in cause.get("exceptions", []):
            where = ""
            stack = exception.get("stack") or []
            if stack:
                frame = stack[0]
                where = f"  at {frame.get('path')}:{frame.get('line')} in {frame.get('label')}"
            kind = exception.get("type") or "error"
            found.append(f"! {kind}: {exception.get('message', '')}{where}")
    return found


def render_map(graph: ServiceGraph) -> str:
    """Every node with its counts, and under it the calls it makes."""
    lines = [
        f"service map: {len(graph.nodes)} nodes, {len(graph.edges)} edges, "
        f"{graph.trace_count} traces"
    ]
    outgoing: dict[tuple[str, str], list[tuple[str, Statistics, bool]]] = defaultdict(list)
    for (source, target), edge in graph.edges.items():
        outgoing[source].append((graph.nodes[target].label, edge.statistics, edge.linked))
    for key in graph.ordered():
        node = graph.nodes[key]
        lines.append(f"{node.label:<58} {_counts(node.statistics)}")
        for label, statistics, linked in sorted(outgoing.get(key, [])):
            arrow = "··▶" if linked else "──▶"
            lines.append(f"  {arrow} {label:<53} {_counts(statistics)}")
    return "\n".join(lines)


def _counts(statistics: Statistics) -> str:
    parts = [f"{statistics.total:>3} req", f"ok {statistics.ok}"]
    for name in ("error", "throttle", "fault"):
        value = getattr(statistics, name)
        if value:
            parts.append(f"{name} {value}")
    parts.append(f"avg {statistics.average_ms:.1f} ms")
    return "  ".join(parts)
