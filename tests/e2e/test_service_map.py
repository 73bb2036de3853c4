"""The example app through the built layer: the same X-Ray service map through every path
(segment documents over UDP, OTLP to a collector, OTLP datagrams through the daemon, signed
OTLP to X-Ray's endpoint)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from examples import demo
from otel_xray.devtools.traces.service_graph import ServiceGraph
from otel_xray.devtools.traces.store import TraceStore

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "data" / "xray-segmentdocument-schema-v1.0.0.json").read_text()
)
API = "order-api (AWS::Lambda)"
API_FUNCTION = "order-api (AWS::Lambda::Function)"
WORKER = "order-worker (AWS::Lambda)"
WORKER_FUNCTION = "order-worker (AWS::Lambda::Function)"
# One node per resource, named after it (issue 15.1). The example's resources carry a
# per-run suffix (orders-1a2b3c4d) in tests; labels() takes it off.
TABLE = "orders (AWS::DynamoDB::Table)"
QUEUE = "orders (AWS::SQS::Queue)"
BUCKET = "order-receipts (AWS::S3::Bucket)"
#: The architecture: nothing more, nothing less.
EXPECTED_EDGES = {
    ("client", API),
    (API, API_FUNCTION),
    (API_FUNCTION, TABLE),
    (API_FUNCTION, QUEUE),
    (API_FUNCTION, "127.0.0.1 (remote)"),
    (QUEUE, WORKER),
    (WORKER, WORKER_FUNCTION),
    (WORKER_FUNCTION, TABLE),
    (WORKER_FUNCTION, BUCKET),
}
_RUN_SUFFIX = re.compile(r"-[0-9a-f]{8} \(")


def unsuffixed(label: str) -> str:
    return _RUN_SUFFIX.sub(" (", label)


@pytest.fixture(scope="module", params=["xray-udp", "otlp", "xray-otlp-udp", "xray-otlp"])
def app_run(request: pytest.FixtureRequest) -> tuple[TraceStore, list[demo.InvocationResult]]:
    store = TraceStore()
    results = demo.run(store, exporter=request.param)
    return store, results


def test_the_service_map_is_the_architecture(
    app_run: tuple[TraceStore, list[demo.InvocationResult]],
) -> None:
    store, _ = app_run
    graph = ServiceGraph.build(store)
    assert {(unsuffixed(a), unsuffixed(b)) for a, b in graph.edge_labels()} == EXPECTED_EDGES
    assert graph.roots() == [("order-api", "AWS::Lambda")]
    statistics = {unsuffixed(node.label): node.statistics for node in graph.nodes.values()}
    # One accepted order, one declined: the function faults once, the payment host errs once.
    assert (statistics[API_FUNCTION].ok, statistics[API_FUNCTION].fault) == (1, 1)
    assert (statistics["127.0.0.1 (remote)"].ok, statistics["127.0.0.1 (remote)"].error) == (1, 1)
    assert statistics[TABLE].total == 3  # two PutItem, one GetItem
    [queue_edge] = [e for (s, t), e in graph.edges.items() if t == ("order-worker", "AWS::Lambda")]
    assert queue_edge.linked


def test_the_workers_trace_links_to_the_api_call_that_queued_it(
    app_run: tuple[TraceStore, list[demo.InvocationResult]],
) -> None:
    store, results = app_run
    accepted, _, worker = results
    [worker_segment] = [
        s for s in store.trace(worker.root).segments if s.get("origin") == "AWS::Lambda"
    ]
    [link] = worker_segment["links"]
    assert link["trace_id"] == accepted.root
    found = store.find(link["trace_id"], link["id"])
    assert found is not None
    _, producer_call = found
    assert (producer_call["name"], producer_call["aws"]["operation"]) == ("SQS", "SendMessage")


def test_every_document_is_valid_and_none_was_dropped(
    app_run: tuple[TraceStore, list[demo.InvocationResult]],
) -> None:
    store, results = app_run
    for result in results:
        assert result.rejected == []
        for document in result.segments:
            jsonschema.validate(document, SCHEMA)
    for trace in store.traces():
        assert trace.orphans == []
        for segment in trace.segments:  # inferred ones included
            jsonschema.validate(segment, SCHEMA)


def test_the_failed_order_shows_its_error_where_x_ray_does(
    app_run: tuple[TraceStore, list[demo.InvocationResult]],
) -> None:
    store, results = app_run
    declined = results[1]
    trace = store.trace(declined.root)
    handler = next(
        d
        for d, _ in trace.walk()
        if d.get("name") == "order-api" and "cause" in d and d.get("origin") is None
    )
    [exception] = handler["cause"]["exceptions"]
    assert exception["type"].endswith("PaymentDeclinedError")
    assert exception["stack"][0]["path"].endswith("app.py")
    payment = next(d for d, _ in trace.walk() if d.get("namespace") == "remote")
    assert payment["error"] is True and payment["http"]["response"]["status"] == 402


def test_the_business_annotations_are_indexed(
    app_run: tuple[TraceStore, list[demo.InvocationResult]],
) -> None:
    store, results = app_run
    accepted, declined, worker = results
    for result, transaction in (
        (accepted, "checkout"),
        (declined, "checkout"),
        (worker, "fulfilment"),
    ):
        annotated = [
            d["annotations"] for d, _ in store.trace(result.root).walk() if "annotations" in d
        ]
        [annotations] = [a for a in annotated if "transaction_type" in a]
        assert annotations["transaction_type"] == transaction
        assert annotations["user_id"] == "u-7f3a9c1e"  # opaque, so not redacted
        assert isinstance(annotations["order_total"], float)
        assert set(annotations) >= {"ColdStart", "Service"}
    worker_names = {d["name"] for d, _ in store.trace(worker.root).walk()}
    assert {"build receipt", "write receipt file"} <= worker_names
