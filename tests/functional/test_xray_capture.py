"""The ``xray`` fixture as a user's test uses it, with real AWS calls (moto's server) and HTTP."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
from botocore.endpoint import Endpoint

from examples.local_services import LocalServices
from otel_xray.testing import XRayCapture


@pytest.fixture(scope="module")
def services() -> Iterator[LocalServices]:
    with LocalServices() as running:
        yield running


def make_handler(services: LocalServices) -> Any:
    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        services.client("dynamodb").put_item(
            TableName=services.table, Item={"order_id": {"S": event["id"]}}
        )
        services.client("sqs").send_message(QueueUrl=services.queue_url, MessageBody=event["id"])
        charge = requests.post(services.payment_url, json={"amount": event["amount"]}, timeout=5)
        if charge.status_code != 200:
            raise RuntimeError(f"declined: {charge.status_code}")
        return {"statusCode": 200}

    return handler


def test_the_fixture_gives_the_service_graph_x_ray_would_draw(
    xray: XRayCapture, services: LocalServices
) -> None:
    handler = make_handler(services)
    ok = xray.invoke(handler, {"id": "o-1", "amount": 5})
    failed = xray.invoke(handler, {"id": "o-2", "amount": 50_000})
    assert ok.error is None and ok.response == {"statusCode": 200}
    assert isinstance(failed.error, RuntimeError)
    queue_name = services.queue_url.rsplit("/", 1)[-1]
    assert xray.service_graph().edge_labels() == {
        ("client", "my-function (AWS::Lambda)"),
        ("my-function (AWS::Lambda)", "my-function (AWS::Lambda::Function)"),
        # One node per resource, named after it (GetServiceGraph's example names a
        # DynamoDB node after its table; the queue by its name is unverified).
        ("my-function (AWS::Lambda::Function)", f"{services.table} (AWS::DynamoDB::Table)"),
        ("my-function (AWS::Lambda::Function)", f"{queue_name} (AWS::SQS::Queue)"),
        ("my-function (AWS::Lambda::Function)", "127.0.0.1 (remote)"),
    }
    schema = json.loads(
        (Path(__file__).parents[1] / "data" / "xray-segmentdocument-schema-v1.0.0.json").read_text()
    )
    for document in xray.documents:  # Lambda's own segments included
        jsonschema.validate(document, schema)
    trace = xray.trace(failed.root)
    function_segment = next(s for s in trace.segments if s.get("origin") == "AWS::Lambda::Function")
    assert function_segment["fault"] is True
    [handler_subsegment] = [s for s in function_segment["subsegments"] if "cause" in s]
    assert handler_subsegment["cause"]["exceptions"][0]["message"] == "declined: 402"


def test_an_sqs_message_names_the_send_call_as_its_parent(
    xray: XRayCapture, services: LocalServices
) -> None:
    """Not Lambda's function segment, which botocore's own header would name."""
    result = xray.invoke(make_handler(services), {"id": "o-3", "amount": 5})
    [send] = [d for d in result.documents if d.get("aws", {}).get("operation") == "SendMessage"]
    sqs = services.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=services.queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    )["Messages"]
    [message] = [m for m in messages if m["Body"] == "o-3"]
    header = message["Attributes"]["AWSTraceHeader"]
    assert header == f"Root={result.root};Parent={send['id']};Sampled=1"


def test_the_capture_leaves_the_process_as_it_found_it(services: LocalServices) -> None:
    before = (os.environ.get("_X_AMZN_TRACE_ID"), os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
    with XRayCapture() as capture:
        capture.invoke(lambda event, context: "done", {})
        assert hasattr(Endpoint.prepare_request, "__wrapped__")
    assert (
        os.environ.get("_X_AMZN_TRACE_ID"),
        os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
    ) == before
    assert not hasattr(Endpoint.prepare_request, "__wrapped__")  # uninstrumented
