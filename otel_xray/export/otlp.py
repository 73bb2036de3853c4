"""OTLP/HTTP protobuf export that fits inside a Lambda invocation.

Why not upstream's ``OTLPSpanExporter`` in Lambda: its client retries transient
failures with exponential backoff (1 s, 2 s, 4 s ...) until its own timeout, by
sleeping in the calling thread. Called at the end of an invocation that sleep is
billed to the function and can eat its timeout; called from a background thread
the thread is frozen between invocations. Here one attempt is made under the
invocation's deadline, and a retryable failure is handed back to the caller, which
keeps the spans for the next flush. The protobuf encoding is upstream's.

The ``requests`` dependency of the upstream exporter is not imported: the standard
library's ``http.client`` is enough for a loopback collector and starts faster.

One attribute is added on the way out: ``peer.service`` = the host, on an HTTP client
span that has no name the collector's awsxray exporter would use for it. Its
translator (``internal/translator/segment.go``, ``MakeSegment``) names a subsegment
after ``aws.remote.service``, ``peer.service``, ``aws.service``, ``db.name``,
``rpc.service``, ``http.host`` or ``net.peer.name``, else after the span name; the
current HTTP conventions set none of those, so every HTTP call was a node called
``GET`` or ``POST``. The xray-udp translator and the X-Ray SDK name it after the
host; with this the collector does too (``tests/e2e/test_collector.py`` compares the
two maps).
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import urllib.parse
from collections.abc import Mapping, Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from otel_xray.export import Deadline, ExportOutcome

logger = logging.getLogger("otel_xray")

_RETRYABLE_STATUS = frozenset({408, 429, 502, 503, 504})


class LambdaOTLPExporter:
    """POSTs spans as one ``ExportTraceServiceRequest`` to an OTLP/HTTP endpoint.

    Example:
        >>> exporter = LambdaOTLPExporter("http://localhost:4318/v1/traces")
        >>> exporter.export_before([], Deadline(0.0)).value
        'sent'
    """

    def __init__(self, endpoint: str, headers: Mapping[str, str] | None = None) -> None:
        url = urllib.parse.urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"OTLP endpoint {endpoint!r} is not an http(s) URL")
        self.endpoint = endpoint
        self._https = url.scheme == "https"
        self._host = url.hostname
        self._port = url.port or (443 if self._https else 80)
        self._path = url.path or "/v1/traces"
        self._headers = {"Content-Type": "application/x-protobuf", **dict(headers or {})}
        self._connection: http.client.HTTPConnection | None = None

    def export_before(self, spans: Sequence[ReadableSpan], deadline: Deadline) -> ExportOutcome:
        if not spans:
            return ExportOutcome.SENT
        try:
            # Cold start: protobuf and the encoder (~30 ms, python -X importtime) load on
            # the first export, after the function's init, not during it.
            from opentelemetry.exporter.otlp.proto.common.trace_encoder import (  # noqa: PLC0415
                encode_spans,
            )

            body = encode_spans([named_for_xray(span) for span in spans]).SerializeToString()
        except Exception:
            logger.exception("otel-xray: could not encode %d spans for OTLP", len(spans))
            return ExportOutcome.DROP
        remaining = deadline.remaining()
        if remaining <= 0:
            return ExportOutcome.RETRY
        try:
            status = self._post(body, remaining)
        except (OSError, http.client.HTTPException) as error:
            self._close()
            logger.debug("otel-xray: OTLP export to %s failed: %s", self.endpoint, error)
            return ExportOutcome.RETRY
        if 200 <= status < 300:
            return ExportOutcome.SENT
        if status in _RETRYABLE_STATUS or status >= 500:
            return ExportOutcome.RETRY
        logger.debug("otel-xray: OTLP endpoint %s rejected spans: HTTP %d", self.endpoint, status)
        return ExportOutcome.DROP

    def _post(self, body: bytes, timeout: float, reconnect: bool = True) -> int:
        connection = self._connection
        if connection is None:
            reconnect = False
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            connection = cls(self._host, self._port, timeout=timeout)
            self._connection = connection
        else:
            connection.timeout = timeout
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
        try:
            connection.request("POST", self._path, body=body, headers=self._headers)
            response = connection.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.CannotSendRequest):
            # A kept-alive connection the collector closed while we were frozen.
            self._close()
            if not reconnect:
                raise
            return self._post(body, timeout, reconnect=False)
        response.read()
        if response.will_close:
            self._close()
        return response.status

    def _close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(OSError):
                self._connection.close()
            self._connection = None

    def shutdown(self) -> None:
        self._close()

    def reopen(self) -> None:
        """In a forked child or a restored snapshot: the connection belongs to the parent.

        Two processes writing one kept-alive TCP stream corrupt each other's requests,
        so the child closes its copy of the descriptor and opens its own next time.
        """
        if self._connection is not None:
            with contextlib.suppress(OSError):
                self._connection.close()  # the child's copy of the descriptor only
        self._connection = None


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
        host = urllib.parse.urlsplit(url).hostname if isinstance(url, str) else None
    if not isinstance(host, str) or not host:
        return span
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes={**attributes, "peer.service": host},
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
