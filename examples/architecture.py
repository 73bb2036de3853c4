"""The example order service as a serverless architecture, every hop traced, on loopback.

    client -> API Gateway (orders/prod) -> order-api -> pricing (Lambda Invoke)
                                                     -> DynamoDB, the payment API
                                                        (a service on "ECS" -> its DynamoDB ledger)
                                                     -> orders topic (SNS, active) -> notifier
                                                                    -> SQS queue ··> order-worker
    order-worker -> DynamoDB, S3, EventBridge (OrderCompleted rule) -> notifier
                 -> order-fulfilment (Step Functions) -> reserve-stock, orders (DynamoDB),
                                                         ship-order

Each front door is a local stand-in that passes the trace header on as AWS documents
it (``otel_xray.devtools.services``: ``api_gateway``, ``sns``, ``eventbridge``; and
``otel_xray.devtools.functions.invoke_endpoint``); moto's server keeps the data. Every
function runs through the layer.
:func:`run` returns one result per invocation and puts every document in the store.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from examples.local_services import BUILD, ROOT, LocalServices
from otel_xray.devtools.functions.event_sources import SqsEventSource
from otel_xray.devtools.functions.invoke import InvocationResult, LocalFunction
from otel_xray.devtools.functions.invoke_endpoint import LambdaEndpoint
from otel_xray.devtools.services.api_gateway import ApiGatewayStage
from otel_xray.devtools.services.eventbridge import EventBus
from otel_xray.devtools.services.sns import SnsTopic
from otel_xray.devtools.services.stepfunctions import (
    Execution,
    StateMachine,
    StepFunctions,
    substitute,
)
from otel_xray.devtools.traces.store import TraceStore

#: The fulfilment state machine the worker starts, as deploy/template.yaml deploys it.
DEFINITION = ROOT / "deploy" / "statemachines" / "fulfilment.asl.json"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:{}"

#: (title, amount, items, trace header sent to API Gateway or None).
ORDERS: list[tuple[str, float, list[str], str | None]] = [
    ("order accepted", 42.5, ["book", "lamp"], None),
    ("payment declined", 25_000, ["piano"], None),
]


@dataclass
class Run:
    """What one run did: the API's answers, and every invocation by function."""

    responses: list[tuple[int, Any]] = field(default_factory=list)
    invocations: dict[str, list[InvocationResult]] = field(default_factory=dict)
    #: The fulfilment executions the worker started.
    executions: list[Execution] = field(default_factory=list)


def run(
    store: TraceStore,
    exporter: str = "xray-udp",
    orders: list[tuple[str, float, list[str], str | None]] = ORDERS,
    unique_names: bool = True,
) -> Run:
    """Every order through the whole architecture; every document lands in ``store``."""
    outcome = Run()
    with LocalServices(unique_names) as services:
        payments = services.payments
        base = services.function_env()

        def function(
            name: str, env: dict[str, str] | None = None, code: str = "", handler: str = "handler"
        ) -> LocalFunction:
            return LocalFunction(
                f"app.{handler}", BUILD / (code or name.replace("-", "_")),
                env={**base, **(env or {})}, function_name=name, exporter=exporter,
            )  # fmt: skip

        with (
            function("pricing") as pricing,
            function("notifier") as notifier,
            function("reserve-stock", code="fulfilment", handler="reserve") as reserve,
            function("ship-order", code="fulfilment", handler="ship") as ship,
        ):
            invoke = LambdaEndpoint(
                {"pricing": pricing, "reserve-stock": reserve, "ship-order": ship}
            ).start()
            topic = SnsTopic(
                f"orders-topic{services.table.removeprefix('orders')}",
                [notifier, ("sqs", services.queue_url, services.client("sqs"))],
                tracing="Active",  # as deploy/template.yaml's OrdersTopic
            ).start()
            bus = EventBus([({"source": ["orders"], "detail-type": ["OrderCompleted"]},
                             [notifier])]).start()  # fmt: skip
            api_env = {
                "AWS_ENDPOINT_URL_LAMBDA": invoke.endpoint,
                "AWS_ENDPOINT_URL_SNS": topic.endpoint,
                "PRICING_FUNCTION": "pricing",
                "ORDERS_TOPIC_ARN": topic.topic_arn,
            }
            definition = substitute(DEFINITION.read_text(), {
                "ReserveFunctionArn": FUNCTION_ARN.format("reserve-stock"),
                "ShipFunctionArn": FUNCTION_ARN.format("ship-order"),
                "OrdersTable": services.table,
            })  # fmt: skip
            machine = StateMachine("order-fulfilment", definition, tracing=True)
            endpoints = {"lambda": invoke.endpoint, "sns": topic.endpoint,
                         "events": bus.endpoint, "default": services.aws_endpoint}  # fmt: skip
            sfn = StepFunctions([machine], endpoints).start()
            worker_env = {
                "AWS_ENDPOINT_URL_EVENTBRIDGE": bus.endpoint,
                "EVENT_BUS_NAME": "orders",
                "AWS_ENDPOINT_URL_SFN": sfn.endpoint,
                "FULFILMENT_STATE_MACHINE_ARN": machine.arn,
            }
            try:
                with (
                    function("order-api", api_env) as api,
                    function("order-worker", worker_env) as worker,
                ):
                    gateway = ApiGatewayStage(api, api_name="orders").start()
                    try:
                        for _, amount, items, header in orders:
                            body = json.dumps({"amount": amount, "items": items}).encode()
                            outcome.responses.append(
                                _post(gateway.endpoint + "/orders", body, header)
                            )
                            gateway.settle()  # its answer came first; now its documents
                        invoke.settle()
                        topic.wait()
                        source = SqsEventSource(
                            services.queue_url, client=services.client("sqs"), batch_size=1
                        )
                        while (event := source.next_event(wait_seconds=0)) is not None:
                            result = worker.invoke(event)
                            source.complete(event, result.response)
                            outcome.invocations.setdefault("order-worker", []).append(result)
                        bus.wait()
                        sfn.wait()
                        invoke.settle()
                        store.add_all(gateway.documents)
                        store.add_all(topic.documents)
                        store.add_all(sfn.documents)
                        outcome.executions = list(sfn.executions.values())
                        outcome.invocations["order-api"] = list(gateway.invocations)
                    finally:
                        gateway.stop()
            finally:
                invoke.stop()
                topic.stop()
                bus.stop()
                sfn.stop()
            for name, _, result in invoke.invocations:
                outcome.invocations.setdefault(name, []).append(result)
            outcome.invocations["notifier"] = [r for _, r in topic.deliveries] + [
                r for _, _, r in bus.deliveries
            ]
    for results in outcome.invocations.values():
        for result in results:
            store.add_all(result.segments)
    # The payment service's own segments: flushed by its workers as LocalServices stopped it.
    store.add_all(payments.take())
    return outcome


def _post(url: str, body: bytes, trace_header: str | None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    if trace_header:
        request.add_header("X-Amzn-Trace-Id", trace_header)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
