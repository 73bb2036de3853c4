"""A local X-Ray console on 127.0.0.1: service map, traces, timeline, where the time goes.

``otel-xray console SEGMENTS.jsonl [...]`` serves one page (``index.html`` beside this
module: plain HTML, CSS and JavaScript, no build step, nothing fetched from the
network) and a small JSON API over the same trace store, filter expressions, service
graph and analysis as ``map``, ``query`` and ``analyze``:

- ``/api/traces?filter=EXPR``: trace summaries (``GetTraceSummaries``' fields); a filter
  that does not parse is a 400 with the message and the position of the problem;
- ``/api/trace?id=ID``: one assembled trace, as ``BatchGetTraces`` gives it;
- ``/api/graph``: the service graph (``GetServiceGraph``' fields) and the map as SVG;
- ``/api/analyze?filter=EXPR``: the critical path and self times (``analyze``);
- ``/api/services``: per node and per edge, the counts and the response-time
  distribution (p50, p90, p99 and a histogram), for the map's and analytics' views;
- ``/api/slowest?filter=EXPR``: the slowest traces;
- ``/api/groups``: the X-Ray groups of a template as filter presets
  (``--groups deploy/template.yaml``);
- ``/api/warnings``: what was skipped while reading (a line that is not JSON, a document
  that lacks a segment document's required fields, a file that disappeared, an orphan
  subsegment), with file and line.

``otel-xray report SEGMENTS.jsonl -o report.html`` writes the same page with every
answer inside it, for the whole set and each group preset: one file, no server, that
can be attached to a ticket (any other filter expression needs the live console).

The files are read again whenever they changed, so ``invoke`` and ``make demo`` feed it
live. The server is the standard library's; the page is in the package, not the layer.

Example:
    >>> view = ConsoleData([])
    >>> view.traces("")["traces"]
    []
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from otel_xray.devtools.loopback import LoopbackHandler, LoopbackServer
from otel_xray.devtools.traces.analysis import analyze
from otel_xray.devtools.traces.filters import FilterExpression, FilterSyntaxError
from otel_xray.devtools.traces.service_graph import CLIENT, ServiceGraph, Statistics
from otel_xray.devtools.traces.store import Trace, TraceStore
from otel_xray.devtools.traces.summary import check_document, trace_summary
from otel_xray.devtools.traces.svg import render_svg

PAGE = Path(__file__).with_name("index.html")
#: AWS's published segment document schema (the copy tests/data holds too).
SCHEMA = Path(__file__).with_name("xray-segmentdocument-schema-v1.0.0.json")


def _schema_validator() -> Any:
    """A validator for the schema, or None without the jsonschema package (then only the
    required fields are checked)."""
    try:
        import jsonschema  # type: ignore[import-untyped]  # noqa: PLC0415  (optional: dev)
    except ImportError:
        return None
    schema = json.loads(SCHEMA.read_text())
    return jsonschema.Draft4Validator(schema)


class ConsoleData:
    """The documents of ``paths``, read again when a file changes; tolerant of bad lines."""

    def __init__(
        self,
        paths: Sequence[str | Path],
        groups: Mapping[str, str] | None = None,
        group_problems: Sequence[str] = (),
    ) -> None:
        self.paths = [Path(p) for p in paths]
        self.groups: dict[str, str] = {}
        self.group_problems = list(group_problems)
        for name, expression in (groups or {}).items():
            try:  # a preset that does not parse is reported once, not offered
                FilterExpression.parse(expression)
            except FilterSyntaxError as error:
                self.group_problems.append(f"group {name}: {str(error).splitlines()[0]}")
            else:
                self.groups[name] = expression
        self.warnings: list[str] = []
        self._seen: dict[Path, tuple[float, int] | None] = {}
        self._store = TraceStore()
        self._lock = threading.Lock()

    def store(self) -> TraceStore:
        with self._lock:
            state = {path: _state(path) for path in self.paths}
            if state != self._seen:
                self._store, self.warnings = _read(self.paths)
                self._seen = state
            return self._store

    def traces(self, expression: str) -> dict[str, Any]:
        store = self.store()
        traces = store.traces()
        if expression.strip():
            parsed = FilterExpression.parse(expression)  # FilterSyntaxError: the caller's 400
            traces = [t for t in traces if parsed.matches(t, store)]
        rows = [trace_summary(t) for t in reversed(traces) if t.segments]
        return {"traces": rows, "total": len(store.trace_ids())}

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        store = self.store()
        if trace_id not in store.trace_ids():
            return None
        trace = store.trace(trace_id)
        return {
            "id": trace.id,
            "start": trace.start,
            "duration": trace.duration,
            "segments": trace.segments,
            "orphans": trace.orphans,
        }

    def graph(self) -> dict[str, Any]:
        graph = ServiceGraph.build(self.store())
        return {**graph.to_dict(), "svg": render_svg(graph, "service map")}

    def selected(self, expression: str) -> tuple[TraceStore, list[Trace]]:
        store = self.store()
        traces = [t for t in store.traces() if t.segments]
        if expression.strip():
            parsed = FilterExpression.parse(expression)
            traces = [t for t in traces if parsed.matches(t, store)]
        return store, traces

    def analysis(self, expression: str) -> dict[str, Any]:
        store, traces = self.selected(expression)
        return analyze(store, traces).to_dict()

    def slowest(self, expression: str, count: int = 10) -> dict[str, Any]:
        _, traces = self.selected(expression)
        ranked = sorted(traces, key=lambda t: t.duration, reverse=True)[:count]
        return {"traces": [trace_summary(t) for t in ranked]}

    def services(self) -> dict[str, Any]:
        graph = ServiceGraph.build(self.store())
        nodes = [
            {"name": node.name, "type": node.type, **_distribution(node.statistics)}
            for key, node in graph.nodes.items()
            if key != CLIENT
        ]
        edges = [
            {
                "source": graph.nodes[source].name,
                "target": graph.nodes[target].name,
                "target_type": graph.nodes[target].type,
                "linked": edge.linked,
                **_distribution(edge.statistics),
            }
            for (source, target), edge in graph.edges.items()
            if source != CLIENT
        ]
        return {"nodes": nodes, "edges": edges}

    def group_list(self) -> dict[str, Any]:
        return {
            "groups": [{"name": n, "expression": e} for n, e in self.groups.items()],
            "problems": self.group_problems,
        }

    def report(self) -> dict[str, Any]:
        """Every answer the page asks for, for the whole set and each group preset."""
        store = self.store()
        filtered = {
            expression: {
                "/api/traces": self.traces(expression),
                "/api/analyze": self.analysis(expression),
                "/api/slowest": self.slowest(expression),
            }
            for expression in ["", *self.groups.values()]
        }
        return {
            "filtered": filtered,
            "traces_by_id": {t: self.trace(t) for t in store.trace_ids()},
            "static": {
                "/api/graph": self.graph(),
                "/api/services": self.services(),
                "/api/groups": self.group_list(),
                "/api/warnings": {"warnings": self.warnings},
            },
        }


def _distribution(statistics: Statistics) -> dict[str, Any]:
    times = sorted(statistics.response_times)

    def percentile(fraction: float) -> float | None:
        if not times:
            return None
        return times[min(len(times) - 1, int(fraction * len(times)))] * 1000

    return {
        "count": statistics.total,
        "ok": statistics.ok,
        "error": statistics.error,
        "fault": statistics.fault,
        "p50_ms": percentile(0.50),
        "p90_ms": percentile(0.90),
        "p99_ms": percentile(0.99),
        "histogram": statistics.histogram(),
    }


def _state(path: Path) -> tuple[float, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime, status.st_size


def _read(paths: Sequence[Path]) -> tuple[TraceStore, list[str]]:
    store, warnings = TraceStore(), []
    validator = _schema_validator()
    for path in paths:
        try:
            text = path.read_text(errors="replace")
        except OSError as error:
            warnings.append(f"{path}: cannot be read ({error.strerror}); skipped")
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            document, problem = check_document(line)
            if document is None:
                warnings.append(f"{path}:{number}: {problem}; skipped")
                continue
            failure = next(iter(validator.iter_errors(document)), None) if validator else None
            if failure is not None:
                where = "/".join(str(p) for p in failure.absolute_path) or "the document"
                warnings.append(
                    f"{path}:{number}: fails the segment document schema at {where}: "
                    f"{failure.message[:200]}; skipped"
                )
                continue
            store.add(document)
    for trace in store.traces():
        for orphan in trace.orphans:
            warnings.append(
                f"trace {trace.id}: subsegment {orphan.get('name')!r} ({orphan.get('id')}) "
                f"has no parent {orphan.get('parent_id')} in the files; shown on its own"
            )
    return store, warnings


class Console(LoopbackServer):
    """The console's server; ``url`` is what to open."""

    def __init__(
        self,
        paths: Sequence[str | Path],
        port: int = 0,
        groups: Mapping[str, str] | None = None,
        group_problems: Sequence[str] = (),
    ) -> None:
        self.data = ConsoleData(paths, groups, group_problems)
        super().__init__(self._handler_class(), port)

    @property
    def url(self) -> str:
        return f"http://{self.address}/"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        data = self.data

        class Handler(LoopbackHandler):
            def do_GET(self) -> None:
                split = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(split.query).items()}
                try:
                    if split.path in ("/", "/index.html"):
                        self._send(200, PAGE.read_bytes(), "text/html; charset=utf-8")
                        return
                    if split.path == "/api/traces":
                        self._json(200, data.traces(query.get("filter", "")))
                    elif split.path == "/api/trace":
                        found = data.trace(query.get("id", ""))
                        if found is None:
                            self._json(404, {"error": f"no trace {query.get('id', '')!r}"})
                        else:
                            self._json(200, found)
                    elif split.path == "/api/graph":
                        self._json(200, data.graph())
                    elif split.path == "/api/analyze":
                        self._json(200, data.analysis(query.get("filter", "")))
                    elif split.path == "/api/slowest":
                        self._json(200, data.slowest(query.get("filter", "")))
                    elif split.path == "/api/services":
                        self._json(200, data.services())
                    elif split.path == "/api/groups":
                        self._json(200, data.group_list())
                    elif split.path == "/api/warnings":
                        data.store()
                        self._json(200, {"warnings": data.warnings})
                    else:
                        self._json(404, {"error": f"nothing at {split.path}"})
                except FilterSyntaxError as error:
                    self._json(
                        400,
                        {"error": str(error).splitlines()[0], "position": error.position},
                    )
                except Exception as error:  # a bad document must not stop the console
                    self._json(500, {"error": f"{type(error).__name__}: {error}"})

            def _json(self, status: int, payload: Any) -> None:
                self.reply_json(status, payload, {"Cache-Control": "no-store"})

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.reply(status, body, kind, {"Cache-Control": "no-store"})

        return Handler


def serve(
    paths: Sequence[str | Path],
    port: int = 0,
    groups: Mapping[str, str] | None = None,
    group_problems: Sequence[str] = (),
) -> int:
    """Run until Ctrl-C; prints the address."""
    missing = [str(p) for p in paths if not os.path.exists(p)]
    if missing:
        print(f"otel-xray: note: {', '.join(missing)} not there yet; shown once written")
    for problem in group_problems:
        print(f"otel-xray: {problem}")
    console = Console(paths, port, groups, group_problems).start()
    print(f"otel-xray console on {console.url}  (Ctrl-C stops it)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("\nstopped")
    finally:
        console.stop()
    return 0


def write_report(
    paths: Sequence[str | Path],
    out: str | Path,
    groups: Mapping[str, str] | None = None,
    group_problems: Sequence[str] = (),
) -> Path:
    """The console's page with every answer inside it: one self-contained HTML file."""
    data = ConsoleData(paths, groups, group_problems)
    answers = json.dumps(data.report(), default=str).replace("</", "<\\/")
    page = PAGE.read_text()
    marker = '<script>\n"use strict";'
    if marker not in page:
        raise RuntimeError("index.html has no main script to put the report before")
    page = page.replace(marker, f"<script>window.REPORT = {answers};</script>\n{marker}", 1)
    target = Path(out)
    target.write_text(page)
    return target
