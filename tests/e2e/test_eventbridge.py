"""EventBridge to Lambda: the source's trace goes on in the target (issue 18, EventBridge).

Source for each rule: the EventBridge User Guide, "Amazon EventBridge integration with
AWS X-Ray": the original trace header is passed to the target, only for a PutEvents
that carried one (the HTTP header, or the entry's TraceHeader, which wins); an invalid
header is dropped and the event still delivered; the header is not on the event; an
EventBridge node connects source and target in the service map.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from otel_xray.devtools.functions.invoke import InvocationResult, LocalFunction
from otel_xray.devtools.services.eventbridge import EventBus
from otel_xray.devtools.traces.filters import FilterExpression
from otel_xray.devtools.traces.service_graph import ServiceGraph
from otel_xray.devtools.traces.store import TraceStore
from tests.e2e.conftest import function_code

SOURCE = """
import json
import boto3

events = boto3.client("events")

def handler(event, context):
    entry = {"Source": "orders", "DetailType": "OrderCompleted",
             "Detail": json.dumps({"order_id": event["order_id"]})}
    if "trace_header" in event:
        entry["TraceHeader"] = event["trace_header"]
    events.put_events(Entries=[entry])
    return "published"
"""

TARGET = """
def handler(event, context):
    return {"saw": sorted(event), "detail": event["detail"]}
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalFunction, EventBus]]:
    code = function_code(tmp_path_factory, {"order-api": SOURCE, "notifier": TARGET})
    with LocalFunction("app.handler", code["notifier"], function_name="notifier") as notifier:
        bus = EventBus([({"source": ["orders"], "detail-type": ["OrderCompleted"]}, [notifier])])
        bus.start()
        try:
            env = {"AWS_ENDPOINT_URL_EVENTBRIDGE": bus.endpoint}
            with LocalFunction(
                "app.handler", code["order-api"], function_name="order-api", env=env
            ) as source:
                yield source, bus
        finally:
            bus.stop()


def publish(
    world: tuple[LocalFunction, EventBus], event: dict[str, Any], trace_header: str | None = None
) -> tuple[InvocationResult, InvocationResult, TraceStore]:
    source, bus = world
    before = len(bus.deliveries)
    result = source.invoke(event, trace_header=trace_header)
    assert result.ok, result.error
    bus.wait()
    [(_, delivered, target)] = bus.deliveries[before:]
    assert "X-Amzn-Trace-Id" not in str(delivered)  # not on the event
    return result, target, TraceStore(result.segments + target.segments)


def test_the_target_continues_the_sources_trace(world: tuple[LocalFunction, EventBus]) -> None:
    source, target, store = publish(world, {"order_id": "o-1"})
    assert target.ok and target.response["detail"] == {"order_id": "o-1"}
    assert target.root == source.root
    trace = store.trace(source.root)
    [put] = [
        d
        for d, _ in trace.walk()
        if d.get("namespace") == "aws" and d["aws"].get("operation") == "PutEvents"
    ]
    [lambda_service] = [
        s for s in trace.segments if s.get("origin") == "AWS::Lambda" and s["name"] == "notifier"
    ]
    assert lambda_service["parent_id"] == put["id"]
    edges = ServiceGraph.build(store).edge_labels()
    assert ("order-api (AWS::Lambda::Function)", "EventBridge (AWS::Events)") in edges
    assert ("EventBridge (AWS::Events)", "notifier (AWS::Lambda)") in edges
    assert ("order-api (AWS::Lambda::Function)", "notifier (AWS::Lambda)") not in edges
    assert FilterExpression.parse('edge("EventBridge", "notifier")').matches(trace, store)


def test_an_entrys_trace_header_wins_and_an_invalid_one_is_dropped(
    world: tuple[LocalFunction, EventBus],
) -> None:
    chosen = "Root=1-6b0cc700-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"
    _, target, _ = publish(world, {"order_id": "o-2", "trace_header": chosen})
    assert target.root == "1-6b0cc700-0123456789abcdef01234567"
    source, target, _ = publish(world, {"order_id": "o-3", "trace_header": "Root=garbage"})
    assert target.ok  # still delivered
    assert target.root != source.root  # but not traced with the source
    [service] = [s for s in target.segments if s.get("origin") == "AWS::Lambda"]
    assert "parent_id" not in service
