"""The one UDP socket both daemon exporters send through (segment documents and OTLP).

``sendto`` on a non-blocking socket either queues the datagram in the kernel or fails at
once, so no send waits on the network. Three results, the same for both wires: sent;
the kernel's buffer is full (``BlockingIOError``: keep the batch and try again later);
refused (``EMSGSIZE``, no route, a name that does not resolve: that datagram is lost).
A refusal is logged once as a warning, then only counted by the exporter, and the socket
is made anew for the next send (after a SnapStart restore the old one may be gone). A
forked child or a restored sandbox sends from a socket of its own (:meth:`reopen`).

Example:
    >>> sender = UdpSender(("127.0.0.1", 9))
    >>> sender.send(b"{}") is UdpResult.SENT
    True
    >>> sender.shutdown()
"""

from __future__ import annotations

import enum
import logging
import socket

logger = logging.getLogger("otel_xray")


class UdpResult(enum.Enum):
    SENT = "sent"
    #: The kernel's send buffer is full: keep the batch for the next flush.
    FULL = "full"
    #: The kernel refused the datagram: it is lost.
    REFUSED = "refused"


class UdpSender:
    """A lazily made, non-blocking UDP socket to one address."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self._socket: socket.socket | None = None
        self._warned = False

    def send(self, datagram: bytes) -> UdpResult:
        try:
            if self._socket is None:
                family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
                self._socket = socket.socket(family, socket.SOCK_DGRAM)
                self._socket.setblocking(False)
            self._socket.sendto(datagram, self.address)
            return UdpResult.SENT
        except BlockingIOError:
            return UdpResult.FULL
        except OSError as error:
            level = logging.DEBUG if self._warned else logging.WARNING
            self._warned = True
            logger.log(
                level,
                "otel-xray: UDP send of a %d-byte datagram to %s failed: %s; it is lost "
                "(later failures are only counted by the exporter)",
                len(datagram),
                self.address,
                error,
            )
            self.shutdown()
            return UdpResult.REFUSED

    def reopen(self) -> None:
        """A forked child (or a restored snapshot) sends from a socket of its own."""
        self.shutdown()

    def shutdown(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
