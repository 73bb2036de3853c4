"""Durable functions under otel-xray, run by the SDK's own local test runner.

The real aws-durable-execution-sdk-python runs the handler (``@durable_execution``),
and aws-durable-execution-sdk-python-testing's ``DurableFunctionTestRunner`` plays the
service in-process: checkpoints, the wait (its clock skips ahead) and the next
invocation that replays what was checkpointed. otel-xray's plugin is found the way
the layer finds it: by name in ``DURABLE_EXECUTION_PLUGINS`` through the
``aws_durable_execution.plugins`` entry point (``plugin_discovery``).

The SDK runs the handler body on a worker thread: ``execution.durable_execution``
copies the handler thread's context only when a plugin is registered, which the first
test shows by running the same function without one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aws_durable_execution_sdk_python.config import Duration
from aws_durable_execution_sdk_python.context import (
    DurableContext,
    durable_step,
    durable_with_child_context,
)
from aws_durable_execution_sdk_python.exceptions import PluginLoadError
from aws_durable_execution_sdk_python.execution import InvocationStatus, durable_execution
from aws_durable_execution_sdk_python.plugin_discovery import load_configured_plugins
from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan

import otel_xray
from otel_xray import configurator
from otel_xray.devtools.traces.store import TraceStore
from otel_xray.devtools.traces.text import render_trace
from otel_xray.testing import LAMBDA_ENV, InMemoryExporter
from otel_xray.xray.segment import span_to_document


def tracer() -> trace.Tracer:
    # Looked up at each use: a module-level proxy would keep the first test's provider.
    return trace.get_tracer("app")


@durable_step
def reserve(step_context: Any, item: str) -> str:
    with tracer().start_as_current_span("inside reserve"):
        return f"reserved {item}"


@durable_step
def charge(step_context: Any, amount: int) -> str:
    return f"charged {amount}"


@durable_step
def receipt(step_context: Any, amount: int) -> str:
    return f"receipt {amount}"


@durable_with_child_context
def payment(ctx: DurableContext, amount: int) -> str:
    return f"{ctx.step(charge(amount))}, {ctx.step(receipt(amount))}"


def order(event: Any, context: DurableContext) -> list[str]:
    with tracer().start_as_current_span("between steps"):
        pass
    done = [context.step(reserve("book"))]
    context.wait(Duration.from_seconds(60))
    done.append(context.run_in_child_context(payment(12)))
    return done


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[ReadableSpan]]:
    monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)
    configurator.reset()
    exporter = InMemoryExporter()
    configurator.configure(environ=dict(LAMBDA_ENV), exporter=exporter, instrument=False)
    yield exporter.spans
    configurator.reset()


def run(monkeypatch: pytest.MonkeyPatch, plugins: str | None) -> Any:
    if plugins is None:
        monkeypatch.delenv("DURABLE_EXECUTION_PLUGINS", raising=False)
    else:
        monkeypatch.setenv("DURABLE_EXECUTION_PLUGINS", plugins)
    # The SDK resolves plugins when ``@durable_execution`` decorates the handler (its
    # module's import on Lambda, after otel-instrument set the variable).
    handler = otel_xray.lambda_handler(durable_execution(order))
    with DurableFunctionTestRunner(handler=handler) as runner:
        result = runner.run(input=json.dumps({"id": "o-1"}), execution_timeout=30)
    assert result.status is InvocationStatus.SUCCEEDED, result
    return result


def by_name(spans: list[ReadableSpan]) -> dict[str, ReadableSpan]:
    return {s.name: s for s in spans}


def invocations(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    """The handler spans (otel-xray's invocation spans)."""
    return [s for s in spans if "faas.coldstart" in (s.attributes or {})]


def test_without_a_plugin_the_handler_body_starts_traces_of_its_own(
    spans: list[ReadableSpan], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's behaviour this plugin exists for (its fresh worker context)."""
    run(monkeypatch, None)
    handler_traces = {s.context.trace_id for s in invocations(spans)}
    between = [s for s in spans if s.name == "between steps"]
    assert between and all(s.context.trace_id not in handler_traces for s in between)


def test_steps_are_subsegments_named_after_the_step_in_the_invocation_that_ran_them(
    spans: list[ReadableSpan], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(monkeypatch, "otel-xray")
    first, second = invocations(spans)  # the wait suspends the first invocation
    assert first.context.trace_id != second.context.trace_id  # one trace per invocation
    assert first.attributes["durable.invocation.first"] is True
    assert second.attributes["durable.invocation.first"] is False
    assert first.attributes["durable.execution.arn"] == second.attributes["durable.execution.arn"]
    named = by_name(spans)
    # The body runs again on each invocation (the SDK replays it), and its own spans
    # are under each invocation's span; the step ran in the first only.
    between = [s for s in spans if s.name == "between steps"]
    assert [s.parent.span_id for s in between if s.parent] == [
        first.context.span_id,
        second.context.span_id,
    ]
    assert named["reserve"].context.trace_id == first.context.trace_id
    assert named["reserve"].parent is not None
    assert named["reserve"].parent.span_id == first.context.span_id
    # A span made inside the step hangs under the step.
    assert named["inside reserve"].parent.span_id == named["reserve"].context.span_id
    # Second invocation: reserve is replayed from its checkpoint, not run: no span for
    # it in this trace; the child context and its steps are.
    second_names = [s.name for s in spans if s.context.trace_id == second.context.trace_id]
    assert second_names.count("reserve") == 0
    assert {"payment", "charge", "receipt"} <= set(second_names)
    assert named["payment"].parent.span_id == second.context.span_id
    for step in ("charge", "receipt"):
        assert named[step].parent.span_id == named["payment"].context.span_id
        assert named[step].attributes["durable.operation.type"] == "STEP"
    # As X-Ray documents: each step is a subsegment named after it.
    documents = [span_to_document(s) for s in spans]
    assert {d["name"] for d in documents if d.get("type") == "subsegment"} >= {
        "reserve",
        "payment",
        "charge",
        "receipt",
    }
    store = TraceStore(documents)
    for trace_ in store.traces():
        print(render_trace(trace_))


def test_the_sdks_own_otel_plugin_and_ours_are_mutually_exclusive(
    spans: list[ReadableSpan], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both claim the SDK's exclusive group: a clear error, never two views of a step."""
    monkeypatch.setenv("DURABLE_EXECUTION_PLUGINS", "otel-xray,otel-invocation")
    with pytest.raises(PluginLoadError, match="mutually exclusive"):
        load_configured_plugins(None)
