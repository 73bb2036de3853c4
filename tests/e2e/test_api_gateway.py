"""API Gateway (REST, tracing on) in front of a function: one trace across the hop (issue 18).

Source: the X-Ray guide, xray-services-apigateway.md: API Gateway adds a trace header
to requests that have none, honours one that a traced caller sent, records a segment
for sampled requests (the ``AWS::ApiGateway::Stage`` node), and none for a request
not sampled upstream; Lambda then continues the trace (xray-services-lambda.md).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from otel_xray.devtools.functions.invoke import LocalFunction
from otel_xray.devtools.services.api_gateway import ApiGatewayStage
from otel_xray.devtools.traces.filters import FilterExpression
from otel_xray.devtools.traces.service_graph import ServiceGraph
from otel_xray.devtools.traces.store import TraceStore

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "data" / "xray-segmentdocument-schema-v1.0.0.json").read_text()
)
HANDLER = """
import json

def handler(event, context):
    if event["path"] == "/boom":
        raise RuntimeError("boom")
    return {"statusCode": 201, "body": json.dumps({"path": event["path"]})}
"""


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiGatewayStage]:
    code = tmp_path_factory.mktemp("orders")
    (code / "app.py").write_text(HANDLER)
    with LocalFunction("app.handler", code, function_name="order-api") as function:
        running = ApiGatewayStage(function, api_name="orders").start()
        try:
            yield running
        finally:
            running.stop()


def call(
    stage: ApiGatewayStage, path: str, trace_header: str | None = None
) -> tuple[int, TraceStore]:
    request = urllib.request.Request(
        f"{stage.endpoint}{path}", data=b'{"amount": 5}', method="POST"
    )
    if trace_header:
        request.add_header("X-Amzn-Trace-Id", trace_header)
    before_docs, before_calls = len(stage.documents), len(stage.invocations)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    stage.settle()  # the client had its answer first; now the documents are in
    [result] = stage.invocations[before_calls:]
    return status, TraceStore(stage.documents[before_docs:] + result.segments)


def test_the_stage_segment_precedes_the_function(stage: ApiGatewayStage) -> None:
    status, store = call(stage, "/orders")
    assert status == 201
    [trace] = store.traces()
    [gateway] = [s for s in trace.segments if s.get("origin") == "AWS::ApiGateway::Stage"]
    assert gateway["name"] == "orders/prod" and "parent_id" not in gateway
    assert gateway["http"]["request"]["method"] == "POST"
    assert gateway["http"]["response"]["status"] == 201
    [integration] = gateway["subsegments"]
    [service] = [s for s in trace.segments if s.get("origin") == "AWS::Lambda"]
    assert service["parent_id"] == integration["id"]
    for segment in trace.segments:
        jsonschema.validate(segment, SCHEMA)
    edges = ServiceGraph.build(store).edge_labels()
    assert ("client", "orders/prod (AWS::ApiGateway::Stage)") in edges
    assert ("orders/prod (AWS::ApiGateway::Stage)", "order-api (AWS::Lambda)") in edges
    assert trace.orphans == []


def test_a_callers_trace_header_is_honoured(stage: ApiGatewayStage) -> None:
    root, parent = "1-6b0cc600-0123456789abcdef01234567", "53995c3f42cd8ad8"
    _, store = call(stage, "/orders", f"Root={root};Parent={parent};Sampled=1")
    [trace] = store.traces()
    assert trace.id == root
    [gateway] = [s for s in trace.segments if s.get("origin") == "AWS::ApiGateway::Stage"]
    assert gateway["parent_id"] == parent


def test_a_request_not_sampled_upstream_records_nothing(stage: ApiGatewayStage) -> None:
    root = "1-6b0cc601-0123456789abcdef01234567"
    status, store = call(stage, "/orders", f"Root={root};Parent=53995c3f42cd8ad8;Sampled=0")
    assert status == 201
    assert store.documents() == []


def test_a_failing_function_is_a_502_and_a_fault_on_both_nodes(stage: ApiGatewayStage) -> None:
    status, store = call(stage, "/boom")
    assert status == 502
    [trace] = store.traces()
    faulted = FilterExpression.parse('service("orders/prod") { fault }')
    assert faulted.matches(trace, store)
    assert FilterExpression.parse('service("order-api") { fault }').matches(trace, store)
