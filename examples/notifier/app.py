"""Notifier (Lambda): tells the customer about an order, from SNS or from EventBridge.

It subscribes to the orders topic (a placed order) and to an EventBridge rule for
completed orders. No tracing code: SNS and EventBridge pass the publisher's trace
header on, so each notification is part of the order's trace.
"""

import json

import otel_xray


def handler(event, context):
    if "Records" in event:  # SNS: a placed order
        orders = [json.loads(r["Sns"]["Message"])["order_id"] for r in event["Records"]]
        otel_xray.annotate(notification="order placed")
    else:  # EventBridge: a completed order
        orders = [event["detail"]["order_id"]]
        otel_xray.annotate(notification="order completed")
    return {"notified": orders}
