"""An HTTP server on 127.0.0.1, on a free port, served from a daemon thread.

The local Runtime API and the OTLP receiver are both one of these; tests bind
port 0 so they run in parallel without clashing.
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up mid-request (a killed sandbox) is not worth a traceback.

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class LoopbackServer:
    """Start with :meth:`start`, stop with :meth:`stop`; ``address`` is ``127.0.0.1:PORT``."""

    def __init__(self, handler_class: type[BaseHTTPRequestHandler], port: int = 0) -> None:
        self._server = _QuietServer(("127.0.0.1", port), handler_class)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
