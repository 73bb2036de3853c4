"""Order worker (SQS -> Lambda): load each order, price it, write a receipt to S3.

Plain application code with no tracing calls: the otel-xray layer traces it. A
record whose order is missing is reported back as a batch item failure, so SQS
redelivers only that message.
"""

import hashlib
import json
import os

import boto3

dynamodb = boto3.client("dynamodb")
s3 = boto3.client("s3")
TABLE = os.environ["ORDERS_TABLE"]
BUCKET = os.environ["RECEIPTS_BUCKET"]
TAX_RATE = 0.2


def handler(event, context):
    failures = []
    for record in event.get("Records", []):
        message = json.loads(record["body"])
        order_id = message["order_id"]
        item = dynamodb.get_item(TableName=TABLE, Key={"order_id": {"S": order_id}}).get("Item")
        if item is None:
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        receipt = build_receipt(order_id, float(item["amount"]["N"]), message["items"])
        s3.put_object(
            Bucket=BUCKET,
            Key=f"receipts/{order_id}.json",
            Body=json.dumps(receipt).encode(),
            ContentType="application/json",
        )
    return {"batchItemFailures": failures}


def build_receipt(order_id, amount, items):
    """The compute step: totals, and a tamper-evident signature over the receipt."""
    tax = round(amount * TAX_RATE, 2)
    receipt = {"order_id": order_id, "items": items, "net": amount, "tax": tax}
    receipt["total"] = round(amount + tax, 2)
    payload = json.dumps(receipt, sort_keys=True).encode()
    receipt["signature"] = hashlib.pbkdf2_hmac("sha256", payload, b"receipts", 20_000).hex()
    return receipt
