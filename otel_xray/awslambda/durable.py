"""Durable functions: the invocation's trace continues into the SDK's worker threads.

aws-durable-execution-sdk-python runs a durable handler's body on a worker thread
(``execution.durable_execution``'s ``invoke_worker``) and steps on the thread that runs
them. Without a plugin that worker starts from a fresh ``contextvars`` context, so
every span made in the body (an AWS SDK call between steps) starts a trace of its
own; with any plugin registered the SDK copies the handler thread's context, where
otel-xray's invocation span is current. This plugin, registered through the
``aws_durable_execution.plugins`` entry point as ``otel-xray`` (the layer's
``otel-instrument`` sets ``DURABLE_EXECUTION_PLUGINS=otel-xray`` unless it is set),
makes each step a span named after the step (an X-Ray subsegment) under the
invocation's span, or under its enclosing child context's span, and current on the
step's thread while the step's code runs.

Replays, compared with the SDK's own plugin (aws-durable-execution-sdk-python-otel,
``InvocationOtelPlugin``): that plugin builds one trace per *execution*, across all
its invocations, with deterministic ids so a re-run operation keeps its span. X-Ray
traces a Lambda function per *invocation* (Lambda's own segments carry each
invocation's trace id), so here each invocation's trace shows the operations whose
code ran in that invocation: a step completed in an earlier invocation is replayed
from its checkpoint without running and gets no span again; a child context whose
body re-runs on replay (the SDK's ReplayChildren mode) gets a span marked
``durable.replay=true``. The invocation span carries ``durable.execution.arn`` and
``durable.invocation.first`` (metadata), which tie an execution's invocations
together. Both plugins claim the SDK's exclusive group
``aws-durable-execution-otel-view``: registering both is a clear error at start,
never two views of one step.

Tracing never fails the execution: the SDK logs and ignores an exception from a
hook, and every hook here also guards itself.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, ClassVar

from aws_durable_execution_sdk_python.plugin import (
    DurableInstrumentationPlugin,
    InvocationEndInfo,
    InvocationStartInfo,
    OperationType,
    UserFunctionEndInfo,
    UserFunctionOutcome,
    UserFunctionStartInfo,
)
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from otel_xray.version import __version__

logger = logging.getLogger("otel_xray")

#: The SDK's exclusive group of OpenTelemetry views (its otel plugin's factories).
EXCLUSIVE_GROUP = "aws-durable-execution-otel-view"


class XRayDurablePlugin(DurableInstrumentationPlugin):
    """One invocation's spans of the operations whose code runs in it."""

    def __init__(self) -> None:
        self._tracer = trace.get_tracer("otel_xray.durable", __version__)
        self._invocation: otel_context.Context | None = None
        #: Open spans by operation id (STEP attempts by ``id:attempt``), with the token
        #: of their attach and the thread that attached it.
        self._spans: dict[str, tuple[Span, object, int]] = {}
        self._lock = threading.Lock()

    # invocation -------------------------------------------------------------------

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        try:
            self._invocation = otel_context.get_current()
            span = trace.get_current_span(self._invocation)
            if span.is_recording():
                if info.execution_arn:
                    span.set_attribute("durable.execution.arn", info.execution_arn)
                span.set_attribute("durable.invocation.first", bool(info.is_first_invocation))
        except Exception:
            logger.debug("otel-xray: durable invocation start", exc_info=True)

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        """End what is still open (a step whose invocation suspended or was cut short)."""
        try:
            with self._lock:
                left, self._spans = list(self._spans.values()), {}
            for span, token, thread_id in left:
                span.set_attribute("durable.incomplete", True)
                span.end()
                if thread_id == threading.get_ident():
                    otel_context.detach(token)  # type: ignore[arg-type]
        except Exception:
            logger.debug("otel-xray: durable invocation end", exc_info=True)

    # operations whose code runs here ------------------------------------------------

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        try:
            parent = self._parent(info.parent_id)
            attributes: dict[str, Any] = {
                "durable.operation.id": info.operation_id,
                "durable.operation.type": info.operation_type.value,
            }
            if info.sub_type:
                attributes["durable.operation.sub_type"] = str(info.sub_type)
            if info.attempt:
                attributes["durable.step.attempt"] = info.attempt
            if info.is_replayed or info.is_replay_children:
                attributes["durable.replay"] = True
            span = self._tracer.start_span(_name(info), context=parent, attributes=attributes)
            token = otel_context.attach(trace.set_span_in_context(span, parent))
            with self._lock:
                self._spans[_key(info)] = (span, token, threading.get_ident())
        except Exception:
            logger.debug("otel-xray: durable operation start", exc_info=True)

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        try:
            with self._lock:
                found = self._spans.pop(_key(info), None)
            if found is None:
                return
            span, token, thread_id = found
            if info.outcome is UserFunctionOutcome.FAILED and info.error is not None:
                kind = info.error.type or "Error"
                span.set_status(Status(StatusCode.ERROR, kind))
                span.add_event(
                    "exception",
                    {"exception.type": kind, "exception.message": info.error.message or ""},
                )
            elif info.outcome is not UserFunctionOutcome.SUCCEEDED:
                span.set_attribute("durable.outcome", info.outcome.name.lower())
            span.end()
            if thread_id == threading.get_ident():
                otel_context.detach(token)  # type: ignore[arg-type]
        except Exception:
            logger.debug("otel-xray: durable operation end", exc_info=True)

    def _parent(self, parent_id: str | None) -> otel_context.Context | None:
        """The enclosing child context's span, else the invocation's span."""
        if parent_id is not None:
            with self._lock:
                found = self._spans.get(parent_id)
            if found is not None:
                return trace.set_span_in_context(found[0])
        return self._invocation


def _key(info: UserFunctionStartInfo | UserFunctionEndInfo) -> str:
    if info.operation_type is OperationType.STEP:
        return f"{info.operation_id}:{info.attempt or 1}"
    return info.operation_id


def _name(info: UserFunctionStartInfo) -> str:
    """The step's name (``@durable_step``'s function name, or ``name=``), else its kind."""
    if info.name:
        return info.name
    return f"{info.operation_type.value.lower()} {info.operation_id}"


class XRayDurablePluginFactory:
    """What the entry point names: one :class:`XRayDurablePlugin` per invocation."""

    __durable_registration_api__: ClassVar[int] = 1
    exclusive_group: ClassVar[str | None] = EXCLUSIVE_GROUP

    def create_plugin(self, info: InvocationStartInfo) -> XRayDurablePlugin:
        return XRayDurablePlugin()


#: ``otel-xray = "otel_xray.awslambda.durable:PLUGIN_FACTORY"`` (pyproject.toml).
PLUGIN_FACTORY = XRayDurablePluginFactory()
