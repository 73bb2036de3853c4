"""Send X-Ray segment documents straight to the X-Ray daemon over UDP.

The daemon protocol: one datagram per document, ``{"format":"json","version":1}``
and a newline, then the document (at most 64 KB). No collector, no protobuf, no
waiting on the network: ``sendto`` on a non-blocking socket either queues the
datagram in the kernel or fails at once. In Lambda the daemon address comes from
``AWS_XRAY_DAEMON_ADDRESS`` when active tracing is on.

Example:
    >>> exporter = XRayUdpExporter(("127.0.0.1", 2000))
    >>> exporter.export_before([], deadline=0.0).value
    'sent'
"""

from __future__ import annotations

import logging
import os
import socket
import weakref
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan

from otel_xray.export import ExportOutcome
from otel_xray.xray.segment import encode, span_to_document

logger = logging.getLogger("otel_xray")

DAEMON_HEADER = b'{"format":"json","version":1}\n'


class XRayUdpExporter:
    """One document per datagram to the daemon; counts what it could not send."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self._socket: socket.socket | None = None
        self.sent_documents = 0
        self.failed_documents = 0
        _live.add(self)

    def _sock(self) -> socket.socket:
        if self._socket is None:
            family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            self._socket = sock
        return self._socket

    def export_before(self, spans: Sequence[ReadableSpan], deadline: float) -> ExportOutcome:
        # Each sendto takes microseconds; the deadline cannot be hit inside a batch.
        for span in spans:
            try:
                datagram = DAEMON_HEADER + encode(span_to_document(span))
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

    def shutdown(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


# A forked child gets a socket of its own (its copy of the parent's is closed).
_live: weakref.WeakSet[XRayUdpExporter] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for exporter in list(_live):
        exporter.shutdown()


os.register_at_fork(after_in_child=_after_fork_in_child)
