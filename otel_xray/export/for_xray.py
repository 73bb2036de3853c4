"""What X-Ray's ingestion reads from an OTLP span, added on the way out.

Shared by the OTLP/HTTP exporter (:mod:`otel_xray.export.otlp`) and the OTLP datagram
exporter (:mod:`otel_xray.export.xray_otlp_udp`), and kept apart from both so the UDP
path does not import ``http.client`` (about 11 ms of a cold start, ``python -X importtime``).

- ``peer.service`` = the host, on an HTTP client span that has no name the collector's
  awsxray translator would use for it (``internal/translator/segment.go``,
  ``MakeSegment``: ``aws.remote.service``, ``peer.service``, ``aws.service``,
  ``db.name``, ``rpc.service``, ``http.host``, ``net.peer.name``, else the span name);
- on the paths to X-Ray itself, the Application Signals attributes
  (:mod:`otel_xray.xray.app_signals`).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Iterator, Mapping

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from otel_xray.export.otlp_proto import encode_span

#: Attributes the collector's translator names a CLIENT subsegment after (MakeSegment).
_NAMING_ATTRIBUTES = (
    "aws.remote.service",
    "peer.service",
    "aws.service",
    "rpc.service",
    "db.name",
    "http.host",
    "net.peer.name",
)


def for_xray(span: ReadableSpan, app_signals: bool, lambda_function: str | None) -> ReadableSpan:
    """:func:`named_for_xray`, plus the Application Signals attributes when asked for
    (:mod:`otel_xray.xray.app_signals`: what ADOT puts on spans for X-Ray's ingestion)."""
    named = named_for_xray(span)
    if not app_signals:
        return named
    from otel_xray.xray.app_signals import application_signals  # noqa: PLC0415

    return with_attributes(named, application_signals(named, lambda_function))


#: The one line both OTLP exporters log for the spans :func:`encoded_for_xray` left out.
UNENCODABLE = (
    "otel-xray: dropped %d span(s) that could not be encoded for OTLP, the others are "
    "sent; first: %r: %s: %s (later ones are only counted, in dropped_spans)"
)


def unencodable_args(failures: list[tuple[str, Exception]]) -> tuple[object, ...]:
    """The arguments of :data:`UNENCODABLE` for ``failures`` (not empty)."""
    name, error = failures[0]
    return len(failures), name, type(error).__name__, error


def encoded_for_xray(
    spans: Iterable[ReadableSpan],
    app_signals: bool,
    lambda_function: str | None,
    failures: list[tuple[str, Exception]],
) -> Iterator[tuple[ReadableSpan, bytes]]:
    """Each span as :func:`for_xray` makes it, with its OTLP encoding. A span that cannot
    be made or encoded (an attribute the code above did not foresee) is left out and
    appended to ``failures`` as (its name, the error), so it costs only itself, not the
    batch it came in."""
    for original in spans:
        try:
            span = for_xray(original, app_signals, lambda_function)
            yield span, encode_span(span)
        except Exception as error:
            failures.append((str(original.name), error))


def with_attributes(span: ReadableSpan, added: Mapping[str, object]) -> ReadableSpan:
    """A copy of ``span`` with ``added`` over its attributes."""
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes={**(span.attributes or {}), **added},  # type: ignore[dict-item]
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def named_for_xray(span: ReadableSpan) -> ReadableSpan:
    """The span, with ``peer.service`` = host when the collector would name it ``GET``.

    Example:
        >>> from opentelemetry.sdk.trace import TracerProvider
        >>> tracer = TracerProvider().get_tracer("example")
        >>> with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT,
        ...         attributes={"url.full": "https://pay.example.com/charge"}) as span:
        ...     pass
        >>> named_for_xray(span).attributes["peer.service"]
        'pay.example.com'
    """
    attributes = span.attributes or {}
    if span.kind not in (SpanKind.CLIENT, SpanKind.PRODUCER) or any(
        key in attributes for key in _NAMING_ATTRIBUTES
    ):
        return span
    # The order the xray-udp translator names it by: server.address, then the URL's host.
    host: object = attributes.get("server.address")
    if not isinstance(host, str) or not host:
        url = attributes.get("url.full") or attributes.get("http.url")
        host = _hostname(url) if isinstance(url, str) else None
    if not isinstance(host, str) or not host:
        return span
    return with_attributes(span, {"peer.service": host})


def _hostname(url: str) -> str | None:
    """The URL's host; None for a URL ``urlsplit`` refuses (``http://[fe80::1%eth0/x``:
    "Invalid IPv6 URL"), as for no URL."""
    try:
        return urllib.parse.urlsplit(url).hostname
    except ValueError:
        return None
