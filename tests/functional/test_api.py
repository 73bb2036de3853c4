"""The developer API as a function uses it: annotations, metadata, subsegments, fan-out."""

from __future__ import annotations

import asyncio
import io
import logging
import math
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.response import StreamingBody
from opentelemetry import trace

import otel_xray
from otel_xray.testing import XRayCapture
from otel_xray.xray import MAX_METADATA_STRING


def handler_subsegment(documents: list[dict[str, Any]]) -> dict[str, Any]:
    return next(d for d in documents if d.get("name") == "my-function" and "type" in d)


def by_name(documents: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(d for d in documents if d.get("name") == name)


# annotations -------------------------------------------------------------------------


def test_annotations_need_no_subsegment_in_lambda(xray: XRayCapture) -> None:
    def handler(event: Any, context: Any) -> str:
        otel_xray.annotate(transaction_type="checkout", order_total=42.5, express=True)
        otel_xray.annotate("user_id", "u-4821")
        return "ok"

    result = xray.invoke(handler, {})
    assert result.error is None
    annotations = handler_subsegment(result.documents)["annotations"]
    assert annotations == {
        "transaction_type": "checkout",
        "order_total": 42.5,
        "express": True,
        "user_id": "u-4821",
        "ColdStart": True,
        "Service": "my-function",
    }


@pytest.mark.parametrize(
    ("key", "value", "rule"),
    [
        ("user-id", "u-1", "key"),
        ("", "x", "key"),
        ("k" * 501, "x", "key"),
        ("note", "x" * 1001, "value"),
        ("items", ["a"], "value"),
        ("ratio", math.nan, "value"),
    ],
)
def test_each_rule_broken_raises_in_strict_mode(
    xray: XRayCapture, key: str, value: Any, rule: str
) -> None:
    def handler(event: Any, context: Any) -> None:
        otel_xray.annotate(key, value)

    result = xray.invoke(handler, {})
    assert isinstance(result.error, otel_xray.AnnotationError)
    assert f"accepted {rule}:" in str(result.error)


def test_the_fifty_first_annotation_of_a_trace_is_refused(xray: XRayCapture) -> None:
    def handler(event: Any, context: Any) -> None:
        for number in range(48):  # ColdStart and Service are the other two
            otel_xray.annotate(f"k{number}", number)
        otel_xray.annotate("k0", 99)  # the same key again does not count twice
        otel_xray.annotate("one_too_many", 1)

    result = xray.invoke(handler, {})
    assert isinstance(result.error, otel_xray.AnnotationError)
    assert "at most 50 annotations per trace" in str(result.error)


def test_in_production_a_broken_rule_is_logged_once_and_counted(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def handler(event: Any, context: Any) -> str:
        otel_xray.annotate("bad key", 1)
        otel_xray.annotate("bad key 2", 2)
        otel_xray.annotate(good="yes")
        return "ok"

    with (
        caplog.at_level(logging.WARNING, logger="otel_xray"),
        XRayCapture(environ={"OTEL_XRAY_STRICT": "false"}) as capture,
    ):
        result = capture.invoke(handler, {})
        # The capture starts a fresh process state: these are this handler's counts.
        assert otel_xray.annotation_stats().rejected == {"key": 2}
        assert otel_xray.annotation_stats().written == 1
    assert result.error is None and result.response == "ok"
    subsegment = handler_subsegment(result.documents)
    assert subsegment["annotations"]["good"] == "yes"
    assert subsegment["metadata"]["default"]["otel_xray.annotations.rejected"] == 2
    assert caplog.text.count("not indexed by X-Ray") == 1


def test_a_personal_value_is_never_written_as_is(xray: XRayCapture) -> None:
    def handler(event: Any, context: Any) -> None:
        otel_xray.annotate(user_id="jane.doe@example.com")

    result = xray.invoke(handler, {})
    assert handler_subsegment(result.documents)["annotations"]["user_id"] == "[REDACTED:email]"
    with XRayCapture(
        environ={"OTEL_XRAY_PII_MODE": "hash", "OTEL_XRAY_PII_HASH_KEY": "k" * 32}
    ) as hashing:
        first = hashing.invoke(handler, {})
        second = hashing.invoke(handler, {})
    pseudonyms = [
        handler_subsegment(r.documents)["annotations"]["user_id"] for r in (first, second)
    ]
    assert pseudonyms[0] == pseudonyms[1] and pseudonyms[0].startswith("[email:")


# metadata ---------------------------------------------------------------------------


def test_metadata_is_json_safe_and_consumes_nothing(xray: XRayCapture) -> None:
    body = StreamingBody(io.BytesIO(b"payload"), len(b"payload"))

    def handler(event: Any, context: Any) -> bytes:
        otel_xray.metadata("order", items=["book", "lamp"], total=42.5, raw=body, blob=b"xyz")
        otel_xray.metadata("order", express=False)  # merged into the same namespace
        otel_xray.metadata("big", **{f"part{n}": "x" * 4000 for n in range(6)})
        return body.read()

    result = xray.invoke(handler, {})
    assert result.response == b"payload"  # the stream was not read by tracing
    metadata = handler_subsegment(result.documents)["metadata"]
    assert metadata["order"] == {
        "items": ["book", "lamp"],
        "total": 42.5,
        "raw": "<botocore.response.StreamingBody>",
        "blob": "<3 bytes>",
        "express": False,
    }
    assert metadata["big"]["_truncated"] is True and "part5" not in metadata["big"]
    assert "part0" in metadata["big"]


def test_a_reserved_metadata_namespace_is_refused(xray: XRayCapture) -> None:
    result = xray.invoke(lambda event, context: otel_xray.metadata("AWS.mine", x=1), {})
    assert isinstance(result.error, otel_xray.AnnotationError)


# subsegments ------------------------------------------------------------------------


class Orders:
    @otel_xray.subsegment("Orders.total", kind="compute")
    def total(self, prices: list[float]) -> float:
        return sum(prices)


@otel_xray.subsegment("load")
def load(order_id: str) -> str:
    return order_id.upper()


@otel_xray.subsegment("fetch")
async def fetch(order_id: str) -> str:
    await asyncio.sleep(0.001)
    return order_id


@otel_xray.subsegment("rows")
def rows(count: int) -> Iterator[int]:
    for number in range(count):
        time.sleep(0.01)
        yield number


@otel_xray.subsegment("stream")
async def stream(count: int) -> AsyncIterator[int]:
    for number in range(count):
        await asyncio.sleep(0.01)
        yield number


def test_every_callable_kind_is_a_subsegment_under_the_handler(xray: XRayCapture) -> None:
    consumer_parents: list[str] = []

    def handler(event: Any, context: Any) -> list[Any]:
        out: list[Any] = [load("o-1"), Orders().total([1.5, 2.5])]
        for row in rows(3):
            with otel_xray.subsegment("consume") as consume:
                consumer_parents.append(format(consume.span.parent.span_id, "016x"))  # type: ignore[union-attr]
            out.append(row)

        async def gathered() -> list[Any]:
            results = [await fetch("o-2")]
            results += [item async for item in stream(2)]
            async with otel_xray.subsegment("async block"):
                pass
            return results

        out += asyncio.run(gathered())
        with otel_xray.subsegment("block") as block:
            block.set(step="last")
        return out

    result = xray.invoke(handler, {})
    assert result.response == ["O-1", 4.0, 0, 1, 2, "o-2", 0, 1]
    handler_id = handler_subsegment(result.documents)["id"]
    for name in ("load", "Orders.total", "rows", "fetch", "stream", "async block", "block"):
        assert by_name(result.documents, name)["parent_id"] == handler_id, name
    # The consumer's work between items is not the generator's child.
    assert set(consumer_parents) == {handler_id}
    generator = by_name(result.documents, "rows")
    # Timed over the whole iteration (3 x 10 ms), not its creation.
    assert generator["end_time"] - generator["start_time"] >= 0.03
    assert (
        by_name(result.documents, "stream")["end_time"]
        - by_name(result.documents, "stream")["start_time"]
        >= 0.02
    )
    assert by_name(result.documents, "block")["metadata"]["default"]["step"] == "last"


def test_nested_subsegments_and_errors(xray: XRayCapture) -> None:
    failure = KeyError("order o-9 missing")

    def handler(event: Any, context: Any) -> None:
        with otel_xray.subsegment("outer"), otel_xray.subsegment("inner"):
            raise failure

    result = xray.invoke(handler, {})
    assert result.error is failure  # the same object, unchanged
    outer, inner = by_name(result.documents, "outer"), by_name(result.documents, "inner")
    assert inner["parent_id"] == outer["id"]
    for document in (outer, inner):
        assert document["fault"] is True
        [exception] = document["cause"]["exceptions"]
        assert exception["type"] == "KeyError" and "o-9" in exception["message"]
        assert exception["stack"][0]["label"] == "handler"


def test_kinds_record_what_x_ray_shows(xray: XRayCapture) -> None:
    def handler(event: Any, context: Any) -> None:
        with otel_xray.subsegment(
            "save order",
            kind="db",
            remote=True,
            system="postgresql",
            operation="INSERT",
            database="orders",
            host="db.internal",
            statement="INSERT INTO orders VALUES ('o-1', 'jane@example.com')",
        ):
            pass
        with otel_xray.subsegment(
            "charge", kind="http", remote=True, method="post", url="https://pay.example.com/charges"
        ) as charge:
            charge.set_status(402)
        with otel_xray.subsegment(
            "refund", kind="http", method="POST", url="https://pay.example.com/r"
        ) as r:
            r.set_status(503)
        with otel_xray.subsegment("lookup", kind="db", system="dynamodb", table="orders"):
            pass
        with otel_xray.subsegment(
            "receipt", kind="file", path="/tmp/r.json", operation="write"
        ) as f:
            f.set_bytes(512)
        with otel_xray.subsegment("sign", kind="compute"):
            sum(i * i for i in range(200_000))

    result = xray.invoke(handler, {})
    assert result.error is None
    db = by_name(result.documents, "orders@db.internal")
    assert db["namespace"] == "remote"
    assert db["sql"]["sanitized_query"] == "INSERT INTO orders VALUES (?, ?)"
    charge = by_name(result.documents, "pay.example.com")
    assert charge["http"] == {
        "request": {"method": "POST", "url": "https://pay.example.com/charges"},
        "response": {"status": 402},
    }
    assert charge["error"] is True and charge["namespace"] == "remote"
    refund = [
        d for d in result.documents if d.get("http", {}).get("response", {}).get("status") == 503
    ]
    assert refund[0]["fault"] is True
    receipt = by_name(result.documents, "receipt")["metadata"]["default"]
    assert receipt == {"file.path": "/tmp/r.json", "file.operation": "write", "file.size": 512}
    assert by_name(result.documents, "sign")["metadata"]["default"]["process.cpu.time"] > 0
    local = by_name(result.documents, "lookup")  # local by default: no node of its own
    assert "namespace" not in local and local["metadata"]["default"]["db.system"] == "dynamodb"
    with pytest.raises(ValueError, match="accepted values are db, http, file, compute"):
        otel_xray.subsegment("x", kind="queue")  # type: ignore[arg-type]


def test_without_tracing_the_api_is_inert() -> None:
    @otel_xray.subsegment("plain")
    def plain() -> int:
        otel_xray.annotate(k=1)
        otel_xray.metadata(x=1)
        return 1

    assert plain() == 1


# concurrency ------------------------------------------------------------------------


def test_thread_pool_and_gather_fan_out_keep_their_parents(xray: XRayCapture) -> None:
    def work(number: int) -> int:
        with otel_xray.subsegment(f"thread {number}"):
            return number

    async def task(number: int) -> int:
        with otel_xray.subsegment(f"task {number}"):
            await asyncio.sleep(0.001)
            return number

    def handler(event: Any, context: Any) -> None:
        with otel_xray.subsegment("fan out"):
            with otel_xray.TracedThreadPoolExecutor(max_workers=4) as pool:
                assert list(pool.map(work, range(4))) == [0, 1, 2, 3]
            with ThreadPoolExecutor(max_workers=2) as plain_pool:
                plain_pool.submit(otel_xray.in_current_context(work), 9).result()

            async def gather() -> list[int]:
                return await asyncio.gather(*(task(n) for n in range(3)))

            assert asyncio.run(gather()) == [0, 1, 2]

    result = xray.invoke(handler, {})
    assert result.error is None
    fan_out = by_name(result.documents, "fan out")
    children = [d for d in result.documents if d.get("parent_id") == fan_out["id"]]
    assert sorted(d["name"] for d in children) == sorted(
        [f"thread {n}" for n in (0, 1, 2, 3, 9)] + [f"task {n}" for n in range(3)]
    )
    assert {d["trace_id"] for d in children} == {result.root}


# Powertools parity ------------------------------------------------------------------


def test_response_capture_is_opt_in_bounded_and_redacted() -> None:
    def handler(event: Any, context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": "sent to jane.doe@example.com", "pad": "x" * 40_000}

    with XRayCapture() as off:
        default = handler_subsegment(off.invoke(handler, {}).documents)
    assert "response" not in default.get("metadata", {})
    with XRayCapture(environ={"OTEL_XRAY_CAPTURE_RESPONSE": "true"}) as on:
        captured = handler_subsegment(on.invoke(handler, {}).documents)
    response = captured["metadata"]["response"]["handler"]
    assert response["statusCode"] == 200
    assert response["body"] == "sent to [REDACTED:email]"
    assert len(response["pad"]) == MAX_METADATA_STRING + 1  # cut, marked
    assert trace.get_current_span() is trace.INVALID_SPAN
