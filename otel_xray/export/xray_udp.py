"""Send X-Ray segment documents straight to the X-Ray daemon over UDP.

The daemon protocol: one datagram per document, ``{"format":"json","version":1}``
and a newline, then the document (at most 64 KB). No collector, no protobuf, no
waiting on the network: ``sendto`` on a non-blocking socket either queues the
datagram in the kernel or fails at once. In Lambda the daemon address comes from
``AWS_XRAY_DAEMON_ADDRESS`` when active tracing is on.

Example:
    >>> exporter = XRayUdpExporter(("127.0.0.1", 2000))
    >>> from otel_xray.export import Deadline
    >>> exporter.export_before([], Deadline(0.0)).value
    'sent'
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan

from otel_xray.export import Deadline, ExportOutcome
from otel_xray.export.udp import UdpResult, UdpSender
from otel_xray.xray import DAEMON_HEADER
from otel_xray.xray.segment import encoded_document

logger = logging.getLogger("otel_xray")


class XRayUdpExporter:
    """One document per datagram to the daemon; counts what it could not send."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sender = UdpSender(address)
        self.sent_documents = 0
        self.failed_documents = 0

    @property
    def address(self) -> tuple[str, int]:
        return self.sender.address

    def export_before(self, spans: Sequence[ReadableSpan], deadline: Deadline) -> ExportOutcome:
        # Each sendto takes microseconds; the deadline cannot be hit inside a batch.
        refused = False
        for span in spans:
            try:
                datagram = DAEMON_HEADER + encoded_document(span)
            except Exception:
                self.failed_documents += 1
                logger.debug("otel-xray: span %r has no X-Ray document", span.name, exc_info=True)
                continue
            result = self.sender.send(datagram)
            if result is UdpResult.FULL:
                # Kernel buffer full: keep the batch. Re-sent ids are harmless, X-Ray
                # keeps the latest document per id.
                return ExportOutcome.RETRY
            if result is UdpResult.SENT:
                self.sent_documents += 1
            else:
                self.failed_documents += 1
                refused = True
        return ExportOutcome.DROP if refused else ExportOutcome.SENT

    def reopen(self) -> None:
        """A forked child (or a restored snapshot) sends from a socket of its own."""
        self.sender.reopen()

    def shutdown(self) -> None:
        self.sender.shutdown()
