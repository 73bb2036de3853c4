"""The ``X-Amzn-Trace-Id`` an AWS SDK call sends names the call's own span as ``Parent``.

In Lambda, botocore's recursion-detection handler copies ``_X_AMZN_TRACE_ID``
into every request, and the upstream botocore instrumentation injects its header
only when none is there yet. So, upstream, every AWS call tells the service that
its parent is Lambda's *function segment*, not the call's subsegment: an SQS
message's ``AWSTraceHeader``, an invoked function's ``AWS::Lambda`` segment or a
Step Functions execution then hang off the wrong node (seen here: the SQS
consumer's link pointed at the producer's function segment). The X-Ray SDK sends
the subsegment's id, and so do we: this wrapper, outside the instrumentation's,
rewrites the header from the current span (the call's span) in the same trace,
keeping ``Lineage`` and the other keys Lambda passed (its recursion detection
reads them). A header for another trace, set by the caller on purpose, is left as
it is.

Imported only once botocore is instrumented, so its imports (wrapt, the
instrumentation utilities) are already paid for by then.
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.endpoint import Endpoint  # type: ignore[import-untyped]
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from otel_xray.propagation import (
    EXTRA_HEADER_PAIRS_KEY,
    TRACE_HEADER_NAME,
    XRayPropagator,
    parse_trace_header,
)

logger = logging.getLogger("otel_xray")
#: Stateless: it formats the header from the context it is given.
_propagator = XRayPropagator()


def installed() -> bool:
    """Whether ``Endpoint.prepare_request`` is wrapped by this module (read off botocore)."""
    return getattr(Endpoint.prepare_request, "_self_wrapper", None) is _prepare_request


def install() -> None:
    """Wrap ``botocore.endpoint.Endpoint.prepare_request`` (idempotent)."""
    if installed():
        return
    wrap_function_wrapper("botocore.endpoint", "Endpoint.prepare_request", _prepare_request)


def uninstall() -> None:
    """Undo :func:`install` (idempotent)."""
    if not installed():
        return
    unwrap(Endpoint, "prepare_request")


def _prepare_request(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        _name_current_span(args[0].headers)
    except Exception:
        logger.debug("otel-xray: AWS SDK trace header left as it was", exc_info=True)
    return wrapped(*args, **kwargs)


def _name_current_span(headers: Any) -> None:
    current = trace.get_current_span().get_span_context()
    if not current.is_valid:
        return
    context = otel_context.get_current()
    existing = headers.get(TRACE_HEADER_NAME)
    if existing is not None:
        if isinstance(existing, bytes):
            existing = existing.decode("latin-1")
        parsed = parse_trace_header(existing)
        if parsed is not None and parsed.trace_id != current.trace_id:
            return
        if parsed is not None and not otel_context.get_value(EXTRA_HEADER_PAIRS_KEY):
            # Keep Lambda's keys (Lineage) even where the context did not carry them.
            context = otel_context.set_value(EXTRA_HEADER_PAIRS_KEY, parsed.extra, context)
        del headers[TRACE_HEADER_NAME]
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context)
    if TRACE_HEADER_NAME in carrier:
        headers[TRACE_HEADER_NAME] = carrier[TRACE_HEADER_NAME]
