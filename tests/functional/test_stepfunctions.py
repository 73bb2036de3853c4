"""The local Step Functions service (``services.stepfunctions``), driven by boto3's own client.

Sources: botocore's ``stepfunctions`` model (the operations, their fields, and
``StartExecutionInput.traceHeader``: the ``X-Amzn-Trace-Id`` header is preferred over
the body's value); the Step Functions developer guide, concepts-xray-tracing (tracing
on: a trace even without a caller's trace id; off: only with one); the States Language
specification (paths, Retry, Catch, Map, Parallel); console screenshots collected in
``shared/reference/stepfunctions-sns.md`` for the segment's structure (an
``AWS::StepFunctions::StateMachine`` segment named after the machine, a subsegment per
state, a service child per attempt, ``Iteration N`` under a Map, a Fail marks the
execution a fault). Field names are inference: no segment JSON is published. The
integrations call moto's server, the real AWS API stand-in (DynamoDB, SQS).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_xray.devtools.services.moto_server import TEST_CREDENTIALS, AwsServices
from otel_xray.devtools.services.stepfunctions import (
    DefinitionError,
    StateMachine,
    StatesError,
    StepFunctions,
    read_path,
    write_path,
)
from otel_xray.devtools.traces.service_graph import ServiceGraph
from otel_xray.devtools.traces.store import TraceStore

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "data" / "xray-segmentdocument-schema-v1.0.0.json").read_text()
)
ROOT = "1-5759e988-bd862e3fe1be46a994272793"
HEADER = f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1"
ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:{}"


def fulfilment(queue_url: str) -> dict[str, Any]:
    """Every state type but Parallel, two integrations, a Retry and a Catch."""
    return {
        "StartAt": "Record",
        "States": {
            "Record": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {"TableName": "orders", "Item": {"order_id": {"S.$": "$.id"}}},
                "ResultPath": None,
                "Next": "HasItems",
            },
            "HasItems": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.items[0]", "IsPresent": True, "Next": "Pack"}],
                "Default": "Empty",
            },
            "Pack": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemSelector": {"item.$": "$$.Map.Item.Value", "order.$": "$.id"},
                "ItemProcessor": {
                    "StartAt": "Ship",
                    "States": {
                        "Ship": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::sqs:sendMessage",
                            "Parameters": {
                                "QueueUrl": queue_url,
                                "MessageBody.$": "States.Format('{} of {}', $.item, $.order)",
                            },
                            "ResultSelector": {"id.$": "$.MessageId"},
                            "End": True,
                        }
                    },
                },
                "ResultPath": "$.shipped",
                "Next": "Settle",
            },
            "Settle": {"Type": "Wait", "Seconds": 5, "Next": "Audit"},
            "Audit": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:dynamodb:getItem",
                "Parameters": {"TableName": "missing", "Key": {"order_id": {"S.$": "$.id"}}},
                "Retry": [
                    {
                        "ErrorEquals": ["DynamoDB.ResourceNotFoundException"],
                        "IntervalSeconds": 1,
                        "MaxAttempts": 2,
                    }
                ],
                "Catch": [
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.audit", "Next": "Summary"}
                ],
                "End": True,
            },
            "Summary": {
                "Type": "Pass",
                "Parameters": {"order.$": "$.id", "count.$": "States.Array($.shipped)"},
                "End": True,
            },
            "Empty": {"Type": "Fail", "Error": "Order.Empty", "Cause": "no items"},
        },
    }


@pytest.fixture(scope="module")
def aws() -> Iterator[AwsServices]:
    with AwsServices() as services:
        services.client("dynamodb").create_table(
            TableName="orders", KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )  # fmt: skip
        yield services


@pytest.fixture(scope="module")
def sfn(aws: AwsServices) -> Iterator[StepFunctions]:
    queue = aws.client("sqs").create_queue(QueueName="shipments")["QueueUrl"]
    machines = [
        StateMachine("fulfil", fulfilment(queue)),
        StateMachine("untraced", fulfilment(queue), tracing=False),
        StateMachine("quick", fulfilment(queue), type="EXPRESS"),
        StateMachine(
            "fork",
            {
                "StartAt": "Both",
                "States": {
                    "Both": {
                        "Type": "Parallel",
                        "End": True,
                        "Branches": [
                            {
                                "StartAt": "A",
                                "States": {"A": {"Type": "Pass", "Result": 1, "End": True}},
                            },
                            {
                                "StartAt": "B",
                                "States": {"B": {"Type": "Pass", "Result": 2, "End": True}},
                            },
                        ],
                    }
                },
            },
        ),
    ]
    with StepFunctions(machines, {"default": aws.endpoint}) as running:
        yield running


def client(sfn: StepFunctions, header: str | None = None, prefix: bool = False) -> Any:
    made = boto3.Session(**TEST_CREDENTIALS, region_name="us-east-1").client(
        "stepfunctions", endpoint_url=sfn.endpoint, config=Config(inject_host_prefix=prefix)
    )
    if header:
        made.meta.events.register(
            "before-send.*.*",
            lambda request, **_: request.headers.__setitem__("X-Amzn-Trace-Id", header),
        )
    return made


def run(sfn: StepFunctions, machine: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    stepfunctions = client(sfn, kwargs.pop("header", None))
    arn = stepfunctions.start_execution(
        stateMachineArn=ARN.format(machine), input=json.dumps(body), **kwargs
    )["executionArn"]
    sfn.wait()
    described: dict[str, Any] = stepfunctions.describe_execution(executionArn=arn)
    return described


def segment_of(sfn: StepFunctions, arn: str) -> dict[str, Any] | None:
    execution = sfn.executions[arn]
    return execution.segment


def test_an_execution_is_one_segment_with_a_subsegment_per_state(sfn: StepFunctions) -> None:
    described = run(sfn, "fulfil", {"id": "o-1", "items": ["book", "lamp"]}, traceHeader=HEADER)
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert output["order"] == "o-1" and len(output["count"][0]) == 2
    segment = segment_of(sfn, described["executionArn"])
    assert segment is not None
    jsonschema.validate(segment, SCHEMA)
    assert (segment["name"], segment["origin"]) == ("fulfil", "AWS::StepFunctions::StateMachine")
    assert segment["trace_id"] == ROOT and segment["parent_id"] == "53995c3f42cd8ad8"
    names = [s["name"] for s in segment["subsegments"]]
    assert names == ["Record", "HasItems", "Pack", "Settle", "Audit", "Summary"]
    states = {s["name"]: s for s in segment["subsegments"]}
    [record_call] = states["Record"]["subsegments"]
    assert (record_call["name"], record_call["aws"]["operation"]) == ("DynamoDB", "PutItem")
    assert record_call["http"]["response"]["status"] == 200
    iterations = states["Pack"]["subsegments"]
    assert [i["name"] for i in iterations] == ["Iteration 0", "Iteration 1"]
    assert all(i["subsegments"][0]["name"] == "Ship" for i in iterations)
    # The Wait is scaled down (5 s x 0.01) and says what it stood for.
    wait = states["Settle"]
    assert 0.04 <= wait["end_time"] - wait["start_time"] < 1.0
    assert wait["metadata"]["default"]["otel_xray.local.wait_seconds"] == 5
    # Retry: MaxAttempts 2 after the first, each attempt a child; then caught.
    attempts = states["Audit"]["subsegments"]
    assert [a["http"]["response"]["status"] for a in attempts] == [400, 400, 400]
    assert all(a["error"] for a in attempts) and states["Audit"]["error"]
    assert "fault" not in segment  # caught: the execution succeeded
    # The map: the machine, then a node per integration.
    graph = ServiceGraph.build(TraceStore([segment]))
    assert {t for s, t in graph.edge_labels() if s.startswith("fulfil")} == {
        "orders (AWS::DynamoDB::Table)",
        "missing (AWS::DynamoDB::Table)",
        "shipments (AWS::SQS::Queue)",
    }


def test_the_history_and_describe_answer_as_botocore_reads_them(sfn: StepFunctions) -> None:
    described = run(sfn, "fulfil", {"id": "o-2", "items": ["pen"]})
    history = client(sfn).get_execution_history(executionArn=described["executionArn"])
    kinds = [event["type"] for event in history["events"]]
    assert kinds[0] == "ExecutionStarted" and kinds[-1] == "ExecutionSucceeded"
    assert kinds.count("MapIterationStarted") == 1
    assert "WaitStateEntered" in kinds and "ChoiceStateExited" in kinds
    assert [e["id"] for e in history["events"]] == list(range(1, len(kinds) + 1))
    backwards = client(sfn).get_execution_history(
        executionArn=described["executionArn"], reverseOrder=True
    )
    assert backwards["events"][0]["type"] == "ExecutionSucceeded"
    with pytest.raises(ClientError) as missing:
        client(sfn).describe_execution(executionArn=described["executionArn"] + "x")
    assert missing.value.response["Error"]["Code"] == "ExecutionDoesNotExist"


def test_a_fail_state_fails_the_execution_and_marks_it_a_fault(sfn: StepFunctions) -> None:
    described = run(sfn, "fulfil", {"id": "o-3", "items": []}, traceHeader=HEADER)
    assert described["status"] == "FAILED"
    assert (described["error"], described["cause"]) == ("Order.Empty", "no items")
    segment = segment_of(sfn, described["executionArn"])
    assert segment is not None and segment["fault"]
    assert [s["name"] for s in segment["subsegments"]][-1] == "Empty"
    assert segment["cause"]["exceptions"][0]["type"] == "Order.Empty"
    jsonschema.validate(segment, SCHEMA)


def test_the_header_is_preferred_to_trace_header_in_the_body(sfn: StepFunctions) -> None:
    """botocore's model: "If both sources are provided, Step Functions will use the
    header value (preferred) over the value in the request body"."""
    other = "Root=1-5759e988-00000000000000000000abcd;Parent=1111111111111111;Sampled=1"
    both = run(sfn, "fulfil", {"id": "o-4", "items": ["a"]}, header=HEADER, traceHeader=other)
    segment = segment_of(sfn, both["executionArn"])
    assert segment is not None and segment["trace_id"] == ROOT
    assert both["traceHeader"] == HEADER
    body_only = run(sfn, "fulfil", {"id": "o-5", "items": ["a"]}, traceHeader=other)
    segment = segment_of(sfn, body_only["executionArn"])
    assert segment is not None and segment["parent_id"] == "1111111111111111"


def test_tracing_on_and_off_follow_the_developer_guide(sfn: StepFunctions) -> None:
    """On: a trace "even when a trace ID is not passed by an upstream service"; off:
    only "if a trace ID is passed". A header saying Sampled=0 records nothing (inference)."""
    traced = run(sfn, "fulfil", {"id": "o-6", "items": ["a"]})
    segment = segment_of(sfn, traced["executionArn"])
    assert segment is not None and "parent_id" not in segment and segment["trace_id"] != ROOT
    untraced = run(sfn, "untraced", {"id": "o-7", "items": ["a"]})
    assert untraced["status"] == "SUCCEEDED" and segment_of(sfn, untraced["executionArn"]) is None
    joined = run(sfn, "untraced", {"id": "o-8", "items": ["a"]}, header=HEADER)
    segment = segment_of(sfn, joined["executionArn"])
    assert segment is not None and segment["trace_id"] == ROOT
    unsampled = run(
        sfn,
        "fulfil",
        {"id": "o-9", "items": ["a"]},
        header=HEADER.replace("Sampled=1", "Sampled=0"),
    )
    assert segment_of(sfn, unsampled["executionArn"]) is None


def test_start_sync_execution_runs_express_machines_only(sfn: StepFunctions) -> None:
    """StartSyncExecution: botocore's endpoint ``hostPrefix: "sync-"``, turned off
    locally (``inject_host_prefix=False``); a Standard machine is refused as AWS does."""
    stepfunctions = client(sfn, HEADER)
    done = stepfunctions.start_sync_execution(
        stateMachineArn=ARN.format("quick"), input=json.dumps({"id": "o-10", "items": ["a"]})
    )
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"])["order"] == "o-10"
    segment = segment_of(sfn, done["executionArn"])
    assert segment is not None and segment["trace_id"] == ROOT
    assert ":express:quick:" in done["executionArn"]
    with pytest.raises(ClientError) as refused:
        stepfunctions.start_sync_execution(stateMachineArn=ARN.format("fulfil"), input="{}")
    assert refused.value.response["Error"]["Code"] == "StateMachineTypeNotSupported"
    with pytest.raises(ClientError) as unknown:
        stepfunctions.start_execution(stateMachineArn=ARN.format("nope"), input="{}")
    assert unknown.value.response["Error"]["Code"] == "StateMachineDoesNotExist"
    assert "fulfil" in unknown.value.response["Error"]["Message"]


def test_parallel_branches_are_children_of_the_state(sfn: StepFunctions) -> None:
    described = run(sfn, "fork", {}, traceHeader=HEADER)
    assert json.loads(described["output"]) == [1, 2]
    segment = segment_of(sfn, described["executionArn"])
    assert segment is not None
    [both] = segment["subsegments"]
    assert [b["name"] for b in both["subsegments"]] == ["Branch 0", "Branch 1"]


GLUE = "arn:aws:states:::glue:startJobRun"


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"StartAt": "X", "States": {}}, "StartAt 'X' is not a state"),
        (
            {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": GLUE, "End": True}}},
            f"T: Resource '{GLUE}' is not run locally; accepted: ",
        ),
        ({"StartAt": "T", "States": {"T": {"Type": "Sleep"}}}, "T: Type 'Sleep'; accepted: Task"),
        (
            {"StartAt": "T", "States": {"T": {"Type": "Pass", "Next": "U"}}},
            "T: Next 'U' is not a state",
        ),
    ],
)
def test_a_definition_that_cannot_run_is_refused_naming_the_state(
    definition: dict[str, Any], message: str
) -> None:
    with pytest.raises(DefinitionError, match=message.replace("(", r"\(").replace("[", r"\[")):
        StateMachine("m", definition)


_keys = st.sampled_from(["a", "b", "order"]) | st.text(
    st.characters(whitelist_categories=("Ll", "Lu", "Nd")), min_size=1, max_size=8
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(_keys, st.integers() | st.text(max_size=5), max_size=4),
    st.lists(_keys, min_size=1, max_size=4),
    st.integers() | st.text(max_size=5) | st.none(),
)
def test_result_path_then_reference_path_gives_the_result_back(
    data: dict[str, Any], steps: list[str], result: Any
) -> None:
    """States Language: ResultPath puts the result at the path, creating fields; a
    reference path then reads it; the rest of the input is kept."""
    path = "$." + ".".join(steps)
    if len(steps) > 1 and steps[0] in data:  # through a value that is not an object
        with pytest.raises(StatesError) as failed:
            write_path(path, data, result)
        assert failed.value.error == "States.ResultPathMatchFailure"
        return
    written = write_path(path, data, result)
    assert read_path(path, written, {}) == result
    for key, value in data.items():
        if key != steps[0]:
            assert written[key] == value
    assert write_path(None, data, result) == data
    assert write_path("$", data, result) == result
