"""OTLP/HTTP protobuf export that fits inside a Lambda invocation.

Why not upstream's ``OTLPSpanExporter`` in Lambda: its client retries transient
failures with exponential backoff (1 s, 2 s, 4 s ...) until its own timeout, by
sleeping in the calling thread. Called at the end of an invocation that sleep is
billed to the function and can eat its timeout; called from a background thread
the thread is frozen between invocations. Here every attempt is made under the
invocation's deadline, and a failure that outlasts it is handed back to the caller,
which keeps the spans for the next flush.

The ``requests`` dependency of the upstream exporter is not imported: the standard
library's ``http.client`` is enough for a loopback collector and starts faster.

One attribute is added on the way out (:mod:`otel_xray.export.for_xray`):
``peer.service`` = the host, on an HTTP client span that has no name the collector's
awsxray exporter would use for it. Its translator (``internal/translator/segment.go``,
``MakeSegment``) names a subsegment after ``aws.remote.service``, ``peer.service``,
``aws.service``, ``db.name``, ``rpc.service``, ``http.host`` or ``net.peer.name``, else
after the span name; the current HTTP conventions set none of those, so every HTTP call
was a node called ``GET`` or ``POST``. The xray-udp translator and the X-Ray SDK name it
after the host; with this the collector does too (``tests/e2e/test_collector.py``
compares the two maps).

Straight to X-Ray (``https://xray.<region>.amazonaws.com/v1/traces``, CloudWatch user
guide, CloudWatch-OTLPEndpoint) the same exporter also:

- signs each request with SigV4 for ``xray`` (:mod:`otel_xray.export.aws_auth`) over
  the body as sent, gzip bytes included; an ``Authorization`` header (an API key)
  replaces signing;
- cuts requests to the endpoint's limits (10,000 spans, 5 MB uncompressed) and drops,
  counted, a span it would refuse (over 200 KB encoded, more than 14 days old or two
  hours ahead);
- reads ``partial_success`` (counted, logged once, never retried: OTLP specification);
- retries 429, 502, 503 and 504 within the deadline, waiting ``Retry-After`` when
  given, and hands the spans back when the wait does not fit;
- logs each kind of failure once, with the fix (credentials, IAM, Transaction Search,
  the endpoint), and never raises.

The protobuf is encoded by :mod:`otel_xray.export.otlp_proto` (no protobuf runtime).
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from opentelemetry.sdk.trace import ReadableSpan

from otel_xray.export import Deadline, ExportOutcome
from otel_xray.export.aws_auth import (
    CredentialChain,
    CredentialsError,
    CredentialsUnavailableError,
    SigV4Signer,
)
from otel_xray.export.for_xray import UNENCODABLE, encoded_for_xray, unencodable_args
from otel_xray.export.otlp_proto import (
    RequestSize,
    group,
    read_partial_success,
    read_status_message,
    request_from_groups,
)
from otel_xray.settings import AwsCredentialEnv, OtlpSigning

logger = logging.getLogger("otel_xray")

#: Retried within the deadline (OTLP specification, "Retryable Response Codes").
_RETRY_NOW = frozenset({429, 502, 503, 504})
#: Handed back to the caller for the next flush.
_RETRY_LATER = frozenset({408, 500})
#: The first wait when the endpoint gives no Retry-After; doubled each time.
FIRST_BACKOFF_SECONDS = 0.05
#: X-Ray's refusal when Transaction Search is off (CloudWatch-OTLPTroubleshooting).
TRANSACTION_SEARCH_OFF = (
    "The OTLP API is supported with CloudWatch Logs as a Trace Segment Destination"
)


class EndpointLimits(NamedTuple):
    """What one request may hold (CloudWatch user guide, CloudWatch-OTLPEndpoint)."""

    max_spans: int = 10_000
    max_request_bytes: int = 5 * 1024 * 1024
    #: None: no per-span checks (a collector takes what it is given).
    max_span_bytes: int | None = None
    max_age_seconds: float | None = None
    max_ahead_seconds: float | None = None


#: X-Ray's OTLP endpoint: "reject requests larger than 5MB when payload is uncompressed",
#: "max allowed number of spans in one request is 10,000", "Spans more than 200KB will
#: [be] rejected", none "more than two hours in the future or more than 14 days in the past".
XRAY_LIMITS = EndpointLimits(10_000, 5 * 1024 * 1024, 200 * 1024, 14 * 86400.0, 2 * 3600.0)
COLLECTOR_LIMITS = EndpointLimits()


class LambdaOTLPExporter:
    """POSTs spans as ``ExportTraceServiceRequest`` s to an OTLP/HTTP endpoint.

    Each kind of failure is logged once, with its cause and fix, here
    (``explains_failures``: the invocation processor does not repeat it).

    Example:
        >>> exporter = LambdaOTLPExporter("http://localhost:4318/v1/traces")
        >>> exporter.export_before([], Deadline(0.0)).value
        'sent'
    """

    def __init__(
        self,
        endpoint: str,
        headers: Mapping[str, str] | None = None,
        *,
        compression: str = "none",
        signing: OtlpSigning | None = None,
        credentials: AwsCredentialEnv | CredentialChain | None = None,
        limits: EndpointLimits = COLLECTOR_LIMITS,
        clock_ns: Callable[[], int] = time.time_ns,
        app_signals: bool = False,
        lambda_function: str | None = None,
    ) -> None:
        url = urllib.parse.urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"OTLP endpoint {endpoint!r} is not an http(s) URL")
        if compression not in ("none", "gzip"):
            raise ValueError(f"OTLP compression {compression!r}: accepted values are none, gzip")
        self.endpoint = endpoint
        self._https = url.scheme == "https"
        self._host = url.hostname
        self._port = url.port or (443 if self._https else 80)
        self._path = (url.path or "/v1/traces") + (f"?{url.query}" if url.query else "")
        self._headers = {"Content-Type": "application/x-protobuf", **dict(headers or {})}
        self._gzip = compression == "gzip"
        if self._gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._signer = SigV4Signer(signing.region, signing.service) if signing else None
        if isinstance(credentials, CredentialChain):
            self._credentials: CredentialChain | None = credentials
        else:
            self._credentials = CredentialChain(credentials or AwsCredentialEnv.from_env({}))
        self.limits = limits
        #: Add ADOT's Application Signals attributes (X-Ray's own ingestion only).
        self.app_signals = app_signals
        self._lambda_function = lambda_function
        self._clock_ns = clock_ns
        self._connection: http.client.HTTPConnection | None = None
        #: Spans the endpoint accepted / the endpoint said it rejected (partial_success) /
        #: dropped before sending because the endpoint would refuse them.
        self.sent_spans = 0
        self.rejected_spans = 0
        self.dropped_spans = 0
        self.requests = 0
        self._logged: set[str] = set()

    explains_failures = True

    # export -------------------------------------------------------------------------

    def export_before(self, spans: Sequence[ReadableSpan], deadline: Deadline) -> ExportOutcome:
        if not spans:
            return ExportOutcome.SENT
        try:
            batches = self._batches(spans)
        except Exception:
            logger.exception("otel-xray: could not encode %d spans for OTLP", len(spans))
            return ExportOutcome.DROP
        outcome = ExportOutcome.SENT
        for count, body in batches:
            outcome = self._send(count, body, deadline)
            if outcome is not ExportOutcome.SENT:
                # Later batches are kept too (RETRY) or lost with this one (DROP); a batch
                # re-sent after a RETRY is harmless, X-Ray keeps one copy of a span id.
                return outcome
        return outcome

    def _batches(self, spans: Sequence[ReadableSpan]) -> list[tuple[int, bytes]]:
        """The requests to send: (span count, body), each within the limits."""
        limits = self.limits
        now = self._clock_ns()
        oldest = now - int(limits.max_age_seconds * 1e9) if limits.max_age_seconds else None
        newest = now + int(limits.max_ahead_seconds * 1e9) if limits.max_ahead_seconds else None
        batches: list[tuple[int, bytes]] = []
        current: list[tuple[ReadableSpan, bytes]] = []
        headers: dict[tuple[int, int], tuple[int, int]] = {}
        size = RequestSize(headers)
        failures: list[tuple[str, Exception]] = []
        for span, data in encoded_for_xray(
            spans, self.app_signals, self._lambda_function, failures
        ):
            reason = self._refusal(span, data, oldest, newest)
            if reason:
                self.dropped_spans += 1
                self._log_once(
                    "drop:" + reason.split(" ")[0],
                    "otel-xray: dropped span %r: %s (X-Ray's OTLP endpoint refuses it; "
                    "the count is in the exporter's dropped_spans)",
                    span.name,
                    reason,
                )
                continue
            added = size.cost(span, data)
            if current and (
                len(current) >= limits.max_spans or size.bytes + added > limits.max_request_bytes
            ):
                batches.append((len(current), request_from_groups(group(current))))
                current, size = [], RequestSize(headers)
                added = size.cost(span, data)
            current.append((span, data))
            size.add(span, added)
        if current:
            batches.append((len(current), request_from_groups(group(current))))
        if failures:
            self.dropped_spans += len(failures)
            self._log_once("unencodable", UNENCODABLE, *unencodable_args(failures))
        return batches

    def _refusal(
        self, span: ReadableSpan, data: bytes, oldest: int | None, newest: int | None
    ) -> str:
        limits = self.limits
        if limits.max_span_bytes is not None and len(data) > limits.max_span_bytes:
            return f"{len(data)} bytes encoded, over the {limits.max_span_bytes} a span may have"
        times = [t for t in (span.start_time, span.end_time) if t is not None]
        if oldest is not None and any(t < oldest for t in times):
            return "older than the 14 days the endpoint accepts"
        if newest is not None and any(t > newest for t in times):
            return "more than two hours in the future"
        return ""

    def _send(self, count: int, body: bytes, deadline: Deadline) -> ExportOutcome:
        if self._gzip:
            import gzip  # noqa: PLC0415 - only when compression is asked for

            body = gzip.compress(body, compresslevel=6, mtime=0)
        backoff = FIRST_BACKOFF_SECONDS
        status = 0
        while True:
            remaining = deadline.remaining()
            if remaining <= 0:
                if status:
                    self._log_once(
                        f"busy:{status}",
                        "otel-xray: the OTLP endpoint %s kept answering HTTP %d until this "
                        "flush's deadline; spans are kept for the next flush",
                        self.endpoint,
                        status,
                    )
                return ExportOutcome.RETRY
            try:
                headers = self._request_headers(body, remaining)
            except CredentialsUnavailableError as error:
                # Slow or down, not misconfigured: like an unreachable endpoint.
                self._log_once(
                    "credentials-unavailable",
                    "otel-xray: spans not sent yet: %s; they are kept for the next flush",
                    error,
                )
                return ExportOutcome.RETRY
            except CredentialsError as error:
                self._log_once("credentials", "otel-xray: spans not sent: %s", error)
                return ExportOutcome.DROP
            try:
                status, retry_after, reply = self._post(body, headers, deadline.remaining())
            except (OSError, http.client.HTTPException) as error:
                self._close()
                self._log_once(
                    "unreachable",
                    "otel-xray: cannot reach the OTLP endpoint %s (%s); spans are kept for "
                    "the next flush. Check OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and the network "
                    "path (in a VPC: a NAT gateway or an X-Ray interface endpoint)",
                    self.endpoint,
                    error or type(error).__name__,
                )
                return ExportOutcome.RETRY
            self.requests += 1
            if 200 <= status < 300:
                self._read_success(count, reply)
                return ExportOutcome.SENT
            if status in _RETRY_NOW:
                wait = retry_after if retry_after is not None else backoff
                backoff *= 2
                if wait >= deadline.remaining():
                    self._log_once(
                        f"busy:{status}",
                        "otel-xray: the OTLP endpoint %s answered HTTP %d (retry after %.2fs, "
                        "beyond this flush's deadline); spans are kept for the next flush",
                        self.endpoint,
                        status,
                        wait,
                    )
                    return ExportOutcome.RETRY
                time.sleep(wait)
                continue
            if status in _RETRY_LATER or status >= 500:
                self._log_once(
                    f"busy:{status}",
                    "otel-xray: the OTLP endpoint %s answered HTTP %d %s; spans are kept for "
                    "the next flush",
                    self.endpoint,
                    status,
                    _error_message(reply) or "",
                )
                return ExportOutcome.RETRY
            self._refused(status, count, reply)
            if status == 403 and self._credentials is not None:
                self._credentials.forget()
            return ExportOutcome.DROP

    def _request_headers(self, body: bytes, timeout: float) -> dict[str, str]:
        if self._signer is None or self._credentials is None:
            return self._headers
        credentials = self._credentials.get(timeout)
        host = f"[{self._host}]" if ":" in self._host else self._host
        return self._signer.sign(
            "POST",
            f"{'https' if self._https else 'http'}://{host}:{self._port}{self._path}",
            self._headers,
            body,
            credentials,
        )

    def _read_success(self, count: int, reply: bytes) -> None:
        rejected, message = read_partial_success(reply)
        self.sent_spans += count - min(rejected, count)
        if rejected or message:
            self.rejected_spans += rejected
            # The OTLP specification: "The client MUST NOT retry the request when it
            # receives a partial success response".
            self._log_once(
                "partial",
                "otel-xray: the OTLP endpoint %s rejected %d of %d spans: %s (not retried; "
                "later rejections are only counted)",
                self.endpoint,
                rejected,
                count,
                message or "no reason given",
            )

    def _refused(self, status: int, count: int, reply: bytes) -> None:
        message = _error_message(reply)
        if TRANSACTION_SEARCH_OFF.lower() in message.lower():
            fix = (
                "turn on Transaction Search for the account (CloudWatch console, Application "
                "Signals > Transaction Search, or `aws xray update-trace-segment-destination "
                "--destination CloudWatchLogs`), or use OTEL_TRACES_EXPORTER=xray-udp"
            )
        elif status in (401, 403):
            fix = (
                "check the credentials and that the function's role allows "
                "xray:PutTraceSegments (an API key needs the same permission)"
            )
        elif status == 404:
            fix = "check OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (it ends in /v1/traces)"
        else:
            fix = "the request was not retried"
        self._log_once(
            f"refused:{status}",
            "otel-xray: the OTLP endpoint %s refused %d spans: HTTP %d %s; %s",
            self.endpoint,
            count,
            status,
            message or "(no message)",
            fix,
        )

    def _log_once(self, kind: str, message: str, *args: object) -> None:
        if kind in self._logged:
            logger.debug(message, *args)
            return
        self._logged.add(kind)
        logger.warning(message, *args)

    # HTTP ---------------------------------------------------------------------------

    def _post(
        self, body: bytes, headers: Mapping[str, str], timeout: float, reconnect: bool = True
    ) -> tuple[int, float | None, bytes]:
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
            connection.request("POST", self._path, body=body, headers=dict(headers))
            response = connection.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.CannotSendRequest):
            # A kept-alive connection the endpoint closed while we were frozen.
            self._close()
            if not reconnect:
                raise
            return self._post(body, headers, timeout, reconnect=False)
        reply = response.read()
        retry_after = _retry_after(response.getheader("Retry-After"))
        if response.will_close:
            self._close()
        return response.status, retry_after, reply

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
        Credentials fetched before a SnapStart snapshot are fetched again.
        """
        if self._connection is not None:
            with contextlib.suppress(OSError):
                self._connection.close()  # the child's copy of the descriptor only
        self._connection = None
        if self._credentials is not None:
            self._credentials.forget()


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds: delay-seconds or an HTTP-date (RFC 9110, 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils  # noqa: PLC0415 - only for the rare date form

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _error_message(reply: bytes) -> str:
    """The message of an error body: JSON ``message``, a ``google.rpc.Status``, or text."""
    text = reply[:2048]
    if text[:1] == b"{":
        import json  # noqa: PLC0415

        try:
            decoded = json.loads(text)
            for key in ("message", "Message"):
                if isinstance(decoded.get(key), str):
                    return str(decoded[key])
        except ValueError:
            pass
    status_message = read_status_message(text)
    if status_message:
        return status_message
    return text.decode("utf-8", "replace").strip()
