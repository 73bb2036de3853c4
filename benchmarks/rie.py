"""One cold Lambda sandbox under AWS's Runtime Interface Emulator, timed the way Lambda
would time it, for ``benchmarks/coldstart_rie.py``.

The chain is the one ``tests/e2e/test_runtimes.py`` runs: ``aws-lambda-rie`` (``make
rie``) -> the layer's ``otel-instrument`` exec wrapper -> the local runtime's bootstrap
-> awslambdaric. Three things are added, each for a reason read in the RIE's source
(github.com/aws/aws-lambda-runtime-interface-emulator, ``internal/lambda/rie``):

- **A trace header.** The RIE builds ``Lambda-Runtime-Trace-Id`` with rapid's
  ``NoOpTracer.BuildTracingHeader`` (``internal/lambda/telemetry/tracer.go``), which reads
  ids nothing in standalone mode puts in its context: the runtime never gets a header,
  whatever ``X-Amzn-Trace-Id`` the invoke carried. Without one the X-Ray SDK and
  Powertools discard their subsegments. :class:`RuntimeApiProxy` sits on loopback
  between the runtime and the RIE's Runtime API and adds a Lambda-style
  ``Root=...;Parent=...;Sampled=1`` to each ``/runtime/invocation/next`` answer;
  awslambdaric puts it in ``_X_AMZN_TRACE_ID`` (``bootstrap.handle_event_request``).
  The RIE gives the runtime its own API address in ``AWS_LAMBDA_RUNTIME_API`` (a platform
  variable, ``rapidcore/env``), so the command starts with ``/usr/bin/env
  AWS_LAMBDA_RUNTIME_API=<proxy>``: one exec, in every configuration alike.
- **Lambda's timeline.** The RIE starts the runtime on the first invoke, and its
  ``Init Duration`` is the time to *dispatch* init (``rapidcore.Server.Init`` returns
  at once, ``rie/handlers.go InitHandler``), not the runtime's init. And it answers the
  caller only after ``AwaitRelease``: once the runtime has asked for its next event and
  every extension has called ``/extension/event/next`` (``rapidcore.Server.Invoke``; the
  body is buffered in a ``ResponseWriterProxy``). Lambda sends the response as soon as
  the runtime posts it. So the proxy timestamps the runtime's first ``/next`` (end of
  init) and each ``POST .../response`` (when Lambda's caller would have the response);
  the RIE's own reply time is kept as well (response plus whatever runs before the
  next poll: an inline flush, or an extension's post-response work).
- **Read-only code.** Lambda mounts ``/opt``, ``/var/task``, ``/var/runtime`` and
  ``/var/lang`` read-only. Root ignores file modes, so the RIE runs in a private mount
  namespace (``unshare -m``) where the layer, the function, the runtime and the
  interpreter's standard library are read-only bind mounts; Python then cannot cache
  bytecode there, as on Lambda. Where ``unshare`` is refused (not root),
  ``PYTHONDONTWRITEBYTECODE=1`` is the fallback and :func:`read_only_mode` says so.

CPU time is read from each process's CPU clock (``clock_gettime`` on
``MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)``: nanoseconds, every thread, ended ones
included), summed over the RIE's descendants; peak RSS is their ``VmHWM``.
Everything started here is stopped by PID.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sysconfig
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Self

from otel_xray.devtools.loopback import (
    LoopbackHandler,
    LoopbackServer,
    Running,
    end_process_group,
    unused_port,
)

ROOT = Path(__file__).resolve().parents[1]
RIE = ROOT / "build" / "rie" / "aws-lambda-rie"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
NEXT_PATH = "/2018-06-01/runtime/invocation/next"
#: awslambdaric reads it into _X_AMZN_TRACE_ID (lambda_runtime_client.wait_next_invocation).
TRACE_HEADER = "Lambda-Runtime-Trace-Id"
_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive", "host"}
_INIT_DURATION = re.compile(r"Init Duration: ([0-9.]+) ms")

#: Makes each directory named before ``--`` a read-only bind mount, then execs the rest.
_MOUNT_SCRIPT = (
    'while [ "$1" != -- ]; do '
    'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" || exit 97; shift; '
    'done; shift; exec "$@"'
)


def trace_header() -> tuple[str, str]:
    """(the header Lambda would give the runtime, its Root): X-Ray ids, sampled."""
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    return f"Root={root};Parent={os.urandom(8).hex()};Sampled=1", root


class RuntimeApiProxy(LoopbackServer):
    """Forwards every Runtime and Extensions API call to ``upstream`` unchanged, except
    that a runtime's ``/next`` answer gains a Lambda-style trace header. Records when
    the runtime first polled and when it posted each response (``time.monotonic()``),
    the Roots it handed out, and the extensions that registered."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.first_next_at: float | None = None
        self.responses_at: list[float] = []
        self.roots: list[str] = []
        self.extensions: list[str] = []
        self.posted = threading.Condition()
        super().__init__(self._handler_class())

    def wait_responses(self, count: int, timeout: float) -> bool:
        """True once ``count`` responses have been posted (False after ``timeout``)."""
        with self.posted:
            return self.posted.wait_for(lambda: len(self.responses_at) >= count, timeout)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(LoopbackHandler):
            disable_nagle_algorithm = True
            upstream: http.client.HTTPConnection | None = None

            def do_GET(self) -> None:
                self._forward()

            def do_POST(self) -> None:
                self._forward()

            def _forward(self) -> None:
                body = self.read_body()
                arrived = time.monotonic()
                path = self.path.split("?", 1)[0]
                is_next = path == NEXT_PATH
                if is_next and proxy.first_next_at is None:
                    proxy.first_next_at = arrived
                if path.endswith("/response") and "/runtime/invocation/" in path:
                    with proxy.posted:
                        proxy.responses_at.append(arrived)
                        proxy.posted.notify_all()
                if path.endswith("/extension/register"):
                    proxy.extensions.append(self.headers.get("Lambda-Extension-Name", "?"))
                if self.upstream is None:
                    self.upstream = http.client.HTTPConnection(proxy.upstream)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                try:
                    self.upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = self.upstream.getresponse()
                    payload = answer.read()
                except (OSError, http.client.HTTPException) as error:  # the RIE is stopping
                    self.upstream.close()
                    self.upstream = None
                    self.close_connection = True
                    self.reply_json(502, {"errorMessage": f"the RIE's Runtime API: {error}"})
                    return
                extra = {}
                if is_next and answer.status == 200 and not answer.getheader(TRACE_HEADER):
                    header, root = trace_header()
                    proxy.roots.append(root)
                    extra[TRACE_HEADER] = header
                self.send_response(answer.status, answer.reason)
                for key, value in answer.getheaders():
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def finish(self) -> None:
                super().finish()
                if self.upstream is not None:
                    self.upstream.close()

        return Handler


def read_only_mode() -> str:
    """``"unshare"`` when a private mount namespace with read-only bind mounts works here,
    else ``"no bytecode writes"`` (PYTHONDONTWRITEBYTECODE=1: the directories stay
    writable, nothing is cached in them)."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        return "no bytecode writes"
    probe = tempfile.mkdtemp(prefix="rie-ro-")
    try:
        command = [unshare, "--mount", "--propagation", "private", "sh", "-c", _MOUNT_SCRIPT]
        command += ["sh", probe, "--", "sh", "-c", 'touch "$0/x" 2>/dev/null && exit 1; exit 0']
        command.append(probe)
        ok = subprocess.run(command, capture_output=True, timeout=10, check=False).returncode == 0
        return (
            "unshare"
            if ok and not os.path.exists(os.path.join(probe, "x"))
            else ("no bytecode writes")
        )
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def stdlib_dir(python: Path) -> Path:
    """The interpreter's standard library (Lambda's ``/var/lang/lib/python3.X``)."""
    out = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    return Path(out.strip() or sysconfig.get_path("stdlib"))


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                found += [
                    int(p) for p in Path(f"/proc/{pid}/task/{task}/children").read_text().split()
                ]
    return found


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (Linux's /proc)."""
    found, todo = [], _children(pid)
    while todo:
        child = todo.pop()
        found.append(child)
        todo += _children(child)
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time of the process ``pid`` (all its threads), 0 if it is gone."""
    try:
        return time.clock_gettime((~pid << 3) | 2)  # MAKE_PROCESS_CPUCLOCK(pid, SCHED)
    except OSError:
        return 0.0


def peak_rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class RieSandbox(Running):
    """One cold sandbox: the RIE (in a read-only mount namespace where possible), the
    proxy in front of its Runtime API, and the runtime it starts on the first invoke.

    ``command`` is what the RIE runs (wrapper, interpreter, bootstrap); ``env`` is the
    function's environment; ``read_only`` the directories to mount read-only and
    ``mode`` what :func:`read_only_mode` found.
    """

    def __init__(
        self,
        command: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        read_only: Sequence[Path] = (),
        mode: str = "unshare",
        timeout_seconds: int = 30,
    ) -> None:
        if not RIE.exists():
            raise FileNotFoundError(f"{RIE} is missing: run 'make rie'")
        self.command = list(command)
        self.env = dict(env)
        self.cwd = cwd
        self.read_only = [p.resolve() for p in read_only]
        self.mode = mode
        self.timeout_seconds = timeout_seconds
        self.process: subprocess.Popen[bytes] | None = None
        self.proxy: RuntimeApiProxy | None = None
        self.log_path: Path | None = None
        self._connection: http.client.HTTPConnection | None = None

    def start(self) -> Self:
        try:
            return self._start()
        except BaseException:
            self.stop()  # nothing half-started is left behind
            raise

    def _start(self) -> Self:
        api_port, rie_port = unused_port(), unused_port()
        self.proxy = RuntimeApiProxy(f"127.0.0.1:{api_port}").start()
        rie = [
            str(RIE),
            "--runtime-interface-emulator-address", f"127.0.0.1:{rie_port}",
            "--runtime-api-address", f"127.0.0.1:{api_port}",
            "/usr/bin/env", f"AWS_LAMBDA_RUNTIME_API={self.proxy.address}",
            *self.command,
        ]  # fmt: skip
        env = {**self.env, "AWS_LAMBDA_FUNCTION_TIMEOUT": str(self.timeout_seconds)}
        if self.mode == "unshare":
            rie = [
                "unshare", "--mount", "--propagation", "private", "sh", "-c", _MOUNT_SCRIPT,
                "sh", *map(str, self.read_only), "--", *rie,
            ]  # fmt: skip
        else:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (handed to the child process)
            prefix="otel-xray-rie-", suffix=".log", delete=False
        )
        self.log_path = Path(log.name)
        self.process = subprocess.Popen(
            rie, env=env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        log.close()
        self._wait_listening(rie_port)
        self._connection = http.client.HTTPConnection("127.0.0.1", rie_port, timeout=60)
        return self

    def _wait_listening(self, port: int, seconds: float = 10) -> None:
        assert self.process is not None
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                why = f"the emulator exited ({self.process.returncode})"
                if self.mode == "unshare" and self.process.returncode == 97:
                    why = f"could not bind-mount read-only: {', '.join(map(str, self.read_only))}"
                raise RuntimeError(f"{why}:\n{self.logs()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=0.2),
            ):
                return
            time.sleep(0.01)
        raise RuntimeError(f"the emulator did not listen on {port}:\n{self.logs()}")

    def invoke(self, event: Any) -> tuple[float, int, bytes]:
        """POST one event to the RIE: (when it was sent, the status, the body); the time
        of sending is ``time.monotonic()``, taken just before the request is written."""
        assert self._connection is not None
        body = json.dumps(event).encode()
        sent = time.monotonic()
        self._connection.request("POST", INVOKE_PATH, body=body)
        answer = self._connection.getresponse()
        return sent, answer.status, answer.read()

    def function_pids(self) -> list[int]:
        """The runtime's live processes (the RIE's descendants)."""
        assert self.process is not None
        return descendants(self.process.pid)

    def cpu_ms(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.function_pids()) * 1000

    def peak_rss_mib(self) -> float:
        return sum(peak_rss_kib(pid) for pid in self.function_pids()) / 1024

    def init_duration_ms(self) -> float | None:
        """What the RIE's first ``REPORT`` line calls ``Init Duration`` (see the module
        docstring: the time to dispatch init, not the runtime's init)."""
        match = _INIT_DURATION.search(self.logs())
        return float(match.group(1)) if match else None

    def logs(self) -> str:
        if self.log_path is not None and self.log_path.exists():
            return self.log_path.read_text(errors="replace")
        return ""

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self.process is not None:
            for pid in self.function_pids():  # the runtime first, by PID, as Lambda ends it
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            end_process_group(self.process, grace=5)
            self.process = None
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self.log_path = None
