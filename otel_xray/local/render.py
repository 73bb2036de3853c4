"""Draw captured spans as an indented tree with durations, one trace at a time."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from otel_xray.local.receiver import SpanDict

BAR_WIDTH = 24
_SHOWN_ATTRIBUTES = (
    "faas.coldstart",
    "faas.trigger",
    "http.request.method",
    "http.response.status_code",
    "rpc.method",
    "aws.request_id",
)


def _duration_ms(span: SpanDict) -> float:
    return float(span["end_time_unix_nano"] - span["start_time_unix_nano"]) / 1e6


def render_traces(spans: Iterable[SpanDict]) -> str:
    """Every trace in ``spans``, each as a tree under its header line."""
    by_trace: dict[str, list[SpanDict]] = defaultdict(list)
    for span in spans:
        by_trace[span["trace_id"]].append(span)
    return "\n".join(render_trace(trace_spans) for trace_spans in by_trace.values())


def render_trace(spans: list[SpanDict]) -> str:
    ids = {s["span_id"] for s in spans}
    children: dict[str | None, list[SpanDict]] = defaultdict(list)
    for span in sorted(spans, key=lambda s: s["start_time_unix_nano"]):
        parent = span["parent_span_id"] if span["parent_span_id"] in ids else None
        children[parent].append(span)
    trace_id = spans[0]["trace_id"]
    start = min(s["start_time_unix_nano"] for s in spans)
    total = max(max(s["end_time_unix_nano"] for s in spans) - start, 1)
    lines = [f"trace 1-{trace_id[:8]}-{trace_id[8:]}"]

    def walk(span: SpanDict, prefix: str, last: bool) -> None:
        offset = int((span["start_time_unix_nano"] - start) / total * BAR_WIDTH)
        width = max(
            1, int((span["end_time_unix_nano"] - span["start_time_unix_nano"]) / total * BAR_WIDTH)
        )
        bar = (" " * offset + "█" * width).ljust(BAR_WIDTH)[:BAR_WIDTH]
        error = "  ERROR" if span["status"]["code"] == "ERROR" else ""
        exceptions = [e for e in span["events"] if e["name"] == "exception"]
        label = f"{prefix}{'└─ ' if last else '├─ '}{span['name']}"
        details = [
            f"{k}={span['attributes'][k]}" for k in _SHOWN_ATTRIBUTES if k in span["attributes"]
        ]
        lines.append(
            f"{label:<48} {_duration_ms(span):>9.1f} ms |{bar}|{error}"
            + (f"  {' '.join(details)}" if details else "")
        )
        for event in exceptions:
            attrs = event["attributes"]
            lines.append(
                f"{prefix}{'   ' if last else '│  '}   ! {attrs.get('exception.type')}: "
                f"{attrs.get('exception.message')}"
            )
        kids = children.get(span["span_id"], [])
        for index, child in enumerate(kids):
            walk(child, prefix + ("   " if last else "│  "), index == len(kids) - 1)

    roots = children.get(None, [])
    for index, root in enumerate(roots):
        walk(root, "", index == len(roots) - 1)
    return "\n".join(lines)
