"""Code written for the AWS X-Ray SDK for Python runs on otel-xray's spans.

Why: AWS ends support for the X-Ray SDK on 2027-02-25 and asks its users to move to
OpenTelemetry by rewriting their tracing code. Attached to such a function, the layer
alone would trace it twice: the SDK sends its own subsegments (and, patched, its own
AWS and HTTP calls) beside otel-xray's. Here the one global recorder
(``aws_xray_sdk.core.xray_recorder``, which Powertools' ``Tracer`` uses too) keeps all
of its own code (``capture``, ``in_subsegment``, ``begin_subsegment``, the entity
models with their checks on annotations and metadata, ``add_exception``'s
``Throwable``), and only where its entities live and where they go changes:

- its *context* (where the SDK keeps the current segment and subsegments) is
  :class:`BridgeContext`, which keeps each subsegment's OpenTelemetry span in
  OpenTelemetry's context: a subsegment is a span, child of whatever span is current
  (the invocation's, an OpenTelemetry API span, another subsegment), and the
  instrumented AWS and HTTP calls inside it are its children, in the same trace;
- when a subsegment ends, what the SDK recorded on it (annotations, metadata, http,
  flags, cause) is written on its span with the keys otel-xray's own API uses
  (:func:`otel_xray.annotations.annotate_span`, ``metadata_on_span``,
  ``otel_xray.xray.FLAG_ATTRIBUTES`` and ``CAUSE_ATTRIBUTE``), so the one translator
  (:mod:`otel_xray.xray.segment`) and the PII redactor see it like any span;
- a span the bridge did not open (the invocation's, one from OpenTelemetry's API) is
  seen by SDK code as a segment or subsegment whose writes go straight to that span;
- its *emitter* sends nothing: spans are exported by otel-xray's pipeline;
- ``patch`` and ``patch_all`` patch nothing (otel-xray's instrumentation already
  traces those libraries; one log line names what is not traced);
- ``xray_recorder.configure`` passes sampling (``sampling``, ``sampling_rules``,
  ``sampler``), ``context_missing``, ``service`` and ``max_trace_back`` through, and
  ignores the rest with one log line per option naming it and why.

How it takes over, and why this way: it sets the SDK's own extension points (the
recorder's ``context`` and ``emitter`` properties) on the existing recorder object and
wraps that object's ``configure``; it does not replace the recorder (modules hold
references to it) nor patch any SDK class or method. It is armed by a post-import
hook on ``aws_xray_sdk.core`` (:mod:`otel_xray.instrumentation.hooks`), so nothing is
imported at a cold start unless the function imports the SDK, and it works whether
the SDK was imported before or after otel-xray was configured. ``OTEL_XRAY_SDK_BRIDGE=
false`` leaves the SDK alone. :func:`uninstall` puts back what was there.

Differences from the SDK that remain are listed in ``docs/migrating.md``; the test
that finds them runs the same handlers under the real SDK and under the bridge
(``tests/e2e/test_xray_sdk_bridge.py``).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import logging
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from aws_xray_sdk import global_sdk_config  # type: ignore[import-untyped]
from aws_xray_sdk.core import patcher  # type: ignore[import-untyped]
from aws_xray_sdk.core.context import Context  # type: ignore[import-untyped]
from aws_xray_sdk.core.models.dummy_entities import (  # type: ignore[import-untyped]
    DummySegment,
    DummySubsegment,
)
from aws_xray_sdk.core.models.segment import Segment  # type: ignore[import-untyped]
from aws_xray_sdk.core.models.subsegment import Subsegment  # type: ignore[import-untyped]
from aws_xray_sdk.core.utils.conversion import metadata_to_dict  # type: ignore[import-untyped]
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

from otel_xray.annotations import annotate_span, claim, metadata_on_span
from otel_xray.configurator import current
from otel_xray.ids import format_span_id, format_xray_trace_id
from otel_xray.instrumentation import LEFT_OUT
from otel_xray.propagation import TraceHeader, context_from_header, lambda_trace_header
from otel_xray.subsegments import tracer_for
from otel_xray.xray import CAUSE_ATTRIBUTE, CAUSE_ID_ATTRIBUTE, FLAG_ATTRIBUTES

logger = logging.getLogger("otel_xray")

__all__ = ["BridgeContext", "install", "installed", "uninstall"]

#: The OpenTelemetry context key holding the X-Ray SDK entity a bridged span stands for.
_ENTITY = otel_context.create_key("otel_xray.bridge.xray_sdk.entity")
#: Annotations Powertools' Tracer sets that otel-xray's Lambda integration also sets.
POWERTOOLS_ANNOTATIONS = frozenset({"ColdStart", "Service"})
#: X-Ray SDK module names (``patch``) -> the instrumentation of otel-xray that covers it.
PATCH_COVERED = {
    "botocore": "botocore",
    "pynamodb": "botocore",
    "requests": "requests",
    "sqlite3": "sqlite3",
    "mysql": "mysql",
    "pymongo": "pymongo",
    "pymysql": "pymysql",
    "psycopg2": "psycopg2",
    "psycopg": "psycopg",
    "pg8000": "pg8000",
    "sqlalchemy_core": "sqlalchemy",
    "httpx": "httpx",
}
#: ``xray_recorder.configure`` options passed through to the SDK's own configure.
HONOURED = frozenset(
    {"sampling", "sampling_rules", "sampler", "context_missing", "service", "max_trace_back"}
)
#: The options the bridge ignores, and why (each logged once, when given).
NOT_BRIDGED: dict[str, str] = {
    "emitter": "spans are exported by otel-xray's pipeline (OTEL_TRACES_EXPORTER); a custom "
    "emitter receives nothing",
    "context": "the bridge keeps the SDK's entities in OpenTelemetry's context; a custom "
    "context class is not used",
    "daemon_address": "otel-xray's exporter sends the spans (AWS_XRAY_DAEMON_ADDRESS, "
    "OTEL_TRACES_EXPORTER)",
    "plugins": "the resource says where the service runs (EC2, ECS, Elastic Beanstalk); the "
    "SDK's plugins add nothing",
    "streaming": "each span is exported when it ends; nothing is streamed",
    "streaming_threshold": "each span is exported when it ends; nothing is streamed",
    "dynamic_naming": "segment names come from the spans (OTEL_SERVICE_NAME)",
    "stream_sql": "SQL comes from the database instrumentations, with literals redacted",
}
#: The SDK's own context classes (a custom one is named as such in the log).
_SDK_CONTEXTS = ("Context", "LambdaContext", "AsyncContext")
#: Defaults of ``configure``'s options that are not "given" (aws_xray_sdk 2.15.0).
_DEFAULTS: dict[str, Any] = {"stream_sql": True}

_lock = threading.Lock()
_saved: _Saved | None = None


class _Saved(NamedTuple):
    """What :func:`install` replaced, for :func:`uninstall`."""

    recorder: Any
    context: Any
    emitter: Any
    sampler: Any
    sampling: bool
    instance_attributes: dict[str, Any]
    module_functions: dict[tuple[Any, str], Any]


class _Open(NamedTuple):
    """A subsegment (or segment) the bridge opened: its span and the context it replaced."""

    span: trace.Span
    token: object
    previous: otel_context.Context


# entities -------------------------------------------------------------------------------


def _write_annotation(span: trace.Span, key: str, value: Any) -> None:
    annotate_span(span, key, value)
    if key in POWERTOOLS_ANNOTATIONS:
        claim(span.get_span_context().trace_id, [key])


def _write_metadata(span: trace.Span, namespace: str, values: Mapping[str, Any]) -> None:
    # The SDK serializes metadata with metadata_to_dict (objects as their public
    # attributes); otel-xray's writer then bounds and redacts it.
    metadata_on_span(span, namespace, {str(k): metadata_to_dict(v) for k, v in values.items()})


#: put_http_meta keys -> span attributes the translator reads (aws_xray_sdk.core.models.http).
_HTTP_ATTRIBUTES = {
    "url": "url.full",
    "method": "http.request.method",
    "user_agent": "user_agent.original",
    "client_ip": "http.client_ip",
    "status": "http.response.status_code",
    "content_length": "http.response.body.size",
}


def _write_http(span: trace.Span, http: Mapping[str, Any]) -> None:
    for section in ("request", "response"):
        for key, given in (http.get(section) or {}).items():
            name = _HTTP_ATTRIBUTES.get(key)
            if name is None or given is None:
                continue
            value: Any = given
            if name in ("http.response.status_code", "http.response.body.size"):
                try:
                    value = int(given)
                except (TypeError, ValueError):
                    continue
            elif not isinstance(given, str | bool | int | float):
                value = str(given)
            span.set_attribute(name, value)


def _write_flags(span: trace.Span, entity: Any) -> None:
    for flag, key in FLAG_ATTRIBUTES.items():
        if getattr(entity, flag, False) is True:
            span.set_attribute(key, True)
    if getattr(entity, "fault", False) is True:
        span.set_status(Status(StatusCode.ERROR))


def _write_cause(span: trace.Span, cause: Any, new_only: bool = False) -> None:
    """The SDK's ``Throwable`` s as it serializes them (``CAUSE_ATTRIBUTE``, which
    otel-xray's translator writes as the cause), and each as an ``exception`` event for
    what reads OpenTelemetry's own (the collector's translator, OTLP backends). A cause
    that is only an id (the exception was recorded on a subsegment inside) leaves the
    fault flag alone. ``new_only``: the event of the last exception only (write-through)."""
    if not isinstance(cause, dict) or not cause.get("exceptions"):
        return
    exceptions = [t.to_dict() if hasattr(t, "to_dict") else t for t in cause["exceptions"]]
    span.set_attribute(CAUSE_ATTRIBUTE, json.dumps(exceptions, default=str))
    for exception in exceptions[-1:] if new_only else exceptions:
        if isinstance(exception, dict):
            span.add_event("exception", _exception_event(exception))


def _exception_event(exception: Mapping[str, Any]) -> dict[str, Any]:
    """OpenTelemetry's exception attributes from an X-Ray SDK exception; the stack as a
    Python traceback (the SDK keeps extract_stack's order, outermost first), and the
    exception's id, by which otel-xray's translator knows it has it already."""
    kind, message = str(exception.get("type", "")), str(exception.get("message", ""))
    lines = ["Traceback (most recent call last):"]
    for frame in exception.get("stack") or ():
        if isinstance(frame, dict):
            lines.append(
                f'  File "{frame.get("path", "")}", line {frame.get("line", 0)}, '
                f"in {frame.get('label', '')}"
            )
    lines.append(f"{kind}: {message}" if message else kind)
    return {
        "exception.type": kind,
        "exception.message": message,
        "exception.stacktrace": "\n".join(lines),
        "exception.escaped": True,
        CAUSE_ID_ATTRIBUTE: str(exception.get("id", "")),
    }


def _export(entity: Any, span: trace.Span) -> None:
    """Everything the SDK recorded on a closed entity, onto its span; never raises."""
    try:
        if not span.is_recording():
            return
        for key, value in dict(entity.annotations).items():
            _write_annotation(span, key, value)
        for namespace, values in dict(entity.metadata).items():
            if isinstance(values, Mapping):
                _write_metadata(span, namespace, values)
        if entity.http:
            _write_http(span, entity.http)
        _write_flags(span, entity)
        _write_cause(span, entity.cause)
        user = getattr(entity, "user", None)
        if isinstance(user, str) and user:
            span.set_attribute("enduser.id", user)
    except Exception:
        logger.debug("otel-xray: subsegment %r not fully recorded", entity.name, exc_info=True)


class _WritesThrough:
    """Mutations of an entity standing for a span the bridge did not open go straight to
    that span (the SDK's own checks run first, in ``super()``)."""

    _span: trace.Span

    def put_annotation(self, key: Any, value: Any) -> None:
        super().put_annotation(key, value)  # type: ignore[misc]
        if isinstance(key, str) and key in self.annotations:  # type: ignore[attr-defined]
            _write_annotation(self._span, key, value)

    def put_metadata(self, key: Any, value: Any, namespace: str = "default") -> None:
        super().put_metadata(key, value, namespace)  # type: ignore[misc]
        stored = self.metadata.get(namespace) if isinstance(namespace, str) else None  # type: ignore[attr-defined]
        if isinstance(stored, dict) and key in stored:
            _write_metadata(self._span, namespace, {key: value})

    def put_http_meta(self, key: str, value: Any) -> None:
        super().put_http_meta(key, value)  # type: ignore[misc]
        _write_http(self._span, self.http)  # type: ignore[attr-defined]

    def add_error_flag(self) -> None:
        super().add_error_flag()  # type: ignore[misc]
        _write_flags(self._span, self)

    def add_fault_flag(self) -> None:
        super().add_fault_flag()  # type: ignore[misc]
        _write_flags(self._span, self)

    def add_throttle_flag(self) -> None:
        super().add_throttle_flag()  # type: ignore[misc]
        _write_flags(self._span, self)

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        super().add_exception(exception, stack, remote)  # type: ignore[misc]
        _write_cause(self._span, self.cause, new_only=True)  # type: ignore[attr-defined]
        _write_flags(self._span, self)

    def set_user(self, user: str) -> None:
        parent = super()
        if hasattr(parent, "set_user"):
            parent.set_user(user)
        if isinstance(user, str) and user:
            self._span.set_attribute("enduser.id", user)

    def close(self, end_time: float | None = None) -> None:
        """The span is not the bridge's: whoever opened it ends it."""


class SpanSegment(_WritesThrough, Segment):  # type: ignore[misc]
    """A root span (or one under a remote parent, as the invocation's under Lambda's
    function segment) as the SDK's current segment."""

    def __init__(self, span: trace.Span) -> None:
        context = span.get_span_context()
        super().__init__(
            getattr(span, "name", None) or "span",
            entityid=format_span_id(context.span_id),
            traceid=format_xray_trace_id(context.trace_id),
            sampled=span.is_recording(),
        )
        self._span = span


class LambdaFacade(SpanSegment):
    """Lambda's function segment, from ``_X_AMZN_TRACE_ID``, where no span is current
    (a thread the context was not passed to): as the SDK's ``FacadeSegment``, the
    parent of what is begun there. Lambda owns it: writes to it go nowhere (the SDK
    raises ``FacadeSegmentMutationException`` for them)."""

    def __init__(self, header: TraceHeader) -> None:
        self.parent_context = context_from_header(header)
        super().__init__(trace.get_current_span(self.parent_context))
        self.sampled = bool(header.sampled)


class SpanSubsegment(_WritesThrough, Subsegment):  # type: ignore[misc]
    """A span under another local span (an OpenTelemetry API span, say) as a subsegment."""

    def __init__(self, span: trace.Span, segment: Any) -> None:
        super().__init__(getattr(span, "name", None) or "span", "local", segment)
        context = span.get_span_context()
        self.id = format_span_id(context.span_id)
        self.sampled = span.is_recording()
        parent = getattr(span, "parent", None)
        if parent is not None:
            self.parent_id = format_span_id(parent.span_id)
        self._span = span


# the context ----------------------------------------------------------------------------


class BridgeContext(Context):  # type: ignore[misc]
    """The SDK's context storage, kept in OpenTelemetry's context (see the module)."""

    def __init__(self, context_missing: str = "LOG_ERROR", in_lambda: bool = False) -> None:
        super().__init__(context_missing)
        self.in_lambda = in_lambda
        self._open: weakref.WeakKeyDictionary[Any, _Open] = weakref.WeakKeyDictionary()
        self._proxies: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        self._roots: OrderedDict[int, Any] = OrderedDict()
        self._facades: OrderedDict[tuple[int, int | None], LambdaFacade] = OrderedDict()
        self._guard = threading.Lock()
        #: The segment end_segment just ended, per thread, until the recorder clears it.
        self._ended = threading.local()

    # segments --------------------------------------------------------------------

    def put_segment(self, segment: Any) -> None:
        if self.in_lambda:
            # As the SDK's LambdaContext: Lambda owns the function's segment.
            logger.warning("otel-xray: cannot create segments inside Lambda function; discarded")
            return
        try:
            self._start(segment, otel_context.get_current(), SpanKind.SERVER, root=True)
        except Exception:
            logger.debug("otel-xray: segment %r not started", segment.name, exc_info=True)

    def end_segment(self, end_time: float | None = None) -> None:
        entity = self.get_trace_entity()
        if entity is None:
            logger.warning("No segment to end")
            return
        segment = entity.parent_segment if _is_subsegment(entity) else entity
        if segment in self._open:
            segment.close(end_time)
            self._finish(segment, end_time)
            # The recorder reads the ended segment once more (to send it), then clears.
            self._ended.segment = segment

    # subsegments -----------------------------------------------------------------

    def put_subsegment(self, subsegment: Any) -> None:
        entity = self.get_trace_entity()
        if not entity:
            logger.warning("Active segment or subsegment not found. Discarded %s.", subsegment.name)
            return
        try:
            kind = (
                SpanKind.CLIENT if subsegment.namespace in ("remote", "aws") else SpanKind.INTERNAL
            )
            parent = otel_context.get_current()
            if isinstance(entity, LambdaFacade):
                parent = entity.parent_context
            self._start(subsegment, parent, kind, root=False)
            subsegment.parent_id = entity.id
        except Exception:
            logger.debug("otel-xray: subsegment %r not started", subsegment.name, exc_info=True)

    def end_subsegment(self, end_time: float | None = None) -> bool:
        entity = self.get_trace_entity()
        if not (_is_subsegment(entity) and entity in self._open):
            # A span the bridge did not open is current: the SDK ends its latest subsegment.
            entity = otel_context.get_value(_ENTITY)
        if _is_subsegment(entity) and entity in self._open:
            entity.close(end_time)
            self._finish(entity, end_time)
        elif not isinstance(entity, DummySegment):
            logger.warning("No subsegment to end.")
        # False: the recorder sends nothing (otel-xray's pipeline exports the span).
        return False

    # what is current ---------------------------------------------------------------

    def get_trace_entity(self) -> Any:
        ctx = otel_context.get_current()
        span = trace.get_current_span(ctx)
        entity = ctx.get(_ENTITY)
        if entity is not None:
            opened = self._open.get(entity)
            if opened is not None and opened.span is span:
                return entity
        if not span.get_span_context().is_valid:
            if not global_sdk_config.sdk_enabled():
                return DummySegment()
            header = lambda_trace_header() if self.in_lambda else None
            if header is not None and header.parent_span_id is not None:
                return self._facade(header)
            ended = getattr(self._ended, "segment", None)
            if ended is not None:
                return ended
            return self.handle_context_missing()
        return self._proxy(span)

    def set_trace_entity(self, trace_entity: Any) -> None:
        """Entities are OpenTelemetry's context here; setting one by hand is ignored."""
        _log_once(
            "set_trace_entity",
            "otel-xray: xray_recorder.set_trace_entity() is not bridged: the current span "
            "is OpenTelemetry's (pass it to threads with otel_xray.in_current_context)",
        )

    def clear_trace_entities(self) -> None:
        """The spans' contexts are detached when they end; only the segment the recorder
        has just ended is forgotten."""
        self._ended.segment = None

    # internals -----------------------------------------------------------------------

    def _start(self, entity: Any, parent: otel_context.Context, kind: SpanKind, root: bool) -> None:
        if isinstance(entity, DummySegment | DummySubsegment):
            # Not sampled (by the SDK's own rules, or the SDK disabled): a span that
            # records nothing, so the instrumented calls inside are not sampled either.
            parent_context = trace.get_current_span(parent).get_span_context()
            trace_id = (
                parent_context.trace_id
                if parent_context.is_valid and not root
                else int.from_bytes(os.urandom(16), "big") or 1
            )
            span: trace.Span = NonRecordingSpan(
                SpanContext(
                    trace_id,
                    int.from_bytes(os.urandom(8), "big") or 1,
                    is_remote=False,
                    trace_flags=TraceFlags(TraceFlags.DEFAULT),
                )
            )
        else:
            attributes: dict[str, Any] = {}
            if root:
                parent = _incoming(entity, parent)
                # The segment's name as the code gave it (the translator's first choice
                # for a SERVER span, before the resource's service.name).
                attributes["aws.local.service"] = entity.name
            if getattr(entity, "namespace", None) == "aws":
                attributes["aws.service"] = entity.name
            elif getattr(entity, "namespace", None) == "remote":
                attributes["peer.service"] = entity.name  # keeps the name the code gave
            span = _tracer().start_span(
                entity.name,
                context=parent,
                kind=kind,
                attributes=attributes,
                start_time=int(entity.start_time * 1e9),
            )
            context = span.get_span_context()
            entity.id = format_span_id(context.span_id)
            entity.trace_id = format_xray_trace_id(context.trace_id)
        ctx = otel_context.set_value(_ENTITY, entity, trace.set_span_in_context(span, parent))
        token = otel_context.attach(ctx)
        self._open[entity] = _Open(span, token, parent)

    def _finish(self, entity: Any, end_time: float | None) -> None:
        opened = self._open.pop(entity, None)
        if opened is None:
            return
        _export(entity, opened.span)
        try:
            end = getattr(entity, "end_time", None) or end_time
            opened.span.end(end_time=int(end * 1e9) if end else None)
        except Exception:
            logger.debug("otel-xray: span of %r not ended", entity.name, exc_info=True)
        try:
            if otel_context.get_value(_ENTITY) is entity:
                otel_context.detach(opened.token)  # type: ignore[arg-type]
            else:
                # Ended out of order (a span opened inside is still current): the
                # SDK's stack drops the subsegment; here its parent context comes back.
                otel_context.attach(opened.previous)
        except Exception:
            otel_context.attach(opened.previous)

    def _proxy(self, span: trace.Span) -> Any:
        with self._guard:
            found = self._proxies.get(span)
            if found is not None:
                return found
            parent = getattr(span, "parent", None)
            if parent is None or parent.is_remote:
                found = SpanSegment(span)
            else:
                found = SpanSubsegment(span, self._root(span))
            with contextlib.suppress(TypeError):  # a span without weak references: not cached
                self._proxies[span] = found
            return found

    def _facade(self, header: TraceHeader) -> LambdaFacade:
        key = (header.trace_id, header.parent_span_id)
        with self._guard:
            found = self._facades.get(key)
            if found is None:
                found = self._facades[key] = LambdaFacade(header)
                while len(self._facades) > 64:
                    self._facades.popitem(last=False)
            return found

    def _root(self, span: trace.Span) -> Any:
        """The trace's segment as SDK code sees it from inside a span it did not open."""
        trace_id = span.get_span_context().trace_id
        root = self._roots.get(trace_id)
        if root is None:
            root = Segment("trace", traceid=format_xray_trace_id(trace_id))
            self._roots[trace_id] = root
            while len(self._roots) > 64:
                self._roots.popitem(last=False)
        return root


def _incoming(segment: Any, parent: otel_context.Context) -> otel_context.Context:
    """``begin_segment(traceid=..., parent_id=...)``: the caller's context, as the parent."""
    trace_id, parent_id = getattr(segment, "trace_id", None), getattr(segment, "parent_id", None)
    if not (isinstance(trace_id, str) and isinstance(parent_id, str)):
        return parent
    try:
        _, epoch, unique = trace_id.split("-")
        remote = SpanContext(
            int(epoch + unique, 16),
            int(parent_id, 16),
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
    except ValueError:
        return parent
    return trace.set_span_in_context(NonRecordingSpan(remote), parent)


def _is_subsegment(entity: Any) -> bool:
    return getattr(entity, "type", None) == "subsegment"


def _tracer() -> trace.Tracer:
    return tracer_for("otel_xray.bridge.xray_sdk")


# the recorder ---------------------------------------------------------------------------


class _NullEmitter:
    """The emitter the recorder gets: otel-xray's pipeline exports the spans."""

    def send_entity(self, entity: Any) -> None:
        """Nothing to send."""

    def set_daemon_address(self, address: Any) -> None:
        """No daemon of its own."""


_logged: set[str] = set()


def _log_once(key: str, message: str, level: int = logging.WARNING) -> None:
    if key in _logged:
        return
    _logged.add(key)
    logger.log(level, "%s", message)


def _configure(original: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """``xray_recorder.configure``: what the bridge honours goes through, the rest is
    named once in the log and ignored. Never raises for an option it ignores."""
    try:
        given = inspect.signature(original).bind(*args, **kwargs).arguments
    except TypeError:
        original(*args, **kwargs)  # the SDK's own error for a bad call
        return
    passed: dict[str, Any] = {}
    for name, value in given.items():
        if value is None or (name in _DEFAULTS and value == _DEFAULTS[name]):
            continue
        if name in HONOURED:
            passed[name] = value
            continue
        reason = NOT_BRIDGED.get(name, "not bridged")
        # Powertools sets these; AsyncContext is what the SDK's guide says async code
        # needs, and OpenTelemetry's context already follows asyncio tasks.
        quiet = name in ("streaming_threshold", "stream_sql")
        if name == "context" and type(value).__name__ in _SDK_CONTEXTS:
            reason = "not needed: OpenTelemetry's context follows asyncio tasks"
            quiet = True
        _log_once(
            f"configure:{name}",
            f"otel-xray: xray_recorder.configure({name}=...) is ignored under otel-xray's "
            f"X-Ray SDK bridge: {reason}",
            logging.INFO if quiet else logging.WARNING,
        )
    tracing = current()
    if tracing is not None and tracing.settings.in_lambda:
        for name in ("sampling", "sampling_rules", "sampler"):
            if passed.pop(name, None) is not None:
                _log_once(
                    f"configure:{name}",
                    f"otel-xray: xray_recorder.configure({name}=...) has no effect in Lambda, "
                    "as with the X-Ray SDK: Lambda's trace header decides",
                    logging.INFO,
                )
    if ("sampling_rules" in passed or "sampler" in passed) and "sampling" not in passed:
        # Rules given: the SDK's sampler decides (the bridge starts it switched off, so
        # that otel-xray's sampler alone decides for code that gives none).
        passed["sampling"] = True
    if passed:
        original(**passed)


def _patch(
    modules_to_patch: Any, raise_errors: bool = True, ignore_module_patterns: Any = None
) -> None:
    """``aws_xray_sdk.core.patch``: otel-xray's instrumentation already traces these.

    The SDK's own ``patch_all`` (bound before the bridge started) calls this with
    ``raise_errors=False``: what is not traced is then said at INFO, as by
    :func:`_patch_all`, since the code did not name those modules."""
    if raise_errors:
        _skip(modules_to_patch, logging.WARNING)
    else:
        _skip([m for m in modules_to_patch or () if _importable(str(m))], logging.INFO)


def _patch_all(double_patch: bool = False) -> None:
    """``aws_xray_sdk.core.patch_all``: as :func:`_patch` for the modules it would patch
    (``NO_DOUBLE_PATCH``, or all with ``double_patch``) that are installed; what it does
    not trace is said at INFO, since the code did not name those modules."""
    modules = patcher.SUPPORTED_MODULES if double_patch else patcher.NO_DOUBLE_PATCH
    _patch(modules, raise_errors=False)


def _skip(modules: Any, untraced_level: int) -> None:
    for module in modules or ():
        covered = PATCH_COVERED.get(str(module))
        if covered is not None:
            _log_once(
                f"patch:{module}",
                f"otel-xray: aws_xray_sdk patch({module!r}) skipped: otel-xray's {covered} "
                "instrumentation traces it (one subsegment per call)",
                logging.INFO,
            )
        else:
            why = LEFT_OUT.get(str(module), "no otel-xray instrumentation for it")
            _log_once(
                f"patch:{module}",
                f"otel-xray: aws_xray_sdk patch({module!r}) skipped and not traced: {why}",
                untraced_level,
            )


def _importable(module: str) -> bool:
    import importlib.util  # noqa: PLC0415

    name = {"httplib": "http.client", "sqlalchemy_core": "sqlalchemy"}.get(module, module)
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def installed() -> bool:
    """Whether the recorder runs on otel-xray's spans now."""
    return _saved is not None


def install(_module: Any = None, *, in_lambda: bool | None = None) -> None:
    """Take over ``aws_xray_sdk.core.xray_recorder`` (idempotent; never raises).

    ``in_lambda``: the settings' (default: ``AWS_LAMBDA_FUNCTION_NAME`` is set).
    """
    global _saved
    with _lock:
        if _saved is not None:
            return
        try:
            if in_lambda is None:
                in_lambda = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
            _saved = _take_over(in_lambda)
        except Exception:
            logger.exception("otel-xray: the X-Ray SDK bridge could not start; the SDK runs as is")


def _take_over(in_lambda: bool) -> _Saved:
    from aws_xray_sdk import core  # noqa: PLC0415  (imported already: the hook's trigger)

    recorder = core.xray_recorder
    old_context = recorder.context
    saved = _Saved(
        recorder=recorder,
        context=old_context,
        emitter=recorder.emitter,
        sampler=recorder.sampler,
        sampling=recorder.sampling,
        instance_attributes={
            k: recorder.__dict__[k]
            for k in ("configure", "patch", "patch_all")
            if k in recorder.__dict__
        },
        module_functions={
            (module, name): getattr(module, name)
            for module in (core, patcher)
            for name in ("patch", "patch_all")
        },
    )
    for found, what in (
        (type(old_context).__name__, "context"),
        (type(recorder.emitter).__name__, "emitter"),
    ):
        if found not in (*_SDK_CONTEXTS, "UDPEmitter"):
            _log_once(
                f"configure:{what}",
                f"otel-xray: the X-Ray SDK's custom {what} "
                f"{found} is not used: {NOT_BRIDGED[what]}",
            )
    plugins = sorted(k for k in getattr(recorder, "_aws_metadata", {}) if k != "xray")
    if plugins:
        _log_once(
            "configure:plugins",
            f"otel-xray: the X-Ray SDK's plugins ({', '.join(plugins)}) are not used: "
            f"{NOT_BRIDGED['plugins']}",
        )
    context = BridgeContext(getattr(old_context, "context_missing", "LOG_ERROR"), in_lambda)
    recorder.context = context
    recorder.emitter = _NullEmitter()
    if not in_lambda:
        # The SDK's default sampler polls the daemon for rules; otel-xray's sampler
        # decides instead, unless the code gives the SDK rules of its own (configure).
        from aws_xray_sdk.core.sampling.local.sampler import (  # type: ignore[import-untyped]  # noqa: PLC0415
            LocalSampler,
        )

        recorder.sampler = LocalSampler()
        recorder.sampling = False
    original = saved.instance_attributes.get("configure") or type(recorder).configure.__get__(
        recorder
    )
    recorder.configure = functools.partial(_configure, original)
    for (module, name), _function in saved.module_functions.items():
        setattr(module, name, _patch if name == "patch" else _patch_all)
    for name in ("patch", "patch_all"):
        if name in recorder.__dict__:  # Powertools' Tracer copies them onto the recorder
            setattr(recorder, name, _patch if name == "patch" else _patch_all)
    logger.debug("otel-xray: X-Ray SDK bridge on (in_lambda=%s)", in_lambda)
    return saved


def uninstall() -> None:
    """Put back what :func:`install` replaced (tests, and a re-configure)."""
    global _saved
    with _lock:
        saved, _saved = _saved, None
        if saved is None:
            return
        recorder = saved.recorder
        recorder.context = saved.context
        recorder.emitter = saved.emitter
        recorder.sampler = saved.sampler
        recorder.sampling = saved.sampling
        for name in ("configure", "patch", "patch_all"):
            recorder.__dict__.pop(name, None)
        recorder.__dict__.update(saved.instance_attributes)
        for (module, name), function in saved.module_functions.items():
            setattr(module, name, function)
        _logged.clear()
