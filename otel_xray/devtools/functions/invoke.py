"""Run a handler the way Lambda does, on this machine, and capture what X-Ray would get.

One :class:`LocalFunction` is one sandbox: a real process started through the
layer's ``otel-instrument`` (as ``AWS_LAMBDA_EXEC_WRAPPER``), running the real
runtime client against :class:`~otel_xray.devtools.functions.runtime_api.RuntimeAPI`, with the
environment Lambda sets when active tracing is on. What the function sends arrives
where it would on Lambda:

- ``exporter="xray-udp"`` (the layer's default without a collector): segment
  documents over UDP to a local daemon (:class:`~otel_xray.devtools.components.daemon.XRayDaemon`)
  named by ``AWS_XRAY_DAEMON_ADDRESS``;
- ``exporter="otlp"``: OTLP/HTTP to a receiver standing in for the collector
  extension (``OPENTELEMETRY_COLLECTOR_CONFIG_URI`` set), translated to documents;
- ``exporter="xray-otlp-udp"``: OTLP datagrams (``T1S``/``T1U``) to the same local
  daemon, which translates them (AWS's own layer's wire);
- ``exporter="xray-otlp"``: signed OTLP/HTTP to the local X-Ray API's ``/v1/traces``
  (X-Ray's OTLP endpoint, SigV4 switched on with
  ``OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER=aws_sigv4``).

Each result also carries the ``AWS::Lambda`` and ``AWS::Lambda::Function``
segments Lambda itself would send, with the ids it put in ``_X_AMZN_TRACE_ID``.

``snapstart=True`` emulates SnapStart (docs/lambda-execution-models.md): :meth:`start`
initializes one process with ``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`` (off the
invoke path, as a version is published), awslambdaric runs the before-snapshot hooks
of ``snapshot_restore_py``, and that process stays as the snapshot. Each sandbox is
then a forked copy of it (the restore), polling the same Runtime API; awslambdaric
runs the after-restore hooks in it, and Lambda's function segment has ``Restore``
where an on-demand cold start has ``Initialization``. :meth:`stop_process` ends the
current copy; the next invoke restores a new one.

``max_concurrency=N`` emulates Lambda Managed Instances: ``AWS_LAMBDA_MAX_CONCURRENCY``
and ``AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances`` make awslambdaric 4.x
fork N worker processes, each initializing and handling one request at a time against
the same Runtime API. :meth:`start` waits for all N (init runs before traffic, so no
invocation carries ``Initialization``), :meth:`invoke_concurrently` sends events at
once, and an invocation past its timeout answers ``Sandbox.Timedout`` without killing
the worker, which runs the handler to its end (docs/lambda-execution-models.md).
Everything started here is stopped by :meth:`LocalFunction.stop` (the process by
its PID).

Example (needs ``make layer runtime``)::

    with LocalFunction("app.handler", code_dir="examples/hello") as fn:
        result = fn.invoke({"name": "x"})
        print(result.response, len(result.segments))
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from otel_xray.devtools.components.daemon import XRayDaemon
from otel_xray.devtools.components.receiver import OTLPReceiver, SpanDict, readable_span
from otel_xray.devtools.components.xray_api import XRayAPI
from otel_xray.devtools.functions.lambda_segments import lambda_segments, sqs_links
from otel_xray.devtools.functions.runtime_api import Invocation, RuntimeAPI
from otel_xray.devtools.functions.sandbox import DEFAULT_DIR, RuntimeEnv
from otel_xray.devtools.loopback import Running, end_process_group
from otel_xray.xray.segment import span_to_document

EXPORTERS = ("xray-udp", "otlp", "xray-otlp-udp", "xray-otlp")
#: Seconds from SIGTERM to SIGKILL at shutdown for a runtime with an internal extension.
SHUTDOWN_GRACE_SECONDS = 0.5

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"


def default_layer_dir() -> Path:
    machine = os.uname().machine
    arch = "arm64" if machine in ("aarch64", "arm64") else "x86_64"
    return Path("build") / "layer" / arch


@dataclass
class InvocationResult:
    """What one invocation returned and exported."""

    request_id: str
    root: str
    parent: str
    response: Any = None
    error: dict[str, Any] | None = None
    duration_ms: float = 0.0
    #: OTLP spans as received (``exporter="otlp"`` only).
    spans: list[SpanDict] = field(default_factory=list)
    #: Every X-Ray document of the invocation: Lambda's two segments, then the function's.
    segments: list[dict[str, Any]] = field(default_factory=list)
    #: Datagrams the daemon would have dropped, with the reason (should stay empty).
    rejected: list[str] = field(default_factory=list)
    #: The function's datagrams to the daemon, exactly as sent.
    raw_datagrams: list[bytes] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


class InitError(RuntimeError):
    """The function failed during init (import of the handler)."""


class LocalFunction(Running):
    """A local Lambda sandbox for one handler."""

    def __init__(
        self,
        handler: str,
        code_dir: str | Path,
        *,
        layer_dir: str | Path | None = None,
        use_layer: bool = True,
        runtime_dir: str | Path = DEFAULT_DIR,
        env: Mapping[str, str] | None = None,
        function_name: str | None = None,
        timeout_seconds: float = 30.0,
        memory_mb: int = 512,
        otlp_endpoint: str | None = None,
        exporter: str = "xray-udp",
        snapstart: bool = False,
        max_concurrency: int | None = None,
        extensions: bool = True,
    ) -> None:
        if exporter not in EXPORTERS:
            raise ValueError(f"exporter {exporter!r}: accepted values are {', '.join(EXPORTERS)}")
        self.exporter = exporter
        self.handler = handler
        self.code_dir = Path(code_dir).resolve()
        self.layer_dir = Path(layer_dir or default_layer_dir()).resolve() if use_layer else None
        self.runtime = RuntimeEnv(Path(runtime_dir).resolve())
        self.extra_env = dict(env or {})
        self.function_name = function_name or self.code_dir.name.replace("_", "-")
        self.timeout_seconds = timeout_seconds
        self.memory_mb = memory_mb
        self._otlp_endpoint = otlp_endpoint
        self.function_arn = (
            f"arn:aws:lambda:{DEFAULT_REGION}:{ACCOUNT_ID}:function:{self.function_name}"
        )
        self.api: RuntimeAPI | None = None
        self.receiver: OTLPReceiver | None = None
        self.daemon: XRayDaemon | None = None
        #: The local X-Ray API whose /v1/traces takes spans (``exporter="xray-otlp"``).
        self.xray_api: XRayAPI | None = None
        self._xray_seen = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None
        self.started_at = 0.0
        self._init_started: float | None = None
        self._raw_seen = 0
        self.snapstart = snapstart
        if max_concurrency is not None and not 1 <= max_concurrency <= 64:
            raise ValueError(f"max_concurrency {max_concurrency}: accepted: 1 to 64")
        self.max_concurrency = max_concurrency
        #: The Runtime API serves the Extensions API (False: 404, as AWS's emulator with
        #: extensions disabled; the layer then flushes before each response).
        self.extensions = extensions
        #: SnapStart: the initialized process every sandbox is restored from, and the
        #: pid of the current restored sandbox.
        self.snapshot: subprocess.Popen[bytes] | None = None
        self.restored_pid: int | None = None
        #: SnapStart: the pids of every sandbox restored so far, in order.
        self.restored_pids: list[int] = []
        #: The latest invocation (its invoke phase may still be running: extensions).
        self._last: Invocation | None = None

    # lifecycle ---------------------------------------------------------------

    def start(self) -> Self:
        self.runtime.check()
        if self.layer_dir is not None and not (self.layer_dir / "otel-instrument").exists():
            raise FileNotFoundError(
                f"no built layer at {self.layer_dir}; build it with 'make layer'"
            )
        if not self.code_dir.is_dir():
            raise FileNotFoundError(f"--code {self.code_dir} is not a directory")
        self.api = RuntimeAPI(
            self.function_arn,
            self.timeout_seconds,
            extensions=self.extensions,
            managed_instances=self.max_concurrency is not None,
        ).start()
        self.daemon = XRayDaemon().start()
        if self.exporter == "otlp" and self._otlp_endpoint is None:
            self.receiver = OTLPReceiver().start()
        if self.snapstart:
            self._take_snapshot()
        if self.max_concurrency is not None:
            self._start_workers()
        if self.exporter == "xray-otlp" and self._otlp_endpoint is None:
            self.xray_api = XRayAPI().start()
        # The sandbox itself starts with the first invoke, as on Lambda, so its init
        # is on that invocation's path (and in its trace).
        return self

    def _start_workers(self) -> None:
        """Managed Instances: start the runtime and wait for its N workers' first polls."""
        assert self.api is not None and self.max_concurrency is not None
        self._spawn()
        assert self.process is not None
        deadline = time.monotonic() + self.timeout_seconds + 10
        while self.api.polls < self.max_concurrency:
            if self.api.init_failed.is_set():
                raise InitError(f"init failed: {self.api.init_error}\n{self.logs()}")
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise InitError(
                    f"{self.api.polls} of {self.max_concurrency} workers started "
                    f"(exit {self.process.returncode})\n{self.logs()}"
                )
            self.api.polled.wait(0.05)
            self.api.polled.clear()
        self._init_started = None  # init ran before traffic: on no invocation's path

    def _take_snapshot(self) -> None:
        """SnapStart: init one process until it asks for its restore (the snapshot)."""
        assert self.api is not None
        self._spawn()
        self.snapshot, self.process = self.process, None
        assert self.snapshot is not None
        deadline = time.monotonic() + self.timeout_seconds + 10
        while not self.api.snapshot_taken.wait(0.05):
            if self.api.init_failed.is_set():
                raise InitError(f"init failed: {self.api.init_error}\n{self.logs()}")
            if self.snapshot.poll() is not None or time.monotonic() > deadline:
                raise InitError(
                    f"the snapshot's init did not finish (exit {self.snapshot.returncode})\n"
                    f"{self.logs()}"
                )
        self._init_started = None

    def _restore(self) -> None:
        """SnapStart: a new sandbox restored from the snapshot."""
        assert self.api is not None and self.snapshot is not None
        before = _children(self.snapshot.pid)
        self.api.first_poll_at = None
        self._init_started = time.time()  # Restore begins
        # The snapshot's extensions wait in next, frozen: the restored copy's answer.
        self.api.retire_pollers(keep_extensions=True)
        self.api.request_restore()
        self.process = self.snapshot  # liveness: the copies live and die with it
        deadline = time.monotonic() + 10
        while self.restored_pid is None and time.monotonic() < deadline:
            new = sorted(_children(self.snapshot.pid) - before)
            if new:
                self.restored_pid = new[0]
                self.restored_pids.append(new[0])
            else:
                time.sleep(0.005)

    def _spawn(self) -> None:
        assert self.api is not None
        if self.snapshot is not None:
            self._restore()
            return
        log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (handed to the child process)
            prefix="otel-xray-fn-", suffix=".log", delete=False
        )
        self.log_path = Path(log.name)
        command = [str(self.runtime.python), str(self.runtime.bootstrap)]
        if self.layer_dir is not None:
            command = [str(self.layer_dir / "otel-instrument"), *command]
        self.started_at = time.monotonic()
        self._init_started = time.time()
        self.api.first_poll_at = None
        self.process = subprocess.Popen(
            command,
            env=self.environment(),
            cwd=str(self.code_dir),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def environment(self) -> dict[str, str]:
        """The variables Lambda sets for a function on this runtime, plus the local endpoints."""
        assert self.api is not None
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "HOME": tempfile.gettempdir(),
            "PYTHONPATH": str(self.runtime.runtime_dir),
            "LAMBDA_TASK_ROOT": str(self.code_dir),
            "LAMBDA_RUNTIME_DIR": str(self.runtime.runtime_dir),
            "_HANDLER": self.handler,
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            # awslambdaric reads it (3.12 and later poll on a thread).
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{self.runtime.version}",
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]")
            + os.urandom(16).hex(),
            "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"
            if self.snapstart
            else "lambda-managed-instances"
            if self.max_concurrency is not None
            else "on-demand",
            "AWS_REGION": DEFAULT_REGION,
            "AWS_DEFAULT_REGION": DEFAULT_REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        }
        if self.daemon is not None:
            # What Lambda sets with active tracing on.
            host, port = self.daemon.address
            env["AWS_XRAY_DAEMON_ADDRESS"] = f"{host}:{port}"
            env["_AWS_XRAY_DAEMON_ADDRESS"] = host
            env["_AWS_XRAY_DAEMON_PORT"] = str(port)
        if self.max_concurrency is not None:
            env["AWS_LAMBDA_MAX_CONCURRENCY"] = str(self.max_concurrency)
        if self.layer_dir is not None:
            env["AWS_LAMBDA_EXEC_WRAPPER"] = str(self.layer_dir / "otel-instrument")
        if self.layer_dir is not None and self.exporter == "otlp":
            # The collector extension announces itself like this on Lambda.
            env["OPENTELEMETRY_COLLECTOR_CONFIG_URI"] = str(
                self.layer_dir / "collector-config" / "config.yaml"
            )
            endpoint = self._otlp_endpoint or (self.receiver.endpoint if self.receiver else "")
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
        if self.exporter == "xray-otlp-udp":
            env["OTEL_TRACES_EXPORTER"] = "xray-otlp-udp"
        if self.exporter == "xray-otlp":
            env["OTEL_TRACES_EXPORTER"] = "otlp"
            env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = self._otlp_endpoint or (
                self.xray_api.otlp_endpoint if self.xray_api else ""
            )
            env["OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER"] = "aws_sigv4"
            env["OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"] = "gzip"
        env.update(self.extra_env)
        return env

    def stop(self) -> None:
        self.shutdown()
        if self.snapshot is not None:
            self.stop_process()
            end_process_group(self.snapshot, grace=5)
            self.snapshot = None
        end_process_group(self.process, grace=5)
        self.process = None
        if self.api is not None:
            self.api.stop()
            self.api = None
        if self.receiver is not None:
            self.receiver.stop()
            self.receiver = None
        if self.xray_api is not None:
            self.xray_api.stop()
            self.xray_api = None
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self.log_path = None

    # invoking ------------------------------------------------------------------

    def invoke(
        self,
        event: Any,
        *,
        raw: bytes | None = None,
        collect: bool = True,
        trace_header: str | None = None,
        on_response: Callable[[InvocationResult], None] | None = None,
        tenant_id: str | None = None,
    ) -> InvocationResult:
        """Send one event and wait for the response (or error, or timeout).

        ``collect=False`` skips waiting for this invocation's documents (load tests
        count them at the daemon afterwards). ``on_response`` is called with the
        result as soon as the function has answered, before the documents are
        collected: a front door (Lambda Invoke, API Gateway) answers its caller then,
        so the harness's own waiting is not on the caller's timeline.
        ``tenant_id`` is the invoke's ``TenantId`` (a tenant-isolated function): the
        runtime gets it in ``Lambda-Runtime-Aws-Tenant-Id``.
        """
        assert self.api is not None
        body = raw if raw is not None else json.dumps(event).encode()
        invocation = self.api.submit(body, trace_header=trace_header, tenant_id=tenant_id)
        self._last = invocation
        if self.process is None:
            self._spawn()
        self._wait(invocation)
        result = InvocationResult(
            request_id=invocation.request_id,
            root=invocation.root,
            parent=invocation.parent,
            duration_ms=invocation.duration_ms,
        )
        if invocation.error is not None:
            result.error = invocation.error
        elif invocation.response is not None:
            result.response = _decode(invocation.response)
        if on_response is not None:
            on_response(result)
        if collect:
            # Spans may leave after the response (an extension): wait for the end of the
            # invoke phase, bounded by the function's timeout.
            self.api.wait_extensions(invocation, self._remaining(invocation))
        result.segments = (
            self._lambda_segments(invocation, event if raw is None else None, overhead=collect)
            if invocation.sampled
            else []
        )
        if not collect:
            return result
        if self.daemon is not None:
            self.daemon.wait_idle()
            result.segments += self.daemon.take()
            result.rejected, self.daemon.rejected = self.daemon.rejected, []
            result.raw_datagrams = self.daemon.raw[self._raw_seen :]
            self._raw_seen = len(self.daemon.raw)
        if self.receiver is not None:
            result.spans = self.receiver.take()
            result.segments += [span_to_document(readable_span(s)) for s in result.spans]
        if self.xray_api is not None:
            # The exporter POSTs before the runtime's next poll, so it has arrived by now.
            received = self.xray_api.received
            result.segments += [json.loads(raw) for raw in received[self._xray_seen :]]
            self._xray_seen = len(received)
        if self.daemon is not None and self.daemon.otlp_spans:
            result.spans += self.daemon.otlp_spans
            self.daemon.otlp_spans = []
        return result

    def invoke_concurrently(
        self, events: list[Any], tenant_id: str | None = None
    ) -> list[InvocationResult]:
        """Managed Instances: send ``events`` at once (one caller each) and wait for all;
        :meth:`collect` then gives each result the documents of its own trace."""
        assert self.api is not None and self.max_concurrency is not None
        invocations = [
            self.api.submit(json.dumps(event).encode(), tenant_id=tenant_id) for event in events
        ]
        for invocation in invocations:
            self._wait(invocation)
        results = []
        for invocation, event in zip(invocations, events, strict=True):
            result = InvocationResult(
                request_id=invocation.request_id,
                root=invocation.root,
                parent=invocation.parent,
                duration_ms=invocation.duration_ms,
                error=invocation.error,
                response=_decode(invocation.response)
                if invocation.error is None and invocation.response is not None
                else None,
            )
            result.segments = self._lambda_segments(invocation, event, overhead=False)
            results.append(result)
        return results

    def collect(self, results: list[InvocationResult], quiet_seconds: float = 0.5) -> None:
        """Give each result the function's documents of its trace, once the daemon has
        been quiet for ``quiet_seconds`` (a background exporter sends after a delay)."""
        assert self.daemon is not None
        self.daemon.wait_idle(quiet_seconds=quiet_seconds, timeout=30)
        by_trace: dict[str, list[dict[str, Any]]] = {}
        for document in self.daemon.take():
            by_trace.setdefault(str(document.get("trace_id")), []).append(document)
        for result in results:
            result.segments += by_trace.pop(result.root, [])

    def _lambda_segments(
        self, invocation: Invocation, event: Any, overhead: bool = True
    ) -> list[dict[str, Any]]:
        """Lambda's own two segments; ``overhead`` waits (briefly) for the runtime's next
        poll to close the Overhead subsegment (timed runs skip it: it is not theirs)."""
        assert self.api is not None
        init_started, self._init_started = self._init_started, None
        return lambda_segments(
            function_name=self.function_name,
            function_arn=self.function_arn,
            request_id=invocation.request_id,
            root=invocation.root,
            parent=invocation.parent,
            received=invocation.received_at,
            started=invocation.started_at or invocation.received_at,
            finished=invocation.finished_at or time.time(),
            init_started=init_started,
            init_finished=self.api.first_poll_at,
            init_phase="Restore" if self.snapshot is not None else "Initialization",
            next_poll=self._next_poll(invocation) if overhead else None,
            extensions_done=invocation.extensions_done_at if overhead else None,
            error=invocation.error,
            xray_cause=invocation.xray_cause,
            upstream_parent=invocation.upstream_parent,
            links=sqs_links(event),
        )

    def _remaining(self, invocation: Invocation) -> float:
        """Seconds to the invocation's deadline (at least a little)."""
        if not invocation.deadline_ms:
            return self.timeout_seconds
        return max(invocation.deadline_ms / 1000 - time.time(), 0.05)

    def _next_poll(self, invocation: Invocation) -> float | None:
        """When the runtime asked for its next event after this response (``Overhead``);
        None if it did not within 0.2 s (it was stopped, or it is busy flushing)."""
        api = self.api
        assert api is not None
        finished = invocation.finished_at
        deadline = time.monotonic() + 0.2
        while finished:
            api.polled.clear()
            polled = api.last_poll_at
            if polled is not None and polled >= finished:
                return polled
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            api.polled.wait(remaining)
        return None

    def _wait(self, invocation: Invocation) -> None:
        assert self.api is not None and self.process is not None
        # Lambda stops a function at its timeout; a second of grace covers process start.
        deadline = time.monotonic() + self.timeout_seconds + 1
        while not invocation.done.wait(0.05):
            if self.api.init_failed.is_set():
                raise InitError(f"init failed: {self.api.init_error}\n{self.logs()}")
            if self.process.poll() is not None:
                raise InitError(
                    f"function process exited with {self.process.returncode}\n{self.logs()}"
                )
            if time.monotonic() > deadline:
                invocation.error = {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"Task timed out after {self.timeout_seconds:.2f} seconds",
                }
                invocation.finished_at = invocation.finished_at or time.time()
                if self.max_concurrency is None:
                    self.stop_process()
                # Managed Instances: the worker is not killed (inference, see the docs);
                # it finishes the handler and posts a result no caller waits for.
                return

    def shutdown(self) -> None:
        """Lambda's Shutdown phase for the current sandbox: with an extension registered,
        SIGTERM to the runtime, then SIGKILL after the 500 ms Lambda gives "a runtime with
        an internal extension" (runtimes-extensions-api, "Shutdown phase"; AWS's emulator
        does the same, internal/lambda/rapid/shutdown.go). Without one, nothing here
        (:meth:`stop` ends the process as before)."""
        if self.api is None or not self.api.extensions or self.max_concurrency is not None:
            return
        if self.snapshot is not None:
            pid = self.restored_pid
            if pid is None:
                return
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.005)
            return  # stop_process then SIGKILLs it if it is still there
        if self.process is not None:
            end_process_group(self.process, grace=SHUTDOWN_GRACE_SECONDS)
            self.process = None

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until the sandbox may take the next event (the last invocation's invoke
        phase is over: every extension called next); what a caller sees after a response."""
        if self.api is None or self._last is None:
            return True
        return self.api.wait_extensions(
            self._last, self.timeout_seconds + 1 if timeout is None else timeout
        )

    def stop_process(self) -> None:
        """Kill the sandbox (as Lambda does after a timeout); the next invoke starts cold
        (SnapStart: the next invoke restores a new sandbox from the snapshot)."""
        if self.api is not None and self.process is not None:
            self.api.retire_pollers(keep_extensions=self.snapshot is not None)
        if self.snapshot is None:
            end_process_group(self.process, grace=0)  # no grace: as Lambda kills it
            self.process = None
            return
        if self.restored_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.restored_pid, signal.SIGKILL)
            _wait_ended(self.restored_pid)  # its sockets closed: no event goes to it
            self.restored_pid = None
        self.process = None

    def logs(self) -> str:
        """What the function printed so far."""
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")
        return ""


def _alive(pid: int) -> bool:
    """``pid`` runs (not gone, not a zombie)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def _children(pid: int) -> set[int]:
    """The pids of ``pid``'s children (Linux's /proc; the harness runs on Linux only)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return set()
    return {int(part) for part in text.split()}


def _wait_ended(pid: int, within: float = 5.0) -> None:
    """Wait until ``pid`` has let go of its files (sockets): gone, or a zombie with no
    open descriptor. Its state alone is not enough: a killed process's main thread can
    be a zombie while another thread still holds the sockets open."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if not os.listdir(f"/proc/{pid}/fd"):
                return
        except OSError:
            return
        time.sleep(0.002)


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")
