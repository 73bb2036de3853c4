"""Order worker (SQS -> Lambda): load each order, price it, write a receipt, store it in S3.

In the full architecture the queue is subscribed to the orders topic, so a message is
SNS's envelope around the order; with ``EVENT_BUS_NAME`` set, a completed order is
announced on EventBridge (``OrderCompleted``), where a rule sends it to the notifier;
with ``FULFILMENT_STATE_MACHINE_ARN`` set, the worker starts the order-fulfilment state
machine for it (Step Functions joins the worker's trace through the call's header).

The layer traces DynamoDB and S3 with no code; ``otel_xray`` names the compute
step and the receipt file and annotates the order. A record whose order is
missing is reported as a batch item failure, so SQS redelivers only that message.
"""

import hashlib
import json
import os
import tempfile

import boto3

import otel_xray

dynamodb = boto3.client("dynamodb")
s3 = boto3.client("s3")
EVENT_BUS = os.environ.get("EVENT_BUS_NAME")
events = boto3.client("events") if EVENT_BUS else None  # only where it is used
FULFILMENT = os.environ.get("FULFILMENT_STATE_MACHINE_ARN")
stepfunctions = boto3.client("stepfunctions") if FULFILMENT else None
TABLE = os.environ["ORDERS_TABLE"]
BUCKET = os.environ["RECEIPTS_BUCKET"]
TAX_RATE = 0.2


def handler(event, context):
    failures = []
    for record in event.get("Records", []):
        message = json.loads(record["body"])
        if message.get("Type") == "Notification":  # through the orders topic
            message = json.loads(message["Message"])
        order_id = message["order_id"]
        item = dynamodb.get_item(TableName=TABLE, Key={"order_id": {"S": order_id}}).get("Item")
        if item is None:
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        receipt = build_receipt(order_id, float(item["amount"]["N"]), message["items"])
        otel_xray.annotate(
            user_id=message.get("user_id", "anonymous"),
            transaction_type="fulfilment",
            order_total=receipt["total"],
        )
        path = write_receipt(receipt)
        with open(path, "rb") as body:
            s3.put_object(
                Bucket=BUCKET,
                Key=f"receipts/{order_id}.json",
                Body=body,
                ContentType="application/json",
            )
        if events is not None:
            events.put_events(
                Entries=[
                    {
                        "Source": "orders",
                        "DetailType": "OrderCompleted",
                        "Detail": json.dumps({"order_id": order_id}),
                        "EventBusName": EVENT_BUS,
                    }
                ]
            )
        if stepfunctions is not None:
            stepfunctions.start_execution(
                stateMachineArn=FULFILMENT,
                input=json.dumps({"order_id": order_id, "items": message["items"]}),
            )
    return {"batchItemFailures": failures}


@otel_xray.subsegment("build receipt", kind="compute")
def build_receipt(order_id, amount, items):
    """The compute step: totals, and a tamper-evident signature over the receipt."""
    tax = round(amount * TAX_RATE, 2)
    receipt = {"order_id": order_id, "items": items, "net": amount, "tax": tax}
    receipt["total"] = round(amount + tax, 2)
    payload = json.dumps(receipt, sort_keys=True).encode()
    receipt["signature"] = hashlib.pbkdf2_hmac("sha256", payload, b"receipts", 20_000).hex()
    return receipt


def write_receipt(receipt):
    """The receipt file, as the function's /tmp holds it before upload."""
    path = os.path.join(tempfile.gettempdir(), f"receipt-{receipt['order_id']}.json")
    with otel_xray.subsegment(
        "write receipt file", kind="file", path=path, operation="write"
    ) as sub:
        data = json.dumps(receipt).encode()
        with open(path, "wb") as out:
            out.write(data)
        sub.set_bytes(len(data))
    return path
