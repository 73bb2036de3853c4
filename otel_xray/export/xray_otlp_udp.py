"""OTLP over UDP to the X-Ray daemon, the datagrams AWS's own Lambda layer sends.

The format is ADOT's (aws-otel-python-instrumentation,
``aws-opentelemetry-distro/src/amazon/opentelemetry/distro/otlp_udp_exporter.py``,
``UdpExporter.send_data`` and ``OTLPUdpSpanExporter.export``): the daemon's header line
``{"format":"json","version":1}``, then ``T1S`` (sampled spans) or ``T1U`` (unsampled),
then the base64 of an ``ExportTraceServiceRequest``, UTF-8. The daemon checks only the
header and forwards the rest to X-Ray unchanged (aws-xray-daemon,
``pkg/processor``; ``shared/reference/xray-otlp.md``).

Where it differs from ADOT: ADOT puts 10 spans in a datagram without checking its size,
and Linux refuses an IPv4 datagram over 65,507 bytes (errno 90, EMSGSIZE), losing all
ten. Here spans are packed by bytes: the header (30 bytes), the prefix (3) and base64
(4 characters per 3 bytes) leave room for 49,104 bytes of protobuf; a span that alone
does not fit is dropped and counted (:attr:`XRayOtlpUdpExporter.dropped_spans`).
Each (resource, scope) header is counted in every datagram it appears in
(:class:`~otel_xray.export.otlp_proto.RequestSize`). A datagram the kernel still refuses
is counted (:attr:`XRayOtlpUdpExporter.failed_datagrams`), warned about once, and the
export reports DROP, not SENT.
The encoding is :mod:`otel_xray.export.otlp_proto` (no protobuf runtime at cold start).
Spans carry what X-Ray's OTLP ingestion reads, as on the signed path: the host as
``peer.service`` on HTTP calls and ADOT's Application Signals attributes
(:func:`otel_xray.export.for_xray.for_xray`).

Example:
    >>> exporter = XRayOtlpUdpExporter(("127.0.0.1", 2000))
    >>> from otel_xray.export import Deadline
    >>> exporter.export_before([], Deadline(0.0)).value
    'sent'
    >>> MAX_PROTOBUF_BYTES
    49104
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan

from otel_xray.export import Deadline, ExportOutcome
from otel_xray.export.for_xray import UNENCODABLE, encoded_for_xray, unencodable_args
from otel_xray.export.otlp_proto import RequestSize, group, request_from_groups
from otel_xray.export.udp import UdpResult, UdpSender
from otel_xray.xray import DAEMON_HEADER

logger = logging.getLogger("otel_xray")

SAMPLED_PREFIX = b"T1S"
UNSAMPLED_PREFIX = b"T1U"
#: The largest UDP payload IPv4 carries (65,535 - 20 IP - 8 UDP header bytes).
MAX_UDP_PAYLOAD = 65_507
#: The protobuf that fits one datagram after the header, the prefix and base64.
MAX_PROTOBUF_BYTES = (MAX_UDP_PAYLOAD - len(DAEMON_HEADER) - len(SAMPLED_PREFIX)) // 4 * 3


def datagrams(
    spans: Sequence[ReadableSpan],
    limit: int = MAX_PROTOBUF_BYTES,
    lambda_function: str | None = None,
    failures: list[tuple[str, Exception]] | None = None,
) -> tuple[list[bytes], int]:
    """The datagrams carrying ``spans`` (each within the UDP limit), and how many spans
    were too large for any datagram. A span that cannot be encoded is left out and
    appended to ``failures`` (:func:`~otel_xray.export.for_xray.encoded_for_xray`)."""
    failures = [] if failures is None else failures
    out: list[bytes] = []
    too_large = 0
    for prefix, chosen in (
        (SAMPLED_PREFIX, [s for s in spans if s.context is None or s.context.trace_flags.sampled]),
        (UNSAMPLED_PREFIX, [s for s in spans if s.context and not s.context.trace_flags.sampled]),
    ):
        current: list[tuple[ReadableSpan, bytes]] = []
        headers: dict[tuple[int, int], tuple[int, int]] = {}
        size = RequestSize(headers)
        for span, data in encoded_for_xray(chosen, True, lambda_function, failures):
            if size.alone(span, data) > limit:
                too_large += 1
                continue
            added = size.cost(span, data)
            if current and size.bytes + added > limit:
                out.append(_datagram(prefix, current))
                current, size = [], RequestSize(headers)
                added = size.cost(span, data)
            current.append((span, data))
            size.add(span, added)
        if current:
            out.append(_datagram(prefix, current))
    return out, too_large


def _datagram(prefix: bytes, spans: list[tuple[ReadableSpan, bytes]]) -> bytes:
    return DAEMON_HEADER + prefix + base64.b64encode(request_from_groups(group(spans)))


class XRayOtlpUdpExporter:
    """OTLP datagrams to the daemon; counts what it could not send."""

    def __init__(self, address: tuple[str, int], lambda_function: str | None = None) -> None:
        self.sender = UdpSender(address)
        self.lambda_function = lambda_function
        self.sent_datagrams = 0
        #: Datagrams the kernel refused to send (their spans are lost).
        self.failed_datagrams = 0
        #: Spans too large for one datagram, or that could not be encoded (never sent).
        self.dropped_spans = 0
        self._warned_unencodable = False

    @property
    def address(self) -> tuple[str, int]:
        return self.sender.address

    @address.setter
    def address(self, address: tuple[str, int]) -> None:
        self.sender.shutdown()
        self.sender.address = address

    def export_before(self, spans: Sequence[ReadableSpan], deadline: Deadline) -> ExportOutcome:
        if not spans:
            return ExportOutcome.SENT
        failures: list[tuple[str, Exception]] = []
        try:
            packets, too_large = datagrams(
                spans, lambda_function=self.lambda_function, failures=failures
            )
        except Exception:
            logger.exception("otel-xray: could not encode %d spans for OTLP", len(spans))
            return ExportOutcome.DROP
        if failures:
            self.dropped_spans += len(failures)
            self._warn_unencodable(failures)
        if too_large:
            self.dropped_spans += too_large
            logger.warning(
                "otel-xray: dropped %d spans larger than one UDP datagram (%d bytes encoded)",
                too_large,
                MAX_PROTOBUF_BYTES,
            )
        failed = 0
        for packet in packets:
            result = self.sender.send(packet)
            if result is UdpResult.FULL:
                # Kernel buffer full: keep the batch (re-sent span ids are harmless).
                return ExportOutcome.RETRY
            if result is UdpResult.SENT:
                self.sent_datagrams += 1
            else:  # refused by the kernel (EMSGSIZE, no route, ...): those spans are lost
                failed += 1
                self.failed_datagrams += 1
        return ExportOutcome.DROP if failed else ExportOutcome.SENT

    def _warn_unencodable(self, failures: list[tuple[str, Exception]]) -> None:
        level = logging.DEBUG if self._warned_unencodable else logging.WARNING
        self._warned_unencodable = True
        logger.log(level, UNENCODABLE, *unencodable_args(failures))

    def reopen(self) -> None:
        """A forked child (or a restored snapshot) sends from a socket of its own."""
        self.sender.reopen()

    def shutdown(self) -> None:
        self.sender.shutdown()
