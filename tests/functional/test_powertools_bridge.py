"""Powertools for AWS Lambda's ``Tracer``, unchanged, on otel-xray's spans.

The real ``aws-lambda-powertools`` 3.x Tracer (``aws_lambda_powertools/tracing/
tracer.py``) runs on the X-Ray SDK's recorder, which the bridge takes over: one set
of subsegments, with Powertools' names (``## handler``, ``## module.function``), its
annotations and metadata, and its capture settings. The handlers follow Powertools'
documented Tracer examples (docs/core/tracer.md: "Getting started", "Asynchronous
and generator functions", "Context managers", "Disabling response auto-capture").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator, Iterator
from typing import Any

import pytest
from aws_lambda_powertools import Tracer
from aws_lambda_powertools.tracing import tracer as tracer_module

from otel_xray.testing import XRayCapture


def by_name(documents: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(d for d in documents if d.get("name") == name)


def named(documents: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [d for d in documents if d.get("name") == name]


def method(documents: list[dict[str, Any]], short: str) -> dict[str, Any]:
    """Powertools names a method's subsegment ``## module.qualname`` (sanitized)."""
    return next(d for d in documents if d.get("name", "").endswith(f".{short}"))


def response_of(document: dict[str, Any]) -> Any:
    """What ``capture_method`` recorded as ``<method name> response`` (namespace: service)."""
    return document["metadata"]["payment"][f"{document['name'][3:]} response"]


def annotated(documents: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [d for d in documents if key in d.get("annotations", {})]


@pytest.fixture
def xray(monkeypatch: pytest.MonkeyPatch) -> Iterator[XRayCapture]:
    # Powertools traces only in Lambda (LAMBDA_TASK_ROOT set), and keeps its settings
    # and the cold-start flag per process: each test is a fresh sandbox.
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "payment")
    Tracer._reset_config()
    monkeypatch.setattr(tracer_module, "is_cold_start", True)
    with XRayCapture(environ={"OTEL_XRAY_STRICT": "false"}) as capture:
        yield capture
    Tracer._reset_config()


def test_getting_started_one_set_of_subsegments(xray: XRayCapture) -> None:
    tracer = Tracer()

    @tracer.capture_method
    def collect_payment(charge_id: str) -> dict[str, str]:
        tracer.put_annotation(key="PaymentId", value=charge_id)
        tracer.put_metadata(key="payment_response", value={"status": "ok"})
        return {"charge": charge_id}

    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
        return collect_payment(event["charge_id"])

    first = xray.invoke(handler, {"charge_id": "c-1"})
    second = xray.invoke(handler, {"charge_id": "c-2"})
    for result, cold in ((first, True), (second, False)):
        docs = result.documents
        function = next(d for d in docs if d.get("name") == "my-function" and "type" in d)
        lambda_handler = by_name(docs, "## handler")
        assert lambda_handler["parent_id"] == function["id"]
        assert lambda_handler["annotations"] == {"ColdStart": cold, "Service": "payment"}
        assert lambda_handler["metadata"]["payment"]["handler response"] == {
            "charge": result.response["charge"]
        }
        collect = method(docs, "collect_payment")
        assert collect["parent_id"] == lambda_handler["id"]
        assert collect["annotations"] == {"PaymentId": result.response["charge"]}
        assert collect["metadata"]["payment"]["payment_response"] == {"status": "ok"}
        assert response_of(collect) == result.response
        # One ColdStart and one Service in the trace: Powertools', not ours as well.
        assert annotated(docs, "ColdStart") == [lambda_handler]
        assert annotated(docs, "Service") == [lambda_handler]
        assert {d["trace_id"] for d in docs} == {result.root}


def test_async_generators_and_context_managers(xray: XRayCapture) -> None:
    tracer = Tracer()

    @tracer.capture_method
    async def get_identity() -> str:
        return "id"

    @tracer.capture_method
    async def long_call() -> int:
        await asyncio.sleep(0)
        return 7

    @tracer.capture_method
    def bookings(booking_id: str) -> Generator[str, None, str]:
        yield f"{booking_id}-a"
        yield f"{booking_id}-b"
        return "done"

    @tracer.capture_method
    @contextlib.contextmanager
    def booking_actions(booking_id: str) -> Iterator[str]:
        yield f"action {booking_id}"

    @tracer.capture_lambda_handler
    def handler(event: Any, context: Any) -> dict[str, Any]:
        async def both() -> list[Any]:
            return list(await asyncio.gather(get_identity(), long_call()))

        gathered = asyncio.run(both())
        items = list(bookings("b-1"))
        with booking_actions("b-1") as action:
            pass
        with tracer.provider.in_subsegment("## manual") as sub:
            sub.put_annotation("manual", True)
        return {"gathered": gathered, "items": items, "action": action}

    result = xray.invoke(handler, {})
    assert result.error is None, result.error
    docs = result.documents
    lambda_handler = by_name(docs, "## handler")
    for short in ("get_identity", "long_call", "bookings", "booking_actions"):
        sub = method(docs, short)
        assert sub["parent_id"] == lambda_handler["id"], short
    assert response_of(method(docs, "get_identity")) == "id"
    assert response_of(method(docs, "long_call")) == 7
    assert response_of(method(docs, "bookings")) == "done"
    assert response_of(method(docs, "booking_actions")) == "action b-1"
    assert by_name(docs, "## manual")["annotations"] == {"manual": True}


def test_errors_are_captured_with_the_exception_as_metadata(xray: XRayCapture) -> None:
    tracer = Tracer()

    @tracer.capture_method
    def charge() -> None:
        raise ValueError("card declined")

    @tracer.capture_lambda_handler
    def handler(event: Any, context: Any) -> None:
        charge()

    result = xray.invoke(handler, {})
    assert isinstance(result.error, ValueError)
    charged = method(result.documents, "charge")
    assert charged["fault"] is True
    assert charged["cause"]["exceptions"][0]["type"] == "ValueError"
    assert f"{charged['name'][3:]} error" in charged["metadata"]["payment"]
    lambda_handler = by_name(result.documents, "## handler")
    assert lambda_handler["fault"] is True
    assert "handler error" in lambda_handler["metadata"]["payment"]


def test_capture_settings_are_honoured(xray: XRayCapture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACER_CAPTURE_RESPONSE", "false")
    monkeypatch.setenv("POWERTOOLS_TRACER_CAPTURE_ERROR", "false")
    tracer = Tracer()

    @tracer.capture_method(capture_response=True)
    def explicit() -> str:
        return "kept"

    @tracer.capture_lambda_handler
    def handler(event: Any, context: Any) -> str:
        explicit()
        if event.get("fail"):
            raise RuntimeError("no metadata for me")
        return "not kept"

    ok = xray.invoke(handler, {}).documents
    assert "metadata" not in by_name(ok, "## handler")
    failed = xray.invoke(handler, {"fail": True}).documents
    assert "metadata" not in by_name(failed, "## handler")
    assert by_name(failed, "## handler")["fault"] is True
    assert response_of(method(ok, "explicit")) == "kept"


def test_disabled_tracer_records_nothing_and_our_annotations_stay(
    xray: XRayCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    tracer = Tracer()

    @tracer.capture_lambda_handler
    def handler(event: Any, context: Any) -> str:
        return "ok"

    try:
        docs = xray.invoke(handler, {}).documents
    finally:
        from aws_xray_sdk import global_sdk_config  # noqa: PLC0415

        global_sdk_config.set_sdk_enabled(True)
    assert named(docs, "## handler") == []
    function = next(d for d in docs if d.get("name") == "my-function" and "type" in d)
    assert function["annotations"] == {"ColdStart": True, "Service": "my-function"}
