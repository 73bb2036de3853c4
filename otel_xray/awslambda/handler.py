"""Trace each invocation of a Lambda handler, under Lambda's own function segment.

Differences from opentelemetry-python-contrib's aws-lambda instrumentation, on
purpose:

* the parent is always the ``Parent`` of ``_X_AMZN_TRACE_ID`` (Lambda's
  ``AWS::Lambda::Function`` segment); other incoming contexts become links;
* the span kind is INTERNAL, not SERVER: X-Ray turns a SERVER span into a segment
  of its own, an extra node named after ``service.name`` between the function and
  its downstream calls, while an INTERNAL span is a subsegment of the function's
  segment, which is what the service map should show;
* ``faas.coldstart`` is set (false under provisioned concurrency and on Managed
  Instances, whose init runs before traffic is routed: AWS says they scale "without
  cold starts"; true for the first invocation after a SnapStart restore);
* on Managed Instances the environment never freezes, so spans are exported by a
  background worker off the request path (see :mod:`otel_xray.configurator`), and
  the handler does not flush;
* a tenant-isolated function's ``context.tenant_id`` (awslambdaric 4.x, from the
  runtime's ``Lambda-Runtime-Aws-Tenant-Id`` header) becomes the annotation
  :data:`TENANT_ANNOTATION`, searchable with ``annotation.TenantId = "…"``. A tenant id
  can name a customer, so ``OTEL_XRAY_TENANT_ID`` decides: ``hash`` (the default in the
  PII hash mode: the PII hash of the whole id, ``[tenant:<16 hex>]``, the same for the
  same id and key), ``keep`` (the default otherwise; the value still passes the PII
  detectors like every value, so an email used as a tenant id is redacted) or ``off``;
* spans are exported after the response, by an internal Lambda extension's thread
  (:mod:`otel_xray.awslambda.extension`), or, where none is registered, flushed
  before the handler returns; either way within a bound taken from
  ``context.get_remaining_time_in_millis()``, never the fixed 30 s upstream waits;
* ``async def`` handlers are run to completion (the Lambda runtime client would
  otherwise try to serialize a coroutine).

Nothing from tracing reaches the handler: every tracing step is guarded, and the
handler's own result or exception passes through unchanged.

Example:
    >>> import otel_xray
    >>> @otel_xray.lambda_handler
    ... def handler(event, context):
    ...     return {"statusCode": 200}
    >>> handler({}, None)
    {'statusCode': 200}
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_xray.annotations import claimed, metadata, reserve
from otel_xray.awslambda import events, extension
from otel_xray.configurator import Tracing, configure, state
from otel_xray.export import Deadline
from otel_xray.ids import JOIN_TRACE_ID_KEY, format_xray_trace_id
from otel_xray.propagation import context_from_header, lambda_trace_header
from otel_xray.sampling import LAMBDA_PASSTHROUGH_KEY
from otel_xray.settings import Settings
from otel_xray.xray import ANNOTATIONS_ATTRIBUTE

logger = logging.getLogger("otel_xray")

HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])

#: The annotation key of ``context.tenant_id`` (PascalCase, like Powertools'
#: ``ColdStart`` and ``Service``).
TENANT_ANNOTATION = "TenantId"


def lambda_handler(handler: HandlerT) -> HandlerT:
    """Decorate a Lambda handler so each invocation is traced (configures on first use).

    Works for ``def`` and ``async def`` handlers; the wrapped handler keeps its name.
    """
    if getattr(handler, "__otel_xray_wrapped__", False):
        return handler
    if "AWS_LAMBDA_RUNTIME_API" in os.environ:
        # Lambda's init: the last moment an extension may register (the wrapper's
        # import is earlier; this is for a function that uses the decorator itself).
        extension.start(configure())

    @functools.wraps(handler)
    def traced(event: Any, context: Any) -> Any:
        return invoke(handler, event, context)

    traced.__otel_xray_wrapped__ = True  # type: ignore[attr-defined]
    return traced  # type: ignore[return-value]


def invoke(handler: Callable[..., Any], event: Any, context: Any) -> Any:
    """Run ``handler(event, context)`` inside an invocation span; returns what it returns."""
    invocation = _Invocation.start(event, context)
    try:
        result = handler(event, context)
        if inspect.isawaitable(result):
            result = _run_awaitable(result)
    except BaseException as error:
        if invocation is not None:
            invocation.finish(error=error)
        else:
            _untraced(context)
        raise
    if invocation is not None:
        invocation.finish(result=result)
    else:
        _untraced(context)
    return result


def _untraced(context: Any) -> None:
    """No span for this invocation: the extension, if any, has nothing to wait for."""
    extension.handler_returned(
        getattr(context, "aws_request_id", None), None, Deadline.within_ms(0)
    )


def _run_awaitable(awaitable: Any) -> Any:
    async def wait() -> Any:
        return await awaitable

    # Cold start: asyncio costs ~15 ms to import (python -X importtime); only
    # async handlers need it.
    import asyncio  # noqa: PLC0415

    return asyncio.run(wait())


def _cold_start(tracing: Tracing | None) -> bool:
    """This sandbox's first invocation (never when init ran ahead of traffic:
    provisioned concurrency, Managed Instances)."""
    first = state().take_cold_start()
    if tracing is not None and tracing.settings.lambda_env.initialized_ahead:
        return False
    return first


class _Invocation:
    """The span and context of one invocation; every method swallows its own errors."""

    def __init__(
        self,
        span: trace.Span,
        token: object,
        context: Any,
        tracing: Tracing,
        own: dict[str, Any] | None = None,
    ) -> None:
        self.span = span
        #: Powertools' annotations, set at the end unless code set them itself.
        self.own = own or {}
        self.token = token
        self.context = context
        #: The pipeline this invocation started with; it is flushed at the end.
        self.tracing = tracing

    @classmethod
    def start(cls, event: Any, context: Any) -> _Invocation | None:
        try:
            tracing = configure()
            cold_start = _cold_start(tracing)
            if tracing is None:
                return None
            settings = tracing.settings
            parent = _parent_context(event, settings)
            attributes = _start_attributes(event, context, cold_start)
            # Powertools' annotations, so its users' filter expressions keep working; set
            # at the end, and left out when Powertools' Tracer set its own (through the
            # X-Ray SDK bridge), so a trace never holds two.
            own = {
                "ColdStart": cold_start,
                "Service": settings.service_name or _span_name(context, settings),
            }
            annotated = list(own)
            tenant = _tenant(context, tracing)
            if tenant is not None:
                attributes[TENANT_ANNOTATION] = tenant
                attributes[ANNOTATIONS_ATTRIBUTE] = [TENANT_ANNOTATION]
                annotated.append(TENANT_ANNOTATION)
            # A root span joining Lambda's trace id reads the id from the current context.
            joining = otel_context.attach(parent) if _joins_trace(parent) else None
            try:
                span = tracing.tracer().start_span(
                    _span_name(context, settings),
                    context=parent,
                    kind=SpanKind.INTERNAL,
                    attributes=attributes,
                    links=events.incoming_links(event),
                )
            finally:
                if joining is not None:
                    otel_context.detach(joining)
            token = otel_context.attach(trace.set_span_in_context(span, parent))
            _web_request(span, opened=True)
            reserve(span.get_span_context().trace_id, annotated)
            return cls(span, token, context, tracing, own)
        except Exception:
            logger.exception("otel-xray: could not start the invocation span")
            return None

    def finish(self, result: Any = None, error: BaseException | None = None) -> None:
        try:
            self._annotate_own()
            if error is not None:
                self.span.record_exception(error, escaped=True)
                self.span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                # One line to find the trace from the logs (the dashboard's query reads it);
                # the type only: the message may hold personal data.
                logger.warning(
                    "otel-xray: invocation failed: %s trace_id=%s",
                    type(error).__name__,
                    format_xray_trace_id(self.span.get_span_context().trace_id),
                )
            else:
                if self.tracing.settings.capture_response:
                    metadata("response", handler=result)
                status = events.response_status(result)
                if status is not None:
                    self.span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        self.span.set_status(Status(StatusCode.ERROR))
            _web_request(self.span, opened=False)
            self.span.end()
        except Exception:
            logger.exception("otel-xray: could not end the invocation span")
        finally:
            try:
                otel_context.detach(self.token)  # type: ignore[arg-type]
            except Exception:
                logger.debug("otel-xray: context detach failed", exc_info=True)
        if self.tracing.settings.lambda_env.never_frozen:
            return  # the background worker exports; nothing waits on the request path
        try:
            deadline = Deadline.for_invocation(self.context, self.tracing.settings.flush_timeout_ms)
            request_id = getattr(self.context, "aws_request_id", None)
            if extension.handler_returned(request_id, self.tracing, deadline):
                return  # exported after the response, by the extension's thread
            self.tracing.flush(deadline)
        except Exception:
            logger.exception("otel-xray: flush failed")

    def _annotate_own(self) -> None:
        if not self.own or not self.span.is_recording():
            return
        taken = claimed(self.span.get_span_context().trace_id)
        own = {key: value for key, value in self.own.items() if key not in taken}
        if not own:
            return
        attributes = getattr(self.span, "attributes", None) or {}
        existing = list(attributes.get(ANNOTATIONS_ATTRIBUTE) or ())
        self.span.set_attributes(own)
        self.span.set_attribute(
            ANNOTATIONS_ATTRIBUTE, existing + [key for key in own if key not in existing]
        )


def _tenant(context: Any, tracing: Tracing) -> str | None:
    """The tenant annotation's value under ``OTEL_XRAY_TENANT_ID``, or None."""
    tenant = getattr(context, "tenant_id", None)
    policy = tracing.settings.tenant_id
    if not isinstance(tenant, str) or not tenant or policy == "off":
        return None
    if policy == "hash" and tracing.redactor is not None:
        return tracing.redactor.replacement("tenant", tenant)
    return tenant if policy == "keep" else None


def _web_request(span: trace.Span, opened: bool) -> None:
    """Tell the web frameworks' rows which span stands for the request, once one of them
    is loaded (:mod:`otel_xray.instrumentation.web`); nothing is imported for it."""
    web = sys.modules.get("otel_xray.instrumentation.web")
    if web is not None:
        (web.open_request if opened else web.close_request)(span)


def _parent_context(event: Any, settings: Settings) -> otel_context.Context:
    """Lambda's function segment as the parent, or, when Sampled=0 only means that active
    tracing is off, a root of Lambda's trace id that the sampler policy decides on."""
    header = lambda_trace_header()
    if header is None:
        return otel_context.Context()
    policy = settings.lambda_unsampled
    if header.sampled is False and policy != "drop" and _tracing_off(event, settings):
        _log_passthrough_once(policy)
        # Lambda emits no segments now: the function's span is the trace's root segment.
        ctx = otel_context.set_value(LAMBDA_PASSTHROUGH_KEY, True, otel_context.Context())
        return otel_context.set_value(JOIN_TRACE_ID_KEY, header.trace_id, ctx)
    return context_from_header(header)


def _tracing_off(event: Any, settings: Settings) -> bool:
    """Active tracing off (no daemon address) and no caller that decided upstream."""
    if settings.lambda_env.active_tracing:
        return False
    return not events.has_upstream_trace_header(event)


def _log_passthrough_once(policy: str) -> None:
    if state().log_once("lambda-passthrough"):
        logger.warning(
            "otel-xray: Lambda passed Sampled=0 with active tracing off and no upstream "
            "trace header; deciding by OTEL_XRAY_LAMBDA_UNSAMPLED=%s instead of dropping "
            "every span (set it to 'drop' to follow Lambda)",
            policy,
        )


def _joins_trace(ctx: otel_context.Context) -> bool:
    return otel_context.get_value(JOIN_TRACE_ID_KEY, ctx) is not None


def _span_name(context: Any, settings: Settings) -> str:
    name = getattr(context, "function_name", None) or settings.lambda_env.function_name
    return name if isinstance(name, str) and name else "lambda_handler"


def _start_attributes(event: Any, context: Any, cold_start: bool) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "faas.trigger": events.trigger(event),
        "faas.coldstart": cold_start,
    }
    request_id = getattr(context, "aws_request_id", None)
    if isinstance(request_id, str):
        attributes["faas.invocation_id"] = request_id
    arn = getattr(context, "invoked_function_arn", None)
    if isinstance(arn, str) and arn.startswith("arn:"):
        attributes["cloud.resource_id"] = arn
        parts = arn.split(":")
        if len(parts) > 4 and parts[4].isdigit():
            attributes["cloud.account.id"] = parts[4]
    if attributes["faas.trigger"] == "http":
        attributes.update(events.http_attributes(event))
    return attributes


def load_handler(name: str) -> Callable[..., Any]:
    """Import ``module.function`` the way the Lambda runtime does."""
    module_name, sep, function_name = name.rpartition(".")
    if not sep or not module_name or not function_name:
        raise ValueError(
            f"handler {name!r} is not a handler name; expected module.function "
            "(for example app.handler or src/orders/app.handler)"
        )
    module = importlib.import_module(module_name.replace("/", "."))
    try:
        handler: Callable[..., Any] = getattr(module, function_name)
    except AttributeError:
        raise AttributeError(
            f"Handler '{function_name}' missing on module '{module_name}'"
        ) from None
    return handler
