"""A local implementation of the Lambda Runtime API (2018-06-01) on 127.0.0.1.

The real runtime client (awslambdaric) polls it exactly as it polls Lambda:
``GET /runtime/invocation/next`` blocks until :meth:`RuntimeAPI.invoke` queues an
event, and the response or error is posted back. Each invocation carries the
headers Lambda sends, including ``Lambda-Runtime-Trace-Id`` with a fresh Root and
Parent, which the client copies into ``_X_AMZN_TRACE_ID``, and
``Lambda-Runtime-Aws-Tenant-Id`` for a tenant-isolated function (awslambdaric 4.x puts
it in ``context.tenant_id``).

SnapStart: ``GET /runtime/restore/next`` (awslambdaric's ``restore_next``, after the
before-snapshot hooks) marks the snapshot as taken and waits for
:meth:`RuntimeAPI.request_restore`; each answer is one restore, a forked copy that
polls this same API (see :mod:`otel_xray.devtools.functions.bootstrap`). A poll whose
runtime has gone (a sandbox killed at its timeout, or replaced) is dropped, so an
event is only ever handed to a live runtime;
``POST /runtime/restore/error`` (a failed after-restore hook) fails that sandbox as an
init error does.
"""

from __future__ import annotations

import json
import os
import queue
import select
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from otel_xray.devtools.loopback import LoopbackServer
from otel_xray.propagation import parse_trace_header

PREFIX = "/2018-06-01/runtime"


@dataclass
class Invocation:
    """One event sent to the function and what came back."""

    request_id: str
    event: bytes
    trace_header: str
    root: str
    parent: str
    deadline_ms: int
    function_arn: str
    #: The caller's segment or subsegment id (``Parent`` of its trace header), if any.
    upstream_parent: str | None = None
    #: Whether the trace is sampled: Lambda records no segment otherwise.
    sampled: bool = True
    #: ``Lambda-Runtime-Aws-Tenant-Id`` (a tenant-isolated function's invoke), if any.
    tenant_id: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    response: bytes | None = None
    error: dict[str, Any] | None = None
    error_type: str | None = None
    #: The ``Lambda-Runtime-Function-XRay-Error-Cause`` header, parsed: the X-Ray cause
    #: the runtime client built (what Lambda puts on its function segment).
    xray_cause: dict[str, Any] | None = None
    started: float = 0.0
    finished: float = 0.0
    #: Epoch seconds: invoke accepted, event handed to the runtime, result posted.
    received_at: float = field(default_factory=time.time)
    started_at: float = 0.0
    finished_at: float = 0.0

    @property
    def duration_ms(self) -> float:
        return (self.finished - self.started) * 1000 if self.finished else 0.0


def new_trace_ids() -> tuple[str, str]:
    """A fresh X-Ray Root and the id of the function segment that will be its Parent."""
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    return root, os.urandom(8).hex()


class RuntimeAPI(LoopbackServer):
    """Serves the Runtime API for one sandbox; start with :meth:`start`, stop with :meth:`stop`."""

    def __init__(self, function_arn: str, timeout_seconds: float = 30.0) -> None:
        self.function_arn = function_arn
        self.timeout_seconds = timeout_seconds
        self._pending: queue.Queue[Invocation] = queue.Queue()
        self._by_id: dict[str, Invocation] = {}
        self.init_error: dict[str, Any] | None = None
        self.init_failed = threading.Event()
        #: Epoch seconds of the runtime's first poll: the end of its init phase.
        self.first_poll_at: float | None = None
        #: The runtime's latest poll for the next event (epoch seconds), and its signal.
        self.last_poll_at: float | None = None
        self.polled = threading.Event()
        #: How many times a runtime asked for its next event (Managed Instances: each of
        #: the N worker processes asks once it is ready).
        self.polls = 0
        #: SnapStart: set when the runtime asks for its restore (the snapshot is taken).
        self.snapshot_taken = threading.Event()
        self._restores: queue.Queue[bool] = queue.Queue()
        #: Bumped by :meth:`retire_pollers`: a poll from an older generation gets no event.
        self._generation = 0
        super().__init__(self._handler_class())

    def retire_pollers(self) -> None:
        """The runtime that is polling now was killed: no event goes to its poll, even
        if the kernel has not yet closed its connection (a killed process's threads
        let go of its sockets after its main thread is already a zombie)."""
        self._generation += 1

    def request_restore(self) -> None:
        """SnapStart: answer the snapshot's ``restore/next``: restore one sandbox."""
        self._restores.put(True)

    def _next_for(self, connection: socket.socket) -> Invocation | None:
        """The next event for the runtime on ``connection``; None once that runtime is
        gone (its event stays queued for a live one)."""
        generation = self._generation
        while generation == self._generation:
            try:
                invocation = self._pending.get(timeout=0.1)
            except queue.Empty:
                if _peer_closed(connection):
                    return None
                continue
            if _peer_closed(connection) or generation != self._generation:
                self._pending.put(invocation)
                return None
            return invocation
        return None

    def submit(
        self,
        event: bytes,
        sampled: str = "1",
        trace_header: str | None = None,
        tenant_id: str | None = None,
    ) -> Invocation:
        """Queue an event for the function's next poll.

        ``trace_header``: the caller's ``X-Amzn-Trace-Id`` (an instrumented SDK's
        Invoke). Lambda continues a trace that was sampled upstream (the X-Ray guide,
        xray-services-lambda.md: "Lambda traces requests that have already been
        sampled"): the same Root, its ``AWS::Lambda`` segment under the caller's
        ``Parent`` (:attr:`Invocation.upstream_parent`), and the caller's decision.
        """
        root, parent = new_trace_ids()
        incoming = parse_trace_header(trace_header)
        upstream = None
        if incoming is not None:
            root, upstream = incoming.root, incoming.parent
            if incoming.sampled is not None:
                sampled = "1" if incoming.sampled else "0"
        invocation = Invocation(
            request_id=str(uuid.uuid4()),
            event=event,
            trace_header=f"Root={root};Parent={parent};Sampled={sampled}",
            root=root,
            parent=parent,
            deadline_ms=0,
            function_arn=self.function_arn,
            upstream_parent=upstream,
            sampled=sampled == "1",
            tenant_id=tenant_id,
        )
        self._by_id[invocation.request_id] = invocation
        self._pending.put(invocation)
        return invocation

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall between writes

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _reply(
                self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def do_GET(self) -> None:
                if self.path == f"{PREFIX}/restore/next":
                    api.snapshot_taken.set()
                    api._restores.get()
                    self._reply(200)
                    return
                if self.path != f"{PREFIX}/invocation/next":
                    self._reply(404, b'{"errorMessage":"unknown path"}')
                    return
                if api.first_poll_at is None:
                    api.first_poll_at = time.time()
                api.last_poll_at = time.time()
                api.polls += 1
                api.polled.set()
                found = api._next_for(self.connection)
                if found is None:
                    self.close_connection = True
                    return
                invocation = found
                invocation.started = time.monotonic()
                invocation.started_at = time.time()
                invocation.deadline_ms = int((time.time() + api.timeout_seconds) * 1000)
                headers = {
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
                    "Lambda-Runtime-Trace-Id": invocation.trace_header,
                }
                if invocation.tenant_id is not None:
                    headers["Lambda-Runtime-Aws-Tenant-Id"] = invocation.tenant_id
                self._reply(200, invocation.event, headers)

            def do_POST(self) -> None:
                body = self._body()
                if self.path in (f"{PREFIX}/init/error", f"{PREFIX}/restore/error"):
                    api.init_error = _json_or_text(body)
                    api.init_failed.set()
                    self._reply(202, b'{"status":"OK"}')
                    return
                parts = self.path[len(PREFIX) :].strip("/").split("/")
                if (
                    len(parts) != 3
                    or parts[0] != "invocation"
                    or parts[2] not in ("response", "error")
                ):
                    self._reply(404, b'{"errorMessage":"unknown path"}')
                    return
                invocation = api._by_id.get(parts[1])
                if invocation is None:
                    self._reply(400, b'{"errorMessage":"unknown request id"}')
                    return
                if parts[2] == "response":
                    invocation.response = body
                else:
                    invocation.error = _json_or_text(body)
                    invocation.error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
                    invocation.xray_cause = _xray_cause(
                        self.headers.get("Lambda-Runtime-Function-XRay-Error-Cause")
                    )
                invocation.finished = time.monotonic()
                invocation.finished_at = time.time()
                self._reply(202, b'{"status":"OK"}')
                invocation.done.set()

        return Handler


def _peer_closed(connection: socket.socket) -> bool:
    """The other end has closed ``connection`` (its process ended)."""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _xray_cause(header: str | None) -> dict[str, Any] | None:
    """The runtime's X-Ray cause header as Lambda reads it: a JSON object, or nothing."""
    if not header:
        return None
    try:
        value = json.loads(header)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _json_or_text(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        return {"errorMessage": body.decode("utf-8", "replace")}
    return value if isinstance(value, dict) else {"errorMessage": value}
