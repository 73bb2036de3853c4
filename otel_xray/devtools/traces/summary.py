"""What X-Ray's API says of documents and traces: PutTraceSegments' checks, TraceSummary.

Both the local X-Ray API (:mod:`otel_xray.devtools.components.xray_api`) and the console
(:mod:`otel_xray.devtools.traces.console`) need them, so they live with the trace data
rather than in either. The checks follow the developer guide's "Segment fields"; the
summary's fields are those of botocore's ``TraceSummary`` shape.

Example:
    >>> document, problem = check_document('{"name": "api", "id": "70de5b6f19ff9a0a"}')
    >>> document, problem
    (None, "missing required field 'trace_id'")
"""

from __future__ import annotations

import json
import re
from typing import Any

from otel_xray.devtools.traces.store import Document, Trace, duration_of, status_of

_TRACE_ID = re.compile(r"1-[0-9a-f]{8}-[0-9a-f]{24}")
_SEGMENT_ID = re.compile(r"[0-9a-f]{16}")


def check_document(raw: str) -> tuple[Document | None, str]:
    """The document, or None and why X-Ray would not process it.

    The checks are the segment document's required fields (the developer guide,
    "Segment fields"): ``name``, ``id`` (16 hex digits), ``trace_id`` (``1-8hex-24hex``),
    ``start_time``, and ``end_time`` or ``in_progress``; an independent subsegment
    also needs ``parent_id``.
    """
    try:
        document = json.loads(raw)
    except ValueError as error:
        return None, f"not JSON: {error}"
    if not isinstance(document, dict):
        return None, "not a JSON object"
    for key in ("name", "id", "trace_id", "start_time"):
        if key not in document:
            return None, f"missing required field {key!r}"
    if not _SEGMENT_ID.fullmatch(str(document["id"])):
        return None, f"id {document['id']!r} is not 16 hexadecimal digits"
    if not _TRACE_ID.fullmatch(str(document["trace_id"])):
        return None, f"trace_id {document['trace_id']!r} is not 1-XXXXXXXX-XXXXXXXXXXXXXXXXXXXXXXXX"
    if "end_time" not in document and document.get("in_progress") is not True:
        return None, "neither end_time nor in_progress: true"
    if document.get("type") == "subsegment" and not document.get("parent_id"):
        return None, "an independent subsegment needs parent_id"
    return document, ""


def trace_summary(trace: Trace) -> dict[str, Any]:
    """A ``TraceSummary``: what the trace list of the console shows for one trace."""
    root = trace.segments[0]
    http = root.get("http", {}) if isinstance(root.get("http"), dict) else {}
    request, response = http.get("request", {}), http.get("response", {})
    annotations: dict[str, list[dict[str, Any]]] = {}
    services: dict[tuple[str, str], dict[str, Any]] = {}
    for document, segment in trace.walk():
        if document is segment and not document.get("inferred"):
            name, kind = str(segment.get("name")), str(segment.get("origin", "client"))
            services[(name, kind)] = {"Name": name, "Names": [name], "Type": kind}
        for key, value in (document.get("annotations") or {}).items():
            annotations.setdefault(key, []).append({"AnnotationValue": _annotation_value(value)})
    statuses = {status_of(d) for d, _ in trace.walk()}
    summary: dict[str, Any] = {
        "Id": trace.id,
        "StartTime": trace.start,
        "Duration": round(trace.duration, 3),
        "ResponseTime": round(duration_of(root), 3),
        "HasFault": "fault" in statuses,
        "HasError": "error" in statuses,
        "HasThrottle": "throttle" in statuses,
        "IsPartial": bool(trace.orphans) or any(d.get("in_progress") for d, _ in trace.walk()),
        "Annotations": annotations,
        "ServiceIds": list(services.values()),
    }
    if request or response:
        summary["Http"] = {
            key: value
            for key, value in (
                ("HttpURL", request.get("url")),
                ("HttpStatus", response.get("status")),
                ("HttpMethod", request.get("method")),
                ("UserAgent", request.get("user_agent")),
                ("ClientIp", request.get("client_ip")),
            )
            if value is not None
        }
    return summary


def _annotation_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BooleanValue": value}
    if isinstance(value, int | float):
        return {"NumberValue": value}
    return {"StringValue": str(value)}
