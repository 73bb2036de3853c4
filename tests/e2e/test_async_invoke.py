"""Asynchronous invocations (``InvocationType=Event``) through the local Invoke API.

The caller is botocore's real ``lambda`` client (``invoke(InvocationType="Event")``,
202 and no payload). Lambda's ``AWS::Lambda`` segment of an asynchronous invocation
shows ``Dwell Time`` and ``Attempt #N`` subsegments; AWS publishes that only as
console screenshots (the X-Ray guide's Lambda page), so the shape checked here is
inference (``otel_xray.devtools.functions.lambda_segments.asynchronous``). Lambda retries a failed
asynchronous invocation twice (the Lambda guide, invocation-async-retain-records); the
retries are further attempts in the same trace.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from otel_xray.devtools.functions.invoke import InvocationResult, LocalFunction
from otel_xray.devtools.functions.invoke_endpoint import LambdaEndpoint
from otel_xray.devtools.traces.store import TraceStore
from tests.e2e.conftest import function_code

FLAKY = """
from pathlib import Path

def handler(event, context):
    tries = Path(event["counter"])
    count = int(tries.read_text()) + 1 if tries.exists() else 1
    tries.write_text(str(count))
    if count <= event["failures"]:
        raise RuntimeError(f"attempt {count} failed")
    return {"attempt": count}
"""


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LambdaEndpoint]:
    code = function_code(tmp_path_factory, {"flaky": FLAKY})["flaky"]
    with LocalFunction("app.handler", code, function_name="flaky") as flaky:
        running = LambdaEndpoint({"flaky": flaky}).start()
        try:
            yield running
        finally:
            running.stop()


def invoke_event(endpoint: LambdaEndpoint, event: dict[str, Any]) -> list[InvocationResult]:
    client = boto3.client(
        "lambda",
        endpoint_url=endpoint.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    before = len(endpoint.invocations)
    reply = client.invoke(
        FunctionName="flaky", InvocationType="Event", Payload=json.dumps(event).encode()
    )
    assert reply["StatusCode"] == 202
    endpoint.wait()
    return [result for _, kind, result in endpoint.invocations[before:] if kind == "Event"]


def lambda_segment(store: TraceStore) -> dict[str, Any]:
    (service,) = [d for d in store.documents() if d.get("origin") == "AWS::Lambda"]
    return service


def test_an_event_invocation_shows_dwell_time_and_one_attempt(
    endpoint: LambdaEndpoint, tmp_path: Path
) -> None:
    (result,) = invoke_event(endpoint, {"counter": str(tmp_path / "n"), "failures": 0})
    assert result.ok
    service = lambda_segment(TraceStore(result.segments))
    names = [s["name"] for s in service["subsegments"]]
    assert names == ["Dwell Time", "Attempt #1"]
    dwell, attempt = service["subsegments"]
    assert service["start_time"] == dwell["start_time"] <= dwell["end_time"]
    assert dwell["end_time"] <= attempt["start_time"] <= attempt["end_time"]
    assert service["http"]["response"]["status"] == 202


def test_a_failed_event_invocation_is_retried_as_new_attempts_in_one_trace(
    endpoint: LambdaEndpoint, tmp_path: Path
) -> None:
    attempts = invoke_event(endpoint, {"counter": str(tmp_path / "n"), "failures": 2})
    assert [r.ok for r in attempts] == [False, False, True]
    assert len({r.root for r in attempts}) == 1, "retries stay in the first attempt's trace"
    store = TraceStore([d for r in attempts for d in r.segments])
    service = lambda_segment(store)
    subsegments = service["subsegments"]
    names = [s["name"] for s in subsegments]
    assert names == ["Dwell Time", "Attempt #1", "Attempt #2", "Attempt #3"]
    assert [s.get("fault", False) for s in subsegments[1:]] == [True, True, False]
    functions = [d for d in store.documents() if d.get("origin") == "AWS::Lambda::Function"]
    assert len(functions) == 3 and {f["parent_id"] for f in functions} == {service["id"]}
    assert service["end_time"] >= max(f["end_time"] for f in functions) - 1e-6
    (trace,) = store.traces()
    assert trace.id == attempts[0].root
