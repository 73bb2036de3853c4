"""Powertools for AWS Lambda's event handler: the matched route on the handler's span.

Powertools' ``APIGatewayRestResolver``, ``APIGatewayHttpResolver`` (and its other
resolvers, all ``ApiGatewayResolver``) route inside the function; no upstream
instrumentation exists for them. Every resolved request goes through
``ApiGatewayResolver._call_route(route, route_arguments)`` (aws-lambda-powertools 3.x,
``event_handler/api_gateway.py``), whose ``Route`` holds the method and the path in
OpenAPI form (``openapi_path``: ``/orders/{id}`` for ``/orders/<id>``). The wrapper
records that route on the current span, the function's handler span, before the route
runs (:func:`otel_xray.instrumentation.web.record_route`). Spans are not made here.
"""

from __future__ import annotations

import functools
from typing import Any

from otel_xray.instrumentation.web import record_route

_originals: dict[str, Any] = {}


class PowertoolsInstrumentor:
    """The registry's instrumentor for the ``powertools-event-handler`` row."""

    @property
    def is_instrumented_by_opentelemetry(self) -> bool:
        return bool(_originals)

    def instrument(self, **kwargs: Any) -> None:
        from aws_lambda_powertools.event_handler.api_gateway import (  # noqa: PLC0415
            ApiGatewayResolver,
        )

        if _originals:
            return
        for name in ("_call_route", "_call_route_async"):
            original = getattr(ApiGatewayResolver, name, None)
            if original is None:
                continue
            _originals[name] = original
            setattr(ApiGatewayResolver, name, _wrapped(original))

    def uninstrument(self) -> None:
        from aws_lambda_powertools.event_handler.api_gateway import (  # noqa: PLC0415
            ApiGatewayResolver,
        )

        for name, original in _originals.items():
            setattr(ApiGatewayResolver, name, original)
        _originals.clear()


def _wrapped(original: Any) -> Any:
    @functools.wraps(original)
    def call_route(resolver: Any, route: Any, *args: Any, **kwargs: Any) -> Any:
        record_route(getattr(route, "method", None), getattr(route, "openapi_path", None))
        return original(resolver, route, *args, **kwargs)

    return call_route
