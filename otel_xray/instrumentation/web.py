"""What the web frameworks' rows share: the route a request matched, for the span that
stands for the request.

In a service, upstream's server instrumentations (Flask, Django, FastAPI, Starlette,
through their WSGI and ASGI middleware) make the request's SERVER span and name it
``GET /orders/{id}`` from the framework's route. Inside Lambda there is already a span
for the request: the handler's invocation span, under Lambda's function segment, and
upstream's middleware sees it is active and makes an INTERNAL child instead of a SERVER
span (``opentelemetry.instrumentation.utils._start_internal_or_server_span``). So the
route is known one level too low, and an API Gateway proxy event names only
``/{proxy+}``. :func:`record_route` puts the framework's template on the span that
stands for the request, whichever it is, so the function's handler span carries
``GET /orders/{id}`` instead of one name per URL. Rows whose framework has no upstream
instrumentation (Powertools' event handler) call it from their own hook.

Example:
    >>> route_name("get", "/orders/{id}")
    'GET /orders/{id}'
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import Span

#: The ASGI middleware's per-message spans ("http send", "http receive"): one request
#: would be three subsegments, so they are left out (the request's span keeps the status).
EXCLUDED_ASGI_SPANS: list[str] = ["receive", "send"]

#: Open request spans (the Lambda integration's invocation spans), by span id.
_request_spans: dict[int, Span] = {}
_lock = threading.Lock()
_installed: weakref.WeakSet[Any] = weakref.WeakSet()


def route_name(method: str, route: str) -> str:
    return f"{method.upper()} {route}"


def open_request(span: Span) -> None:
    """``span`` stands for a request until :func:`close_request` (the Lambda integration
    calls both around each invocation once this module is loaded)."""
    with _lock:
        _request_spans[span.get_span_context().span_id] = span


def close_request(span: Span) -> None:
    with _lock:
        _request_spans.pop(span.get_span_context().span_id, None)


def record_route(method: Any, route: Any, span: Span | None = None) -> None:
    """Put the matched route on ``span`` (default: the current span); never raises."""
    try:
        target = span or trace.get_current_span()
        if not isinstance(route, str) or not route or not target.is_recording():
            return
        target.set_attribute("http.route", route)
        if isinstance(method, str) and method:
            target.set_attribute("http.request.method", method.upper())
    except Exception:  # tracing never breaks the request
        pass


class RouteToRequestSpan(SpanProcessor):
    """When a framework's span with ``http.route`` ends directly under an open request
    span, the request span takes the route (see the module docstring)."""

    def on_end(self, span: ReadableSpan) -> None:
        parent = span.parent
        if parent is None or not _request_spans:
            return
        target = _request_spans.get(parent.span_id)
        attributes = span.attributes or {}
        if target is not None and "http.route" in attributes:
            method = attributes.get("http.request.method") or attributes.get("http.method")
            record_route(method, attributes["http.route"], target)


def install() -> None:
    """The registry's hook of the framework rows: the processor above, once per provider."""
    provider = trace.get_tracer_provider()
    add = getattr(provider, "add_span_processor", None)
    if add is None or provider in _installed:
        return
    _installed.add(provider)
    add(RouteToRequestSpan())


def uninstall() -> None:
    """Nothing to undo: the processor does nothing without open request spans."""
