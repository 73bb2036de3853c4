"""Where the time goes in a trace: the critical path and the self time of each part.

For one trace (or a set), every segment and subsegment is a node whose children are its
subsegments and the segments it called (``parent_id``). A node's *self time* is its
duration minus the time covered by its children. The *critical path* is the chain of
nodes that decided when the request finished: from the root, the child that ended
last, then, before that child started, the child that ended last before it, and so on
(a common definition for span trees; no reference implementation is compared with
here, the tests give it shapes with known answers). Time on the path
not covered by a child is the node's own. Ranking the nodes by their time on the path
answers "what is the bottleneck" from data; Lambda's ``Initialization``, and
``Restore`` (a sandbox restored from a SnapStart snapshot: AWS counts its cold start
as Restore Duration + Duration, snapstart-monitoring), are reported apart as the
cold-start share.

Example:
    >>> store = TraceStore([
    ...   {"name": "api", "id": "a" * 16, "trace_id": "1-5759e988-bd862e3fe1be46a994272793",
    ...    "start_time": 0.0, "end_time": 1.0, "subsegments": [
    ...      {"name": "fast", "id": "b" * 16, "start_time": 0.1, "end_time": 0.2},
    ...      {"name": "slow", "id": "c" * 16, "start_time": 0.2, "end_time": 0.9}]}])
    >>> report = analyze(store)
    >>> [(row.name, round(row.critical_ms)) for row in report.ranking[:2]]
    [('slow', 700), ('api', 200)]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from otel_xray.devtools.traces.store import Document, Trace, TraceStore, duration_of, start_of

INITIALIZATION = "Initialization"
#: SnapStart's phase in place of Initialization.
RESTORE = "Restore"
#: The phases that make a cold start.
COLD_START_PHASES = (INITIALIZATION, RESTORE)


@dataclass
class Row:
    """One named part, over the traces analysed."""

    name: str
    kind: str
    count: int = 0
    #: Milliseconds on the critical path (the part's own time there).
    critical_ms: float = 0.0
    #: Milliseconds of self time, on the path or not.
    self_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "count": self.count,
            "critical_ms": round(self.critical_ms, 3),
            "self_ms": round(self.self_ms, 3),
        }


@dataclass
class Report:
    traces: int = 0
    total_ms: float = 0.0
    #: Of the critical path, milliseconds in Lambda's Initialization (cold starts).
    cold_start_ms: float = 0.0
    ranking: list[Row] = field(default_factory=list)
    #: The critical path of the slowest trace analysed, in start order: (name, kind, ms).
    slowest_path: list[tuple[str, str, float]] = field(default_factory=list)
    slowest_trace: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "traces": self.traces,
            "total_ms": round(self.total_ms, 3),
            "cold_start_ms": round(self.cold_start_ms, 3),
            "ranking": [row.to_dict() for row in self.ranking],
            "slowest_trace": self.slowest_trace,
            "slowest_path": [
                {"name": n, "kind": k, "ms": round(ms, 3)} for n, k, ms in self.slowest_path
            ],
        }

    def text(self, limit: int = 10) -> str:
        lines = [
            f"{self.traces} trace(s), {self.total_ms:.1f} ms in all; "
            f"cold start (Initialization, Restore) {self.cold_start_ms:.1f} ms of it",
            "where the time goes (critical path, ms; self time, ms; count):",
        ]
        for row in self.ranking[:limit]:
            share = row.critical_ms / self.total_ms * 100 if self.total_ms else 0.0
            lines.append(
                f"  {row.critical_ms:9.1f}  {share:5.1f}%  self {row.self_ms:9.1f}  "
                f"x{row.count:<4} {row.name} ({row.kind})"
            )
        if self.slowest_path:
            lines.append(f"critical path of the slowest trace, {self.slowest_trace}:")
            lines += [f"  {ms:9.1f}  {name} ({kind})" for name, kind, ms in self.slowest_path]
        return "\n".join(lines)


def analyze(store: TraceStore, traces: Iterable[Trace] | None = None) -> Report:
    """The report over ``traces`` (default: every trace in ``store``)."""
    chosen = list(store.traces() if traces is None else traces)
    report = Report(traces=len(chosen))
    rows: dict[tuple[str, str], Row] = {}
    slowest = -1.0
    for trace in chosen:
        if not trace.segments:
            continue
        root = _root(trace)
        children = _children(trace)
        path: list[tuple[Document, float]] = []
        _critical(root, _end(root), children, path)
        for node, ms in path:
            row = _row(rows, node, trace)
            row.critical_ms += ms
            if node.get("name") in COLD_START_PHASES:
                report.cold_start_ms += ms
        for node, _ in trace.walk():
            row = _row(rows, node, trace)
            row.count += 1
            row.self_ms += _self_ms(node, children)
        total = duration_of(root) * 1000
        report.total_ms += total
        if total > slowest:
            slowest = total
            report.slowest_trace = trace.id
            report.slowest_path = [
                (str(n.get("name")), _kind(n, trace), ms)
                for n, ms in sorted(path, key=lambda item: start_of(item[0]))
                if ms > 0
            ]
    report.ranking = sorted(rows.values(), key=lambda r: (-r.critical_ms, -r.self_ms, r.name))
    return report


def _root(trace: Trace) -> Document:
    ids = {str(d.get("id")) for d, _ in trace.walk()}
    roots = [s for s in trace.segments if str(s.get("parent_id")) not in ids]
    return max(roots or trace.segments, key=duration_of)


def _children(trace: Trace) -> dict[int, list[Document]]:
    by_id = {str(d.get("id")): d for d, _ in trace.walk()}
    found: dict[int, list[Document]] = {}
    for node, _ in trace.walk():
        found.setdefault(id(node), []).extend(
            c for c in node.get("subsegments", []) or [] if isinstance(c, dict)
        )
    for segment in trace.segments:
        parent = by_id.get(str(segment.get("parent_id")))
        if parent is not None and parent is not segment:
            found.setdefault(id(parent), []).append(segment)
        if segment.get("origin") == "AWS::Lambda::Function":
            _inside_phases(found.get(id(segment), []), found)
    return found


#: Lambda's phase subsegments of a function segment (functions/lambda_segments.py): the function's
#: own subsegments run inside Initialization (init code) or Invocation (the handler).
_PHASES = (*COLD_START_PHASES, "Invocation")


def _inside_phases(siblings: list[Document], found: dict[int, list[Document]]) -> None:
    """Nest the function's subsegments under the phase they ran in, for the analysis:
    side by side with ``Invocation``, which spans them, they would never be on the path."""
    phases = [c for c in siblings if c.get("name") in _PHASES]
    for child in [c for c in siblings if c.get("name") not in (*_PHASES, "Overhead")]:
        for phase in phases:
            if start_of(phase) - 1e-3 <= start_of(child) and _end(child) <= _end(phase) + 1e-3:
                siblings.remove(child)
                found.setdefault(id(phase), []).append(child)
                break


def _end(node: Document) -> float:
    return start_of(node) + duration_of(node)


def _critical(
    node: Document,
    until: float,
    children: dict[int, list[Document]],
    path: list[tuple[Document, float]],
) -> None:
    """Walk back from ``until`` through the children that ended last (each once)."""
    cursor = min(until, _end(node))
    start = start_of(node)
    own = 0.0
    remaining = sorted(children.get(id(node), []), key=_end, reverse=True)
    index = len(path)
    path.append((node, 0.0))
    first = True
    while remaining:
        # The child that ended last before the cursor blocked the node there. On the
        # first step a child may outlive its parent (an async call): it is clipped to
        # the parent's end; later, children that end after the cursor ran alongside the
        # one already on the path and did not block.
        fits = [c for c in remaining if _end(c) <= cursor + 1e-9]
        blocking = remaining[0] if first and not fits else (fits[0] if fits else None)
        first = False
        if blocking is None:
            break
        remaining.remove(blocking)
        child_end = min(_end(blocking), cursor)
        if child_end <= start:
            break
        own += cursor - child_end
        _critical(blocking, child_end, children, path)
        cursor = max(start, start_of(blocking))
        remaining = [c for c in remaining if start_of(c) < cursor]
    own += max(0.0, cursor - start)
    path[index] = (node, own * 1000)


def _self_ms(node: Document, children: dict[int, list[Document]]) -> float:
    start, end = start_of(node), _end(node)
    spans = sorted((max(start, start_of(c)), min(end, _end(c))) for c in children.get(id(node), []))
    covered, cursor = 0.0, start
    for low, high in spans:
        begin = max(low, cursor)
        if high > begin:
            covered += high - begin
            cursor = high
    return max(0.0, end - start - covered) * 1000


def _kind(node: Document, trace: Trace) -> str:
    if node.get("origin"):
        return str(node["origin"])
    if node.get("namespace"):
        return str(node["namespace"])
    owner = trace.owner(str(node.get("id")))
    return "subsegment" if owner is not node else "segment"


def _row(rows: dict[tuple[str, str], Row], node: Document, trace: Trace) -> Row:
    key = (str(node.get("name")), _kind(node, trace))
    if key not in rows:
        rows[key] = Row(*key)
    return rows[key]
