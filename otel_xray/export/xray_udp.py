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
import socket
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan

from otel_xray.export import Deadline, ExportOutcome
from otel_xray.xray import DAEMON_HEADER
from otel_xray.xray.segment import encoded_document

logger = logging.getLogger("otel_xray")


class XRayUdpExporter:
    """One document per datagram to the daemon; counts what it could not send."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self._socket: socket.socket | None = None
        self.sent_documents = 0
        self.failed_documents = 0

    def _sock(self) -> socket.socket:
        if self._socket is None:
            family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            self._socket = sock
        return self._socket

    def export_before(self, spans: Sequence[ReadableSpan], deadline: Deadline) -> ExportOutcome:
        # Each sendto takes microseconds; the deadline cannot be hit inside a batch.
        for span in spans:
            try:
                datagram = DAEMON_HEADER + encoded_document(span)
            except Exception:
                self.failed_documents += 1
                logger.debug("otel-xray: span %r has no X-Ray document", span.name, exc_info=True)
                continue
            try:
                self._sock().sendto(datagram, self.address)
                self.sent_documents += 1
            except BlockingIOError:
                # Kernel buffer full: keep the batch. Re-sent ids are harmless, X-Ray
                # keeps the latest document per id.
                return ExportOutcome.RETRY
            except OSError as error:
                self.failed_documents += 1
                logger.debug("otel-xray: UDP send to %s failed: %s", self.address, error)
                self.shutdown()  # a fresh socket next time (e.g. after a SnapStart restore)
        return ExportOutcome.SENT

    def reopen(self) -> None:
        """A forked child (or a restored snapshot) sends from a socket of its own."""
        self.shutdown()

    def shutdown(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
