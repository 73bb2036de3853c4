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

The Extensions API (2020-01-01, the Lambda guide's runtimes-extensions-api and AWS's
emulator, aws-lambda-runtime-interface-emulator ``internal/lambda/rapi`` and
``internal/lambda/rapid/handlers.go``), for internal extensions (a thread of the
runtime; nothing here launches ``/opt/extensions``):

* ``POST /2020-01-01/extension/register`` with ``Lambda-Extension-Name`` and
  ``{"events": [...]}`` answers 200 with a ``Lambda-Extension-Identifier``, during init
  only (403 ``Extension.RegistrationClosed`` once the runtime has asked for its first
  event); ``SHUTDOWN`` is refused (internal extensions cannot have it), as are a missing
  name, a second registration of a name, more than 10, and, on Managed Instances, any
  event ("No events allowed for internal extensions"); ``extensions=False`` answers 404
  like the emulator with extensions disabled;
* ``GET /2020-01-01/extension/event/next`` blocks until the next ``INVOKE``, sent when
  the runtime takes an event, with Lambda's fields (``eventType``, ``deadlineMs``,
  ``requestId``, ``invokedFunctionArn``, ``tracing``);
* the response goes back to the invoker as soon as the runtime posts it, and the next
  event is held until the runtime and every extension have called next (the end of the
  invoke phase, :attr:`Invocation.extensions_done_at`); init ends likewise when every
  registered extension has called next once.
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
    #: Epoch seconds: the last extension called next after this invocation (the invoke
    #: phase ended); None without extensions. :attr:`extensions_done` is its signal.
    extensions_done_at: float | None = None
    extensions_done: threading.Event = field(default_factory=threading.Event)

    @property
    def duration_ms(self) -> float:
        return (self.finished - self.started) * 1000 if self.finished else 0.0


EXTENSIONS_PREFIX = "/2020-01-01/extension"
#: Extensions a function may register (runtimes-extensions-api; the emulator's
#: ``MaxAgentsAllowed``).
MAX_EXTENSIONS = 10


class Extension:
    """One registered (internal) extension and where it is in the invoke phase."""

    def __init__(self, name: str, events: list[str]) -> None:
        self.name = name
        self.events = events
        self.identifier = str(uuid.uuid4())
        #: Events not yet handed out.
        self.queue: list[dict[str, Any]] = []
        #: It has an event it has not answered with next yet (at registration: it has not
        #: called next, so init is not over).
        self.busy = True
        #: How many times it called next (tests).
        self.nexts = 0


def new_trace_ids() -> tuple[str, str]:
    """A fresh X-Ray Root and the id of the function segment that will be its Parent."""
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    return root, os.urandom(8).hex()


class RuntimeAPI(LoopbackServer):
    """Serves the Runtime API for one sandbox; start with :meth:`start`, stop with :meth:`stop`."""

    def __init__(
        self,
        function_arn: str,
        timeout_seconds: float = 30.0,
        *,
        extensions: bool = True,
        managed_instances: bool = False,
    ) -> None:
        self.function_arn = function_arn
        self.timeout_seconds = timeout_seconds
        #: The Extensions API answers (False: 404, as the emulator with extensions off).
        self.extensions_enabled = extensions
        self.managed_instances = managed_instances
        #: Registered extensions by identifier; their state is guarded by ``_phase``.
        self.extensions: dict[str, Extension] = {}
        self._phase = threading.Condition()
        self._registration_open = True
        #: The invocation whose invoke phase the extensions are in.
        self._current: Invocation | None = None
        self._stopped = threading.Event()
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

    def retire_pollers(self, keep_extensions: bool = False) -> None:
        """The runtime that is polling now was killed: no event goes to its poll (nor
        to its extensions' polls), even if the kernel has not yet closed its connection
        (a killed process's threads let go of its sockets after its main thread is
        already a zombie). The next sandbox registers its extensions anew, unless
        ``keep_extensions`` (SnapStart: every restore has the snapshot's extensions,
        each waiting in next as when the snapshot was taken)."""
        with self._phase:
            self._generation += 1
            if keep_extensions:
                for extension in self.extensions.values():
                    extension.queue.clear()
                    extension.busy = False
            else:
                self.extensions.clear()
                self._registration_open = True
            self._current = None
            self._phase.notify_all()

    def _extensions_idle(self) -> bool:
        return not any(extension.busy for extension in self.extensions.values())

    def _hand_out(self, invocation: Invocation) -> None:
        """The runtime takes ``invocation``: each extension subscribed gets its INVOKE."""
        with self._phase:
            self._registration_open = False
            subscribed = [e for e in self.extensions.values() if "INVOKE" in e.events]
            self._current = invocation if subscribed else None
            for extension in subscribed:
                extension.queue.append(
                    {
                        "eventType": "INVOKE",
                        "deadlineMs": invocation.deadline_ms,
                        "requestId": invocation.request_id,
                        "invokedFunctionArn": invocation.function_arn,
                        "tracing": {"type": "X-Amzn-Trace-Id", "value": invocation.trace_header},
                    }
                )
                extension.busy = True
            self._phase.notify_all()

    def wait_extensions(self, invocation: Invocation, timeout: float) -> bool:
        """Wait until ``invocation``'s invoke phase is over (every extension called next);
        True at once when no extension takes part."""
        with self._phase:
            if self._current is not invocation:
                return True
        return invocation.extensions_done.wait(timeout)

    def _extension_next(
        self, extension: Extension, connection: socket.socket
    ) -> dict[str, Any] | None:
        """An extension's next: the end of its previous event, then its next event."""
        with self._phase:
            generation = self._generation
            extension.nexts += 1
            if not extension.queue:
                extension.busy = False
                current = self._current
                if current is not None and self._extensions_idle():
                    current.extensions_done_at = time.time()
                    current.extensions_done.set()
                    self._current = None
                self._phase.notify_all()
            while not extension.queue:
                if generation != self._generation or extension.identifier not in self.extensions:
                    break
                self._phase.wait(0.1)
                if not extension.queue and (_peer_closed(connection) or self._stopped.is_set()):
                    return None
            else:
                return extension.queue.pop(0)
        # A retired poll (a killed sandbox's, or the SnapStart snapshot's, which stays
        # frozen in next) is never answered: an answer would only make it poll again.
        while not self._stopped.is_set() and not _peer_closed(connection):
            self._stopped.wait(0.1)
        return None

    def stop(self) -> None:
        self._stopped.set()
        super().stop()

    def request_restore(self) -> None:
        """SnapStart: answer the snapshot's ``restore/next``: restore one sandbox."""
        self._restores.put(True)

    def _next_for(self, connection: socket.socket) -> Invocation | None:
        """The next event for the runtime on ``connection``; None once that runtime is
        gone (its event stays queued for a live one)."""
        generation = self._generation
        while generation == self._generation:
            with self._phase:
                # The previous invoke phase (or init) ends when every extension has
                # called next: no event before that.
                if not self._extensions_idle():
                    self._phase.wait(0.1)
                    if _peer_closed(connection):
                        return None
                    continue
            try:
                invocation = self._pending.get(timeout=0.1)
            except queue.Empty:
                if _peer_closed(connection):
                    return None
                continue
            if (
                _peer_closed(connection)
                or generation != self._generation
                or not self._extensions_idle()
            ):
                self._pending.put(invocation)
                if generation != self._generation or _peer_closed(connection):
                    return None
                continue
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
                if self.path.startswith(EXTENSIONS_PREFIX):
                    self._extension_get()
                    return
                if self.path == f"{PREFIX}/restore/next":
                    with api._phase:
                        api._registration_open = False
                    api.snapshot_taken.set()
                    api._restores.get()
                    self._reply(200)
                    return
                if self.path != f"{PREFIX}/invocation/next":
                    self._reply(404, b'{"errorMessage":"unknown path"}')
                    return
                if api.first_poll_at is None:
                    api.first_poll_at = time.time()
                    with api._phase:
                        api._registration_open = False  # the runtime's init is over
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
                api._hand_out(invocation)
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
                if self.path.startswith(EXTENSIONS_PREFIX):
                    self._extension_post(body)
                    return
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

            def _forbidden(self, error_type: str, message: str) -> None:
                body = json.dumps({"errorMessage": message, "errorType": error_type})
                self._reply(403, body.encode())

            def _extension_post(self, body: bytes) -> None:
                if not api.extensions_enabled:
                    self._reply(404)
                    return
                if self.path != f"{EXTENSIONS_PREFIX}/register":
                    self._reply(404, b'{"errorMessage":"unknown path"}')
                    return
                name = self.headers.get("Lambda-Extension-Name") or ""
                if not name:
                    self._forbidden("Extension.InvalidExtensionName", "Empty extension name")
                    return
                try:
                    request = json.loads(body or b"{}")
                    events = list(request.get("events") or [])
                except (ValueError, AttributeError, TypeError) as bad:
                    self._forbidden("InvalidRequestFormat", str(bad))
                    return
                for event in events:
                    if event not in ("INVOKE", "SHUTDOWN"):
                        self._forbidden("Extension.InvalidEventType", f"{event}: unknown")
                        return
                    if event == "SHUTDOWN" or api.managed_instances:
                        self._forbidden(
                            "Extension.InvalidEventType",
                            f"{event}: not allowed for internal extensions",
                        )
                        return
                error: tuple[str, str] | None
                with api._phase:
                    if not api._registration_open:
                        error = ("Extension.RegistrationClosed", "Extension registration closed")
                    elif any(e.name == name for e in api.extensions.values()):
                        error = ("Extension.InvalidExtensionState", "already registered")
                    elif len(api.extensions) >= MAX_EXTENSIONS:
                        error = ("Extension.TooManyExtensions", "Extension limit (10) reached")
                    else:
                        extension = Extension(name, events)
                        api.extensions[extension.identifier] = extension
                        error = None
                if error is not None:
                    self._forbidden(*error)
                    return
                reply = {
                    "functionName": api.function_arn.rsplit(":", 1)[-1],
                    "functionVersion": "$LATEST",
                    "handler": os.environ.get("_HANDLER", ""),
                }
                self._reply(
                    200,
                    json.dumps(reply).encode(),
                    {
                        "Content-Type": "application/json",
                        "Lambda-Extension-Identifier": extension.identifier,
                    },
                )

            def _extension_get(self) -> None:
                if not api.extensions_enabled:
                    self._reply(404)
                    return
                if self.path != f"{EXTENSIONS_PREFIX}/event/next":
                    self._reply(404, b'{"errorMessage":"unknown path"}')
                    return
                identifier = self.headers.get("Lambda-Extension-Identifier") or ""
                extension = api.extensions.get(identifier)
                if extension is None:
                    self._forbidden(
                        "Extension.UnknownExtensionIdentifier", "unknown extension identifier"
                    )
                    return
                event = api._extension_next(extension, self.connection)
                if event is None:
                    self.close_connection = True
                    return
                self._reply(
                    200,
                    json.dumps(event).encode(),
                    {
                        "Content-Type": "application/json",
                        "Lambda-Extension-Event-Identifier": str(uuid.uuid4()),
                    },
                )

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
