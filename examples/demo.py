"""`make demo`: the order service run locally through the otel-xray layer, as X-Ray would show it.

Starts moto's server (DynamoDB, SQS, S3) and a payment API on loopback, and two
local Lambda sandboxes (awslambdaric + the layer's otel-instrument, exporting
straight to a local X-Ray daemon over UDP, the layer's default):

- ``order-api`` gets an API Gateway event for an order that is accepted and one
  the payment API declines;
- ``order-worker`` gets the SQS event Lambda's poller would build from the queue.

It prints every trace as X-Ray's timeline shows it, the service map, and writes
the segment documents and the map as SVG under ``build/demo/``. Everything it
starts, it stops. :func:`run` is this two-function app (the tests' fixture);
``make demo`` runs the whole architecture around it (``examples/architecture.py``:
API Gateway, the pricing function, the orders topic, the notifier, EventBridge, the
order-fulfilment state machine), through both exporters.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from examples import architecture
from examples.local_services import BUILD, LocalServices
from otel_xray.devtools.functions.event_sources import SqsEventSource
from otel_xray.devtools.functions.invoke import InvocationResult, LocalFunction
from otel_xray.devtools.traces.service_graph import ServiceGraph
from otel_xray.devtools.traces.store import TraceStore
from otel_xray.devtools.traces.svg import render_svg
from otel_xray.devtools.traces.text import render_map, render_trace

API_EVENT = json.loads((Path(__file__).parent / "order_api" / "event.json").read_text())
OUT = Path("build") / "demo"


def order_event(amount: float, items: list[str]) -> dict[str, object]:
    return {**API_EVENT, "body": json.dumps({"amount": amount, "items": items})}


#: (title, amount, items) of each order the demo places.
ORDERS = [("order accepted", 42.5, ["book", "lamp"]), ("payment declined", 25_000, ["piano"])]


def run(
    store: TraceStore,
    exporter: str = "xray-udp",
    orders: list[tuple[str, float, list[str]]] = ORDERS,
    unique_names: bool = True,
    otlp_endpoint: str | None = None,
    env: dict[str, str] | None = None,
    forward_udp_to: tuple[str, int] | None = None,
) -> list[InvocationResult]:
    """Both functions end to end; every document lands in ``store``.

    Returns the API's results in order, then the worker's (one per queued batch).
    ``otlp_endpoint`` sends the otlp exporter's spans to a real collector instead of
    the local receiver; its documents then land wherever that collector exports them,
    and only Lambda's own segments (which the Lambda service sends) land in ``store``.
    ``env`` adds function variables. ``forward_udp_to`` also sends every datagram the
    functions send, unchanged, to a real daemon (or the collector's UDP receiver).
    """
    results = []
    with LocalServices(unique_names) as services:
        env = {**services.function_env(), **(env or {})}
        with (
            LocalFunction(
                "app.handler",
                BUILD / "order_api",
                env=env,
                function_name="order-api",
                exporter=exporter,
                otlp_endpoint=otlp_endpoint,
            ) as api,
            LocalFunction(
                "app.handler",
                BUILD / "order_worker",
                env=env,
                function_name="order-worker",
                exporter=exporter,
                otlp_endpoint=otlp_endpoint,
            ) as worker,
        ):
            for function in (api, worker):
                assert function.daemon is not None
                function.daemon.forward_to = forward_udp_to
            for title, amount, items in orders:
                result = api.invoke(order_event(amount, items))
                results.append(result)
                store.add_all(result.segments)
                outcome = result.response if result.ok else result.error
                print(f"\n== order-api, {title}: {json.dumps(outcome)[:150]}")
                print(render_trace(store.trace(result.root)))
            source = SqsEventSource(services.queue_url, client=services.client("sqs"), batch_size=1)
            while (event := source.next_event(wait_seconds=0)) is not None:
                result = worker.invoke(event)
                results.append(result)
                store.add_all(result.segments)
                source.complete(event, result.response)
                print(f"\n== order-worker, {len(event['Records'])} SQS message: {result.response}")
                print(render_trace(store.trace(result.root)))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--exporter",
        choices=("xray-udp", "otlp", "xray-otlp-udp", "xray-otlp", "both", "all"),
        default="both",
        help="both (default): the whole run through xray-udp and otlp (a collector), one map "
        "each; all: also xray-otlp-udp (OTLP through the daemon) and xray-otlp (signed OTLP "
        "to the local X-Ray API's /v1/traces)",
    )
    args = parser.parse_args(argv)
    exporters = {
        "both": ["xray-udp", "otlp"],
        "all": ["xray-udp", "otlp", "xray-otlp-udp", "xray-otlp"],
    }.get(args.exporter, [args.exporter])
    OUT.mkdir(parents=True, exist_ok=True)
    for number, exporter in enumerate(exporters):
        store = TraceStore()
        # A process of its own: plain resource names the first time (moto keeps one
        # backend per process, so a second run needs names of its own).
        outcome = architecture.run(store, exporter, unique_names=number > 0)
        for trace in store.traces():
            print()
            print(render_trace(trace))
        accepted = outcome.invocations["order-api"][0].root
        chain = " ··▶ ".join(t.id for t in store.linked(accepted))
        print(f"\n== the accepted order, API Gateway to the fulfilment's last task: {chain}")
        print(f"   (otel-xray traces FILE --trace {accepted} --linked prints them in order)")
        graph = ServiceGraph.build(store)
        print(f"\n== the service map, {exporter} exporter")
        print(render_map(graph))
        suffix = "" if exporter == "xray-udp" else f"-{exporter}"
        segments, svg = OUT / f"segments{suffix}.jsonl", OUT / f"service-map{suffix}.svg"
        documents = store.documents()
        segments.write_text("".join(json.dumps(d, sort_keys=True) + "\n" for d in documents))
        svg.write_text(render_svg(graph, f"order service (local X-Ray, {exporter})"))
        print(f"\n{len(documents)} segment documents in {segments}; service map drawn in {svg}")
    segments = OUT / "segments.jsonl"
    print(f"  again from the file: otel-xray map {segments} --svg {OUT / 'service-map.svg'}")
    print(f"  where the time goes: otel-xray analyze {segments}")
    print(f"  one order end to end: otel-xray traces {segments} --trace ID --linked")
    print(
        f"  in the browser: otel-xray console {segments} "
        "--groups deploy/template.yaml --param PaymentHost=127.0.0.1"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
