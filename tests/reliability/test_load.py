"""Load: many invocations through the local Runtime API; nothing lost, nothing leaked.

``make test`` runs 1,000 invocations; ``make soak`` 10,000 (OTEL_XRAY_LOAD_INVOCATIONS).
Bounded by count, loopback only, and everything started is stopped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from examples.local_services import BUILD, LocalServices
from otel_xray.devtools.functions.invoke import LocalFunction, default_layer_dir
from tests.e2e.conftest import ROOT, RUNTIME

INVOCATIONS = int(os.environ.get("OTEL_XRAY_LOAD_INVOCATIONS", "1000"))
WARM_UP = max(50, INVOCATIONS // 20)
#: What the example order API's successful invocation exports: its own span, "store
#: order", DynamoDB.PutItem, "charge payment", the HTTP POST, SQS.SendMessage.
DOCUMENTS_PER_INVOCATION = 6
EVENT = {
    **json.loads((ROOT / "examples" / "order_api" / "event.json").read_text()),
    "body": json.dumps({"amount": 10, "items": ["book"]}),
}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_every_ended_span_arrives_and_memory_stays_flat(
    services: LocalServices, record: Callable[..., None]
) -> None:
    with LocalFunction(
        "app.handler",
        BUILD / "order_api",
        layer_dir=ROOT / default_layer_dir(),
        runtime_dir=RUNTIME,
        env=services.function_env(),
        function_name="order-api",
    ) as function:
        for _ in range(WARM_UP):
            assert function.invoke(EVENT, collect=False).ok
        assert function.process is not None and function.daemon is not None
        pid = function.process.pid
        rss_start, fds_start = rss_kib(pid), descriptors(pid)
        for number in range(INVOCATIONS - WARM_UP):
            result = function.invoke(EVENT, collect=False)
            assert result.ok, result.error
            if number % 500 == 499:
                services.drain_queue()  # what the worker would do
        rss_end, fds_end = rss_kib(pid), descriptors(pid)
        function.daemon.wait_idle(0.5, timeout=10)
        received = [d for d in function.daemon.take() if d.get("type") == "subsegment"]
        rejected = list(function.daemon.rejected)
    sent = DOCUMENTS_PER_INVOCATION * INVOCATIONS
    record(
        invocations=INVOCATIONS,
        spans_sent=sent,
        documents_received=len(received),
        rejected=len(rejected),
        rss_kib_after_warm_up=rss_start,
        rss_kib_at_end=rss_end,
        rss_growth_kib=rss_end - rss_start,
        fds_after_warm_up=fds_start,
        fds_at_end=fds_end,
    )
    assert rejected == []
    assert len(received) == sent
    assert len({d["id"] for d in received}) == sent
    assert rss_end - rss_start < 2 * 1024, (rss_start, rss_end)
    assert fds_end <= fds_start
