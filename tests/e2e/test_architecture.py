"""The whole example architecture (examples/architecture.py): one map, every hop (issue 18).

API Gateway -> order-api -> pricing (Invoke), DynamoDB, the payment API (a Flask service
under gunicorn and opentelemetry-instrument, "on ECS", writing to its ledger table) and
the orders topic (active tracing); the topic -> notifier and -> the worker's queue; the
worker -> DynamoDB, S3, EventBridge -> notifier, and the order-fulfilment state machine ->
its Lambda tasks and the table (issue 31).
The map must be that, node for node and edge for edge, through
both exporters; a request not sampled at API Gateway leaves nothing anywhere.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from examples import architecture
from otel_xray.devtools.traces.filters import FilterExpression
from otel_xray.devtools.traces.service_graph import ServiceGraph
from otel_xray.devtools.traces.store import TraceStore

_RUN_SUFFIX = re.compile(r"-[0-9a-f]{8} \(")
STAGE = "orders/prod (AWS::ApiGateway::Stage)"
API, API_FN = "order-api (AWS::Lambda)", "order-api (AWS::Lambda::Function)"
PRICING, PRICING_FN = "pricing (AWS::Lambda)", "pricing (AWS::Lambda::Function)"
WORKER, WORKER_FN = "order-worker (AWS::Lambda)", "order-worker (AWS::Lambda::Function)"
NOTIFIER, NOTIFIER_FN = "notifier (AWS::Lambda)", "notifier (AWS::Lambda::Function)"
TABLE, BUCKET = "orders (AWS::DynamoDB::Table)", "order-receipts (AWS::S3::Bucket)"
TOPIC, EVENTS = "orders-topic (AWS::SNS::Topic)", "EventBridge (AWS::Events)"
#: The payment API, a service "on ECS" (EC2 launch type: the collector's origin), and the
#: ledger table it writes to: its own segment and its own downstream call.
PAYMENTS, LEDGER = "payments (AWS::ECS::EC2)", "payments-ledger (AWS::DynamoDB::Table)"
QUEUE = "orders (AWS::SQS::Queue)"
MACHINE = "order-fulfilment (AWS::StepFunctions::StateMachine)"
RESERVE, RESERVE_FN = "reserve-stock (AWS::Lambda)", "reserve-stock (AWS::Lambda::Function)"
SHIP, SHIP_FN = "ship-order (AWS::Lambda)", "ship-order (AWS::Lambda::Function)"
DRAWING = Path(__file__).parents[2] / "docs" / "how-it-works.md"
_ARROW = re.compile(r"\s+(->|··>)\s+")


def drawn_edges(path: Path = DRAWING) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """The edges of the map drawn in the docs (the code block after the
    ``service-map`` marker, one chain a line), and which of them are links (``··>``)."""
    text = path.read_text()
    block = text[text.index("<!-- service-map:") :].split("```")[1]
    edges, linked = set(), set()
    for line in block.strip().splitlines():
        parts = _ARROW.split(line.strip())
        nodes, arrows = parts[::2], parts[1::2]
        for source, arrow, target in zip(nodes, arrows, nodes[1:], strict=False):
            edges.add((source, target))
            if arrow == "··>":
                linked.add((source, target))
    return edges, linked


#: The architecture drawn in docs/how-it-works.md, edge for edge (the drawing is read
#: and compared with this list too, so the docs cannot drift from what is tested).
EXPECTED_EDGES = {
    ("client", STAGE),
    (STAGE, API),
    (API, API_FN),
    (API_FN, PRICING),
    (PRICING, PRICING_FN),
    (API_FN, TABLE),
    (API_FN, PAYMENTS),
    (PAYMENTS, LEDGER),
    # The topic has active tracing (deploy/template.yaml): its own segment, a delivery
    # per subscription (xray-services-sns.md), the queue a node before its consumer.
    (API_FN, TOPIC),
    (TOPIC, NOTIFIER),
    (TOPIC, QUEUE),
    (QUEUE, WORKER),  # a link: the message's AWSTraceHeader
    (WORKER, WORKER_FN),
    (WORKER_FN, TABLE),
    (WORKER_FN, BUCKET),
    (WORKER_FN, EVENTS),
    (EVENTS, NOTIFIER),
    (NOTIFIER, NOTIFIER_FN),
    # The worker starts the fulfilment state machine (deploy/statemachines): its
    # execution segment, then a node per integration it called (Step Functions guide:
    # "There is a service map node for each service integration that is called").
    (WORKER_FN, MACHINE),
    (MACHINE, RESERVE),
    (RESERVE, RESERVE_FN),
    (MACHINE, TABLE),
    (MACHINE, SHIP),
    (SHIP, SHIP_FN),
}


def unsuffixed(label: str) -> str:
    return _RUN_SUFFIX.sub(" (", label)


@pytest.fixture(scope="module", params=["xray-udp", "otlp"])
def app(request: pytest.FixtureRequest) -> tuple[TraceStore, architecture.Run]:
    store = TraceStore()
    return store, architecture.run(store, exporter=request.param)


def test_the_drawing_in_the_docs_is_this_architecture() -> None:
    edges, linked = drawn_edges()
    assert edges == EXPECTED_EDGES
    assert linked == {(QUEUE, WORKER)}


def test_the_map_is_the_architecture(app: tuple[TraceStore, architecture.Run]) -> None:
    store, outcome = app
    assert [status for status, _ in outcome.responses] == [201, 502]
    graph = ServiceGraph.build(store)
    edges = {(unsuffixed(a), unsuffixed(b)) for a, b in graph.edge_labels()}
    assert edges == EXPECTED_EDGES
    nodes = {unsuffixed(n.label) for n in graph.nodes.values()}
    assert nodes == {n for edge in EXPECTED_EDGES for n in edge}
    [queue_hop] = [e for (s, t), e in graph.edges.items() if t == ("order-worker", "AWS::Lambda")]
    assert queue_hop.linked
    linked = {(unsuffixed(graph.nodes[e.source].label), unsuffixed(graph.nodes[e.target].label))
              for e in graph.edges.values() if e.linked}  # fmt: skip
    assert linked == drawn_edges()[1]
    for trace in store.traces():
        assert trace.orphans == []


def test_one_trace_per_request_across_the_synchronous_hops(
    app: tuple[TraceStore, architecture.Run],
) -> None:
    store, outcome = app
    accepted, declined = outcome.invocations["order-api"]
    assert [r.root for r in outcome.invocations["pricing"]] == [accepted.root, declined.root]
    notified_roots = {r.root for r in outcome.invocations["notifier"]}
    [worker] = outcome.invocations["order-worker"]
    assert notified_roots == {accepted.root, worker.root}  # from SNS, then from EventBridge
    edge = FilterExpression.parse('edge("order-api", "pricing")')
    assert {t.id for t in edge.select(store)} == {accepted.root, declined.root}
    faults = FilterExpression.parse('service("order-api") { fault }')
    assert [t.id for t in faults.select(store)] == [declined.root]
    through_events = FilterExpression.parse('edge("EventBridge", "notifier")')
    assert [t.id for t in through_events.select(store)] == [worker.root]
    # The fulfilment joins the worker's trace through StartExecution's header, down to
    # its last Lambda task (the worker's own trace links back to the API's).
    [execution] = outcome.executions
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert [r.root for r in outcome.invocations["reserve-stock"]] == [worker.root]
    assert [r.root for r in outcome.invocations["ship-order"]] == [worker.root]
    trace = store.trace(worker.root)
    [machine] = [s for s in trace.segments if s.get("origin") == "AWS::StepFunctions::StateMachine"]
    start = trace.get(machine["parent_id"])
    assert start is not None and start["aws"]["operation"] == "StartExecution"
    states = [s["name"] for s in machine["subsegments"]]
    assert states == ["ReserveStock", "InStock", "PackItems", "MarkShipping", "WaitForCourier",
                      "Ship"]  # fmt: skip
    ship_call = machine["subsegments"][-1]["subsegments"][0]
    [ship_segment] = [s for s in trace.segments if s.get("parent_id") == ship_call["id"]]
    assert (ship_segment["name"], ship_segment["origin"]) == ("ship-order", "AWS::Lambda")


def test_a_request_not_sampled_at_api_gateway_stays_unsampled_down_the_chain() -> None:
    root = "1-6b0cc900-0123456789abcdef01234567"
    store = TraceStore()
    outcome = architecture.run(
        store,
        orders=[("unsampled", 42.5, ["book"], f"Root={root};Parent=53995c3f42cd8ad8;Sampled=0")],
    )
    assert [status for status, _ in outcome.responses] == [201]
    assert [r.root for r in outcome.invocations["pricing"]] == [root]  # the header went on
    documents = store.documents()
    assert all(d.get("trace_id") != root for d in documents)  # no segment of it, anywhere
    # Past the queue the worker runs in a trace of its own, which Lambda samples itself;
    # its link back still names the unsampled request (whether Lambda drops a link to an
    # unsampled trace has no published source here, so the link is kept).
    [worker] = outcome.invocations["order-worker"]
    assert worker.root != root


def test_the_order_s_connected_view_runs_from_api_gateway_to_the_last_lambda_task(
    app: tuple[TraceStore, architecture.Run], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``otel-xray traces --trace ID --linked``: the order's trace, then the worker's trace
    that links to its queued message (X-Ray guide, xray-tracelinking: "a connected view of
    each request as it's queued with Amazon SQS and processed by one or more Lambda
    functions"), which carries the fulfilment down to ship-order. Two traces, linked: the
    queue starts a trace of its own, as SQS to Lambda does."""
    from otel_xray.devtools.cli import main  # noqa: PLC0415

    store, outcome = app
    accepted, _ = outcome.invocations["order-api"]
    [worker] = outcome.invocations["order-worker"]
    segments = tmp_path / "segments.jsonl"
    segments.write_text("".join(json.dumps(d) + "\n" for d in store.documents()))
    assert main(["traces", str(segments), "--trace", accepted.root, "--linked"]) == 0
    printed = capsys.readouterr().out
    order = [
        f"trace {accepted.root}",
        "orders/prod [AWS::ApiGateway::Stage]",
        f"··▶ linked: a message of {accepted.root} started this trace",
        f"trace {worker.root}",
        "SFN StartExecution 200 (aws)",
        "order-fulfilment [AWS::StepFunctions",  # the label is cut at its column
        "ship-order [AWS::Lambda::Function]",
    ]
    positions = [printed.index(text) for text in order]
    assert positions == sorted(positions)
    assert main(["traces", str(segments), "--trace", "1-00000000-000000000000000000000000"]) == 2
