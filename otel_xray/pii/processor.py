"""A span processor that hands the next processor a redacted copy of every ended span.

It wraps the exporting processor (the per-invocation one in Lambda, the batch one
elsewhere), so every exporter, OTLP and xray-udp alike, only ever sees redacted
spans. Covered: the span name, attributes, status description, every event's name
and attributes (``exception.message`` and ``exception.stacktrace`` included), link
attributes and the resource (redacted once per resource). A span whose redaction
fails is dropped and counted, never exported as it was: privacy fails closed.

When the next processor can run work at flush time (Lambda's invocation processor,
:meth:`~otel_xray.export.processor.InvocationSpanProcessor.prepare_at_flush`), the
redaction runs there, not in ``on_end``: a span's end then costs the caller an append,
and the redaction happens with the export, which on Lambda comes after the response.
Nothing leaves unredacted either way: that processor exports a span only as the
redaction returned it.

Example:
    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    >>> from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    >>> from otel_xray.pii.redactor import Redactor
    >>> from otel_xray.settings import PiiSettings
    >>> exported = InMemorySpanExporter()
    >>> provider = TracerProvider()
    >>> provider.add_span_processor(
    ...     RedactingSpanProcessor(SimpleSpanProcessor(exported), Redactor(PiiSettings())))
    >>> tracer = provider.get_tracer("t")
    >>> with tracer.start_as_current_span("signup", attributes={"email": "bob@example.com"}):
    ...     pass
    >>> exported.get_finished_spans()[0].attributes["email"]
    '[REDACTED:email]'
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import Link, SpanKind, Status

from otel_xray.spans import plain_attributes

if TYPE_CHECKING:
    from otel_xray.pii.redactor import Redactor

logger = logging.getLogger("otel_xray")


class RedactingSpanProcessor(SpanProcessor):
    """Redacts each ended span, then passes it to ``delegate``."""

    def __init__(
        self,
        delegate: SpanProcessor,
        redactor: Redactor | Callable[[], Redactor],
        value_length_limit: int | None = None,
    ) -> None:
        """``redactor`` may be a function that makes one: it is called on first use (the
        Lambda pipeline's first flush, after the response), so the detectors' module is
        not imported during init."""
        self.delegate = delegate
        self._redactor: Redactor | None = None
        self._make_redactor: Callable[[], Redactor] | None = None
        if callable(redactor):
            self._make_redactor = redactor
        else:
            self._redactor = redactor
        #: ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``, applied here, after redaction.
        self.value_length_limit = value_length_limit
        self.dropped = 0
        self._resources: dict[int, tuple[Resource, Resource]] = {}
        self._lock = threading.Lock()
        prepare_at_flush = getattr(delegate, "prepare_at_flush", None)
        #: The redaction runs at the delegate's flush instead of at each span's end.
        self.deferred = callable(prepare_at_flush)
        if prepare_at_flush is not None and self.deferred:
            prepare_at_flush(self._redacted_or_none)

    @property
    def redactor(self) -> Redactor:
        """The redactor, made on first use when a function to make it was given."""
        redactor = self._redactor
        if redactor is None:
            with self._lock:
                if self._redactor is None:
                    assert self._make_redactor is not None
                    self._redactor = self._make_redactor()
                redactor = self._redactor
        return redactor

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.delegate.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if self.deferred:
            self.delegate.on_end(span)  # redacted at the delegate's flush
            return
        redacted = self._redacted_or_none(span)
        if redacted is not None:
            self.delegate.on_end(redacted)

    def _redacted_or_none(self, span: ReadableSpan) -> ReadableSpan | None:
        """``span`` redacted, or None (counted, logged once) when redaction failed."""
        try:
            return self.redact(span)
        except Exception:
            self.dropped += 1
            if self.dropped == 1:
                logger.exception("otel-xray: a span could not be redacted and was not exported")
            return None

    def redact(self, span: ReadableSpan) -> ReadableSpan:
        """``span`` with personal data replaced; the span itself when there was none."""
        redactor = self.redactor
        name = redactor.name(span.name)
        source = plain_attributes(span)
        attributes = self._limited(redactor.attributes(source, span.kind is SpanKind.SERVER))
        events = [self._event(e) for e in span.events]
        links = [self._link(link) for link in span.links]
        resource = self._resource(span.resource)
        status = span.status
        if status.description:
            description = redactor.text(status.description)
            if description != status.description:
                status = Status(status.status_code, description)
        unchanged = (
            name == span.name
            and attributes is source
            and all(a is b for a, b in zip(events, span.events, strict=True))
            and all(a is b for a, b in zip(links, span.links, strict=True))
            and resource is span.resource
            and status is span.status
        )
        if unchanged:
            return span
        return ReadableSpan(
            name=name,
            context=span.context,
            parent=span.parent,
            resource=resource,
            attributes=attributes,
            events=events,
            links=links,
            kind=span.kind,
            status=status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def _event(self, event: Event) -> Event:
        source = plain_attributes(event)
        attributes = self._limited(self.redactor.attributes(source))
        name = self.redactor.text(event.name)
        if attributes is source and name == event.name:
            return event
        return Event(name, attributes, timestamp=event.timestamp)

    def _link(self, link: Link) -> Link:
        source = plain_attributes(link)
        attributes = self._limited(self.redactor.attributes(source))
        return link if attributes is source else Link(link.context, attributes)

    def _limited(self, attributes: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        """Redacted attributes with strings cut to the length limit (the SDK's rule:
        strings, and the strings of sequences); the same object when nothing is cut."""
        limit = self.value_length_limit
        if limit is None or not attributes:
            return attributes
        changed: dict[str, Any] | None = None
        for key, value in attributes.items():
            cut = _cut(value, limit)
            if cut is not value:
                if changed is None:
                    changed = dict(attributes)
                changed[key] = cut
        return attributes if changed is None else changed

    def _resource(self, resource: Resource) -> Resource:
        cached = self._resources.get(id(resource))
        if cached is not None and cached[0] is resource:
            return cached[1]
        attributes = self.redactor.attributes(resource.attributes)
        redacted = (
            resource
            if attributes is resource.attributes
            else Resource(dict(attributes or {}), resource.schema_url)
        )
        with self._lock:
            if len(self._resources) > 64:
                self._resources.clear()
            self._resources[id(resource)] = (resource, redacted)
        return redacted

    def shutdown(self) -> None:
        self.delegate.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.delegate.force_flush(timeout_millis)


def _cut(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return value[:limit] if len(value) > limit else value
    if isinstance(value, list | tuple) and any(
        isinstance(v, str) and len(v) > limit for v in value
    ):
        return tuple(v[:limit] if isinstance(v, str) else v for v in value)
    return value
