"""Pricing (Lambda, invoked synchronously by order-api): the price of an order's items.

No tracing code: the layer traces the invocation, and because order-api's Invoke call
carries its trace header, this function's segments join order-api's trace.
"""

PRICES = {"book": 12.5, "lamp": 30.0, "piano": 25_000.0, "sofa": 800.0}


class UnknownItemError(Exception):
    """An item the price list does not know."""


def handler(event, context):
    unknown = [item for item in event["items"] if item not in PRICES]
    if unknown:
        raise UnknownItemError(f"no price for {', '.join(unknown)}")
    return {"total": round(sum(PRICES[item] for item in event["items"]), 2)}
