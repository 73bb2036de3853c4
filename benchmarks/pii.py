"""Cost per span: PII redaction, and the whole pipeline, against the bare SDK, in one run.

A span with 20 attributes, half of them strings (URLs, a SQL statement, ids, a user
agent...), made and ended through the real SDK with a processor that drops what it
gets. Measured with redaction off (baseline), on with no personal data in the
strings (the usual case) and on with personal data in three of them; then the
whole Lambda pipeline (redaction, translation, one UDP datagram per span, flushed
every 10 spans). Reports the median of several repeats, in microseconds per span,
and the ratio to the baseline.

    python -m benchmarks.pii [--spans 20000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import time
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

from benchmarks import save
from otel_xray.export import Deadline
from otel_xray.export.processor import InvocationSpanProcessor
from otel_xray.export.xray_udp import XRayUdpExporter
from otel_xray.pii import RedactingSpanProcessor, Redactor
from otel_xray.settings import PiiSettings


class Sink(SpanProcessor):
    def on_end(self, span: ReadableSpan) -> None:
        return None


def attributes(personal: bool, number: int) -> dict[str, Any]:
    """Four strings differ on every span (the order id), six repeat, as in real traffic."""
    email = f"jane.doe{number}@example.com" if personal else "orders-service"
    order = f"o-20261125-{number:06d}"
    return {
        # ten strings
        "url.full": f"https://api.example.com/v1/orders/{order}?page=2&sort=asc&q={email}",
        "url.path": f"/v1/orders/{order}",
        "http.request.method": "POST",
        "user_agent.original": "python-requests/2.32.3",
        "db.statement": f"SELECT * FROM orders WHERE order_id = '{order}' AND total > 20",
        "server.address": "api.example.com",
        "order.id": order,
        "customer.note": f"deliver after 5pm, contact {email}" if personal else "deliver after 5pm",
        "http.request.header.authorization": "Bearer mF_9.B5f-4.1JqMzz",
        "rpc.service": "DynamoDB",
        # ten other values
        "http.response.status_code": 201,
        "server.port": 443,
        "order.total": 42.5,
        "order.items": 3,
        "retry": False,
        "faas.coldstart": False,
        "db.rows": 1,
        "latency.budget_ms": 250,
        "order.express": True,
        "aws.dynamodb.table_names": ["orders-prod"],
    }


def per_span_us(processor: SpanProcessor, personal: bool, spans: int) -> float:
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("bench")
    prepared = [attributes(personal, number) for number in range(spans)]
    started = time.perf_counter()
    for attrs in prepared:
        tracer.start_span("POST /v1/orders", attributes=attrs).end()
    return (time.perf_counter() - started) / spans * 1e6


def pipeline_us(personal: bool, spans: int) -> float:
    """The whole Lambda pipeline per span: redaction, translation to an X-Ray document,
    one UDP datagram each to a socket on loopback; flushed every 10 spans (an invocation)."""


    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        daemon.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
        flush = InvocationSpanProcessor(XRayUdpExporter(daemon.getsockname()[:2]))
        provider = TracerProvider()
        provider.add_span_processor(RedactingSpanProcessor(flush, Redactor(PiiSettings())))
        tracer = provider.get_tracer("bench")
        prepared = [attributes(personal, number) for number in range(spans)]
        started = time.perf_counter()
        for number, attrs in enumerate(prepared):
            tracer.start_span("POST /v1/orders", attributes=attrs).end()
            if number % 10 == 9:
                flush.flush(Deadline.within_ms(1000))
        flush.flush(Deadline.within_ms(1000))
        elapsed = time.perf_counter() - started
    return elapsed / spans * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    configurations = {
        "redaction off (baseline)": (Sink, False),
        "redaction on, no personal data": (
            lambda: RedactingSpanProcessor(Sink(), Redactor(PiiSettings())),
            False,
        ),
        "redaction on, personal data in 3 strings": (
            lambda: RedactingSpanProcessor(Sink(), Redactor(PiiSettings())),
            True,
        ),
    }
    pipeline = "whole pipeline: redaction, X-Ray document, UDP datagram"
    samples: dict[str, list[float]] = {name: [] for name in [*configurations, pipeline]}
    for _ in range(args.repeats):  # interleaved, so drift hits every configuration alike
        for name, (make, personal) in configurations.items():
            samples[name].append(per_span_us(make(), personal, args.spans))
        samples[pipeline].append(pipeline_us(False, args.spans))
    baseline = statistics.median(samples["redaction off (baseline)"])
    rows = ["| configuration | µs per span (median) | added µs | ratio |", "|---|---|---|---|"]
    for name, values in samples.items():
        median = statistics.median(values)
        rows.append(
            f"| {name} | {median:.1f} | {median - baseline:+.1f} | {median / baseline:.2f} |"
        )
    table = "\n".join(rows)
    print(f"Per span, 20 attributes (10 strings), {args.repeats} repeats:\n{table}")
    save("pii", table, {"spans": args.spans, "samples_us": samples})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
