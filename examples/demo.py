"""`make demo`: the order API invoked locally through the otel-xray layer, its traces shown.

Starts moto's server (DynamoDB, SQS, S3) and a payment API on loopback, runs the
function in a local Lambda sandbox (awslambdaric + the layer's otel-instrument),
sends an order that succeeds and one the payment API declines, and prints each
trace. Everything it starts, it stops.
"""

from __future__ import annotations

import json
from pathlib import Path

from examples.local_services import BUILD, LocalServices
from otel_xray.local.invoke import LocalFunction
from otel_xray.local.render import render_traces

EVENT = json.loads((Path(__file__).parent / "order_api" / "event.json").read_text())
OUT = Path("build") / "demo-spans.jsonl"


def main() -> int:
    declined = {**EVENT, "body": json.dumps({"amount": 25_000, "items": ["piano"]})}
    captured = []
    with (
        LocalServices() as services,
        LocalFunction(
            "app.handler",
            BUILD / "order_api",
            env=services.function_env(),
            function_name="order-api",
        ) as function,
    ):
        for title, event in (("order accepted", EVENT), ("payment declined", declined)):
            result = function.invoke(event)
            outcome = result.response if result.ok else result.error
            print(f"\n== {title}: {json.dumps(outcome)[:160]}")
            print(
                f"   _X_AMZN_TRACE_ID Root={result.root} Parent={result.parent} (Lambda's segment)"
            )
            print(render_traces(result.spans))
            captured.extend(result.spans)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text("".join(json.dumps(s, sort_keys=True) + "\n" for s in captured))
    print(f"\n{len(captured)} spans written to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
