"""Step Functions from a traced function, to every integration, through the layer (issue 31).

A function traced by otel-xray calls ``StartSyncExecution`` with boto3 (no tracing
code, no ``traceHeader``): the execution joins its trace through the call's
``X-Amzn-Trace-Id`` header (botocore's model, ``StartExecutionInput.traceHeader``: the
header is preferred; the developer guide: a traced caller was joined into one trace).
The Express machine calls each integration the example does not: a plain function ARN
that fails once and is retried (each attempt a new ``Lambda`` child, each with the
callee's own segments), ``lambda:invoke``, ``sns:publish`` to a topic whose Lambda
subscriber continues the trace, ``events:putEvents`` to a bus whose rule's target
continues it, ``sqs:sendMessage`` whose consumer links to it. Structure from console
screenshots (``shared/reference/stepfunctions-sns.md``); field names are inference.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from examples.local_services import LocalServices
from otel_xray.devtools.functions.event_sources import SqsEventSource
from otel_xray.devtools.functions.invoke import LocalFunction
from otel_xray.devtools.functions.invoke_endpoint import LambdaEndpoint
from otel_xray.devtools.services.eventbridge import EventBus
from otel_xray.devtools.services.sns import SnsTopic
from otel_xray.devtools.services.stepfunctions import StateMachine, StepFunctions
from otel_xray.devtools.traces.service_graph import ServiceGraph
from otel_xray.devtools.traces.store import TraceStore
from tests.e2e.conftest import function_code

CALLER = """
import json, os
import boto3

sfn = boto3.client("stepfunctions")

def handler(event, context):
    done = sfn.start_sync_execution(stateMachineArn=os.environ["MACHINE"], input=json.dumps(event))
    return {"status": done["status"], "output": json.loads(done.get("output") or "null"),
            "error": done.get("error")}
"""

# Fails on its first call in this sandbox, then answers: a Retry's second attempt.
FLAKY = """
calls = []

class Flaky(Exception):
    pass

def handler(event, context):
    calls.append(1)
    if len(calls) == 1:
        raise Flaky("first call fails")
    return {"attempt": len(calls), **event}
"""

ECHO = """
def handler(event, context):
    return {"seen": sorted(event) if isinstance(event, dict) else event}
"""

ARN = "arn:aws:lambda:us-east-1:123456789012:function:{}"


def definition(queue_url: str, topic_arn: str) -> dict[str, Any]:
    return {
        "StartAt": "Flaky",
        "States": {
            "Flaky": {
                "Type": "Task", "Resource": ARN.format("flaky"), "ResultPath": "$.flaky",
                "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 2}],
                "Next": "Echo",
            },
            "Echo": {
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "echo", "Payload.$": "$"},
                "ResultSelector": {"seen.$": "$.Payload.seen"}, "ResultPath": "$.echo",
                "Next": "Fan",
            },
            "Fan": {
                "Type": "Parallel", "ResultPath": None, "Next": "Done",
                "Branches": [
                    {"StartAt": "Publish", "States": {"Publish": {
                        "Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                        "Parameters": {"TopicArn": topic_arn, "Message.$": "$.order_id"},
                        "End": True}}},
                    {"StartAt": "Announce", "States": {"Announce": {
                        "Type": "Task", "Resource": "arn:aws:states:::events:putEvents",
                        "Parameters": {"Entries": [{"Source": "orders", "DetailType": "Shipped",
                                                    "Detail": {"order_id.$": "$.order_id"}}]},
                        "End": True}}},
                    {"StartAt": "Queue", "States": {"Queue": {
                        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                        "Parameters": {"QueueUrl": queue_url, "MessageBody.$": "$.order_id"},
                        "End": True}}},
                ],
            },
            "Done": {"Type": "Succeed"},
        },
    }  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    code = function_code(tmp_path_factory, {"caller": CALLER, "flaky": FLAKY, "echo": ECHO})
    with (
        LocalServices() as aws,
        LocalFunction("app.handler", code["flaky"], function_name="flaky") as flaky,
        LocalFunction("app.handler", code["echo"], function_name="echo") as echo,
        LocalFunction("app.handler", code["echo"], function_name="notifier") as notifier,
        LocalFunction("app.handler", code["echo"], function_name="consumer") as consumer,
    ):
        invoke = LambdaEndpoint({"flaky": flaky, "echo": echo}).start()
        topic = SnsTopic("shipped", [notifier]).start()
        bus = EventBus([({"source": ["orders"]}, [notifier])]).start()
        machine = StateMachine(
            "ship", definition(aws.queue_url, topic.topic_arn), type="EXPRESS", tracing=False
        )
        endpoints = {"lambda": invoke.endpoint, "sns": topic.endpoint, "events": bus.endpoint,
                     "default": aws.aws_endpoint}  # fmt: skip
        sfn = StepFunctions([machine], endpoints).start()
        env = {
            "AWS_ENDPOINT_URL_SFN": sfn.endpoint,
            "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",  # StartSyncExecution's sync- prefix
            "MACHINE": machine.arn,
        }
        try:
            with LocalFunction(
                "app.handler", code["caller"], function_name="caller", env=env
            ) as caller:
                called = caller.invoke({"order_id": "o-1"})
                invoke.settle()
                topic.wait()
                bus.wait()
                source = SqsEventSource(aws.queue_url, client=aws.client("sqs"), batch_size=1)
                event = source.next_event(wait_seconds=1)
                assert event is not None, [(e.error, e.cause) for e in sfn.executions.values()]
                consumed = consumer.invoke(event)
                results = [r for _, _, r in invoke.invocations]
                results += [r for _, r in topic.deliveries] + [r for _, _, r in bus.deliveries]
                documents = called.segments + consumed.segments + list(sfn.documents)
                for result in results:
                    documents += result.segments
                yield {"called": called, "consumed": consumed, "store": TraceStore(documents),
                       "invocations": invoke.invocations, "queue_name": aws.queue_name}  # fmt: skip
        finally:
            for running in (sfn, bus, topic, invoke):
                running.stop()


def test_a_traced_callers_sync_execution_joins_its_trace(world: dict[str, Any]) -> None:
    called, store = world["called"], world["store"]
    assert called.ok and called.response["status"] == "SUCCEEDED", called.response
    assert called.response["output"]["flaky"]["attempt"] == 2
    trace = store.trace(called.root)
    [machine] = [s for s in trace.segments if s.get("origin") == "AWS::StepFunctions::StateMachine"]
    call = trace.get(machine["parent_id"])
    # Tracing is off on the machine: it is traced because the caller passed a trace id.
    assert call is not None and call["aws"]["operation"] == "StartSyncExecution"
    assert [s["name"] for s in machine["subsegments"]] == ["Flaky", "Echo", "Fan", "Done"]


def test_each_retry_is_a_new_child_and_each_callee_continues_the_trace(
    world: dict[str, Any],
) -> None:
    called, store = world["called"], world["store"]
    trace = store.trace(called.root)
    [machine] = [s for s in trace.segments if s.get("origin") == "AWS::StepFunctions::StateMachine"]
    flaky_state = machine["subsegments"][0]
    attempts = [c for c in flaky_state["subsegments"] if c.get("namespace") == "aws"]
    assert [c["name"] for c in attempts] == ["Lambda", "Lambda"]
    assert all(c["http"]["response"]["status"] == 200 for c in attempts)  # Invoke itself ok
    flaky_runs = [r for name, _, r in world["invocations"] if name == "flaky"]
    assert [r.ok for r in flaky_runs] == [False, True]
    for attempt, run in zip(attempts, flaky_runs, strict=True):
        [service] = [s for s in trace.segments if s.get("parent_id") == attempt["id"]]
        assert (service["name"], service["origin"]) == ("flaky", "AWS::Lambda")
        assert run.root == called.root
    # Parallel: Branch N children, each with its task state and service child.
    fan = machine["subsegments"][2]
    assert [b["name"] for b in fan["subsegments"]] == ["Branch 0", "Branch 1", "Branch 2"]
    children = [b["subsegments"][0]["subsegments"][0]["name"] for b in fan["subsegments"]]
    assert children == ["SNS", "Events", "SQS"]


def test_the_map_shows_a_node_per_integration_and_what_continued(world: dict[str, Any]) -> None:
    """Developer guide: "There is a service map node for each service integration that is
    called by Step Functions"; the SNS topic and the EventBridge bus stay between the
    machine and the function each delivered to; the queue's consumer links to the task."""
    store = world["store"]
    edges = ServiceGraph.build(store).edge_labels()
    machine = "ship (AWS::StepFunctions::StateMachine)"
    assert ("caller (AWS::Lambda::Function)", machine) in edges
    queue = f"{world['queue_name']} (AWS::SQS::Queue)"
    assert {t for s, t in edges if s == machine} == {
        "flaky (AWS::Lambda)",
        "echo (AWS::Lambda)",
        "SNS (AWS::SNS)",
        "Events (AWS::Events)",
        queue,
    }
    assert ("SNS (AWS::SNS)", "notifier (AWS::Lambda)") in edges
    assert ("Events (AWS::Events)", "notifier (AWS::Lambda)") in edges
    assert (queue, "consumer (AWS::Lambda)") in edges
    assert world["consumed"].root != world["called"].root  # SQS: a trace of its own, linked
