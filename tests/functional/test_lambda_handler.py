"""The handler wrapper in-process with the real SDK: parents, attributes, errors, flush."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import otel_xray
from otel_xray import configurator
from otel_xray.awslambda.handler import load_handler
from otel_xray.configurator import Tracing
from otel_xray.export import Deadline
from otel_xray.settings import Settings
from otel_xray.testing import LAMBDA_ENV, InMemoryExporter
from tests.conftest import PARENT, ROOT, LambdaContext

TRACE_ID = int(ROOT[2:10] + ROOT[11:], 16)


class OrderFailedError(Exception):
    pass


def test_invocation_span_is_a_child_of_lambdas_segment(
    lambda_tracing: Tracing, exporter: InMemoryExporter, context: LambdaContext
) -> None:
    @otel_xray.lambda_handler
    def handler(event: dict[str, object], ctx: object) -> dict[str, object]:
        return {"statusCode": 200}

    assert handler({}, context) == {"statusCode": 200}
    [span] = exporter.spans
    assert span.context.trace_id == TRACE_ID
    assert span.parent is not None and span.parent.span_id == int(PARENT, 16)
    assert span.kind is SpanKind.INTERNAL
    assert span.name == "my-function"
    attrs = dict(span.attributes or {})
    assert attrs["faas.invocation_id"] == context.aws_request_id
    assert attrs["cloud.resource_id"] == context.invoked_function_arn
    assert attrs["cloud.account.id"] == "123456789012"
    assert span.resource.attributes["cloud.platform"] == "aws_lambda"
    assert span.resource.attributes["service.name"] == "my-function"


def test_cold_start_is_true_only_for_the_first_invocation(
    lambda_tracing: Tracing, exporter: InMemoryExporter, context: LambdaContext
) -> None:
    handler = otel_xray.lambda_handler(lambda event, ctx: None)
    handler({}, context)
    handler({}, context)
    assert [s.attributes["faas.coldstart"] for s in exporter.spans] == [True, False]


def test_provisioned_concurrency_is_never_a_cold_start(
    lambda_tracing: Tracing,
    exporter: InMemoryExporter,
    context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Read once, at configuration time, like every variable (Settings.lambda_env).
    env = {**LAMBDA_ENV, "AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency"}
    configurator.configure(environ=env, exporter=exporter, instrument=False)
    otel_xray.lambda_handler(lambda event, ctx: None)({}, context)
    assert exporter.spans[0].attributes["faas.coldstart"] is False


def test_children_created_in_the_handler_are_parented_to_it(
    lambda_tracing: Tracing, exporter: InMemoryExporter, context: LambdaContext
) -> None:
    @otel_xray.lambda_handler
    def handler(event: object, ctx: object) -> None:
        with lambda_tracing.tracer().start_as_current_span("work"):
            pass

    handler({}, context)
    work, invocation = exporter.spans
    assert work.parent is not None and work.parent.span_id == invocation.context.span_id


def test_an_exception_is_recorded_and_reraised_unchanged(
    lambda_tracing: Tracing, exporter: InMemoryExporter, context: LambdaContext
) -> None:
    error = OrderFailedError("card declined")

    @otel_xray.lambda_handler
    def handler(event: object, ctx: object) -> None:
        raise error

    with pytest.raises(OrderFailedError) as raised:
        handler({}, context)
    assert raised.value is error
    [span] = exporter.spans
    assert span.status.status_code is StatusCode.ERROR
    [event] = span.events
    assert event.name == "exception"
    assert event.attributes["exception.type"].endswith("OrderFailedError")
    assert event.attributes["exception.message"] == "card declined"
    assert "raise error" in event.attributes["exception.stacktrace"]


def test_http_status_from_the_response(
    lambda_tracing: Tracing, exporter: InMemoryExporter, context: LambdaContext
) -> None:
    event = {"httpMethod": "POST", "path": "/orders", "resource": "/orders", "headers": {}}
    otel_xray.lambda_handler(lambda e, c: {"statusCode": 502})(event, context)
    [span] = exporter.spans
    assert span.attributes["faas.trigger"] == "http"
    assert span.attributes["http.response.status_code"] == 502
    assert span.status.status_code is StatusCode.ERROR


def test_async_handlers_are_awaited_and_timed(
    lambda_tracing: Tracing, exporter: InMemoryExporter, context: LambdaContext
) -> None:
    @otel_xray.lambda_handler
    async def handler(event: object, ctx: object) -> str:
        await asyncio.sleep(0.02)
        return "done"

    assert handler({}, context) == "done"
    [span] = exporter.spans
    assert (span.end_time or 0) - (span.start_time or 0) >= 20_000_000


def test_incoming_contexts_are_links_and_lambda_stays_the_parent(
    lambda_tracing: Tracing, exporter: InMemoryExporter, context: LambdaContext
) -> None:
    event = {
        "httpMethod": "GET",
        "headers": {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    }
    otel_xray.lambda_handler(lambda e, c: None)(event, context)
    [span] = exporter.spans
    assert span.parent is not None and span.parent.span_id == int(PARENT, 16)
    assert [f"{link.context.span_id:016x}" for link in span.links] == ["b7ad6b7169203331"]


def test_not_sampled_invocations_export_nothing(
    lambda_tracing: Tracing,
    exporter: InMemoryExporter,
    context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Active tracing on (a daemon address): Lambda's sampler said no, and that is final."""
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={ROOT};Parent={PARENT};Sampled=0")
    env = {**LAMBDA_ENV, "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000"}
    configurator.configure(environ=env, exporter=exporter, instrument=False)
    assert otel_xray.lambda_handler(lambda e, c: 7)({}, context) == 7
    assert exporter.spans == []


@pytest.mark.parametrize("broken_parts", [("tracer", "flush"), ("flush",)])
def test_tracing_failures_never_reach_the_handler(
    lambda_tracing: Tracing,
    context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    broken_parts: tuple[str, ...],
) -> None:
    """A broken tracer means no span; a broken flush comes after the span ended (it once
    escaped to the handler's caller): neither reaches the handler or its result."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("tracing is broken")

    for part in broken_parts:
        monkeypatch.setattr(lambda_tracing, part, broken)
    assert otel_xray.lambda_handler(lambda e, c: "still works")({}, context) == "still works"


@pytest.mark.parametrize(
    ("context", "bound_ms"),
    [
        (LambdaContext(remaining_ms=30_000), 1000),
        (LambdaContext(remaining_ms=250), 200),  # the runtime keeps 50 ms to post the response
        (LambdaContext(remaining_ms=10), 0),
        (object(), 1000),  # no remaining time to read: the setting alone
    ],
)
def test_the_flush_deadline_follows_the_remaining_time(context: object, bound_ms: int) -> None:
    before = time.monotonic()
    deadline = Deadline.for_invocation(context, setting_ms=1000)
    after = time.monotonic()
    assert before + bound_ms / 1000 <= deadline.at <= after + bound_ms / 1000


def test_handlers_in_subdirectories_load_like_the_runtime_loads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "src" / "orders"
    package.mkdir(parents=True)
    (package / "app.py").write_text("def handler(event, context):\n    return 'nested'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "src", raising=False)
    assert load_handler("src/orders/app.handler")({}, None) == "nested"
    with pytest.raises(AttributeError, match="Handler 'nope' missing"):
        load_handler("src/orders/app.nope")
    with pytest.raises(ValueError, match=r"expected module\.function"):
        load_handler("handler")


def test_sdk_disabled_runs_the_handler_untraced(
    fresh_process: None, context: LambdaContext
) -> None:
    assert configurator.configure(environ={"OTEL_SDK_DISABLED": "true"}) is None
    assert otel_xray.lambda_handler(lambda e, c: 1)({}, context) == 1


def test_a_disabled_setup_is_decided_once_per_sandbox(
    fresh_process: None, monkeypatch: pytest.MonkeyPatch, context: LambdaContext
) -> None:
    parses = []
    original = Settings.from_env.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Settings], environ: object = None) -> Settings:
        parses.append(1)
        return original(cls, environ)  # type: ignore[no-any-return]

    monkeypatch.setattr(Settings, "from_env", classmethod(counting))
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    handler = otel_xray.lambda_handler(lambda e, c: "ok")
    assert [handler({}, context) for _ in range(3)] == ["ok"] * 3
    assert len(parses) == 1


def test_a_failed_invocation_logs_its_trace_id_once_without_the_message(
    lambda_tracing: Tracing,
    exporter: InMemoryExporter,
    context: LambdaContext,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The line the dashboard's Logs Insights widget parses to list failed requests' traces."""

    def handler(event: object, context: object) -> None:
        raise ValueError("card 4111 1111 1111 1111 declined")

    with caplog.at_level(logging.WARNING, logger="otel_xray"), pytest.raises(ValueError):
        otel_xray.lambda_handler(handler)({}, context)
    [line] = [r.getMessage() for r in caplog.records if "invocation failed" in r.getMessage()]
    assert line == f"otel-xray: invocation failed: ValueError trace_id={ROOT}"
