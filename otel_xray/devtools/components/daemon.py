"""A local stand-in for the X-Ray daemon's UDP side, on 127.0.0.1.

It reads datagrams exactly as aws-xray-daemon does: split at the first newline,
check the ``{"format":"json","version":1}`` header, keep the body as one segment
document. Datagrams it would reject (no header, wrong header, a body that is not a
JSON object, more than 64 KB) are counted in :attr:`XRayDaemon.rejected` with the
reason, not silently lost, so a test can assert there were none.

OTLP datagrams (what AWS's own Lambda layer sends: the header, then ``T1S`` or ``T1U``,
then base64 protobuf; ADOT's ``otlp_udp_exporter.py``) are taken too: the real daemon
checks only the header line and forwards the rest to X-Ray unchanged (aws-xray-daemon
``pkg/processor``; ``shared/reference/xray-otlp.md``). Here their spans are decoded and
translated into documents by otel-xray's translator, as the local X-Ray API does with
``/v1/traces`` (an approximation of X-Ray's unpublished conversion).

Example:
    >>> with XRayDaemon() as daemon:
    ...     sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ...     _ = sock.sendto(b'{"format":"json","version":1}\\n{"id":"a"}', daemon.address)
    ...     daemon.wait_idle(quiet_seconds=0.05)
    ...     daemon.take()
    [{'id': 'a'}]
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any, Self

from otel_xray.devtools.loopback import Running
from otel_xray.xray import MAX_DATAGRAM_BYTES

HEADER = {"format": "json", "version": 1}
HEADER_LINE = b'{"format":"json","version":1}\n'
#: ADOT's FORMAT_OTEL_SAMPLED_TRACES_BINARY_PREFIX and _UNSAMPLED_ (otlp_udp_exporter.py).
OTLP_PREFIXES = (b"T1S", b"T1U")


class XRayDaemon(Running):
    """Receives segment documents over UDP; :meth:`take` hands them out."""

    def __init__(self, port: int = 0, forward_to: tuple[str, int] | None = None) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # A deep kernel buffer, so a burst is not lost while this thread waits its turn.
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
        self._socket.bind(("127.0.0.1", port))
        self._socket.settimeout(0.1)
        self.address: tuple[str, int] = self._socket.getsockname()[:2]
        self.documents: list[dict[str, Any]] = []
        self.rejected: list[str] = []
        #: OTLP spans received in T1S/T1U datagrams (decoded), in order.
        self.otlp_spans: list[dict[str, Any]] = []
        #: Every datagram as it arrived: what went over the wire, for privacy checks.
        self.raw: list[bytes] = []
        #: The (host, port) each datagram of :attr:`raw` came from: one socket per sender.
        self.senders: list[tuple[str, int]] = []
        self.last_received = 0.0
        #: Where each datagram is also sent, unchanged (a real daemon behind this one,
        #: so a test sees exactly what the function sent and what the daemon did with it).
        self.forward_to = forward_to
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def environment_value(self) -> str:
        """``AWS_XRAY_DAEMON_ADDRESS`` in the two-token form Lambda sets."""
        host, port = self.address
        return f"udp:{host}:{port} tcp:{host}:{port}"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._serve, name="xray-daemon", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        self._socket.close()

    def take(self) -> list[dict[str, Any]]:
        """The documents received since the last call."""
        with self._lock:
            documents, self.documents = self.documents, []
        return documents

    def wait_idle(self, quiet_seconds: float = 0.05, timeout: float = 2.0) -> None:
        """Return once nothing has arrived for ``quiet_seconds`` since the call (or at ``timeout``).

        Datagrams sent before the call are already in the socket's buffer, so they
        are read within the quiet period.
        """
        called = time.monotonic()
        deadline = called + timeout
        while time.monotonic() < deadline:
            if time.monotonic() - max(self.last_received, called) >= quiet_seconds:
                return
            time.sleep(quiet_seconds / 5)

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                datagram, sender = self._socket.recvfrom(MAX_DATAGRAM_BYTES + 1)
            except TimeoutError:
                continue
            except OSError:
                return
            self.last_received = time.monotonic()
            if self.forward_to is not None:
                self._socket.sendto(datagram, self.forward_to)
            if datagram.startswith(OTLP_PREFIXES, len(HEADER_LINE)):
                spans, documents, reason = parse_otlp_datagram(datagram)
                with self._lock:
                    self.raw.append(datagram)
                    self.otlp_spans.extend(spans)
                    self.documents.extend(documents)
                    if reason:
                        self.rejected.append(reason)
                continue
            document, reason = parse_datagram(datagram)
            with self._lock:
                self.raw.append(datagram)
                self.senders.append(tuple(sender[:2]))
                if document is None:
                    self.rejected.append(reason)
                else:
                    self.documents.append(document)


def parse_datagram(datagram: bytes) -> tuple[dict[str, Any] | None, str]:
    """The document in one daemon datagram, or None and why the daemon would drop it."""
    if len(datagram) > MAX_DATAGRAM_BYTES:
        return None, f"datagram of {len(datagram)} bytes exceeds the daemon's 64 KB buffer"
    header, newline, body = datagram.partition(b"\n")
    if not newline:
        return None, "no header line"
    try:
        if json.loads(header) != HEADER:
            return None, f"unexpected header {header[:80]!r}"
        document = json.loads(body)
    except ValueError as error:
        return None, f"not JSON: {error}"
    if not isinstance(document, dict):
        return None, "the body is not a JSON object"
    return document, ""


def parse_otlp_datagram(
    datagram: bytes,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """(spans, their documents, why it was refused) of one OTLP datagram."""
    import base64  # noqa: PLC0415

    from otel_xray.devtools.components.receiver import (  # noqa: PLC0415 - protobuf, only when needed
        decode_export_request,
        readable_span,
    )
    from otel_xray.xray.segment import span_to_document  # noqa: PLC0415

    if len(datagram) > MAX_DATAGRAM_BYTES:
        return [], [], f"datagram of {len(datagram)} bytes exceeds the daemon's 64 KB buffer"
    payload = datagram[len(HEADER_LINE) + 3 :]
    try:
        spans = decode_export_request(base64.b64decode(payload, validate=True))
    except Exception as error:  # bad base64 (binascii.Error) or protobuf (DecodeError)
        return [], [], f"OTLP datagram that does not decode: {error}"
    return spans, [span_to_document(readable_span(span)) for span in spans], ""
