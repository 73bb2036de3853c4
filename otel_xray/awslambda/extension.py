"""Export after the response: an internal Lambda extension on a thread of the runtime.

Why: a flush before the handler returns is on the caller's path (the first one on the
cold start, one on every warm invocation, the whole bound when the collector is down).
Lambda lets an extension work after the response instead: the runtime posts the
response, Lambda returns it to the caller at once, and the invoke phase ends (the
sandbox may be frozen) only when the runtime and every registered extension have
called ``next`` again (the Lambda guide, runtimes-extensions-api: "The Invoke phase
ends after the runtime and all extensions signal that they are done by sending a
Next API request").

What this module does, on on-demand, provisioned and SnapStart functions:

* during init (the wrapper's import, before the runtime's first ``next``), one
  ``POST /2020-01-01/extension/register`` to ``AWS_LAMBDA_RUNTIME_API`` with
  ``Lambda-Extension-Name: otel-xray`` and ``{"events": ["INVOKE"]}`` (an internal
  extension may not register ``SHUTDOWN``), over a raw loopback socket with a tight
  timeout (``http.client`` costs ~11 ms to import; the runtime client imports it lazily);
* a daemon thread loops on ``GET /2020-01-01/extension/event/next``; for each
  ``INVOKE`` (``requestId``, ``deadlineMs``) it waits until the handler wrapper says
  that invocation's handler returned (:func:`handler_returned`, before or after the
  event arrived) and the runtime has posted the response (:func:`watch_posts` wraps the
  runtime client's ``post_invocation_result`` and ``post_invocation_error``; without
  them, or 200 ms on, it goes ahead), flushes by
  ``min(OTEL_XRAY_FLUSH_TIMEOUT_MS, remaining time - 50 ms)`` (the same bound the inline
  flush has), then calls ``next`` again. Waiting for the post keeps the export's CPU
  work (the first one imports the exporter and the detectors) from taking the GIL while
  the runtime serializes and sends the response;
* with an extension registered Lambda sends the runtime SIGTERM at shutdown, with
  500 ms before SIGKILL for "a runtime with an internal extension": the handler of
  :func:`otel_xray.configurator.flush_on_sigterm` flushes what is left within
  :data:`SHUTDOWN_FLUSH_MS`, then does what SIGTERM did before. Python runs signal
  handlers on the main thread only, and awslambdaric on python3.11 waits for the next
  event inside C there: on 3.11 a thread woken through ``signal.set_wakeup_fd`` flushes
  instead (:func:`_watch_sigterm`); from python3.12 the runtime polls on a thread and
  the handler runs.

Fallback, never a broken handler: when there is no Runtime API, registration fails
(refused, extensions disabled, timeout) or ``OTEL_XRAY_EXPORT_AFTER_RESPONSE=false``,
the wrapper flushes before returning, as it always did. If the thread dies (the API
keeps failing), later invocations flush inline again. A forked child never owns the
parent's extension and flushes inline.

Not on Lambda Managed Instances: there the sandbox is never frozen and a background
worker exports already; AWS's emulator for them refuses events to internal extensions
("No events allowed for internal extensions",
aws-lambda-runtime-interface-emulator, internal/lambda-managed-instances/rapi/handler/
agentregister.go), so nothing is registered.

SnapStart: the extension registers during the snapshot's init; its thread waits in
``next`` when the snapshot is taken. After a restore the same thread and connection
continue; should the connection fail, the thread reconnects with the same identifier
(registration closes with init, so it cannot register again). The local emulation
restores by ``fork``, which copies no thread: the after-restore hook starts one in the
restored process, with the snapshot's identifier.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from otel_xray.configurator import Tracing, flush_on_sigterm
from otel_xray.export import FLUSH_SAFETY_MARGIN_MS, Deadline

if TYPE_CHECKING:
    from collections.abc import Mapping

logger = logging.getLogger("otel_xray")

#: The ``Lambda-Extension-Name`` otel-xray registers under.
EXTENSION_NAME = "otel-xray"
REGISTER_PATH = "/2020-01-01/extension/register"
NEXT_PATH = "/2020-01-01/extension/event/next"
#: Seconds the registration may take: one loopback request, answered at once by Lambda.
REGISTER_TIMEOUT_S = 0.25
#: The runtime client modules whose ``LambdaRuntimeClient`` posts the response
#: (awslambdaric; a top-level module of the same name on older images, by inference).
RUNTIME_CLIENT_MODULES = ("awslambdaric.lambda_runtime_client", "lambda_runtime_client")
#: Its methods that post an invocation's outcome.
POSTING_METHODS = ("post_invocation_result", "post_invocation_error")
#: How long the thread waits for the runtime to post the response before it exports
#: anyway (seconds): a response is posted within milliseconds of the handler's return.
POSTED_WAIT_S = 0.2
#: What the SIGTERM flush may use of the 500 ms Lambda grants a runtime with an internal
#: extension (runtimes-extensions-api, "Shutdown phase").
SHUTDOWN_FLUSH_MS = 400
#: Consecutive failures of ``next`` after which the thread gives up (inline flushes).
MAX_NEXT_FAILURES = 5
#: Requests remembered whose INVOKE has not arrived (a bound, not a expected number).
MAX_PENDING = 64


class ExtensionError(Exception):
    """The Extensions API answered something other than what was asked for."""


class _Http:
    """Just enough HTTP/1.1 for the Extensions API on a loopback socket, kept alive."""

    def __init__(self, address: str, timeout: float | None) -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ExtensionError(f"AWS_LAMBDA_RUNTIME_API={address!r} is not host:port")
        self.host, self.port, self.timeout = host.strip("[]"), int(port), timeout
        self.address = address
        self._sock: socket.socket | None = None
        self._buffer = b""

    def close(self) -> None:
        if self._sock is not None:
            try:  # noqa: SIM105 (contextlib is not imported on the cold path for this)
                self._sock.close()
            except OSError:
                pass
        self._sock, self._buffer = None, b""

    def request(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        if self._sock is None:
            self._sock = self._connect()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.address}"]
        lines += [f"{key}: {value}" for key, value in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        try:
            self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            status, reply_headers, reply = self._response()
        except BaseException:
            self.close()
            raise
        if reply_headers.get("connection", "").lower() == "close":
            self.close()
        return status, reply_headers, reply

    def _connect(self) -> socket.socket:
        """A connection to the API; a numeric address (Lambda's ``127.0.0.1:9001``) is
        connected to directly: ``create_connection`` resolves names through
        ``getaddrinfo``, whose IDNA encoding of the host imports ``encodings.idna``,
        ``stringprep`` and ``unicodedata`` at a cold start."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            socket.inet_pton(family, self.host)
        except OSError:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        else:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(self.timeout)
                sock.connect((self.host, self.port))
            except BaseException:
                sock.close()
                raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            self._fill()
        head, _, self._buffer = self._buffer.partition(marker)
        return head

    def _read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._fill()
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _fill(self) -> None:
        assert self._sock is not None
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ConnectionError("the Runtime API closed the connection")
        self._buffer += chunk

    def _response(self) -> tuple[int, dict[str, str], bytes]:
        head = self._read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        parts = head[0].split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise ExtensionError(f"not an HTTP response: {head[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in head[1:]:
            key, sep, value = line.partition(":")
            if sep:
                headers[key.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self._read_until(b"\r\n").split(b";")[0] or b"0", 16)
                if size == 0:
                    self._read_until(b"\r\n")
                    break
                body += self._read_exactly(size)
                self._read_exactly(2)
        else:
            body = self._read_exactly(int(headers.get("content-length") or 0))
        return int(parts[1]), headers, body


class _Returned:
    """What the handler wrapper left for the extension: the pipeline and its bound."""

    def __init__(self, tracing: Tracing | None, deadline: Deadline, by_extension: bool) -> None:
        self.tracing = tracing
        self.deadline = deadline
        #: False: the wrapper flushed inline (the extension only calls next).
        self.by_extension = by_extension


class AfterResponse:
    """The registered extension and its thread (one per process; see :func:`start`)."""

    def __init__(self, address: str, identifier: str) -> None:
        self.address = address
        #: ``Lambda-Extension-Identifier``, kept for every ``next`` (SnapStart included).
        self.identifier = identifier
        self._condition = threading.Condition()
        self._returned: dict[str, _Returned] = {}
        self._thread: threading.Thread | None = None
        self._owner = os.getpid()
        self._given_up = False
        self._stopping = False
        self._http: _Http | None = None
        #: Invocations flushed by the thread (tests, benchmarks).
        self.flushes = 0
        #: Responses the runtime posted (see :func:`watch_posts`), and how many it had
        #: posted when each handler returned: the export of an invocation waits for the
        #: count to pass that mark, so it never competes with the runtime for the GIL
        #: while the response is serialized and sent.
        self.posted = 0
        self.posts_watched = False
        self._posted_at_return: dict[str, int] = {}

    # the handler wrapper's side ------------------------------------------------

    def alive(self) -> bool:
        """The thread runs in this process and has not given up."""
        thread = self._thread
        return (
            not self._given_up
            and self._owner == os.getpid()
            and thread is not None
            and thread.is_alive()
        )

    def handler_returned(
        self, request_id: str, tracing: Tracing | None, deadline: Deadline
    ) -> bool:
        """The handler of ``request_id`` returned; True when the thread will flush
        (``tracing`` None: nothing to flush, the thread only calls next)."""
        with self._condition:
            by_extension = self.alive() and tracing is not None
            if len(self._returned) >= MAX_PENDING:
                self._returned.pop(next(iter(self._returned)))
            self._returned[request_id] = _Returned(tracing, deadline, by_extension)
            self._posted_at_return[request_id] = self.posted
            self._condition.notify_all()
        return by_extension

    def response_posted(self) -> None:
        """The runtime posted an invocation's response (or error)."""
        with self._condition:
            self.posted += 1
            self._condition.notify_all()

    # the thread ------------------------------------------------------------------

    def start_thread(self) -> None:
        """Start (or, in a restored copy of the process, restart) the event loop."""
        self._owner = os.getpid()
        self._condition = threading.Condition()
        self._given_up = False
        self._thread = threading.Thread(target=self._run, name="otel-xray-extension", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """End the thread quietly (tests; Lambda never needs it: the process ends)."""
        self._stopping = True
        http, thread = self._http, self._thread
        if http is not None and http._sock is not None:
            try:  # noqa: SIM105 (as in _Http.close)
                http._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        http = _Http(self.address, None)  # next blocks until there is an event: no timeout
        self._http = http
        failures = 0
        while failures < MAX_NEXT_FAILURES and not self._stopping:
            try:
                status, _, body = http.request(
                    "GET", NEXT_PATH, {"Lambda-Extension-Identifier": self.identifier}
                )
                if status != 200:
                    raise ExtensionError(f"next answered {status}: {body[:200]!r}")
                event = json.loads(body)
            except Exception as error:
                if self._stopping:
                    return
                failures += 1
                logger.debug("otel-xray: extension next failed (%s): %s", failures, error)
                time.sleep(0.01 * failures)
                continue
            failures = 0
            if isinstance(event, dict) and event.get("eventType") == "INVOKE":
                self._after_invoke(event)
        if self._stopping:
            return
        logger.warning(
            "otel-xray: the Lambda Extensions API failed %d times; spans are flushed before "
            "each response again",
            failures,
        )
        with self._condition:
            self._given_up = True
            left = [r for r in self._returned.values() if r.by_extension]
            self._returned.clear()
        for returned in left:
            if returned.tracing is not None:
                returned.tracing.flush(returned.deadline)

    def _after_invoke(self, event: Mapping[str, Any]) -> None:
        request_id = str(event.get("requestId") or "")
        deadline_ms = event.get("deadlineMs")
        if isinstance(deadline_ms, int | float) and not isinstance(deadline_ms, bool):
            wait = (deadline_ms - FLUSH_SAFETY_MARGIN_MS) / 1000 - time.time()
        else:
            wait = 900.0  # Lambda's longest timeout
        with self._condition:
            self._condition.wait_for(lambda: request_id in self._returned, timeout=max(wait, 0))
            returned = self._returned.pop(request_id, None)
            mark = self._posted_at_return.pop(request_id, None)
            if returned is not None and returned.by_extension and self.posts_watched:
                # After the response is out: the export then takes nothing from it.
                self._condition.wait_for(
                    lambda: mark is None or self.posted > mark,
                    timeout=min(POSTED_WAIT_S, max(returned.deadline.remaining(), 0)),
                )
        if returned is None:
            logger.debug("otel-xray: no handler result for %s by its deadline", request_id)
            return
        if returned.by_extension and returned.tracing is not None:
            returned.tracing.flush(returned.deadline)
            self.flushes += 1


_active: AfterResponse | None = None
_attempted = False
_lock = threading.Lock()


def active() -> AfterResponse | None:
    """The extension this process registered, if any."""
    return _active


def handler_returned(request_id: object, tracing: Tracing | None, deadline: Deadline) -> bool:
    """Tell the extension the handler of ``request_id`` returned. True: it flushes after
    the response; False: the caller flushes now (no extension, or it is not running)."""
    extension = _active
    if extension is None or not isinstance(request_id, str):
        return False
    try:
        return extension.handler_returned(request_id, tracing, deadline)
    except Exception:
        logger.debug("otel-xray: extension hand-off failed", exc_info=True)
        return False


def start(tracing: Tracing | None) -> AfterResponse | None:
    """Register the extension and start its thread, once per process, when the settings
    allow it; None (inline flushes) otherwise. Never raises."""
    global _active, _attempted
    with _lock:
        if _active is not None or _attempted:
            return _active
        if tracing is None or tracing.exporting is None:
            return None
        settings = tracing.settings
        address = settings.lambda_env.runtime_api
        if (
            not settings.in_lambda
            or not settings.export_after_response
            or settings.lambda_env.never_frozen
            or not address
        ):
            return None
        _attempted = True  # one registration per process: Lambda's init allows no other
        try:
            identifier = register(address)
        except Exception as error:
            logger.warning(
                "otel-xray: could not register the Lambda extension that exports after the "
                "response (%s); spans are flushed before each response",
                error,
            )
            return None
        extension = AfterResponse(address, identifier)
        extension.posts_watched = watch_posts(extension) > 0
        extension.start_thread()
        _active = extension
    flush_on_sigterm(tracing, SHUTDOWN_FLUSH_MS)
    if sys.version_info < (3, 12):
        _watch_sigterm(tracing)
    if settings.lambda_env.initialization_type == "snap-start":
        _restart_after_restore(extension)
    return extension


def watch_posts(extension: AfterResponse, modules: list[Any] | None = None) -> int:
    """Wrap the runtime client's posting methods so that ``extension`` hears when a
    response is out; how many methods were wrapped (0: the thread exports as soon as
    the handler returned). Lambda's runtime looks the methods up on its client's class
    at each call, so replacing the class attributes is enough."""
    found = (
        [sys.modules[name] for name in RUNTIME_CLIENT_MODULES if name in sys.modules]
        if modules is None
        else modules
    )
    wrapped = 0
    for module in found:
        client = getattr(module, "LambdaRuntimeClient", None)
        for name in POSTING_METHODS:
            original = getattr(client, name, None)
            if not callable(original) or getattr(original, "__otel_xray_posted__", False):
                continue
            setattr(client, name, _signalling(original, extension))
            wrapped += 1
    return wrapped


def _signalling(original: Any, extension: AfterResponse) -> Any:
    def post(*args: Any, **kwargs: Any) -> Any:
        try:
            return original(*args, **kwargs)
        finally:
            extension.response_posted()

    post.__otel_xray_posted__ = True  # type: ignore[attr-defined]
    post.__wrapped__ = original  # type: ignore[attr-defined]
    post.__name__ = getattr(original, "__name__", "post")
    return post


def register(address: str) -> str:
    """``POST /2020-01-01/extension/register`` for INVOKE; the extension's identifier."""
    http = _Http(address, REGISTER_TIMEOUT_S)
    try:
        status, headers, body = http.request(
            "POST",
            REGISTER_PATH,
            {"Lambda-Extension-Name": EXTENSION_NAME, "Content-Type": "application/json"},
            b'{"events": ["INVOKE"]}',
        )
    finally:
        http.close()
    identifier = headers.get("lambda-extension-identifier", "")
    if status != 200 or not identifier:
        raise ExtensionError(f"register answered {status}: {body[:200]!r}")
    return identifier


#: The wakeup socket pair of :func:`_watch_sigterm`, kept so that neither end is closed.
_wakeup: tuple[socket.socket, socket.socket] | None = None


def _watch_sigterm(tracing: Tracing) -> None:
    """python3.11: awslambdaric waits for the next event inside C on the main thread, so
    the Python SIGTERM handler cannot run before Lambda's SIGKILL; the interpreter's C
    handler still writes the signal's number to the wakeup fd
    (``signal.set_wakeup_fd``). A thread blocked on that fd flushes within
    :data:`SHUTDOWN_FLUSH_MS`. Left alone when something else set a wakeup fd, or off
    the main thread. (From python3.12 the runtime waits on a thread and the handler runs.)
    """
    global _wakeup
    import signal  # noqa: PLC0415 (imported already by flush_on_sigterm)

    if _wakeup is not None or threading.current_thread() is not threading.main_thread():
        return
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    try:
        previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except (ValueError, OSError):
        previous = None
    if previous != -1:
        if previous is not None:
            signal.set_wakeup_fd(previous)  # someone else's: theirs stays
        reader.close()
        writer.close()
        return
    _wakeup = (reader, writer)
    bound = min(tracing.settings.flush_timeout_ms, SHUTDOWN_FLUSH_MS)

    def watch() -> None:
        while True:
            try:
                received = reader.recv(64)
            except OSError:
                return
            if not received:
                return
            if signal.SIGTERM in received:
                tracing.flush(Deadline.within_ms(bound))

    threading.Thread(target=watch, name="otel-xray-sigterm", daemon=True).start()


def _restart_after_restore(extension: AfterResponse) -> None:
    """SnapStart: a restored process whose thread did not survive (the local emulation's
    fork) starts one with the snapshot's identifier."""

    def restart() -> None:
        if not extension.alive():
            extension.start_thread()

    try:
        from snapshot_restore_py import (  # type: ignore[import-untyped]  # noqa: PLC0415
            register_after_restore,
        )
    except ImportError:
        return
    register_after_restore(restart)


def _forget_in_child() -> None:
    """A forked child does not own the parent's extension: its lock is made anew, and
    :meth:`AfterResponse.alive` is False there (inline flushes) until a restore hook
    starts a thread of its own."""
    extension = _active
    if extension is not None:
        extension._condition = threading.Condition()


os.register_at_fork(after_in_child=_forget_in_child)


def reset() -> None:
    """Forget the extension (tests; the thread, a daemon, stays blocked in ``next``)."""
    global _active, _attempted
    _active, _attempted = None, False
