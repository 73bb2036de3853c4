"""Reading Lambda events: trigger, HTTP attributes, and links from other trace contexts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_xray.awslambda.events import (
    MAX_LINKS,
    http_attributes,
    incoming_links,
    response_status,
    trigger,
)

ROOT = "1-5759e988-bd862e3fe1be46a994272793"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
API_EVENT = json.loads(
    (Path(__file__).parents[2] / "examples" / "order_api" / "event.json").read_text()
)


def sqs_record(parent: str) -> dict[str, object]:
    return {
        "eventSource": "aws:sqs",
        "attributes": {"AWSTraceHeader": f"Root={ROOT};Parent={parent};Sampled=1"},
        "body": "{}",
    }


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (API_EVENT, "http"),
        ({"routeKey": "POST /orders", "requestContext": {"http": {"method": "POST"}}}, "http"),
        ({"requestContext": {"elb": {"targetGroupArn": "arn"}}, "httpMethod": "GET"}, "http"),
        ({"Records": [sqs_record("53995c3f42cd8ad8")]}, "pubsub"),
        ({"Records": [{"EventSource": "aws:sns"}]}, "pubsub"),
        ({"Records": [{"eventSource": "aws:s3"}]}, "datasource"),
        ({"source": "aws.events", "detail-type": "Scheduled Event"}, "timer"),
        ({"anything": 1}, "other"),
        (None, "other"),
        ([1, 2], "other"),
        ("text", "other"),
    ],
)
def test_trigger(event: object, expected: str) -> None:
    assert trigger(event) == expected


def test_http_attributes_of_rest_and_http_api_events() -> None:
    rest = http_attributes(API_EVENT)
    assert rest["http.request.method"] == "POST"
    assert rest["url.path"] == "/orders" and rest["http.route"] == "/orders"
    v2 = http_attributes(
        {
            "routeKey": "GET /orders/{id}",
            "rawPath": "/orders/7",
            "requestContext": {"http": {"method": "get"}},
        }
    )
    assert v2 == {
        "http.request.method": "GET",
        "url.path": "/orders/7",
        "http.route": "/orders/{id}",
    }


def test_sqs_trace_headers_become_links_not_parents() -> None:
    event = {"Records": [sqs_record(f"{i + 1:016x}") for i in range(3)]}
    links = incoming_links(event)
    assert [link.context.span_id for link in links] == [1, 2, 3]
    assert all(link.attributes["otel_xray.link.source"] == "sqs.AWSTraceHeader" for link in links)


def test_w3c_traceparent_in_headers_becomes_a_link() -> None:
    [link] = incoming_links({**API_EVENT, "headers": {"traceparent": TRACEPARENT}})
    assert f"{link.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"


def test_links_are_capped_and_deduplicated() -> None:
    event = {
        "Records": [sqs_record(f"{i + 1:016x}") for i in range(50)]
        + [sqs_record("0000000000000001")]
    }
    assert len(incoming_links(event)) == MAX_LINKS


@pytest.mark.parametrize(
    ("result", "status"),
    [
        ({"statusCode": 201}, 201),
        ({"statusCode": "503"}, 503),
        ({"statusCode": True}, None),
        ({"statusCode": 42}, None),
        ("x", None),
    ],
)
def test_response_status(result: object, status: int | None) -> None:
    assert response_status(result) == status


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=30,
)
event_keys = st.sampled_from(
    [
        "Records",
        "headers",
        "requestContext",
        "httpMethod",
        "routeKey",
        "path",
        "rawPath",
        "resource",
        "attributes",
        "AWSTraceHeader",
        "messageAttributes",
        "traceparent",
        "eventSource",
        "http",
        "source",
    ]
)
events_strategy = st.recursive(
    json_values,
    lambda children: (
        st.dictionaries(event_keys, children, max_size=5) | st.lists(children, max_size=3)
    ),
    max_leaves=40,
)


@settings(max_examples=1500, deadline=None)
@given(events_strategy)
def test_no_event_shape_makes_readers_raise(event: object) -> None:
    trigger(event)
    http_attributes(event)
    incoming_links(event)
    response_status(event)
