"""The handlers the X-Ray SDK bridge is compared on (tests/e2e/test_xray_sdk_bridge.py).

Each one is run twice, unchanged: under the real X-Ray SDK and Powertools without
the layer, and under the layer with the bridge. Written after the documented
examples:

- ``XRAY_SDK``: the X-Ray developer guide's "Generating custom subsegments with the
  X-Ray SDK for Python" (begin/end_subsegment with an annotation, ``capture`` of
  ``## create_user``, ``capture_async``, metadata in a ``debug`` namespace) and its
  configuration page (``configure(service=..., context_missing=...)``, ``patch_all``),
  plus what the SDK's models offer (flags, ``put_http_meta``, ``add_exception``) and
  one HTTP call (requests) and one AWS call (botocore) that fail in known ways;
- ``POWERTOOLS``: Powertools' Tracer docs (docs/core/tracer.md: getting started,
  annotations and metadata, async and generator methods, context managers,
  ``provider.in_subsegment``, ``capture_response=False``, an error);
- ``MIXED``: both, with OpenTelemetry's own API in between.
"""

from __future__ import annotations

XRAY_SDK = """
import asyncio

import botocore.session
import requests
from botocore.config import Config
from aws_xray_sdk.core import patch_all, xray_recorder

xray_recorder.configure(service="my_service", context_missing="LOG_ERROR")
patch_all()


@xray_recorder.capture("## create_user")
def create_user(user_id):
    xray_recorder.put_annotation("user_id", user_id)
    xray_recorder.put_metadata("test", "Metadata string from UserModel.saveUser", "debug")
    return {"user": user_id}


@xray_recorder.capture_async("## create_user_async")
async def create_user_async(user_id):
    await asyncio.sleep(0)
    xray_recorder.current_subsegment().put_annotation("async_user", user_id)
    return user_id


@xray_recorder.capture("## charge")
def charge():
    raise ValueError("card declined")


def handler(event, context):
    subsegment = xray_recorder.begin_subsegment("annotations")
    subsegment.put_annotation("id", 12345)
    xray_recorder.end_subsegment()
    create_user("u-1")
    asyncio.run(create_user_async("u-2"))
    with xray_recorder.in_subsegment("## flags") as sub:
        sub.add_error_flag()
        sub.add_throttle_flag()
        sub.put_http_meta("method", "GET")
        sub.put_http_meta("url", "https://example.com/orders")
        sub.put_http_meta("status", 429)
        sub.put_metadata("order", {"items": [1, 2], "express": False}, "shop")
    with xray_recorder.in_subsegment("## downstream"):
        requests.get(event["url"], timeout=5)
        client = botocore.session.get_session().create_client(
            "s3", region_name="us-east-1", endpoint_url=event["refused"],
            config=Config(retries={"max_attempts": 0}, connect_timeout=1),
        )
        try:
            client.list_buckets()
        except Exception:
            pass
    try:
        with xray_recorder.in_subsegment("## outer"):
            charge()
    except ValueError:
        pass
    return {"ok": True}
"""

POWERTOOLS = """
import asyncio
import contextlib

from aws_lambda_powertools import Tracer

tracer = Tracer()


@tracer.capture_method
def collect_payment(charge_id):
    tracer.put_annotation(key="PaymentId", value=charge_id)
    tracer.put_metadata(key="payment_response", value={"charge": charge_id, "ok": True})
    return f"dummy payment collected for charge: {charge_id}"


@tracer.capture_method
async def get_identity():
    return "identity"


@tracer.capture_method
async def long_async_call():
    await asyncio.sleep(0)
    return 7


@tracer.capture_method
def bookings_generator(booking_id):
    yield f"{booking_id}-1"
    yield f"{booking_id}-2"


@tracer.capture_method
@contextlib.contextmanager
def booking_actions(booking_id):
    yield f"action for {booking_id}"


@tracer.capture_method(capture_response=False)
def fetch_secret():
    return "not to be captured"


@tracer.capture_method
def refund(charge_id):
    raise RuntimeError(f"refund failed for {charge_id}")


@tracer.capture_lambda_handler
def lambda_handler(event, context):
    charge_id = event.get("charge_id", "")
    with tracer.provider.in_subsegment("## collect_payment") as subsegment:
        subsegment.put_annotation(key="PaymentId", value=charge_id)
        ret = collect_payment(charge_id=charge_id)
        subsegment.put_metadata(key="payment_response", value=ret)

    async def async_tasks():
        return await asyncio.gather(get_identity(), long_async_call())

    gathered = asyncio.run(async_tasks())
    items = list(bookings_generator("b-1"))
    with booking_actions("b-1") as action:
        pass
    fetch_secret()
    try:
        refund(charge_id)
    except RuntimeError:
        pass
    return {"ret": ret, "gathered": list(gathered), "items": items, "action": action}
"""

MIXED = """
from aws_lambda_powertools import Tracer
from aws_xray_sdk.core import xray_recorder
from opentelemetry import trace

tracer = Tracer()
otel = trace.get_tracer("shop")


@tracer.capture_method
def price(items):
    tracer.put_annotation("items", len(items))
    return sum(items)


@xray_recorder.capture("## reserve")
def reserve(sku):
    xray_recorder.put_metadata("sku", sku, "stock")
    return True


@tracer.capture_lambda_handler
def lambda_handler(event, context):
    total = price([1, 2, 3])
    with otel.start_as_current_span("otel checkout") as span:
        span.set_attribute("checkout.total", total)
        with xray_recorder.in_subsegment("## inside otel") as sub:
            sub.put_annotation("total", total)
            reserve("sku-1")
    return {"total": total}
"""

#: module name -> (source, handler, spans only OpenTelemetry's API makes).
FUNCTIONS = {
    "xray_sdk_app": (XRAY_SDK, "xray_sdk_app.handler", ()),
    "powertools_app": (POWERTOOLS, "powertools_app.lambda_handler", ()),
    "mixed_app": (MIXED, "mixed_app.lambda_handler", ("otel checkout",)),
}
