"""Order API (API Gateway -> Lambda): validate, store in DynamoDB, charge, enqueue.

In the full architecture (``PRICING_FUNCTION`` and ``ORDERS_TOPIC_ARN`` set, as
``examples/architecture.py`` and the template set them) it also has the pricing
function quote the items, and publishes the order to the orders topic, which fans out
to the worker's queue and to the notifier, instead of queueing it directly.

The otel-xray layer traces the AWS SDK and HTTP calls with no code; the few
``otel_xray`` calls here name the business steps and make the order searchable
in X-Ray (``annotation.transaction_type = "checkout" AND annotation.order_total > 100``).
The user id is the opaque subject of the caller's token, never an email.
"""

import json
import os
import uuid

import boto3
import requests

import otel_xray

TABLE = os.environ["ORDERS_TABLE"]
QUEUE_URL = os.environ["ORDERS_QUEUE_URL"]
PAYMENT_URL = os.environ["PAYMENT_URL"]
PRICING_FUNCTION = os.environ.get("PRICING_FUNCTION")
TOPIC_ARN = os.environ.get("ORDERS_TOPIC_ARN")
dynamodb = boto3.client("dynamodb")
sqs = boto3.client("sqs")
# Only the clients this deployment uses are made at init.
lambda_client = boto3.client("lambda") if PRICING_FUNCTION else None
sns = boto3.client("sns") if TOPIC_ARN else None


class PaymentDeclinedError(Exception):
    """The payment provider refused the charge."""


def handler(event, context):
    try:
        order = json.loads(event.get("body") or "{}")
        amount = float(order["amount"])
        items = list(order["items"])
    except (ValueError, KeyError, TypeError):
        return {"statusCode": 400, "body": json.dumps({"error": "amount and items are required"})}

    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("claims") or {}
    user_id = claims.get("sub", "anonymous")
    otel_xray.annotate(user_id=user_id, transaction_type="checkout", order_total=amount)

    if lambda_client is not None:
        reply = lambda_client.invoke(
            FunctionName=PRICING_FUNCTION, Payload=json.dumps({"items": items}).encode()
        )
        quote = json.loads(reply["Payload"].read())
        if reply.get("FunctionError"):
            return {"statusCode": 422, "body": json.dumps({"error": quote.get("errorMessage")})}
        otel_xray.annotate(quoted_total=quote["total"])

    order_id = str(uuid.uuid4())
    with otel_xray.subsegment(
        "store order", kind="db", system="dynamodb", operation="PutItem", table=TABLE
    ):
        dynamodb.put_item(
            TableName=TABLE,
            Item={
                "order_id": {"S": order_id},
                "user_id": {"S": user_id},
                "amount": {"N": str(amount)},
                "status": {"S": "NEW"},
            },
        )
    with otel_xray.subsegment(
        "charge payment", kind="http", method="POST", url=PAYMENT_URL
    ) as charge:
        reply = requests.post(PAYMENT_URL, json={"order_id": order_id, "amount": amount}, timeout=5)
        charge.set_status(reply.status_code)
    if reply.status_code != 200:
        raise PaymentDeclinedError(
            f"payment for order {order_id} declined: HTTP {reply.status_code}"
        )
    message = json.dumps({"order_id": order_id, "user_id": user_id, "items": items})
    if sns is not None:
        sns.publish(TopicArn=TOPIC_ARN, Message=message, Subject="order placed")
    else:
        sqs.send_message(QueueUrl=QUEUE_URL, MessageBody=message)
    return {"statusCode": 201, "body": json.dumps({"order_id": order_id})}
