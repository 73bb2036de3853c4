"""Filter expressions: the grammar, the keywords' meanings, and errors with positions."""

from __future__ import annotations

from typing import Any

import pytest

from otel_xray.devtools.functions.lambda_segments import lambda_segments
from otel_xray.devtools.traces.filters import FilterExpression, FilterSyntaxError
from otel_xray.devtools.traces.store import TraceStore

OK, FAILED = "1-5759e988-00000000000000000000000a", "1-5759e988-00000000000000000000000b"


def sub(trace: str, id_: str, name: str, parent: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "id": id_ * 16,
        "trace_id": trace,
        "type": "subsegment",
        "parent_id": parent * 16,
        "start_time": 10.1,
        "end_time": 10.2,
        **extra,
    }


def invocation(
    trace: str, parent: str, error: dict[str, str] | None, finished: float
) -> list[dict[str, Any]]:
    return lambda_segments(
        function_name="order-api",
        function_arn="arn:aws:lambda:us-east-1:1:function:order-api",
        request_id="r",
        root=trace,
        parent=parent * 16,
        received=10.0,
        started=10.0,
        finished=finished,
        error=error,
    )


STORE = TraceStore(
    [
        *invocation(OK, "a", None, 10.5),
        sub(
            OK,
            "1",
            "order-api",
            "a",
            annotations={"transaction_type": "checkout", "order_total": 42.5, "express": True},
            user="u-1",
        ),
        sub(OK, "2", "DynamoDB", "1", namespace="aws", aws={"operation": "PutItem"}),
        sub(
            OK,
            "3",
            "pay.example.com",
            "1",
            namespace="remote",
            http={
                "request": {"method": "POST", "url": "https://pay.example.com/charges"},
                "response": {"status": 200},
            },
        ),
        *invocation(
            FAILED, "b", {"errorType": "PaymentDeclinedError", "errorMessage": "declined"}, 12.0
        ),
        sub(
            FAILED,
            "4",
            "order-api",
            "b",
            fault=True,
            annotations={"transaction_type": "checkout", "order_total": 25000.0},
            cause={
                "exceptions": [
                    {"id": "0" * 16, "type": "PaymentDeclinedError", "message": "payment declined"}
                ]
            },
        ),
        sub(
            FAILED,
            "5",
            "pay.example.com",
            "4",
            namespace="remote",
            error=True,
            http={
                "request": {"method": "POST", "url": "https://pay.example.com/charges"},
                "response": {"status": 402},
            },
        ),
    ]
)


def select(expression: str, groups: dict[str, str] | None = None) -> set[str]:
    return {t.id for t in FilterExpression.parse(expression, groups).select(STORE)}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("ok", {OK, FAILED}),  # the entry segment (AWS::Lambda) answered both
        ("!ok", set()),
        ("ok = false", set()),
        ("service() { fault }", {FAILED}),
        ("service() { fault = true }", {FAILED}),
        ('service(id(name: "order-api", type: "AWS::Lambda::Function")) { fault }', {FAILED}),
        ('service(id(name: "order-api", type: "AWS::Lambda")) { fault }', set()),
        ('service("order-api") { root }', {OK, FAILED}),
        ('service("DynamoDB")', {OK}),
        ('service("DynamoDB") { inferred }', {OK}),
        ("inferred", {OK}),
        ('edge("order-api", "pay.example.com") { error }', {FAILED}),
        ('edge("order-api", "pay.example.com") { http.status = 402 }', {FAILED}),
        ('edge("order-api", "DynamoDB")', {OK}),
        ("responsetime > 1", {FAILED}),
        ("duration >= 0.5 AND duration <= 0.6", {OK}),
        ('annotation.transaction_type = "checkout"', {OK, FAILED}),
        ("annotation.order_total > 100", {FAILED}),
        ("annotation.express", {OK}),
        ("!annotation.express", {FAILED}),
        ("annotation.express = true", {OK}),
        ('user = "u-1"', {OK}),
        ('user CONTAINS ""', {OK}),
        ('message CONTAINS "DECLINED"', {FAILED}),  # string operators ignore case
        ('name BEGINSWITH "order"', {OK, FAILED}),
        ('type = "AWS::Lambda"', {OK, FAILED}),
        ('resource.arn ENDSWITH ":order-api"', {OK, FAILED}),
        ("ok !partial duration < 3", {OK, FAILED}),  # side by side: AND
        ('NOT (service() { fault }) AND (annotation.order_total < 50 OR user = "x")', {OK}),
        ("annotation.order_total > 100 or annotation.express", {OK, FAILED}),
        ('group.name = "failures"', {FAILED}),
    ],
)
def test_expressions_select_what_x_ray_would(expression: str, expected: set[str]) -> None:
    assert select(expression, {"failures": "service() { fault }"}) == expected


@pytest.mark.parametrize(
    ("expression", "position", "message"),
    [
        ("responsetime > ", 15, "expected a value"),
        ('responsetime > "slow"', 13, "responsetime is a number"),
        ("http.url > 5", 9, "http.url is a string"),
        ("fault = maybe", 6, "fault is a boolean"),
        ("faults", 0, "unknown keyword"),
        ("fault AND", 9, "expected a keyword"),
        ('service("a" { fault }', 12, "expected ')'"),
        ("(ok", 3, "expected ')'"),
        ("ok )", 3, "expected AND, OR or the end"),
        ('name = "open', 7, "unterminated string"),
        ("ok & error", 3, "unexpected character"),
        ('edge("a") { ok }', 8, "expected ','"),
        ('service(id(nam: "a"))', 11, "id() takes name, type and account.id"),
        ("rootcause.fault.service { ok }", 0, "root-cause keywords"),
        ('group.name = "missing"', 13, "unknown group"),
        ("", 0, "empty expression"),
    ],
)
def test_syntax_errors_point_at_their_position(
    expression: str, position: int, message: str
) -> None:
    with pytest.raises(FilterSyntaxError) as raised:
        FilterExpression.parse(expression)
    assert raised.value.position == position
    assert message in str(raised.value)
    assert str(raised.value).splitlines()[-1] == "  " + " " * position + "^"
