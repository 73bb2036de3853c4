"""SNS fan-out to a Lambda subscriber and to an SQS queue (issue 18, SNS).

Sources: the X-Ray guide's SNS page ("Amazon SNS passes the trace context from
publisher to subscribers"; the map connects publisher, topic and subscribers) and its
SQS page (``AWSTraceHeader`` carries the header with a message; the consumer's trace
links to the producer's).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from examples.local_services import LocalServices
from otel_xray.devtools.functions.event_sources import SqsEventSource
from otel_xray.devtools.functions.invoke import LocalFunction
from otel_xray.devtools.services.sns import SnsTopic
from otel_xray.devtools.traces.service_graph import ServiceGraph
from otel_xray.devtools.traces.store import TraceStore
from tests.e2e.conftest import function_code

PUBLISHER = """
import os
import boto3

sns = boto3.client("sns")

def handler(event, context):
    sns.publish(TopicArn=os.environ["TOPIC_ARN"], Message=event["order_id"], Subject="placed")
    return "published"
"""

SUBSCRIBER = """
import json

def handler(event, context):
    record = event["Records"][0]
    if "Sns" in record:
        return record["Sns"]["Message"]
    return json.loads(record["body"])["Message"]
"""


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalFunction, LocalFunction, SnsTopic, SqsEventSource]]:
    code = function_code(tmp_path_factory, {"order-api": PUBLISHER, "subscriber": SUBSCRIBER})
    with (
        LocalServices() as aws,
        LocalFunction("app.handler", code["subscriber"], function_name="notifier") as notifier,
        LocalFunction("app.handler", code["subscriber"], function_name="order-worker") as worker,
    ):
        sqs = aws.client("sqs")
        topic = SnsTopic("orders", [notifier, ("sqs", aws.queue_url, sqs)]).start()
        env = {"AWS_ENDPOINT_URL_SNS": topic.endpoint, "TOPIC_ARN": topic.topic_arn}
        try:
            with LocalFunction(
                "app.handler", code["order-api"], function_name="order-api", env=env
            ) as publisher:
                source = SqsEventSource(aws.queue_url, client=sqs, batch_size=1)
                yield publisher, worker, topic, source
        finally:
            topic.stop()


def test_sns_fans_out_on_one_trace_to_lambda_and_by_link_to_sqs(
    world: tuple[LocalFunction, LocalFunction, SnsTopic, SqsEventSource],
) -> None:
    publisher, worker, topic, source = world
    published = publisher.invoke({"order_id": "o-7"})
    assert published.ok, published.error
    topic.wait()
    [(_, notified)] = topic.deliveries[-1:]
    assert notified.ok and notified.response == "o-7"
    assert notified.root == published.root  # the Lambda subscriber continues the trace
    event = source.next_event(wait_seconds=1)
    assert event is not None
    consumed = worker.invoke(event)
    source.complete(event, consumed.response)
    assert consumed.ok and consumed.response == "o-7"
    assert consumed.root != published.root  # SQS: a new trace, linked

    store = TraceStore(published.segments + notified.segments + consumed.segments)
    trace = store.trace(published.root)
    [publish] = [
        d
        for d, _ in trace.walk()
        if d.get("namespace") == "aws" and d["aws"].get("operation") == "Publish"
    ]
    [notifier] = [
        s for s in trace.segments if s.get("origin") == "AWS::Lambda" and s["name"] == "notifier"
    ]
    assert notifier["parent_id"] == publish["id"]
    [worker_segment] = [
        s for s in store.trace(consumed.root).segments if s.get("origin") == "AWS::Lambda"
    ]
    [link] = worker_segment["links"]
    assert (link["trace_id"], link["id"]) == (published.root, publish["id"])

    graph = ServiceGraph.build(store)
    edges = graph.edge_labels()
    assert ("order-api (AWS::Lambda::Function)", "SNS (AWS::SNS)") in edges
    assert ("SNS (AWS::SNS)", "notifier (AWS::Lambda)") in edges
    assert ("SNS (AWS::SNS)", "order-worker (AWS::Lambda)") in edges
    [linked] = [e for (s, t), e in graph.edges.items() if t == ("order-worker", "AWS::Lambda")]
    assert linked.linked


def test_an_active_topic_records_each_delivery_and_the_queue_becomes_a_node(
    world: tuple[LocalFunction, LocalFunction, SnsTopic, SqsEventSource],
) -> None:
    """TracingConfig: Active (xray-services-sns.md, "Example timeline with Amazon SNS
    publisher and subscriber"): the topic's own segment, named after it, under the
    publish call; an ``SQS`` subsegment per queue delivery; the map connects "Amazon SNS
    publishers, the Amazon SNS topic, and downstream subscribers". Inference (no JSON is
    published): the origin ``AWS::SNS::Topic``, the delivery subsegments' fields, a
    ``Lambda`` delivery subsegment by analogy, and the queue node coming from the
    delivery subsegment (as from any SendMessage). PassThrough is the test above."""
    publisher, worker, topic, source = world
    topic.tracing = "Active"
    try:
        published = publisher.invoke({"order_id": "o-8"})
        topic.wait()
        [(_, notified)] = topic.deliveries[-1:]
        event = source.next_event(wait_seconds=1)
        assert event is not None
        consumed = worker.invoke(event)
        source.complete(event, consumed.response)
        unsampled = publisher.invoke(
            {"order_id": "o-9"},
            trace_header="Root=1-6b0cc902-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=0",
        )
        topic.wait()
    finally:
        topic.tracing = "PassThrough"
    assert notified.root == published.root and consumed.response == "o-8"
    mine = [d for d in topic.documents if d["trace_id"] == published.root]
    [segment] = [d for d in mine if d.get("origin") == "AWS::SNS::Topic"]
    assert segment["name"] == "orders" and segment["aws"]["topic_arn"] == topic.topic_arn
    deliveries = {d["name"]: d for d in mine if d.get("type") == "subsegment"}
    assert set(deliveries) == {"SQS", "Lambda"}
    assert all(d["parent_id"] == segment["id"] for d in deliveries.values())
    # The guide: the time between the topic's segment and the SQS subsegment is the
    # time the message spends in SNS, so the delivery starts when the segment is done.
    assert deliveries["SQS"]["start_time"] >= segment["end_time"]

    store = TraceStore(published.segments + notified.segments + consumed.segments + mine)
    trace = store.trace(published.root)
    [publish] = [
        d
        for d, _ in trace.walk()
        if d.get("namespace") == "aws" and d["aws"].get("operation") == "Publish"
    ]
    assert segment["parent_id"] == publish["id"]
    [notifier] = [s for s in trace.segments if s.get("origin") == "AWS::Lambda"
                  and s["name"] == "notifier"]  # fmt: skip
    assert notifier["parent_id"] == deliveries["Lambda"]["id"]
    [worker_segment] = [
        s for s in store.trace(consumed.root).segments if s.get("origin") == "AWS::Lambda"
    ]
    assert [(k["trace_id"], k["id"]) for k in worker_segment["links"]] == [
        (published.root, deliveries["SQS"]["id"])
    ]
    graph = ServiceGraph.build(store)
    queue = f"{source.queue_url.rsplit('/', 1)[-1]} (AWS::SQS::Queue)"
    assert graph.edge_labels() == {
        ("client", "order-api (AWS::Lambda)"),
        ("order-api (AWS::Lambda)", "order-api (AWS::Lambda::Function)"),
        ("order-api (AWS::Lambda::Function)", "orders (AWS::SNS::Topic)"),
        ("orders (AWS::SNS::Topic)", "notifier (AWS::Lambda)"),
        ("notifier (AWS::Lambda)", "notifier (AWS::Lambda::Function)"),
        ("orders (AWS::SNS::Topic)", queue),
        (queue, "order-worker (AWS::Lambda)"),
        ("order-worker (AWS::Lambda)", "order-worker (AWS::Lambda::Function)"),
    }
    assert "SNS (AWS::SNS)" not in graph.node_labels()  # the topic stands for itself
    [linked] = [e for (s, t), e in graph.edges.items() if t == ("order-worker", "AWS::Lambda")]
    assert linked.linked
    # A publish whose header says Sampled=0 gets no segment (CloudFormation TracingConfig:
    # "if the sampled flag in the tracing header is true").
    assert unsampled.root == "1-6b0cc902-0123456789abcdef01234567"
    assert all(d["trace_id"] != unsampled.root for d in topic.documents)
