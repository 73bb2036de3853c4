"""The sandbox's life: timeouts, freezes, forks (SnapStart-style), threads inside one call."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import otel_xray
from otel_xray.devtools.components.daemon import XRayDaemon
from otel_xray.devtools.functions.invoke import LocalFunction, default_layer_dir
from otel_xray.testing import XRayCapture
from tests.e2e.conftest import ROOT, RUNTIME
from tests.reliability.servers import Collector

FUNCTION = """
import threading, time

def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"threads": sorted(t.name for t in threading.enumerate())}
"""


#: The sandbox's threads during an invocation: the runtime's, the extension's, and on
#: python3.11 (the default local runtime) the one SIGTERM's wakeup fd wakes (both in
#: otel_xray/awslambda/extension.py); neither has a timer.
THREADS = ["MainThread", "otel-xray-extension", "otel-xray-sigterm"]


def sandbox(code: Path, **kwargs: Any) -> LocalFunction:
    (code / "app.py").write_text(FUNCTION)
    return LocalFunction(
        "app.handler", code, layer_dir=ROOT / default_layer_dir(), runtime_dir=RUNTIME, **kwargs
    )


def function_documents(segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in segments if d.get("origin") is None]


def test_a_timeout_kills_the_sandbox_and_the_next_invocation_starts_clean(
    tmp_path: Path, record: Callable[..., None]
) -> None:
    with sandbox(tmp_path, timeout_seconds=1.0, function_name="slowpoke") as function:
        warm = function.invoke({})
        began = time.monotonic()
        timed_out = function.invoke({"sleep": 30})
        waited = time.monotonic() - began
        after = function.invoke({})
        again = function.invoke({})
    assert warm.ok and after.ok and again.ok
    assert timed_out.error is not None and timed_out.error["errorType"] == "Sandbox.Timedout"
    assert waited < 6  # the 1 s timeout plus the harness's grace, not the 30 s sleep
    assert function_documents(timed_out.segments) == []  # the killed call exported nothing
    for result in (after, again):
        docs = function_documents(result.segments)
        assert docs and {d["trace_id"] for d in docs} == {result.root}  # only its own
    [cold] = function_documents(after.segments)
    assert cold["metadata"]["default"]["faas.coldstart"] is True  # a new sandbox
    assert any(
        s.get("name") == "Initialization" for d in after.segments for s in d.get("subsegments", [])
    )
    record(
        scenario="handler timeout",
        timed_out_after_s=round(waited, 2),
        next_invocation="clean, cold, own spans only",
    )


def test_a_frozen_sandbox_thaws_with_no_timer_and_no_stale_socket(
    tmp_path: Path, record: Callable[..., None]
) -> None:
    collector = Collector("drop-connections")  # closes each connection behind our back
    try:
        with sandbox(
            tmp_path, exporter="otlp", otlp_endpoint=f"http://127.0.0.1:{collector.port}"
        ) as function:
            first = function.invoke({})
            assert function.process is not None
            os.kill(function.process.pid, signal.SIGSTOP)  # Lambda freezes the sandbox
            time.sleep(0.5)
            os.kill(function.process.pid, signal.SIGCONT)
            thawed = [function.invoke({}) for _ in range(3)]
    finally:
        collector.stop()
    assert first.ok and all(r.ok for r in thawed)
    # No background thread of ours that a freeze could stall or fire late. The one thread
    # is the extension's (otel_xray/awslambda/extension.py): it works only inside an
    # invoke phase, which Lambda (and the harness) ends, and freezes, only once it has
    # called next; frozen, it waits in next, answered after a thaw.
    for result in (first, *thawed):
        assert result.response["threads"] == THREADS, result.response
    traces = {s["trace_id"] for s in collector.spans}
    for result in (first, *thawed):
        assert result.root[2:].replace("-", "") in traces  # every invocation's span arrived
    record(
        scenario="freeze/thaw with the collector closing idle connections",
        invocations_after_thaw=3,
        all_delivered=True,
        threads=THREADS,
    )


FORKED = """
import json, os, sys
from otel_xray import configurator
import otel_xray
env = {"AWS_LAMBDA_FUNCTION_NAME": "forky", "OTEL_TRACES_EXPORTER": sys.argv[1],
       "AWS_XRAY_DAEMON_ADDRESS": sys.argv[2], "OTEL_EXPORTER_OTLP_ENDPOINT": sys.argv[3]}
os.environ.update(env)
os.environ["_X_AMZN_TRACE_ID"] = (
    "Root=1-6b069e85-6c663eba378038f66131e4f2;Parent=6ff7291ea17a501a;Sampled=1"
)
configurator.configure(environ=env, instrument=False)

class Context:
    function_name = "forky"
    aws_request_id = "r"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:forky"
    def get_remaining_time_in_millis(self): return 10_000

handler = otel_xray.lambda_handler(lambda event, context: "ok")
handler({}, Context())  # before the snapshot: the exporter's socket is open
child = os.fork()
for _ in range(3):
    handler({}, Context())
if child == 0:
    os._exit(0)
os.waitpid(child, 0)
"""


def test_a_forked_sandbox_gets_its_own_ids_and_sockets(
    tmp_path: Path, record: Callable[..., None]
) -> None:
    script = tmp_path / "forked.py"
    script.write_text(textwrap.dedent(FORKED))
    figures: dict[str, Any] = {}
    with XRayDaemon() as daemon:
        collector = Collector("ok")
        try:
            for exporter in ("xray-udp", "otlp"):
                subprocess.run(
                    [
                        sys.executable,
                        str(script),
                        exporter,
                        f"127.0.0.1:{daemon.address[1]}",
                        f"http://127.0.0.1:{collector.port}",
                    ],
                    check=True,
                    timeout=60,
                    cwd=ROOT,
                )
            daemon.wait_idle(0.2)
            documents = daemon.take()
        finally:
            collector.stop()
    # 1 before the fork + 3 in the parent + 3 in the child, for each exporter.
    assert len(documents) == 7 and len({d["id"] for d in documents}) == 7
    assert len(collector.spans) == 7 and len(collector.span_ids) == 7
    # The child did not reuse the parent's keep-alive connection: it opened its own.
    assert len(collector.connections) == 2, collector.connections
    figures.update(udp_documents=len(documents), otlp_spans=len(collector.spans), ids_unique=True)
    record(scenario="fork after init (SnapStart-style): parent and child export", **figures)


def test_concurrent_threads_inside_one_invocation(record: Callable[..., None]) -> None:
    def handler(event: Any, context: Any) -> int:
        def work(number: int) -> int:
            for step in range(25):
                with otel_xray.subsegment(f"work {number}.{step}"):
                    pass
            return number

        with (
            ThreadPoolExecutor(max_workers=8) as plain,
            otel_xray.TracedThreadPoolExecutor(max_workers=8) as traced,
        ):
            plain_results = list(plain.map(otel_xray.in_current_context(work), range(8)))
            traced_results = list(traced.map(work, range(8, 16)))
        return len(plain_results) + len(traced_results)

    with XRayCapture() as capture:
        result = capture.invoke(handler, {})
    assert result.response == 16
    handler_id = next(
        d["id"] for d in result.documents if d.get("name") == "my-function" and d.get("type")
    )
    work = [d for d in result.documents if d["name"].startswith("work ")]
    assert len(work) == 16 * 25
    assert {d["parent_id"] for d in work} == {handler_id}
    assert {d["trace_id"] for d in work} == {result.root}
    record(scenario="16 threads in one invocation", spans=len(work), all_under_the_handler=True)
