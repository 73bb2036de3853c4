"""Lambda Managed Instances, emulated with awslambdaric 4.x's own multi-concurrent mode.

``LocalFunction(max_concurrency=3)`` sets ``AWS_LAMBDA_MAX_CONCURRENCY=3`` and
``AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances``; awslambdaric's
``MultiConcurrentRunner.run_concurrent`` (lambda_multi_concurrent_utils.py) forks three
workers that each initialize and then handle one request at a time. References: the
Lambda guide's lambda-managed-instances pages ("The Lambda runtime uses multiple Python
processes to handle concurrent requests … Each process handles one request at a time";
"the execution environment remains continuously active … without freezing"; they scale
"without cold starts"; SIGTERM at shutdown). What Lambda does with an invocation past
its timeout there is inference (docs/lambda-execution-models.md): the caller gets
``Sandbox.Timedout``, the worker is not killed and finishes the handler.

Spans are exported by the SDK's batch worker, not on the request path: with its delay
set to 60 s (``OTEL_BSP_SCHEDULE_DELAY``) nothing reaches the daemon until the SIGTERM
of shutdown, whose flush is bounded by ``OTEL_XRAY_FLUSH_TIMEOUT_MS``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from otel_xray.devtools.functions.invoke import InvocationResult, LocalFunction
from otel_xray.devtools.loopback import end_process_group
from tests.e2e.conftest import LAYER, function_code, runtime_of

WORKERS = 3
CONCURRENT = 6

FUNCTION = """
import os
import time

from opentelemetry import trace

tracer = trace.get_tracer("app")


def handler(event, context):
    with tracer.start_as_current_span("work") as span:
        span.set_attribute("request", event["n"])
        time.sleep(event.get("sleep", 0.3))
    return {"pid": os.getpid(), "n": event["n"]}
"""


def _function_segment(result: InvocationResult) -> dict[str, Any]:
    return next(d for d in result.segments if d.get("origin") == "AWS::Lambda::Function")


def _handler_subsegment(result: InvocationResult) -> dict[str, Any]:
    return next(d for d in result.segments if "ColdStart" in (d.get("annotations") or {}))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    code = function_code(tmp_path_factory, {"lmi": FUNCTION})["lmi"]
    function = LocalFunction(
        "app.handler",
        code,
        layer_dir=LAYER / "x86_64" if (LAYER / "x86_64").exists() else None,
        runtime_dir=runtime_of("3.13"),
        env={"OTEL_BSP_SCHEDULE_DELAY": "60000", "OTEL_XRAY_FLUSH_TIMEOUT_MS": "2000"},
        function_name="lmi",
        timeout_seconds=1.5,
        max_concurrency=WORKERS,
    )
    with function:
        assert function.daemon is not None and function.process is not None
        started = time.monotonic()
        concurrent = function.invoke_concurrently([{"n": n} for n in range(CONCURRENT)])
        elapsed = time.monotonic() - started
        (late,) = function.invoke_concurrently([{"n": 99, "sleep": 4.0}])
        after_timeout = function.invoke_concurrently([{"n": 100}])
        function.daemon.wait_idle(quiet_seconds=0.5)
        before_shutdown = len(function.daemon.raw)
        time.sleep(2.0)  # the timed-out handler ends (its span waits in the worker)
        shutdown_started = time.monotonic()
        end_process_group(function.process, grace=10)  # SIGTERM, as at shutdown
        shutdown_s = time.monotonic() - shutdown_started
        function.process = None
        results = [*concurrent, late, *after_timeout]
        function.collect(results)
        yield {
            "concurrent": concurrent,
            "elapsed": elapsed,
            "late": late,
            "after_timeout": after_timeout[0],
            "before_shutdown": before_shutdown,
            "shutdown_s": shutdown_s,
        }


def test_concurrent_invocations_run_in_n_workers_each_in_its_own_trace(
    run: dict[str, Any],
) -> None:
    concurrent: list[InvocationResult] = run["concurrent"]
    assert all(r.ok for r in concurrent), [r.error for r in concurrent]
    assert len({r.response["pid"] for r in concurrent}) == WORKERS
    # Six 0.3 s requests in three workers: two rounds, not six.
    assert run["elapsed"] < CONCURRENT * 0.3
    assert len({r.root for r in concurrent}) == CONCURRENT
    for result in concurrent:
        handler = _handler_subsegment(result)
        assert handler["trace_id"] == result.root
        assert handler["parent_id"] == _function_segment(result)["id"] == result.parent
        (work,) = [d for d in result.segments if d.get("name") == "work"]
        assert work["parent_id"] == handler["id"] and work["trace_id"] == result.root
        assert work["metadata"]["default"]["request"] == result.response["n"]


def test_no_invocation_is_a_cold_start_and_none_carries_initialization(
    run: dict[str, Any],
) -> None:
    for result in [*run["concurrent"], run["after_timeout"]]:
        assert _handler_subsegment(result)["annotations"]["ColdStart"] is False
        phases = [s["name"] for s in _function_segment(result)["subsegments"]]
        assert "Initialization" not in phases and "Invocation" in phases


def test_export_is_off_the_request_path_and_flushed_at_sigterm(run: dict[str, Any]) -> None:
    assert run["before_shutdown"] == 0, "spans were sent on the request path"
    assert run["shutdown_s"] < 5.0  # bounded: 2 s flush bound, then the default exit
    assert all(len(r.segments) > 2 for r in run["concurrent"])


def test_an_invocation_past_its_timeout_times_out_but_its_worker_lives_on(
    run: dict[str, Any],
) -> None:
    late: InvocationResult = run["late"]
    assert late.error is not None and late.error["errorType"] == "Sandbox.Timedout"
    # The worker was not killed: the next request is served by one of the same workers.
    pids = {r.response["pid"] for r in run["concurrent"]}
    assert run["after_timeout"].ok and run["after_timeout"].response["pid"] in pids
    # The handler ran to its end, and its span (exported at shutdown) outlives Lambda's
    # function segment, which ended at the timeout.
    handler = _handler_subsegment(late)
    function = _function_segment(late)
    assert function.get("fault") is True
    assert handler["end_time"] > function["end_time"]
