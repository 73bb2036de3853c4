"""Searchable X-Ray annotations and non-indexed metadata on the current span.

Why not the X-Ray SDK's ``put_annotation``: in Lambda it raises
``FacadeSegmentMutationException`` unless a subsegment is open, and it drops a bad
key silently. Here the current span is always there (the handler's own span in
Lambda), every X-Ray rule is checked, and a broken rule is never silent: it raises
:class:`AnnotationError` under ``OTEL_XRAY_STRICT=true`` (tests), and otherwise
logs once per rule and is counted, both in :func:`annotation_stats` and on the
span (``otel_xray.annotations.rejected``, visible in X-Ray metadata).

Rules (X-Ray's): key ``[A-Za-z0-9_]{1,500}``; value a string of at most 1000
characters, an int, a finite float or a bool; at most 50 annotations per trace.
Values are exported through the PII redactor like every attribute: an email given
as ``user_id`` leaves the function as ``[REDACTED:email]`` (or its keyed pseudonym).

Example:
    >>> import otel_xray
    >>> otel_xray.annotate(transaction_type="checkout", order_total=42.5)
    >>> otel_xray.annotate("user_id", "u-4821")
    >>> otel_xray.metadata(namespace="order", items=["book", "lamp"], express=False)
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace

from otel_xray.configurator import TRACES_REMEMBERED, current, state
from otel_xray.configurator import AnnotationLedger as AnnotationStats
from otel_xray.xray import (
    ANNOTATIONS_ATTRIBUTE,
    MAX_ANNOTATION_KEY,
    MAX_ANNOTATION_VALUE,
    MAX_ANNOTATIONS_PER_TRACE,
    MAX_METADATA_BYTES,
    METADATA_PREFIX,
)

logger = logging.getLogger("otel_xray")

__all__ = ["AnnotationError", "AnnotationStats", "annotate", "annotation_stats", "metadata"]

REJECTED_ATTRIBUTE = "otel_xray.annotations.rejected"
#: What one namespace may hold before redaction (its values are cut to
#: MAX_METADATA_STRING and the namespace to MAX_METADATA_BYTES after it: nothing is
#: cut before redaction, so no part of a personal value can survive a cut).
MAX_METADATA_BYTES_BEFORE_REDACTION = 4 * MAX_METADATA_BYTES
_KEY = re.compile(rf"[A-Za-z0-9_]{{1,{MAX_ANNOTATION_KEY}}}")


class AnnotationError(ValueError):
    """An annotation that X-Ray would not index; raised only in strict mode."""


def annotation_stats() -> AnnotationStats:
    """Annotations written and rejected (by rule) since the process started (or the last reset)."""
    return state().annotations


def annotate(key: str | None = None, value: Any = None, /, **values: Any) -> None:
    """Set X-Ray annotations (indexed, searchable) on the current span.

    ``annotate(user_id="u-1", order_total=42.5)`` or ``annotate("user_id", "u-1")``.
    Never raises unless ``OTEL_XRAY_STRICT`` is on.
    """
    pairs = dict(values)
    if key is not None:
        pairs[key] = value
    span = trace.get_current_span()
    for name, item in pairs.items():
        _annotate_one(span, name, item)


def annotate_span(span: trace.Span, key: Any, value: Any) -> None:
    """One annotation on ``span`` (not necessarily the current one), by the same rules.

    For code that holds its span, as the X-Ray SDK bridge holds each subsegment's.
    """
    _annotate_one(span, key, value)


def _annotate_one(span: trace.Span, key: Any, value: Any) -> None:
    problem = _problem(key, value)
    context = span.get_span_context()
    if problem is None and context.is_valid:
        problem = _count_for_trace(context.trace_id, key)
    if problem is not None:
        _reject(span, problem, key)
        return
    if not span.is_recording():
        return
    try:
        existing = _attribute(span, ANNOTATIONS_ATTRIBUTE) or ()
        span.set_attribute(key, value)
        if key not in existing:
            span.set_attribute(ANNOTATIONS_ATTRIBUTE, [*existing, key])
        state().annotations.written += 1
    except Exception:
        logger.debug("otel-xray: annotation %r not set", key, exc_info=True)


def _problem(key: Any, value: Any) -> str | None:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        return f"key: 1 to {MAX_ANNOTATION_KEY} of A-Z a-z 0-9 _"
    if isinstance(value, str):
        if len(value) > MAX_ANNOTATION_VALUE:
            return f"value: a string of at most {MAX_ANNOTATION_VALUE} characters"
        return None
    if isinstance(value, bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "value: a finite number"
    return "value: a string, int, float or bool"


def reserve(trace_id: int, keys: list[str]) -> None:
    """Count annotations otel-xray sets itself (ColdStart, Service) toward the trace's 50."""
    for key in keys:
        _count_for_trace(trace_id, key)


def claim(trace_id: int, keys: list[str]) -> None:
    """Code set these annotations itself in this trace (Powertools' ``ColdStart`` and
    ``Service``, through the X-Ray SDK bridge): the Lambda integration leaves its own
    out, so a trace never holds two of them."""
    ledger = state().annotations
    with ledger.lock:
        claimed = ledger.claimed_by_trace.get(trace_id)
        if claimed is None:
            claimed = ledger.claimed_by_trace[trace_id] = set()
            while len(ledger.claimed_by_trace) > TRACES_REMEMBERED:
                ledger.claimed_by_trace.popitem(last=False)
        claimed.update(keys)


def claimed(trace_id: int) -> frozenset[str]:
    """The keys :func:`claim` recorded for ``trace_id``."""
    ledger = state().annotations
    with ledger.lock:
        return frozenset(ledger.claimed_by_trace.get(trace_id, ()))


def _count_for_trace(trace_id: int, key: str) -> str | None:
    ledger = state().annotations
    with ledger.lock:
        keys = ledger.keys_by_trace.get(trace_id)
        if keys is None:
            keys = ledger.keys_by_trace[trace_id] = set()
            while len(ledger.keys_by_trace) > TRACES_REMEMBERED:
                ledger.keys_by_trace.popitem(last=False)
        if key in keys:
            return None
        if len(keys) >= MAX_ANNOTATIONS_PER_TRACE:
            return f"count: at most {MAX_ANNOTATIONS_PER_TRACE} annotations per trace"
        keys.add(key)
        return None


def _reject(span: trace.Span, problem: str, key: Any) -> None:
    rule = problem.split(":", 1)[0]
    process = state()
    with process.annotations.lock:
        process.annotations.rejected[rule] = process.annotations.rejected.get(rule, 0) + 1
        first = process.log_once(f"annotation-rule:{rule}")
    message = f"otel-xray: annotation {str(key)[:60]!r} not indexed by X-Ray; accepted {problem}"
    if _strict():
        raise AnnotationError(message)
    if first:
        logger.warning("%s (logged once per rule; see otel_xray.annotation_stats())", message)
    try:
        if span.is_recording():
            span.set_attribute(REJECTED_ATTRIBUTE, (_attribute(span, REJECTED_ATTRIBUTE) or 0) + 1)
    except Exception:
        logger.debug("otel-xray: could not count the rejected annotation", exc_info=True)


def metadata(namespace: str = "default", /, **values: Any) -> None:
    """Attach non-indexed data to the current span, under ``namespace`` in X-Ray.

    Values are made JSON-safe without consuming anything: a stream, file or
    botocore ``StreamingBody`` is shown by its type, never read. After redaction a
    string holds at most 4096 characters (then "…") and one namespace at most 16 KB
    (beyond that entries are dropped and ``_truncated`` set).
    """
    try:
        _metadata(namespace, values)
    except AnnotationError:
        raise
    except Exception:
        logger.debug("otel-xray: metadata not set", exc_info=True)


def metadata_on_span(span: trace.Span, namespace: str, values: Mapping[str, Any]) -> None:
    """:func:`metadata` on ``span`` (not necessarily the current one); never raises
    unless ``OTEL_XRAY_STRICT`` is on."""
    try:
        _metadata(namespace, values, span)
    except AnnotationError:
        raise
    except Exception:
        logger.debug("otel-xray: metadata not set", exc_info=True)


def _metadata(namespace: str, values: Mapping[str, Any], span: trace.Span | None = None) -> None:
    if not isinstance(namespace, str) or not namespace or namespace.startswith("AWS."):
        problem = "namespace: a non-empty name not starting with 'AWS.' (reserved)"
        if _strict():
            raise AnnotationError(f"otel-xray: metadata {namespace!r} rejected; accepted {problem}")
        logger.warning("otel-xray: metadata namespace %r rejected; accepted %s", namespace, problem)
        return
    if span is None:
        span = trace.get_current_span()
    if not span.is_recording():
        return
    key = METADATA_PREFIX + namespace
    current: dict[str, Any] = {}
    existing = _attribute(span, key)
    if isinstance(existing, str):
        try:
            loaded = json.loads(existing)
            current = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            current = {}
    before = dict(current)
    current.update((str(name), json_safe(value)) for name, value in values.items())
    encoded = json.dumps(current, separators=(",", ":"))
    if len(encoded.encode()) > MAX_METADATA_BYTES_BEFORE_REDACTION:
        # Over the bound: add the new entries one by one, dropping those that do not fit.
        current = before
        for name, value in values.items():
            current[str(name)] = json_safe(value)
            encoded = json.dumps(current, separators=(",", ":"))
            if len(encoded.encode()) > MAX_METADATA_BYTES_BEFORE_REDACTION:
                del current[str(name)]
                current["_truncated"] = True
        encoded = json.dumps(current, separators=(",", ":"))
    span.set_attribute(key, encoded)


def json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` as plain JSON types, bounded in depth and size, reading nothing."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        # Whole: cut only after redaction (otel_xray.pii.Redactor.metadata).
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= 8:
        return f"<{type(value).__name__}: nested too deep>"
    if isinstance(value, Mapping):
        items = list(value.items())[:200]
        return {str(k): json_safe(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v, depth + 1) for v in list(value)[:200]]
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    # Streams, files, generators, SDK objects: never iterated or read.
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def _attribute(span: trace.Span, key: str) -> Any:
    attributes = getattr(span, "attributes", None)
    return attributes.get(key) if attributes is not None else None


def _strict() -> bool:
    tracing = current()
    return bool(tracing is not None and tracing.settings.strict)
