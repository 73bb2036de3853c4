"""The benchmark's function: validate, store in DynamoDB, charge over HTTP, enqueue.

Zero-code (no tracing calls), so the same code runs with no layer (the baseline)
and under each tracing layer being compared.
"""

import json
import os
import uuid

import boto3
import requests

dynamodb = boto3.client("dynamodb")
sqs = boto3.client("sqs")
TABLE = os.environ["ORDERS_TABLE"]
QUEUE_URL = os.environ["ORDERS_QUEUE_URL"]
PAYMENT_URL = os.environ["PAYMENT_URL"]


class PaymentDeclinedError(Exception):
    """The payment provider refused the charge."""


def handler(event, context):
    try:
        order = json.loads(event.get("body") or "{}")
        amount = float(order["amount"])
        items = list(order["items"])
    except (ValueError, KeyError, TypeError):
        return {"statusCode": 400, "body": json.dumps({"error": "amount and items are required"})}

    order_id = str(uuid.uuid4())
    dynamodb.put_item(
        TableName=TABLE,
        Item={
            "order_id": {"S": order_id},
            "amount": {"N": str(amount)},
            "status": {"S": "NEW"},
        },
    )
    charge = requests.post(PAYMENT_URL, json={"order_id": order_id, "amount": amount}, timeout=5)
    if charge.status_code != 200:
        raise PaymentDeclinedError(
            f"payment for order {order_id} declined: HTTP {charge.status_code}"
        )
    sqs.send_message(
        QueueUrl=QUEUE_URL, MessageBody=json.dumps({"order_id": order_id, "items": items})
    )
    return {"statusCode": 201, "body": json.dumps({"order_id": order_id})}
