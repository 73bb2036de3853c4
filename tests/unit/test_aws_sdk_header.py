"""An AWS SDK call's trace header names the call's span and keeps Lambda's extra keys."""

from __future__ import annotations

from botocore.awsrequest import AWSRequest
from opentelemetry.sdk.trace import TracerProvider

from otel_xray.ids import XRayIdGenerator
from otel_xray.instrumentation.aws_sdk_header import _name_current_span
from otel_xray.propagation import context_from_header, parse_trace_header

ROOT = "1-5759e988-bd862e3fe1be46a994272793"
LAMBDA_HEADER = f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1"
tracer = TracerProvider(id_generator=XRayIdGenerator()).get_tracer("test")


def test_botocores_copy_of_the_lambda_header_is_replaced_by_the_calls_span() -> None:
    header = parse_trace_header(LAMBDA_HEADER)
    assert header is not None
    with tracer.start_as_current_span(
        "SQS.SendMessage", context=context_from_header(header)
    ) as span:
        request = AWSRequest(
            method="POST", url="http://sqs", headers={"X-Amzn-Trace-Id": LAMBDA_HEADER}
        )
        _name_current_span(request.headers)
    span_id = f"{span.get_span_context().span_id:016x}"
    assert request.headers.get_all("X-Amzn-Trace-Id") == [
        f"Root={ROOT};Parent={span_id};Sampled=1;Lineage=a87bd80c:1"
    ]


def test_a_header_for_another_trace_is_the_callers_choice() -> None:
    other = "Root=1-5759e988-000000000000000000000001;Parent=1111111111111111;Sampled=1"
    with tracer.start_as_current_span("call"):
        request = AWSRequest(method="POST", url="http://sqs", headers={"X-Amzn-Trace-Id": other})
        _name_current_span(request.headers)
    assert request.headers["X-Amzn-Trace-Id"] == other


def test_outside_any_span_nothing_changes() -> None:
    request = AWSRequest(
        method="POST", url="http://sqs", headers={"X-Amzn-Trace-Id": LAMBDA_HEADER}
    )
    _name_current_span(request.headers)
    assert request.headers["X-Amzn-Trace-Id"] == LAMBDA_HEADER
