"""Order fulfilment (Lambda tasks of the order-fulfilment state machine).

The order-worker starts the state machine for each order it has receipted; Step
Functions calls ``reserve`` (``arn:aws:states:::lambda:invoke``) and, last, ``ship``
(the plain function ARN). No tracing code: each task call carries the execution's
trace header, so these functions' segments continue the order's trace under their
state's ``Lambda`` child (see docs/local.md, "Step Functions").
"""

import hashlib

STOCK = {"book": 40, "lamp": 3, "piano": 0, "sofa": 2}


def reserve(event, context):
    """Reserve one of each item; say which are out of stock."""
    missing = [item for item in event["items"] if STOCK.get(item, 0) < 1]
    return {"reserved": not missing, "missing": missing, "items": event["items"]}


def ship(event, context):
    """Hand the packed order to the courier: a tracking number."""
    digest = hashlib.sha256(event["order_id"].encode()).hexdigest()[:10]
    return {"order_id": event["order_id"], "tracking": f"TRK-{digest.upper()}"}
