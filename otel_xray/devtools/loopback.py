"""What every local stand-in shares: a free loopback port, ``start``/``stop`` with
``with``, and an HTTP server on 127.0.0.1 served from a daemon thread.

The Runtime API, the OTLP receiver, the X-Ray API, the Lambda, API Gateway, SNS and
EventBridge front doors and the console are :class:`LoopbackServer` s with a
:class:`LoopbackHandler`; tests bind port 0 so they run in parallel without clashing.

Example:
    >>> class Hello(LoopbackHandler):
    ...     def do_GET(self) -> None:
    ...         self.reply_json(200, {"hello": "world"})
    >>> import urllib.request
    >>> with LoopbackServer(Hello) as server:
    ...     urllib.request.urlopen(f"http://{server.address}/").read()
    b'{"hello": "world"}'
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


def unused_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A loopback port nothing listens on right now (the kernel picks it: bind to 0).

    Another process could take it before it is used; on loopback in a test run that
    does not happen in practice.
    """
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Running:
    """Something with ``start()`` and ``stop()``; ``with`` starts it and stops it."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def end_process_group(process: subprocess.Popen[Any] | None, grace: float = 10.0) -> None:
    """Stop a process started with ``start_new_session=True``, and its children: SIGTERM to
    its group, SIGKILL after ``grace`` seconds. By PID, never by name; a process already
    gone is left as it is."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


class LoopbackHandler(BaseHTTPRequestHandler):
    """HTTP/1.1, no request log, and the reading and replying every stand-in does."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def read_body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def reply(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def reply_json(
        self, status: int, payload: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        self.reply(status, json.dumps(payload, default=str).encode(), headers=headers)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up mid-request (a killed sandbox) is not worth a traceback.

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class LoopbackServer(Running):
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
