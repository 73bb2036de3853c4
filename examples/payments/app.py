"""The payment API as a service of its own: Flask, served by gunicorn under
``opentelemetry-instrument`` (no tracing code here), "on ECS" through the task metadata
stand-in (examples/local_services.py ``PaymentApi`` starts it so).

``POST /charges`` approves an amount up to ``DECLINE_ABOVE`` (200), declines a larger
one (402), throttles ``THROTTLED_AMOUNT`` (429) and answers ``SLOW_AMOUNT`` slowly. With
``PAYMENTS_LEDGER_TABLE`` set it records each charge in that DynamoDB table first: the
service's own downstream call, traced by the botocore row like any other.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import flask

DECLINE_ABOVE = 10_000
SLOW_AMOUNT = 7_500
SLOW_SECONDS = 1.2
THROTTLED_AMOUNT = 429
LEDGER_TABLE = os.environ.get("PAYMENTS_LEDGER_TABLE")

app = flask.Flask("payments")
# Made as the worker boots, not on its first charge (a first checkout seconds slower).
_ledger: Any = __import__("boto3").client("dynamodb") if LEDGER_TABLE else None


@app.get("/health")
def health() -> dict[str, int]:
    """Which worker answered (the launcher waits until every worker has)."""
    return {"pid": os.getpid()}


@app.post("/charges")
def charge() -> tuple[dict[str, Any], int]:
    body = flask.request.get_json(silent=True)
    try:
        amount = float(body.get("amount", 0)) if isinstance(body, dict) else -1.0
    except (TypeError, ValueError):
        amount = -1.0
    status = 200 if 0 < amount <= DECLINE_ABOVE else 402
    if amount == THROTTLED_AMOUNT:
        status = 429
    if amount == SLOW_AMOUNT:
        time.sleep(SLOW_SECONDS)
    if LEDGER_TABLE:
        _ledger.put_item(
            TableName=LEDGER_TABLE,
            Item={
                "charge_id": {"S": str(uuid.uuid4())},
                "amount": {"N": str(amount)},
                "status": {"N": str(status)},
            },
        )
    return {"approved": status == 200}, status
