"""One function invoking another through boto3: one trace across the hop (issue 18, Invoke).

The caller runs ``lambda.invoke`` against the local Invoke API
(``otel_xray.devtools.functions.invoke_endpoint``); the callee is a second sandbox. Source for
what Lambda does with the caller's header: the X-Ray guide, xray-services-lambda.md,
"If your Lambda function is called by another instrumented service, Lambda traces
requests that have already been sampled ... Your service can invoke the function
directly with an instrumented AWS SDK client": the callee's segments join the
caller's trace under its Invoke subsegment, and an unsampled request stays unsampled.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from otel_xray.devtools.functions.invoke import LocalFunction
from otel_xray.devtools.functions.invoke_endpoint import LambdaEndpoint
from otel_xray.devtools.traces.filters import FilterExpression
from otel_xray.devtools.traces.service_graph import ServiceGraph
from otel_xray.devtools.traces.store import TraceStore
from tests.e2e.conftest import function_code

CALLER = """
import json, os
import boto3

lambda_client = boto3.client("lambda")

def handler(event, context):
    reply = lambda_client.invoke(
        FunctionName="pricing", Payload=json.dumps({"items": event["items"]}).encode()
    )
    price = json.loads(reply["Payload"].read())
    if reply.get("FunctionError"):
        raise RuntimeError(f"pricing failed: {price['errorMessage']}")
    return {"total": price["total"]}
"""

PRICING = """
def handler(event, context):
    if "piano" in event["items"]:
        raise ValueError("no price for a piano")
    return {"total": 10.0 * len(event["items"])}
"""


@pytest.fixture(scope="module")
def functions(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalFunction, LambdaEndpoint]]:
    code = function_code(tmp_path_factory, {"order-api": CALLER, "pricing": PRICING})
    with LocalFunction("app.handler", code["pricing"], function_name="pricing") as pricing:
        endpoint = LambdaEndpoint({"pricing": pricing}).start()
        env = {"AWS_ENDPOINT_URL_LAMBDA": endpoint.endpoint}
        try:
            with LocalFunction(
                "app.handler", code["order-api"], function_name="order-api", env=env
            ) as caller:
                yield caller, endpoint
        finally:
            endpoint.stop()


def run(
    functions: tuple[LocalFunction, LambdaEndpoint],
    items: list[str],
    trace_header: str | None = None,
) -> tuple[TraceStore, str, list]:
    caller, endpoint = functions
    before = len(endpoint.invocations)
    result = caller.invoke({"items": items}, trace_header=trace_header)
    endpoint.settle()
    [(_, _, callee)] = endpoint.invocations[before:]
    store = TraceStore(result.segments + callee.segments)
    return store, result.root, [result, callee]


def test_a_synchronous_invoke_continues_the_callers_trace(
    functions: tuple[LocalFunction, LambdaEndpoint],
) -> None:
    store, root, (caller, callee) = run(functions, ["book", "lamp"])
    assert caller.ok and caller.response == {"total": 20.0}
    assert callee.root == root  # one trace across the hop
    trace = store.trace(root)
    [invoke_call] = [
        d
        for d, _ in trace.walk()
        if d.get("namespace") == "aws" and d["aws"].get("operation") == "Invoke"
    ]
    [service] = [
        s for s in trace.segments if s.get("origin") == "AWS::Lambda" and s["name"] == "pricing"
    ]
    assert service["parent_id"] == invoke_call["id"]
    assert not [
        s for s in trace.segments if s.get("inferred")
    ]  # the callee is traced: no inferred node
    edges = ServiceGraph.build(store).edge_labels()
    assert ("order-api (AWS::Lambda::Function)", "pricing (AWS::Lambda)") in edges
    assert ("pricing (AWS::Lambda)", "pricing (AWS::Lambda::Function)") in edges
    assert trace.orphans == []


def test_filter_expressions_follow_the_hop(functions: tuple[LocalFunction, LambdaEndpoint]) -> None:
    ok_store, ok_root, _ = run(functions, ["book"])
    failed_store, failed_root, (caller, callee) = run(functions, ["piano"])
    assert not caller.ok and not callee.ok
    store = TraceStore(ok_store.documents() + failed_store.documents())
    edge = FilterExpression.parse('edge("order-api", "pricing")')
    assert {t.id for t in edge.select(store)} == {ok_root, failed_root}
    faulted = FilterExpression.parse('service("pricing") { fault }')
    assert [t.id for t in faulted.select(store)] == [failed_root]


def test_an_unsampled_request_stays_unsampled_across_the_hop(
    functions: tuple[LocalFunction, LambdaEndpoint],
) -> None:
    root = "1-6b0cc500-0123456789abcdef01234567"
    _, _, (caller, callee) = run(
        functions, ["book"], trace_header=f"Root={root};Parent=53995c3f42cd8ad8;Sampled=0"
    )
    assert caller.ok and callee.root == root
    assert caller.segments == [] and callee.segments == []
